//! `/proxies`: the easy path. Adopt a persona, hand some or all decisions
//! to a member who accepts delegations, revoke any of them in one click;
//! and, for a proxy, who relies on them and whether they accept
//! delegations at all. The same use cases as `/v1/me/delegations` and
//! `PATCH /v1/me`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::page::{CsrfForm, Layout, PageError, done, render};
use super::session::MemberPage;
use super::words::{ThirdPartyNames, Words};
use crate::app::AppError;
use crate::app::delegations::{ProxyRef, delegate, revoke};
use crate::domain::rule::Owner;
use crate::domain::vocabulary::TermId;
use crate::domain::{DelegationId, Member, MemberId, MemberPatch, PersonaId, Scope};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/proxies", get(page))
        .route("/proxies/personas/{id}/adopt", post(adopt))
        .route("/proxies/delegations", post(delegate_to_member))
        .route("/proxies/delegations/{id}/revoke", post(revoke_one))
        .route("/proxies/accepting", post(accepting))
}

/// Public delegators listed by name at most.
const DELEGATORS_SHOWN: u32 = 50;

#[derive(Debug, Clone)]
struct PersonaView {
    id: String,
    name: String,
    description: String,
    rules: Vec<String>,
    adopted: bool,
}

#[derive(Debug, Clone)]
struct DelegationView {
    id: String,
    to: String,
    scope: String,
}

