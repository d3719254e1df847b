//! `POST /v1/members`, `GET /v1/members` (stewards).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{CreateMember, CreatedMember, MemberSummary, Page};
use secrecy::ExposeSecret;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::pagination::PageRequest;
use super::receipt::Receipt;
use crate::credentials::{self, MEMBER_TOKEN_PREFIX, TokenHash};
use crate::domain::{DisplayName, Member, MemberId, NewMember};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/members", post(create).get(list))
}

/// Enrol a member; the answer carries their token, shown this once.
#[utoipa::path(
    post, path = "/v1/members", tag = "admin", operation_id = "create_member",
    request_body = CreateMember,
    responses(
        (status = 201, description = "The member and their token", body = CreatedMember, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
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
    Json(body): Json<CreateMember>,
) -> Result<(StatusCode, Receipt, JsonResponse<CreatedMember>), ApiError> {
    let new = NewMember::try_from(body)?;
    let token = credentials::generate_secret(MEMBER_TOKEN_PREFIX).map_err(ApiError::internal)?;
    let member = Member {
        id: MemberId::generate(),
        display_name: new.display_name,
        registry: new.registry,
        accepts_delegations: false,
        created_at: state.clock.now(),
    };
    let logged = state
        .store
        .create_member(&member, &TokenHash::of(token.expose_secret()))
        .await?;
    tracing::info!(member = %member.id, "member enrolled");
    Ok((
        StatusCode::CREATED,
        Receipt(logged.log_index),
        JsonResponse(CreatedMember {
            id: member.id.to_string(),
            token: token.expose_secret().to_owned(),
            display_name: member
                .display_name
                .as_ref()
                .map(|name| name.as_str().to_owned()),
            registry: member.registry,
            accepts_delegations: member.accepts_delegations,
            created_at: member.created_at,
            log_index: logged.log_index,
        }),
    ))
}

/// List members in enrolment order. Anonymous members carry no name.
#[utoipa::path(
    get, path = "/v1/members", tag = "admin", operation_id = "list_members",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of members", body = Page<MemberSummary>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn list(
    _: Admin,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<MemberSummary>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = state
        .store
        .list_members(page.after, page.fetch_limit())
        .await?;
    let (members, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: members
            .into_iter()
            .map(|member| MemberSummary {
                display_name: member.public_name().map(|name| name.as_str().to_owned()),
                id: member.id.to_string(),
                registry: member.registry,
                created_at: member.created_at,
            })
            .collect(),
        next_cursor,
    }))
}

/// The member as they see themselves.
pub(super) fn me(member: Member) -> datacoop_wire::Me {
    datacoop_wire::Me {
        id: member.id.to_string(),
        display_name: member
            .display_name
            .map(|name: DisplayName| name.as_str().to_owned()),
        registry: member.registry,
        accepts_delegations: member.accepts_delegations,
        created_at: member.created_at,
        log_index: None,
    }
}
