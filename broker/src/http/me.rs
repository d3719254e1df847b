//! `GET /v1/me`, `PATCH /v1/me` (a member, with their own token).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{Me, UpdateMe};

use super::AppState;
use super::auth::AuthMember;
use super::error::ApiError;
use super::extract::Json;
use super::members::me;
use super::receipt::Receipt;
use crate::domain::MemberPatch;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/me", get(show).patch(update).delete(leave))
}

/// The calling member's profile.
#[utoipa::path(
    get, path = "/v1/me", tag = "member", operation_id = "show_me",
    responses(
        (status = 200, description = "The calling member", body = Me),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn show(AuthMember(member): AuthMember) -> JsonResponse<Me> {
    JsonResponse(me(member))
}

/// Change the calling member's name, registry or `accepts_delegations`.
#[utoipa::path(
    patch, path = "/v1/me", tag = "member", operation_id = "update_me",
    request_body = UpdateMe,
    responses(
        (status = 200, description = "The member after the change", body = Me, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn update(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Json(body): Json<UpdateMe>,
) -> Result<(Receipt, JsonResponse<Me>), ApiError> {
    let patch = MemberPatch::try_from(body)?;
    if patch.is_empty() {
        return Ok((Receipt(None), JsonResponse(me(member))));
    }
    // The member may have left between authentication and now.
    let updated = state.store.update_member(&member.id, &patch).await?;
    let log_index = updated.log_index;
    let mut answer = me(updated.value.ok_or(ApiError::Unauthorized)?);
    answer.log_index = log_index;
    Ok((Receipt(log_index), JsonResponse(answer)))
}

/// Leave the co-op: the member's name, rules and delegations are erased,
/// their tokens stop working, and delegations to them become inactive.
#[utoipa::path(
    delete, path = "/v1/me", tag = "member", operation_id = "leave",
    responses(
        (status = 204, description = "The member has left", headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn leave(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<(StatusCode, Receipt), ApiError> {
    let left = crate::app::members::leave(
        state.store.as_ref(),
        &state.engine,
        &member.id,
        state.clock.now(),
    )
    .await?;
    if !left.value {
        return Err(ApiError::Unauthorized);
    }
    tracing::info!(member = %member.id, "member left");
    Ok((StatusCode::NO_CONTENT, Receipt(left.log_index)))
}