#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "member/proxies.html")]
struct ProxiesPage {
    l: Layout,
    personas: Vec<PersonaView>,
    delegations: Vec<DelegationView>,
    categories: Vec<Choice>,
    proxy_id: String,
    /// The delegation form's error, in words.
    error: Option<String>,
    accepts: bool,
    my_id: String,
    relying: String,
    public_delegators: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

/// The delegate-to-a-member form.
#[derive(Debug, Default, Clone, Deserialize)]
struct DelegateForm {
    #[serde(default)]
    proxy: String,
    /// Top-level categories; none: every category.
    #[serde(default)]
    categories: Vec<String>,
}

/// The name a proxy is shown by: a persona's, a public member's, else
/// "a member who keeps their name private".
pub(super) async fn name_of(
    state: &AppState,
    tr: super::i18n::Tr,
    owner: &Owner,
) -> Result<String, PageError> {
    Ok(match owner {
        Owner::Persona(id) => state
            .store
            .personas()
            .await?
            .into_iter()
            .find(|persona| persona.id == *id)
            .map_or_else(
                || id.to_string(),
                |persona| persona.name.as_str().to_owned(),
            ),
        Owner::Member(id) => state
            .store
            .member(id)
            .await?
            .as_ref()
            .and_then(Member::public_name)
            .map_or_else(|| tr.t("proxy-anonymous"), |name| name.as_str().to_owned()),
        Owner::Coop => tr.t("who-coop"),
    })
}

async fn proxies_page(
    state: &AppState,
    page: &MemberPage,
    form: &DelegateForm,
    error: Option<String>,
    done: Option<&str>,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let vocabulary = &state.policies.vocabulary;
    let words = Words::new(tr, vocabulary);
    let delegations = state.store.delegations_of(&page.member.id).await?;
    let mut personas = Vec::new();
    for persona in state.store.personas().await? {
        let owner = Owner::Persona(persona.id.clone());
        let rules = state
            .store
            .rules_of(&owner)
            .await?
            .iter()
            .map(|rule| words.rule(&rule.spec, &ThirdPartyNames::new()))
            .collect();
        personas.push(PersonaView {
            adopted: delegations.iter().any(|d| d.proxy == owner),
            id: persona.id.to_string(),
            name: persona.name.as_str().to_owned(),
            description: persona.description.as_str().to_owned(),
            rules,
        });
    }
    let mut shown = Vec::new();
    for delegation in &delegations {
        shown.push(DelegationView {
            id: delegation.id.to_string(),
            to: name_of(state, tr, &delegation.proxy).await?,
            scope: words.scope(&delegation.scope),
        });
    }
    let me = Owner::Member(page.member.id.clone());
    let count = state.store.count_delegators(&me).await?;
    let mut public_delegators = Vec::new();
    for (_, id) in state
        .store
        .public_delegators(&me, None, DELEGATORS_SHOWN)
        .await?
    {
        if let Some(name) = state
            .store
            .member(&id)
            .await?
            .as_ref()
            .and_then(Member::public_name)
        {
            public_delegators.push(name.as_str().to_owned());
        }
    }
    let categories = vocabulary
        .data_categories()
        .iter()
        .filter(|term| term.id.depth() == 1)
        .map(|term| Choice {
            value: term.id.to_string(),
            label: tr.term(vocabulary, term.id.as_str()),
            checked: form.categories.iter().any(|c| c == term.id.as_str()),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let html = render(&ProxiesPage {
        l: Layout::signed_in(tr, &page.session, "proxies-title", "proxies", "/proxies")
            .with_notice(done),
        personas,
        delegations: shown,
        categories,
        proxy_id: form.proxy.clone(),
        error,
        accepts: page.member.accepts_delegations,
        my_id: page.member.id.to_string(),
        relying: tr.count("proxies-relying", "count", count),
        public_delegators,
    })?;
    Ok((status, html).into_response())
}

/// `GET /proxies`.
async fn page(
    State(state): State<AppState>,
    page: MemberPage,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    proxies_page(
        &state,
        &page,
        &DelegateForm::default(),
        None,
        done.done.as_deref(),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// A refusal of §3 (not oneself, a member who accepts delegations, a
/// published persona; no identical scope twice) as a message on the page.
fn refusal(tr: super::i18n::Tr, error: AppError) -> Result<String, PageError> {
    match error {
        AppError::Invalid(errors) => {
            let field = errors
                .iter()
                .next()
                .map(|invalid| invalid.message.clone())
                .unwrap_or_default();
            Ok(if field.contains("themselves") {
                tr.t("proxies-error-self")
            } else if field.contains("does not accept") {
                tr.t("proxies-error-not-accepting")
            } else {
                tr.t("proxies-error-unknown")
            })
        }
        AppError::Store(crate::store::StoreError::Conflict) | AppError::Conflict(_) => {
            Ok(tr.t("proxies-error-same"))
        }
        AppError::Store(crate::store::StoreError::OverLimit { .. }) => {
            Ok(tr.t("proxies-error-limit"))
        }
        error => Err(error.into()),
    }
}

/// `POST /proxies/personas/{id}/adopt`: every decision goes to the persona.
async fn adopt(
    State(state): State<AppState>,
    page: MemberPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let persona = PersonaId::parse(&id).ok_or(PageError::NotFound)?;
    let scope = Scope {
        data_categories: vec![TermId::wildcard()],
        purposes: vec![TermId::wildcard()],
    };
    match delegate(
        state.store.as_ref(),
        &state.engine,
        &page.member.id,
        ProxyRef::Persona(persona),
        scope,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => Ok(done("/proxies", "persona-adopted")),
        Err(error) => {
            let message = refusal(page.tr, error)?;
            proxies_page(&state, &page, &DelegateForm::default(), Some(message), None).await
        }
    }
}

/// `POST /proxies/delegations`: some or all decisions go to a member.
async fn delegate_to_member(
    State(state): State<AppState>,
    page: MemberPage,
    CsrfForm(form): CsrfForm<DelegateForm>,
) -> Result<Response, PageError> {
    let vocabulary = &state.policies.vocabulary;
    let Some(proxy) = MemberId::parse(form.proxy.trim()) else {
        let message = page.tr.t("proxies-error-unknown");
        return proxies_page(&state, &page, &form, Some(message), None).await;
    };
    let mut categories: Vec<TermId> = Vec::new();
    for raw in &form.categories {
        let id = vocabulary
            .category(raw)
            .ok_or(PageError::BadRequest("error-bad-request-text"))?;
        if !categories.contains(&id) {
            categories.push(id);
        }
    }
    if categories.is_empty() {
        categories.push(TermId::wildcard());
    }
    let scope = Scope {
        data_categories: categories,
        purposes: vec![TermId::wildcard()],
    };
    match delegate(
        state.store.as_ref(),
        &state.engine,
        &page.member.id,
        ProxyRef::Member(proxy),
        scope,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => Ok(done("/proxies", "delegated")),
        Err(error) => {
            let message = refusal(page.tr, error)?;
            proxies_page(&state, &page, &form, Some(message), None).await
        }
    }
}

/// `POST /proxies/delegations/{id}/revoke`.
async fn revoke_one(
    State(state): State<AppState>,
    page: MemberPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let id = DelegationId::parse(&id).ok_or(PageError::NotFound)?;
    let revoked = revoke(state.store.as_ref(), &page.member.id, &id).await?;
    if !revoked.value {
        return Err(PageError::NotFound);
    }
    Ok(done("/proxies", "delegation-revoked"))
}

#[derive(Debug, Deserialize)]
struct Accepting {
    #[serde(default)]
    accept: String,
}

/// `POST /proxies/accepting`: opt in to, or out of, acting as a proxy.
async fn accepting(
    State(state): State<AppState>,
    page: MemberPage,
    CsrfForm(form): CsrfForm<Accepting>,
) -> Result<Response, PageError> {
    let accept = match form.accept.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(PageError::BadRequest("error-bad-request-text")),
    };
    let patch = MemberPatch {
        accepts_delegations: Some(accept),
        ..MemberPatch::default()
    };
    let updated = state.store.update_member(&page.member.id, &patch).await?;
    if updated.value.is_none() {
        return Err(PageError::SignIn { expired: true });
    }
    Ok(done(
        "/proxies",
        if accept {
            "accepting-on"
        } else {
            "accepting-off"
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_errors_are_not_shown_raw() {
        // The page words §3's refusals itself; the English messages of
        // `app::delegations` are matched, so they must keep these words.
        let source = include_str!("../app/delegations.rs");
        assert!(source.contains("cannot delegate to themselves"));
        assert!(source.contains("does not accept delegations"));
    }
}
