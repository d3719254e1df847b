//! `/stewards/personas` and `/stewards/coop-rules`: the personas and
//! the co-op's rules in words, publishing a persona with one rule, and
//! adding (deny only) and deleting co-op rules. Each form is read into
//! the API's rule body and validated as `POST /v1/personas` and `POST
//! /v1/coop/rules` validate it; the same use cases (`app::rules`) store
//! it.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::form::{FormErrors, RuleFields, RuleForm};
use super::{Listing, NavItem, layout, nav, unprocessable};
use crate::app::{self, AppError};
use crate::domain::rule::{Effect, Owner, Requester, Rule, RuleSpec};
use crate::domain::{FieldErrors, Persona, PersonaDescription, PersonaId, PersonaName, RuleId};
use crate::http::AppState;
use crate::store::StoreError;
use crate::web::page::{CsrfForm, Layout, PageError, done, render};
use crate::web::session::StewardPage;
use crate::web::words::{ThirdPartyNames, Words};

const PERSONAS: &str = "/stewards/personas";
const COOP_RULES: &str = "/stewards/coop-rules";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PERSONAS, get(personas).post(publish_persona))
        .route(COOP_RULES, get(coop_rules).post(add_coop_rule))
        .route("/stewards/coop-rules/{id}/delete", post(delete_coop_rule))
}

/// A rule as a page shows it.
#[derive(Debug, Clone)]
struct ShownRule {
    id: String,
    sentence: String,
    allow: bool,
    added: String,
    /// The delete button's text.
    delete: String,
}

/// Names of the third parties `rules` name.
async fn third_party_names(state: &AppState, rules: &[Rule]) -> Result<ThirdPartyNames, PageError> {
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

async fn shown_rules(
    state: &AppState,
    page: &StewardPage,
    rules: &[Rule],
) -> Result<Vec<ShownRule>, PageError> {
    let tr = page.tr;
    let names = third_party_names(state, rules).await?;
    let words = Words::new(tr, &state.policies.vocabulary);
    Ok(rules
        .iter()
        .enumerate()
        .map(|(position, rule)| ShownRule {
            id: rule.id.to_string(),
            sentence: words.rule(&rule.spec, &names),
            allow: rule.spec.effect == Effect::Allow,
            added: tr.date(rule.created_at),
            delete: tr.ta(
                "steward-rules-delete",
                &[("number", &tr.number(position as u64 + 1))],
            ),
        })
        .collect())
}

/// Reads the rule form as the API reads a rule body of `owner`'s: the
/// spec when nothing is wrong, and every problem found in `errors`.
fn rule_spec(
    state: &AppState,
    owner: &Owner,
    fields: &RuleFields,
    fixed: Option<Effect>,
    prefix: &str,
    errors: &mut FieldErrors,
) -> Option<RuleSpec> {
    let body = fields.body(fixed, errors);
    RuleSpec::parse(
        body,
        owner,
        &state.policies.vocabulary,
        state.clock.now(),
        prefix,
        errors,
    )
    .filter(|_| errors.is_empty())
}

/// A use case's refusal as the form's problems, when it is one.
fn form_problems(error: AppError) -> Result<FieldErrors, PageError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Store(StoreError::OverLimit { limit, .. }) => {
            Ok(FieldErrors::single("limit", format!("at most {limit}")))
        }
        error => Err(error.into()),
    }
}

/// A persona as its card shows it.
#[derive(Debug, Clone)]
struct ShownPersona {
    id: String,
    name: String,
    /// Its description, paragraph by paragraph.
    description: Vec<String>,
    published: String,
    rules: Vec<ShownRule>,
}

/// The persona form's fields, as the browser sends them.
#[derive(Debug, Clone, Default, Deserialize)]
struct PersonaForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    effect: String,
    #[serde(default)]
    requester: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    purposes: Vec<String>,
    #[serde(default)]
    until: String,
}

