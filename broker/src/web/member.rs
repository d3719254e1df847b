//! The members' pages: who may use what (`/`), my rules (`/consent`).

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::page::{CsrfForm, Layout, PageError, done, render};
use super::session::{MemberPage, Visitor};
use super::steward::form::RuleFields;
use super::words::{ThirdPartyNames, Words};
use crate::app;
use crate::domain::rule::{Owner, Requester, Rule, RuleSpec};
use crate::domain::vocabulary::TermId;
use crate::domain::{FieldErrors, RuleId};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/consent", get(consent))
        .route("/consent/preview", post(preview))
        .route("/consent/rules", post(create_rule))
        .route("/consent/rules/{id}/delete", post(delete_rule))
}

#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

/// A rule as a page shows it.
#[derive(Debug, Clone)]
struct ShownRule {
    id: String,
    sentence: String,
    allow: bool,
}

/// Who decided a group of rules, and how the member reaches them.
#[derive(Debug, Clone)]
struct Source {
    /// "You", "Dana (your proxy)", "The co-op".
    who: String,
    /// The delegations walked to get there, in words.
    chain: Vec<String>,
    rules: Vec<ShownRule>,
    fixed: bool,
}

/// A top-level category and what applies to it.
#[derive(Debug, Clone)]
struct Group {
    label: String,
    sources: Vec<Source>,
}

#[derive(Template)]
#[template(path = "member/home.html")]
struct Home {
    l: Layout,
    name: String,
    groups: Vec<Group>,
    delegated: bool,
}

/// The top-level category a rule's category falls under (`None`: all).
fn group_of(category: &TermId) -> Option<TermId> {
    if category.is_wildcard() {
        return None;
    }
    let mut top = category.clone();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    Some(top)
}

/// Names of the third parties `rules` name.
async fn third_party_names(
    state: &AppState,
    rules: &[&Rule],
) -> Result<ThirdPartyNames, PageError> {
    let mut names = ThirdPartyNames::new();
    for rule in rules {
        if let Requester::ThirdParty(id) = &rule.spec.requester
            && !names.contains_key(id)
            && let Some(third_party) = state.store.third_party(id).await?
        {
            names.insert(id.clone(), third_party.name.as_str().to_owned());
        }
    }
    Ok(names)
}

/// How many hops of a proxy's own delegations the home page follows.
const CHAIN_SHOWN: usize = 8;

/// `GET /`: the sign-in page for visitors, the stewards' pages for a
/// steward who is no member, else what applies to the member's data, by
/// category group, and who decided it.
async fn home(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    match &visitor.session {
        None => return Ok(Redirect::to("/sign-in").into_response()),
        Some(session) if session.holder.member.is_none() => {
            return Ok(Redirect::to("/stewards").into_response());
        }
        Some(_) => {}
    }
    member_home(state, visitor, done).await
}

