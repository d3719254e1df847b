//! Rules: `/v1/me/rules` (a member's own) and `/v1/coop/rules` (the
//! stewards', deny only). Each rule is stored with the Cedar policy it
//! compiles to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::RuleBody;

use super::AppState;
use super::auth::{Admin, AuthMember};
use super::error::ApiError;
use super::extract::Json;
use super::receipt::Receipt;
use crate::app;
use crate::domain::rule::{Owner, Rule, RuleSpec};
use crate::domain::{FieldErrors, RuleId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/rules", post(create_mine).get(list_mine))
        .route("/v1/me/rules/{id}", delete(delete_mine))
        .route("/v1/coop/rules", post(create_coop).get(list_coop))
        .route("/v1/coop/rules/{id}", delete(delete_coop))
}

/// Parses rule bodies for `owner` into specs, each with the field path
/// its errors carry (`prefix`); the errors found come back with them.
pub(super) fn parse_rules(
    state: &AppState,
    owner: &Owner,
    bodies: Vec<(String, RuleBody)>,
    errors: &mut FieldErrors,
) -> Vec<(String, RuleSpec)> {
    let now = state.clock.now();
    let vocabulary = &state.policies.vocabulary;
    bodies
        .into_iter()
        .filter_map(|(prefix, body)| {
            RuleSpec::parse(body, owner, vocabulary, now, &prefix, errors)
                .map(|spec| (prefix, spec))
        })
        .collect()
}

async fn create(
    state: &AppState,
    owner: Owner,
    body: RuleBody,
) -> Result<(StatusCode, Receipt, JsonResponse<datacoop_wire::Rule>), ApiError> {
    let mut errors = FieldErrors::new();
    let spec = parse_rules(state, &owner, vec![(String::new(), body)], &mut errors)
        .into_iter()
        .next();
    let Some((_, spec)) = spec.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let rule = app::rules::create(
        state.store.as_ref(),
        &state.engine,
        owner,
        spec,
        errors,
        state.clock.now(),
    )
    .await?;
    let mut answer = rule.value.to_wire();
    answer.log_index = rule.log_index;
    Ok((
        StatusCode::CREATED,
        Receipt(rule.log_index),
        JsonResponse(answer),
    ))
}

async fn list(
    state: &AppState,
    owner: &Owner,
) -> Result<JsonResponse<Vec<datacoop_wire::Rule>>, ApiError> {
    let rules = state.store.rules_of(owner).await?;
    Ok(JsonResponse(rules.iter().map(Rule::to_wire).collect()))
}

async fn remove(
    state: &AppState,
    owner: &Owner,
    id: &str,
) -> Result<(StatusCode, Receipt), ApiError> {
    let id = RuleId::parse(id).ok_or(ApiError::NotFound)?;
    let deleted = app::rules::delete(state.store.as_ref(), owner, &id).await?;
    if !deleted.value {
        return Err(ApiError::NotFound);
    }
    Ok((StatusCode::NO_CONTENT, Receipt(deleted.log_index)))
}

/// Add a rule of the calling member's (consent-semantics §2).
#[utoipa::path(
    post, path = "/v1/me/rules", tag = "member",
    request_body = RuleBody,
    responses(
        (status = 201, description = "The rule, with its Cedar policy", body = datacoop_wire::Rule, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create_mine(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Json(body): Json<RuleBody>,
) -> Result<(StatusCode, Receipt, JsonResponse<datacoop_wire::Rule>), ApiError> {
    create(&state, Owner::Member(member.id), body).await
}

/// The calling member's rules, oldest first.
#[utoipa::path(
    get, path = "/v1/me/rules", tag = "member",
    responses(
        (status = 200, description = "The member's rules", body = Vec<datacoop_wire::Rule>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn list_mine(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<datacoop_wire::Rule>>, ApiError> {
    list(&state, &Owner::Member(member.id)).await
}

/// Revoke one of the calling member's rules; the next decision sees it.
#[utoipa::path(
    delete, path = "/v1/me/rules/{id}", tag = "member",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted", headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn delete_mine(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Receipt), ApiError> {
    remove(&state, &Owner::Member(member.id), &id).await
}

/// Add a co-op rule: deny only, beats every member's consent.
#[utoipa::path(
    post, path = "/v1/coop/rules", tag = "admin",
    request_body = RuleBody,
    responses(
        (status = 201, description = "The rule, with its Cedar policy", body = datacoop_wire::Rule, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create_coop(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<RuleBody>,
) -> Result<(StatusCode, Receipt, JsonResponse<datacoop_wire::Rule>), ApiError> {
    create(&state, Owner::Coop, body).await
}

/// The co-op's rules, oldest first (base policies from the policy folder
/// are not listed; explanations name them by id).
#[utoipa::path(
    get, path = "/v1/coop/rules", tag = "admin",
    responses(
        (status = 200, description = "The co-op's rules", body = Vec<datacoop_wire::Rule>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn list_coop(
    _: Admin,
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<datacoop_wire::Rule>>, ApiError> {
    list(&state, &Owner::Coop).await
}

/// Delete a co-op rule.
#[utoipa::path(
    delete, path = "/v1/coop/rules/{id}", tag = "admin",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted", headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn delete_coop(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Receipt), ApiError> {
    remove(&state, &Owner::Coop, &id).await
}
