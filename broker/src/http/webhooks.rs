//! Withdrawals reaching the recipients (issue 10): a third party's own
//! webhook endpoint and its deletion receipts, the stewards' view of
//! deliveries and overdue receipts, and a member's withdrawals.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{
    CreateDeletionReceipt, DeletionReceipt, Delivery, DeliveryState, Page, SetWebhook,
    WebhookEndpoint, Withdrawal,
};

use super::AppState;
use super::auth::{Admin, AuthMember, AuthThirdParty};
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::pagination::PageRequest;
use super::receipt::Receipt;
use super::third_parties::parse_webhook;
use crate::app::deletion_receipts;
use crate::domain::EventId;
use crate::store::{EventFilter, EventRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/third-parties/me/webhook", put(set_webhook))
        .route(
            "/v1/third-parties/me/webhook/secret",
            post(rotate_webhook_secret),
        )
        .route(
            "/v1/deletion-receipts",
            post(confirm_deletion).get(deletion_receipts),
        )
        .route("/v1/webhook-deliveries", get(deliveries))
        .route("/v1/me/withdrawals", get(my_withdrawals))
}

/// Set the calling third party's webhook endpoint. The answer carries a
/// new signing secret, shown this once; events not delivered yet are sent
/// to the new endpoint at once.
#[utoipa::path(
    put, path = "/v1/third-parties/me/webhook", tag = "third party",
    request_body = SetWebhook,
    responses(
        (status = 200, description = "The endpoint and its new signing secret", body = WebhookEndpoint),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn set_webhook(
    AuthThirdParty(third_party): AuthThirdParty,
    State(state): State<AppState>,
    Json(body): Json<SetWebhook>,
) -> Result<JsonResponse<WebhookEndpoint>, ApiError> {
    let url = parse_webhook(&body.url, "url", state.webhooks.allow_insecure).await?;
    endpoint(&state, &third_party.id, url.as_str()).await
}

/// Give the calling third party's webhook endpoint a new signing secret,
/// shown this once; the old one stops signing at once. 409 when it has
/// no endpoint.
#[utoipa::path(
    post, path = "/v1/third-parties/me/webhook/secret", tag = "third party",
    responses(
        (status = 200, description = "The endpoint and its new signing secret", body = WebhookEndpoint),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 409, response = super::openapi::Conflict),
    ),
    security(("bearer" = []))
)]
async fn rotate_webhook_secret(
    AuthThirdParty(third_party): AuthThirdParty,
    State(state): State<AppState>,
) -> Result<JsonResponse<WebhookEndpoint>, ApiError> {
    let Some(url) = third_party.webhook_url.clone() else {
        return Err(ApiError::Conflict(
            "no webhook endpoint is set: PUT /v1/third-parties/me/webhook first".into(),
        ));
    };
    endpoint(&state, &third_party.id, &url).await
}

/// Sets `url` with a new secret and answers both.
async fn endpoint(
    state: &AppState,
    third_party: &crate::domain::ThirdPartyId,
    url: &str,
) -> Result<JsonResponse<WebhookEndpoint>, ApiError> {
    let secret = crate::webhook::generate_secret().map_err(ApiError::internal)?;
    let set = state
        .store
        .set_webhook(third_party, Some(url), &secret, true, state.clock.now())
        .await?;
    let (updated, shown) = set.value.ok_or(ApiError::NotFound)?;
    let shown =
        shown.ok_or_else(|| ApiError::internal(anyhow::anyhow!("the new secret was not kept")))?;
    tracing::info!(third_party = %updated.id, "webhook endpoint set by the third party");
    Ok(JsonResponse(WebhookEndpoint {
        url: updated.webhook_url.unwrap_or_default(),
        secret: shown,
    }))
}

/// Confirm that the data a `consent.withdrawn` event withdrew is deleted:
/// 201 the first time, 200 with the same receipt after. Only the third
/// party's own events; any other id is 404.
#[utoipa::path(
    post, path = "/v1/deletion-receipts", tag = "third party",
    request_body = CreateDeletionReceipt,
    responses(
        (status = 201, description = "Deletion confirmed", body = DeletionReceipt, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 200, description = "Confirmed before: the earlier receipt", body = DeletionReceipt),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
    ),
    security(("bearer" = []))
)]
async fn confirm_deletion(
    AuthThirdParty(third_party): AuthThirdParty,
    State(state): State<AppState>,
    Json(body): Json<CreateDeletionReceipt>,
) -> Result<(StatusCode, Receipt, JsonResponse<DeletionReceipt>), ApiError> {
    let event = EventId::parse(&body.event_id).ok_or(ApiError::NotFound)?;
    let confirmed = state
        .store
        .confirm_deletion(&third_party.id, &event, state.clock.now())
        .await?;
    let (at, now) = confirmed.value.ok_or(ApiError::NotFound)?;
    let status = if now {
        tracing::info!(third_party = %third_party.id, event = %event, "deletion confirmed");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Receipt(confirmed.log_index),
        JsonResponse(DeletionReceipt {
            event_id: event.to_string(),
            confirmed_at: at,
            log_index: confirmed.log_index,
        }),
    ))
}

