//! `/v1/third-parties` (stewards): approve, list, suspend and reinstate.

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
use crate::credentials::{self, CLIENT_ID_PREFIX, CLIENT_SECRET_PREFIX};
use crate::domain::third_party::{WebhookUrl, WebhookUrlError};
use crate::domain::{NewThirdParty, ThirdParty, ThirdPartyId, ThirdPartyStatus};

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
    if let Some(url) = &new.webhook_url {
        check_webhook_address(url, state.webhooks.allow_insecure).await?;
    }
    if !state.policies.vocabulary.has_class(new.class) {
        return Err(ApiError::invalid(
            "class",
            format!(
                "`{}` is not a requester class of this co-op",
                new.class.as_str()
            ),
        ));
    }
    let client_id =
        credentials::generate_public_id(CLIENT_ID_PREFIX).map_err(ApiError::internal)?;
    let secret = credentials::generate_secret(CLIENT_SECRET_PREFIX).map_err(ApiError::internal)?;
    let secret_hash = hash_off_thread(secret.clone()).await?;
    let webhook_secret = match new.webhook_url {
        Some(_) => Some(crate::webhook::generate_secret().map_err(ApiError::internal)?),
        None => None,
    };
    let now = state.clock.now();
    let third_party = ThirdParty {
        id: ThirdPartyId::generate(),
        name: new.name,
        class: new.class,
        status: ThirdPartyStatus::Active,
        webhook_url: new.webhook_url.map(|url| url.as_str().to_owned()),
        client_id,
        created_at: now,
        updated_at: now,
    };
    let logged = state
        .store
        .approve_third_party(&third_party, &secret_hash, webhook_secret.as_deref())
        .await?;
    tracing::info!(third_party = %third_party.id, class = third_party.class.as_str(), "third party approved");
    Ok((
        StatusCode::CREATED,
        Receipt(logged.log_index),
        JsonResponse(CreatedThirdParty {
            id: third_party.id.to_string(),
            name: third_party.name.as_str().to_owned(),
            class: third_party.class,
            status: third_party.status,
            webhook_url: third_party.webhook_url,
            client_id: third_party.client_id,
            client_secret: secret.expose_secret().to_owned(),
            webhook_secret,
            created_at: third_party.created_at,
            log_index: logged.log_index,
        }),
    ))
}

/// Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
async fn hash_off_thread(secret: secrecy::SecretString) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || credentials::hash_password(&secret))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
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
    if body.status.is_none() && webhook.is_none() {
        return Err(ApiError::invalid(
            "status",
            "give `status`, `webhook_url` or both",
        ));
    }
    let mut answer = None;
    let mut log_index = None;
    if let Some(status) = body.status {
        let changed = state
            .store
            .set_third_party_status(&id, status, state.clock.now())
            .await?;
        let third_party = changed.value.ok_or(ApiError::NotFound)?;
        tracing::info!(third_party = %third_party.id, status = third_party.status.as_str(), "third party status set");
        log_index = changed.log_index;
        answer = Some(to_wire(third_party));
    }
    if let Some(url) = webhook {
        let secret = crate::webhook::generate_secret().map_err(ApiError::internal)?;
        let set = state
            .store
            .set_webhook(
                &id,
                url.as_ref().map(WebhookUrl::as_str),
                &secret,
                false,
                state.clock.now(),
            )
            .await?;
        let (third_party, new_secret) = set.value.ok_or(ApiError::NotFound)?;
        tracing::info!(third_party = %third_party.id, "webhook endpoint set by the stewards");
        let mut wire = to_wire(third_party);
        wire.webhook_secret = new_secret;
        answer = Some(wire);
    }
    let mut answer = answer.ok_or(ApiError::NotFound)?;
    answer.log_index = log_index;
    Ok((Receipt(log_index), JsonResponse(answer)))
}

/// A webhook URL from a request: the scheme and host rules, then what a
/// name resolves to (`field` names it in the 422).
pub(super) async fn parse_webhook(
    raw: &str,
    field: &str,
    allow_insecure: bool,
) -> Result<WebhookUrl, ApiError> {
    let url = WebhookUrl::parse(raw, allow_insecure)
        .map_err(|error| ApiError::invalid(field, error.to_string()))?;
    check_webhook_address(&url, allow_insecure)
        .await
        .map_err(|_| ApiError::invalid(field, WebhookUrlError::InternalAddress.to_string()))?;
    Ok(url)
}

/// Refuses a name that resolves to an address webhooks may not reach. A
/// name that does not resolve (yet) is accepted: every connection checks
/// the addresses again.
async fn check_webhook_address(url: &WebhookUrl, allow_insecure: bool) -> Result<(), ApiError> {
    let checked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::webhook::address::check_url(url.url(), allow_insecure),
    )
    .await;
    match checked {
        Ok(Err(crate::webhook::address::AddressError::Internal)) => Err(ApiError::invalid(
            "webhook_url",
            WebhookUrlError::InternalAddress.to_string(),
        )),
        _ => Ok(()),
    }
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
    let secret = credentials::generate_secret(CLIENT_SECRET_PREFIX).map_err(ApiError::internal)?;
    let hash = hash_off_thread(secret.clone()).await?;
    let rotated = state
        .store
        .rotate_secret(&id, &hash, state.clock.now())
        .await?;
    let third_party = rotated.value.ok_or(ApiError::NotFound)?;
    tracing::info!(third_party = %third_party.id, "client secret rotated");
    Ok((
        Receipt(rotated.log_index),
        JsonResponse(datacoop_wire::RotatedSecret {
            id: third_party.id.to_string(),
            client_id: third_party.client_id,
            client_secret: secret.expose_secret().to_owned(),
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