impl PersonaForm {
    fn rule(&self) -> RuleFields {
        RuleFields {
            effect: self.effect.clone(),
            requester: self.requester.clone(),
            categories: self.categories.clone(),
            purposes: self.purposes.clone(),
            until: self.until.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "steward/personas.html")]
struct PersonasPage {
    l: Layout,
    nav: Vec<NavItem>,
    csrf: String,
    personas: Vec<ShownPersona>,
    name: String,
    description: String,
    rule: RuleForm,
    errors: FormErrors,
}

async fn personas_page(
    state: &AppState,
    page: &StewardPage,
    done: Option<&str>,
    form: &PersonaForm,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let mut personas = Vec::new();
    for persona in state.store.personas().await? {
        let rules = state
            .store
            .rules_of(&Owner::Persona(persona.id.clone()))
            .await?;
        personas.push(ShownPersona {
            id: persona.id.to_string(),
            name: persona.name.as_str().to_owned(),
            description: persona
                .description
                .as_str()
                .split("\n\n")
                .map(str::trim)
                .filter(|paragraph| !paragraph.is_empty())
                .map(str::to_owned)
                .collect(),
            published: tr.date(persona.created_at),
            rules: shown_rules(state, page, &rules).await?,
        });
    }
    let invalid = !errors.is_empty();
    let response = render(&PersonasPage {
        l: layout(page, "steward-personas-title", PERSONAS).with_notice(done),
        nav: nav(tr, PERSONAS),
        csrf: page.session.csrf.clone(),
        personas,
        name: form.name.clone(),
        description: form.description.clone(),
        rule: RuleForm::new(
            tr,
            &state.policies.vocabulary,
            "persona",
            true,
            &form.rule(),
        ),
        errors,
    })?;
    Ok(if invalid {
        unprocessable(response)
    } else {
        response
    })
}

/// `GET /stewards/personas`: every persona with its rules in words, and
/// the form to publish one.
async fn personas(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    personas_page(
        &state,
        &page,
        listing.done.as_deref(),
        &PersonaForm::default(),
        FormErrors::none("persona"),
    )
    .await
}

/// `POST /stewards/personas`: publishes a persona with one rule, as
/// `POST /v1/personas` does.
async fn publish_persona(
    State(state): State<AppState>,
    page: StewardPage,
    CsrfForm(form): CsrfForm<PersonaForm>,
) -> Result<Response, PageError> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", PersonaName::parse(&form.name));
    let description = errors.check("description", PersonaDescription::parse(&form.description));
    let id = PersonaId::generate();
    let owner = Owner::Persona(id.clone());
    const PREFIX: &str = "rules[0].";
    let spec = rule_spec(&state, &owner, &form.rule(), None, PREFIX, &mut errors);
    let (Some(name), Some(description), Some(spec)) = (name, description, spec) else {
        let errors = FormErrors::new(page.tr, "persona", &errors);
        return personas_page(&state, &page, None, &form, errors).await;
    };
    let persona = Persona {
        id,
        name,
        description,
        created_at: state.clock.now(),
    };
    let published = app::rules::publish_persona(
        state.store.as_ref(),
        &state.engine,
        persona,
        vec![(PREFIX.to_owned(), spec)],
        errors,
    )
    .await;
    match published {
        Ok(_) => Ok(done(PERSONAS, "persona-published")),
        Err(error) => {
            let errors = FormErrors::new(page.tr, "persona", &form_problems(error)?);
            personas_page(&state, &page, None, &form, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "steward/coop_rules.html")]
struct CoopRulesPage {
    l: Layout,
    nav: Vec<NavItem>,
    csrf: String,
    rules: Vec<ShownRule>,
    rule: RuleForm,
    errors: FormErrors,
}

async fn coop_rules_page(
    state: &AppState,
    page: &StewardPage,
    done: Option<&str>,
    form: &RuleFields,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let tr = page.tr;
    let rules = state.store.rules_of(&Owner::Coop).await?;
    let invalid = !errors.is_empty();
    let response = render(&CoopRulesPage {
        l: layout(page, "steward-coop-title", COOP_RULES).with_notice(done),
        nav: nav(tr, COOP_RULES),
        csrf: page.session.csrf.clone(),
        rules: shown_rules(state, page, &rules).await?,
        rule: RuleForm::new(tr, &state.policies.vocabulary, "coop", false, form),
        errors,
    })?;
    Ok(if invalid {
        unprocessable(response)
    } else {
        response
    })
}

/// `GET /stewards/coop-rules`: the co-op's rules in words, and the form
/// to add one.
async fn coop_rules(
    State(state): State<AppState>,
    page: StewardPage,
    Query(listing): Query<Listing>,
) -> Result<Response, PageError> {
    coop_rules_page(
        &state,
        &page,
        listing.done.as_deref(),
        &RuleFields::default(),
        FormErrors::none("coop"),
    )
    .await
}

/// `POST /stewards/coop-rules`: adds a co-op rule (deny only), as `POST
/// /v1/coop/rules` does.
async fn add_coop_rule(
    State(state): State<AppState>,
    page: StewardPage,
    CsrfForm(form): CsrfForm<RuleFields>,
) -> Result<Response, PageError> {
    let mut errors = FieldErrors::new();
    let spec = rule_spec(
        &state,
        &Owner::Coop,
        &form,
        Some(Effect::Deny),
        "",
        &mut errors,
    );
    let Some(spec) = spec.filter(|_| errors.is_empty()) else {
        let errors = FormErrors::new(page.tr, "coop", &errors);
        return coop_rules_page(&state, &page, None, &form, errors).await;
    };
    let created = app::rules::create(
        state.store.as_ref(),
        &state.engine,
        Owner::Coop,
        spec,
        errors,
        state.clock.now(),
    )
    .await;
    match created {
        Ok(_) => Ok(done(COOP_RULES, "coop-rule-added")),
        Err(error) => {
            let errors = FormErrors::new(page.tr, "coop", &form_problems(error)?);
            coop_rules_page(&state, &page, None, &form, errors).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /stewards/coop-rules/{id}/delete`: deletes a co-op rule, as
/// `DELETE /v1/coop/rules/{id}` does.
async fn delete_coop_rule(
    State(state): State<AppState>,
    _page: StewardPage,
    Path(id): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let id = RuleId::parse(&id).ok_or(PageError::NotFound)?;
    let deleted = app::rules::delete(state.store.as_ref(), &Owner::Coop, &id).await?;
    let notice = if deleted.value {
        "coop-rule-deleted"
    } else {
        // Deleted meanwhile (the form sent twice): the same end state.
        "coop-rule-gone"
    };
    Ok(done(COOP_RULES, notice))
}