async fn member_home(state: AppState, visitor: Visitor, done: Done) -> Result<Response, PageError> {
    let session = visitor
        .session
        .ok_or(PageError::SignIn { expired: false })?;
    let member_id = session.holder.member.clone().ok_or(PageError::Forbidden)?;
    let member = state
        .store
        .member(&member_id)
        .await?
        .ok_or(PageError::SignIn { expired: true })?;
    let tr = visitor.tr;
    let vocabulary = &state.policies.vocabulary;
    let words = Words::new(tr, vocabulary);
    let me = Owner::Member(member.id.clone());

    // Every source of rules: mine, each delegation's proxy (with the
    // chain of the proxy's own delegations), the co-op's.
    let mut sources: Vec<(Source, Vec<Rule>)> = Vec::new();
    sources.push((
        Source {
            who: tr.t("source-you"),
            chain: Vec::new(),
            rules: Vec::new(),
            fixed: false,
        },
        state.store.rules_of(&me).await?,
    ));
    let delegations = state.store.delegations_of(&member.id).await?;
    for delegation in &delegations {
        let mut chain = vec![tr.ta(
            "chain-hop",
            &[
                (
                    "who",
                    &super::proxies::name_of(&state, tr, &delegation.proxy).await?,
                ),
                ("scope", &words.scope(&delegation.scope)),
            ],
        )];
        let mut proxy = delegation.proxy.clone();
        let mut rules = state.store.rules_of(&proxy).await?;
        // Follow the proxy's own delegations as far as they go.
        while let Owner::Member(next) = &proxy
            && chain.len() < CHAIN_SHOWN
        {
            let onward = state.store.delegations_of(next).await?;
            let Some(hop) = onward.first() else { break };
            chain.push(tr.ta(
                "chain-hop",
                &[
                    (
                        "who",
                        &super::proxies::name_of(&state, tr, &hop.proxy).await?,
                    ),
                    ("scope", &words.scope(&hop.scope)),
                ],
            ));
            proxy = hop.proxy.clone();
            rules.extend(state.store.rules_of(&proxy).await?);
        }
        // Only what the delegation hands over is decided there.
        rules.retain(|rule| {
            rule.spec.data_categories.iter().any(|category| {
                delegation
                    .scope
                    .data_categories
                    .iter()
                    .any(|scoped| scoped.overlaps(category))
            })
        });
        sources.push((
            Source {
                who: super::proxies::name_of(&state, tr, &delegation.proxy).await?,
                chain,
                rules: Vec::new(),
                fixed: false,
            },
            rules,
        ));
    }
    sources.push((
        Source {
            who: tr.t("who-coop"),
            chain: Vec::new(),
            rules: Vec::new(),
            fixed: true,
        },
        state.store.rules_of(&Owner::Coop).await?,
    ));

    let all_rules: Vec<&Rule> = sources.iter().flat_map(|(_, rules)| rules).collect();
    let names = third_party_names(&state, &all_rules).await?;
    // Group by top-level category; rules over all data come first.
    let mut groups: BTreeMap<(bool, String), Group> = BTreeMap::new();
    for (source, rules) in &sources {
        for rule in rules {
            let shown = ShownRule {
                id: rule.id.to_string(),
                sentence: words.rule(&rule.spec, &names),
                allow: rule.spec.effect == crate::domain::rule::Effect::Allow,
            };
            let mut tops: Vec<Option<TermId>> =
                rule.spec.data_categories.iter().map(group_of).collect();
            tops.sort_by(|a, b| {
                a.as_ref()
                    .map(TermId::as_str)
                    .cmp(&b.as_ref().map(TermId::as_str))
            });
            tops.dedup();
            for top in tops {
                let (key, label) = match &top {
                    None => ((false, String::new()), tr.t("group-all")),
                    Some(top) => (
                        (true, top.as_str().to_owned()),
                        tr.term(vocabulary, top.as_str()),
                    ),
                };
                let group = groups.entry(key).or_insert_with(|| Group {
                    label,
                    sources: Vec::new(),
                });
                match group
                    .sources
                    .iter_mut()
                    .find(|shown| shown.who == source.who && shown.chain == source.chain)
                {
                    Some(existing) => existing.rules.push(shown.clone()),
                    None => group.sources.push(Source {
                        rules: vec![shown.clone()],
                        ..source.clone()
                    }),
                }
            }
        }
    }
    let name = member
        .display_name
        .as_ref()
        .map_or_else(|| tr.t("home-no-name"), |name| name.as_str().to_owned());
    render(&Home {
        l: Layout::signed_in(tr, &session, "home-title", "home", "/")
            .with_notice(done.done.as_deref()),
        name,
        groups: groups.into_values().collect(),
        delegated: !delegations.is_empty(),
    })
}

/// Validates the rule form as `POST /v1/me/rules` would: the stewards'
/// rule fields, read into the API's body, parsed by the API's parser.
fn spec_of(form: &RuleFields, state: &AppState, owner: &Owner) -> Result<RuleSpec, FieldErrors> {
    let mut errors = FieldErrors::new();
    let body = form.body(None, &mut errors);
    let spec = RuleSpec::parse(
        body,
        owner,
        &state.policies.vocabulary,
        state.clock.now(),
        "",
        &mut errors,
    );
    match spec {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(errors),
    }
}

/// A checkbox or option of the rule form.
#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
    /// Nested under a group (indented).
    nested: bool,
    checked: bool,
}

#[derive(Template)]
#[template(path = "member/consent.html")]
struct Consent {
    l: Layout,
    mine: Vec<ShownRule>,
    coop: Vec<ShownRule>,
    form: FormView,
}

/// The rule form, filled in as far as the member got.
#[derive(Debug, Clone)]
struct FormView {
    effect: String,
    requesters: Vec<Choice>,
    categories: Vec<Choice>,
    purposes: Vec<Choice>,
    until: String,
    /// Message per field name (`effect`, `requester`, `data_categories`,
    /// `purposes`, `expires_at`).
    errors: BTreeMap<String, String>,
}

