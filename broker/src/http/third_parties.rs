//! `/v1/third-parties` (stewards): approve, list, suspend and reinstate
//! (the use cases are `app::third_parties`, shared with the stewards'
//! pages).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{CreateThirdParty, CreatedThirdParty, Page, UpdateThirdParty};
use secrecy::ExposeSecret;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::pagination::PageRequest;
use super::receipt::Receipt;
use crate::app::third_parties::{self, Approved, Rotated, ThirdPartyError, ThirdPartyPatch};
use crate::domain::third_party::WebhookUrl;
use crate::domain::{NewThirdParty, ThirdParty, ThirdPartyId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/third-parties", post(create).get(list))
        .route("/v1/third-parties/{id}", get(show).patch(update))
        .route("/v1/third-parties/{id}/secret", post(rotate_secret))
}

/// Approve a third party; the answer carries its OAuth2 client secret,
/// shown this once.
#[utoipa::path(
    post, path = "/v1/third-parties", tag = "admin", operation_id = "create_third_party",
    request_body = CreateThirdParty,
    responses(
        (status = 201, description = "The third party and its client credentials", body = CreatedThirdParty, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
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
    Json(body): Json<CreateThirdParty>,
) -> Result<(StatusCode, Receipt, JsonResponse<CreatedThirdParty>), ApiError> {
    let new = NewThirdParty::parse(body, state.webhooks.allow_insecure)?;
    let approved = third_parties::approve(
        state.store.as_ref(),
        &state.policies.vocabulary,
        new,
        state.webhooks.allow_insecure,
        state.clock.now(),
    )
    .await
    .map_err(api_error)?;
    let Approved {
        third_party,
        client_secret,
        webhook_secret,
    } = approved.value;
    Ok((
        StatusCode::CREATED,
        Receipt(approved.log_index),
        JsonResponse(CreatedThirdParty {
            id: third_party.id.to_string(),
            name: third_party.name.as_str().to_owned(),
            class: third_party.class,
            status: third_party.status,
            webhook_url: third_party.webhook_url,
            client_id: third_party.client_id,
            client_secret: client_secret.expose_secret().to_owned(),
            webhook_secret,
            created_at: third_party.created_at,
            log_index: approved.log_index,
        }),
    ))
}

fn api_error(error: ThirdPartyError) -> ApiError {
    match error {
        ThirdPartyError::App(error) => error.into(),
        ThirdPartyError::Secret(error) => ApiError::internal(anyhow::anyhow!(error)),
    }
}

/// List third parties in approval order.
#[utoipa::path(
    get, path = "/v1/third-parties", tag = "admin", operation_id = "list_third_parties",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of third parties", body = Page<datacoop_wire::ThirdParty>),
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
) -> Result<JsonResponse<Page<datacoop_wire::ThirdParty>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let rows = state
        .store
        .list_third_parties(page.after, page.fetch_limit())
        .await?;
    let (third_parties, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: third_parties.into_iter().map(to_wire).collect(),
        next_cursor,
    }))
}

/// One third party.
#[utoipa::path(
    get, path = "/v1/third-parties/{id}", tag = "admin", operation_id = "show_third_party",
    params(("id" = String, Path, description = "Third-party id")),
    responses(
        (status = 200, description = "The third party", body = datacoop_wire::ThirdParty),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn show(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<JsonResponse<datacoop_wire::ThirdParty>, ApiError> {
    let id = ThirdPartyId::parse(&id).ok_or(ApiError::NotFound)?;
    let third_party = state
        .store
        .third_party(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(JsonResponse(to_wire(third_party)))
}

/// Suspend or reinstate a third party, and set or remove its webhook
/// endpoint. A suspended third party is denied every decision
/// (`requester_inactive`). A first endpoint comes with a signing secret,
/// shown in this answer only (the third party can rotate it).
#[utoipa::path(
    patch, path = "/v1/third-parties/{id}", tag = "admin", operation_id = "update_third_party",
    params(("id" = String, Path, description = "Third-party id")),
    request_body = UpdateThirdParty,
    responses(
        (status = 200, description = "The third party after the change", body = datacoop_wire::ThirdParty, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn update(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateThirdParty>,
) -> Result<(Receipt, JsonResponse<datacoop_wire::ThirdParty>), ApiError> {
    let id = ThirdPartyId::parse(&id).ok_or(ApiError::NotFound)?;
    // Everything is checked before anything changes.
    let webhook = match &body.webhook_url {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(
            parse_webhook(raw, "webhook_url", state.webhooks.allow_insecure).await?,
        )),
    };
    let patch = ThirdPartyPatch {
        status: body.status,
        webhook,
    };
    let updated = third_parties::update(state.store.as_ref(), &id, patch, state.clock.now())
        .await
        .map_err(api_error)?
        .ok_or(ApiError::NotFound)?;
    let mut answer = to_wire(updated.value.third_party);
    answer.webhook_secret = updated.value.webhook_secret;
    answer.log_index = updated.log_index;
    Ok((Receipt(updated.log_index), JsonResponse(answer)))
}

/// A webhook URL from a request: the scheme and host rules, then what a
/// name resolves to (`field` names it in the 422).
pub(super) async fn parse_webhook(
    raw: &str,
    field: &str,
    allow_insecure: bool,
) -> Result<WebhookUrl, ApiError> {
    Ok(third_parties::parse_webhook(raw, field, allow_insecure).await?)
}

/// Give a third party a new client secret, shown this once. The old
/// secret and every access token issued with it stop working at once.
#[utoipa::path(
    post, path = "/v1/third-parties/{id}/secret", tag = "admin",
    params(("id" = String, Path, description = "Third-party id")),
    responses(
        (status = 200, description = "The new secret", body = datacoop_wire::RotatedSecret, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn rotate_secret(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Receipt, JsonResponse<datacoop_wire::RotatedSecret>), ApiError> {
    let id = ThirdPartyId::parse(&id).ok_or(ApiError::NotFound)?;
    let rotated = third_parties::rotate_secret(state.store.as_ref(), &id, state.clock.now())
        .await
        .map_err(api_error)?
        .ok_or(ApiError::NotFound)?;
    let Rotated {
        third_party,
        client_secret,
    } = rotated.value;
    Ok((
        Receipt(rotated.log_index),
        JsonResponse(datacoop_wire::RotatedSecret {
            id: third_party.id.to_string(),
            client_id: third_party.client_id,
            client_secret: client_secret.expose_secret().to_owned(),
            log_index: rotated.log_index,
        }),
    ))
}

fn to_wire(third_party: ThirdParty) -> datacoop_wire::ThirdParty {
    datacoop_wire::ThirdParty {
        id: third_party.id.to_string(),
        name: third_party.name.as_str().to_owned(),
        class: third_party.class,
        status: third_party.status,
        webhook_url: third_party.webhook_url,
        client_id: third_party.client_id,
        created_at: third_party.created_at,
        updated_at: third_party.updated_at,
        webhook_secret: None,
        log_index: None,
    }
}