/// Withdrawals whose deletion the recipient has not confirmed, oldest
/// first; with `overdue=true`, only those sent longer ago than the grace
/// period (`DATACOOP_DELETION_GRACE_SECS`).
#[utoipa::path(
    get, path = "/v1/deletion-receipts", tag = "admin",
    params(
        ("overdue" = Option<bool>, Query, description = "Only receipts past the grace period"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of unconfirmed withdrawals", body = Page<Delivery>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn deletion_receipts(
    _: Admin,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<Delivery>>, ApiError> {
    let page = PageRequest::from_query_with(&query, &["overdue"])?;
    let overdue = match query.get("overdue") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("overdue", "must be `true` or `false`")),
    };
    let now = state.clock.now();
    let before = if overdue {
        deletion_receipts::overdue_before(now, state.webhooks.deletion_grace)
    } else {
        now
    };
    let rows = deletion_receipts::unconfirmed_before(
        state.store.as_ref(),
        before,
        page.after,
        page.fetch_limit(),
    )
    .await?;
    let (events, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: events.into_iter().map(delivery).collect(),
        next_cursor,
    }))
}

/// Every webhook event and how its delivery stands, oldest first;
/// `state=failed` lists the deliveries given up.
#[utoipa::path(
    get, path = "/v1/webhook-deliveries", tag = "admin",
    params(
        ("state" = Option<DeliveryState>, Query, description = "Only events in this delivery state"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of events", body = Page<Delivery>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn deliveries(
    _: Admin,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<Delivery>>, ApiError> {
    let page = PageRequest::from_query_with(&query, &["state"])?;
    let filter = match query.get("state") {
        None => EventFilter::All,
        Some(raw) => EventFilter::State(DeliveryState::parse(raw).ok_or_else(|| {
            ApiError::invalid("state", "must be `pending`, `delivered` or `failed`")
        })?),
    };
    events_page(&state, &filter, page, delivery).await
}

/// Every withdrawal sent to a third party that received the calling
/// member's data, newest first: when it was sent, delivered, and when the
/// third party confirmed the deletion.
#[utoipa::path(
    get, path = "/v1/me/withdrawals", tag = "member",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of withdrawals", body = Page<Withdrawal>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn my_withdrawals(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<Withdrawal>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    events_page(&state, &EventFilter::Member(member.id), page, withdrawal).await
}

/// One page of the events `filter` selects, each shown by `show`.
async fn events_page<T>(
    state: &AppState,
    filter: &EventFilter,
    page: PageRequest,
    show: fn(EventRecord) -> T,
) -> Result<JsonResponse<Page<T>>, ApiError> {
    let rows = state
        .store
        .events(filter, page.after, page.fetch_limit())
        .await?;
    let (events, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page {
        items: events.into_iter().map(show).collect(),
        next_cursor,
    }))
}

fn delivery(event: EventRecord) -> Delivery {
    Delivery {
        event_id: event.id.to_string(),
        kind: event.kind,
        third_party: event.third_party.to_string(),
        member: event.member.to_string(),
        purpose: event.purpose,
        categories: event.categories,
        state: event.state,
        attempts: event.attempts,
        sent_at: event.created_at,
        delivered_at: event.delivered_at,
        failed_at: event.failed_at,
        last_error: event.last_error,
        deletion_confirmed_at: event.deletion_confirmed_at,
        log_index: event.log_index,
    }
}

/// A withdrawal as its member sees it.
pub(super) fn withdrawal(event: EventRecord) -> Withdrawal {
    Withdrawal {
        event_id: event.id.to_string(),
        third_party: event.third_party.to_string(),
        purpose: event.purpose,
        categories: event.categories,
        state: event.state,
        sent_at: event.created_at,
        delivered_at: event.delivered_at,
        failed_at: event.failed_at,
        deletion_confirmed_at: event.deletion_confirmed_at,
        log_index: event.log_index,
    }
}