impl FormView {
    fn new(state: &AppState, tr: super::i18n::Tr, form: &RuleFields, errors: &FieldErrors) -> Self {
        let vocabulary = &state.policies.vocabulary;
        let terms = |terms: &[crate::domain::vocabulary::Term], picked: &[String]| {
            terms
                .iter()
                .filter(|term| term.id.depth() <= 2)
                .map(|term| Choice {
                    value: term.id.to_string(),
                    label: tr.term(vocabulary, term.id.as_str()),
                    nested: term.id.depth() > 1,
                    checked: picked.iter().any(|value| value == term.id.as_str()),
                })
                .collect::<Vec<_>>()
        };
        let mut requesters = vec![Choice {
            value: "*".to_owned(),
            label: tr.t("who-any"),
            nested: false,
            checked: form.requester == "*",
        }];
        requesters.extend(vocabulary.requester_classes().iter().map(|class| {
            let value = format!("class:{}", class.as_str());
            Choice {
                checked: form.requester == value,
                label: tr.t(&format!("who-class-{}", class.as_str())),
                value,
                nested: false,
            }
        }));
        let errors = errors
            .iter()
            .map(|invalid| {
                let field = invalid
                    .field
                    .split(['[', '.'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let message = tr.t(&format!("consent-error-{}", field.replace('_', "-")));
                (field, message)
            })
            .collect();
        Self {
            effect: form.effect.clone(),
            requesters,
            categories: terms(vocabulary.data_categories(), &form.categories),
            purposes: terms(vocabulary.purposes(), &form.purposes),
            until: form.until.clone(),
            errors,
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

async fn consent_page(
    state: &AppState,
    page: &MemberPage,
    form: &RuleFields,
    errors: &FieldErrors,
    done: Option<&str>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let words = Words::new(tr, &state.policies.vocabulary);
    let mine = state
        .store
        .rules_of(&Owner::Member(page.member.id.clone()))
        .await?;
    let coop = state.store.rules_of(&Owner::Coop).await?;
    let all: Vec<&Rule> = mine.iter().chain(&coop).collect();
    let names = third_party_names(state, &all).await?;
    let shown = |rules: &[Rule]| {
        rules
            .iter()
            .map(|rule| ShownRule {
                id: rule.id.to_string(),
                sentence: words.rule(&rule.spec, &names),
                allow: rule.spec.effect == crate::domain::rule::Effect::Allow,
            })
            .collect()
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = render(&Consent {
        l: Layout::signed_in(tr, &page.session, "consent-title", "consent", "/consent")
            .with_notice(done),
        mine: shown(&mine),
        coop: shown(&coop),
        form: FormView::new(state, tr, form, errors),
    })?;
    Ok((status, page).into_response())
}

/// `GET /consent`: my rules, the co-op's (fixed), and the form to add one.
async fn consent(
    State(state): State<AppState>,
    page: MemberPage,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    consent_page(
        &state,
        &page,
        &RuleFields::default(),
        &FieldErrors::new(),
        done.done.as_deref(),
    )
    .await
}

#[derive(Template)]
#[template(path = "member/consent_preview.html")]
struct Preview {
    l: Layout,
    sentence: String,
    form: RuleFields,
}

/// `POST /consent/preview`: the rule in words, before it is saved.
async fn preview(
    State(state): State<AppState>,
    page: MemberPage,
    CsrfForm(form): CsrfForm<RuleFields>,
) -> Result<Response, PageError> {
    let owner = Owner::Member(page.member.id.clone());
    let spec = match spec_of(&form, &state, &owner) {
        Ok(spec) => spec,
        Err(errors) => return consent_page(&state, &page, &form, &errors, None).await,
    };
    let words = Words::new(page.tr, &state.policies.vocabulary);
    render(&Preview {
        l: Layout::signed_in(
            page.tr,
            &page.session,
            "preview-title",
            "consent",
            "/consent",
        ),
        sentence: words.rule(&spec, &ThirdPartyNames::new()),
        form,
    })
}

/// `POST /consent/rules`: saves the rule previewed.
async fn create_rule(
    State(state): State<AppState>,
    page: MemberPage,
    CsrfForm(form): CsrfForm<RuleFields>,
) -> Result<Response, PageError> {
    let owner = Owner::Member(page.member.id.clone());
    let spec = match spec_of(&form, &state, &owner) {
        Ok(spec) => spec,
        Err(errors) => return consent_page(&state, &page, &form, &errors, None).await,
    };
    let created = app::rules::create(
        state.store.as_ref(),
        &state.engine,
        owner,
        spec,
        FieldErrors::new(),
        state.clock.now(),
    )
    .await;
    match created {
        Ok(_) => Ok(done("/consent", "rule-added")),
        Err(app::AppError::Invalid(errors)) => {
            consent_page(&state, &page, &form, &errors, None).await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /consent/rules/{id}/delete`: removes one of my rules.
async fn delete_rule(
    State(state): State<AppState>,
    page: MemberPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let id = RuleId::parse(&id).ok_or(PageError::NotFound)?;
    let owner = Owner::Member(page.member.id.clone());
    let deleted = app::rules::delete(state.store.as_ref(), &owner, &id).await?;
    if !deleted.value {
        return Err(PageError::NotFound);
    }
    Ok(done("/consent", "rule-removed"))
}
