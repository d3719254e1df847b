//! `POST /v1/decisions` (stewards) and `POST /v1/me/explain` (a member,
//! about their own data): a decision with its explanation (§4, §5).

use axum::extract::State;
use axum::routing::post;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{Action, Decision, DecisionRequest, ExplainRequest};

use super::AppState;
use super::auth::{Admin, AuthMember};
use super::error::ApiError;
use super::extract::Json;
use crate::consent::DecisionInput;
use crate::domain::FieldErrors;
use crate::domain::rule::MAX_TERMS_PER_RULE;
use crate::domain::vocabulary::TermId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/decisions", post(decide))
        .route("/v1/me/explain", post(explain))
}

/// The categories (1 to 64, each known or `*`, repeats dropped) and the
/// purpose of a request, checked against the vocabulary.
pub(super) fn requested_terms(
    state: &AppState,
    categories: &[String],
    purpose: &str,
) -> Result<(Vec<TermId>, TermId), ApiError> {
    let vocabulary = &state.policies.vocabulary;
    let mut errors = FieldErrors::new();
    if categories.is_empty() || categories.len() > MAX_TERMS_PER_RULE {
        errors.push(
            "data_categories",
            format!("must list 1 to {MAX_TERMS_PER_RULE} categories"),
        );
    }
    let mut ids: Vec<TermId> = Vec::with_capacity(categories.len());
    for (index, raw) in categories.iter().enumerate() {
        match vocabulary.category(raw) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => errors.push(
                format!("data_categories[{index}]"),
                format!("`{raw}` is not a data category of this co-op"),
            ),
        }
    }
    let purpose_id = vocabulary.purpose(purpose);
    if purpose_id.is_none() {
        errors.push(
            "purpose",
            format!("`{purpose}` is not a purpose of this co-op"),
        );
    }
    let purpose = errors.finish(|| purpose_id)?;
    Ok((ids, purpose))
}

fn input(
    state: &AppState,
    member: String,
    requester: String,
    action: Action,
    categories: &[String],
    purpose: &str,
) -> Result<DecisionInput, ApiError> {
    let (categories, purpose) = requested_terms(state, categories, purpose)?;
    Ok(DecisionInput {
        member,
        requester,
        action,
        categories,
        purpose,
    })
}

/// Decide a request about any member, with the explanation.
#[utoipa::path(
    post, path = "/v1/decisions", tag = "admin",
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "The decision, per category", body = Decision),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn decide(
    _: Admin,
    State(state): State<AppState>,
    Json(body): Json<DecisionRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let input = input(
        &state,
        body.member,
        body.requester,
        body.action,
        &body.data_categories,
        &body.purpose,
    )?;
    let outcome = state.engine.decide(&input, state.clock.now()).await?;
    Ok(JsonResponse(outcome.to_wire()))
}

/// Explain how a hypothetical request about the caller's own data would
/// be decided.
#[utoipa::path(
    post, path = "/v1/me/explain", tag = "member",
    request_body = ExplainRequest,
    responses(
        (status = 200, description = "The decision, per category", body = Decision),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn explain(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Json(body): Json<ExplainRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let input = input(
        &state,
        member.id.to_string(),
        body.requester,
        body.action,
        &body.data_categories,
        &body.purpose,
    )?;
    let outcome = state.engine.decide(&input, state.clock.now()).await?;
    Ok(JsonResponse(outcome.to_wire()))
}
