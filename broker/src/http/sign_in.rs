//! `POST /v1/members/{id}/sign-in-links`, `POST /v1/stewards/sign-in-links`
//! (stewards): one-time links to the web pages, for a steward to hand to
//! a member, or to sign in themselves (`datacoop … sign-in-link`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::SignInLink;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use crate::app::sign_in;
use crate::domain::MemberId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{id}/sign-in-links", post(for_member))
        .route("/v1/stewards/sign-in-links", post(for_steward))
}

/// A link that signs the member in to the web pages once, within 15
/// minutes. With an identity provider configured it enrols instead: the
/// account the member signs in with next is linked to the membership.
#[utoipa::path(
    post, path = "/v1/members/{id}/sign-in-links", tag = "admin", operation_id = "create_member_sign_in_link",
    params(("id" = String, Path, description = "The member's id (`mbr_…`)")),
    responses(
        (status = 201, description = "The link, shown this once", body = SignInLink),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn for_member(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, JsonResponse<SignInLink>), ApiError> {
    let member = MemberId::parse(&id).ok_or(ApiError::NotFound)?;
    if state.store.member(&member).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    issue(&state, Some(member)).await
}

/// A link that signs a steward in to the stewards' pages once, within 15
/// minutes.
#[utoipa::path(
    post, path = "/v1/stewards/sign-in-links", tag = "admin", operation_id = "create_steward_sign_in_link",
    responses(
        (status = 201, description = "The link, shown this once", body = SignInLink),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn for_steward(
    _: Admin,
    State(state): State<AppState>,
) -> Result<(StatusCode, JsonResponse<SignInLink>), ApiError> {
    issue(&state, None).await
}

async fn issue(
    state: &AppState,
    member: Option<MemberId>,
) -> Result<(StatusCode, JsonResponse<SignInLink>), ApiError> {
    let (url, expires_at) = sign_in::issue_link(
        state.store.as_ref(),
        &state.web.public_url,
        member,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(SignInLink {
            url: url.into(),
            expires_at,
        }),
    ))
}
