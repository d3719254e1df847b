//! `/v1/personas`: preset profiles of rules the stewards publish, which
//! members may adopt by delegating to them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::CreatePersona;

use super::AppState;
use super::auth::{Admin, Principal};
use super::error::ApiError;
use super::extract::Json;
use super::receipt::Receipt;
use super::rules::parse_rules;
use crate::app;
use crate::domain::rule::{Owner, Rule};
use crate::domain::{FieldErrors, Persona, PersonaDescription, PersonaId, PersonaName};

/// The most rules one persona may hold.
pub(super) const MAX_PERSONA_RULES: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/personas", post(create).get(list))
}

/// Publish a persona with its rules.
#[utoipa::path(
    post, path = "/v1/personas", tag = "admin", operation_id = "create_persona",
    request_body = CreatePersona,
    responses(
        (status = 201, description = "The persona and its rules", body = datacoop_wire::Persona, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreatePersona>,
) -> Result<(StatusCode, Receipt, JsonResponse<datacoop_wire::Persona>), ApiError> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", PersonaName::parse(&body.name));
    let description = errors.check("description", PersonaDescription::parse(&body.description));
    if body.rules.len() > MAX_PERSONA_RULES {
        errors.push(
            "rules",
            format!("must hold at most {MAX_PERSONA_RULES} rules"),
        );
    }
    let id = PersonaId::generate();
    let owner = Owner::Persona(id.clone());
    let bodies = body
        .rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| (format!("rules[{index}]."), rule))
        .collect();
    let specs = parse_rules(&state, &owner, bodies, &mut errors);
    let (Some(name), Some(description)) = (name, description) else {
        return Err(ApiError::Validation(errors));
    };
    let persona = Persona {
        id,
        name,
        description,
        created_at: state.clock.now(),
    };
    let published =
        app::rules::publish_persona(state.store.as_ref(), &state.engine, persona, specs, errors)
            .await?;
    let (persona, rules) = &published.value;
    let mut answer = to_wire(persona, rules);
    answer.log_index = published.log_index;
    Ok((
        StatusCode::CREATED,
        Receipt(published.log_index),
        JsonResponse(answer),
    ))
}

/// Every persona with its rules (stewards and members).
#[utoipa::path(
    get, path = "/v1/personas", tag = "member", operation_id = "list_personas",
    responses(
        (status = 200, description = "The personas", body = Vec<datacoop_wire::Persona>),
        (status = 401, response = super::openapi::Unauthorized),
    ),
    security(("bearer" = []))
)]
async fn list(
    _: Principal,
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<datacoop_wire::Persona>>, ApiError> {
    let mut personas = Vec::new();
    for persona in state.store.personas().await? {
        let rules = state
            .store
            .rules_of(&Owner::Persona(persona.id.clone()))
            .await?;
        personas.push(to_wire(&persona, &rules));
    }
    Ok(JsonResponse(personas))
}

fn to_wire(persona: &Persona, rules: &[Rule]) -> datacoop_wire::Persona {
    datacoop_wire::Persona {
        id: persona.id.to_string(),
        name: persona.name.as_str().to_owned(),
        description: persona.description.as_str().to_owned(),
        rules: rules.iter().map(Rule::to_wire).collect(),
        created_at: persona.created_at,
        log_index: None,
    }
}
