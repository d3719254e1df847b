//! The service layer: a member's data (`/v1/me/data`), pairwise subjects
//! (`/v1/me/connections`), the access log and the export (`/v1/me/…`),
//! and third parties' reads (`POST /v1/access`). Nothing but a consent
//! decision reads a member's data for a third party.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json as JsonResponse, Router};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use datacoop_wire::{
    AccessLogEntry, AccessRequest, AccessResponse, CategoryDecision, Connection, CreateConnection,
    DecidedBy, Export,
};
use futures_util::StreamExt;

use super::AppState;
use super::auth::{AuthMember, AuthThirdParty};
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::members::me;
use super::pagination::PageRequest;
use super::receipt::Receipt;
use crate::app;
use crate::credentials;
use crate::domain::rule::Rule;
use crate::domain::{Member, MemberId, ThirdPartyId};
use crate::store::AccessRecord;

/// The largest value one category may hold, serialized.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/data", get(my_data))
        .route("/v1/me/data/{category}", put(put_data))
        .route("/v1/me/connections", post(connect).get(connections))
        .route("/v1/me/connections/{third_party}", delete(disconnect))
        .route("/v1/me/access-log", get(access_log))
        .route("/v1/me/export", get(export))
        .route("/v1/access", post(access))
}

fn values(rows: Vec<(String, String)>) -> serde_json::Map<String, serde_json::Value> {
    rows.into_iter()
        .filter_map(|(category, text)| Some((category, serde_json::from_str(&text).ok()?)))
        .collect()
}

/// Store the calling member's value for one data category.
#[utoipa::path(
    put, path = "/v1/me/data/{category}", tag = "member",
    params(("category" = String, Path, description = "A data category id of the vocabulary")),
    request_body(content = Object, description = "Any JSON value, up to 64 KiB"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn put_data(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Path(category): Path<String>,
    Json(value): Json<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let Some(id) = state
        .policies
        .vocabulary
        .category(&category)
        .filter(|id| !id.is_wildcard())
    else {
        return Err(ApiError::invalid(
            "category",
            format!("`{category}` is not a data category of this co-op"),
        ));
    };
    let text = serde_json::to_string(&value).map_err(ApiError::internal)?;
    if text.len() > MAX_VALUE_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    state
        .store
        .put_data(&member.id, id.as_str(), &text, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling member's stored data, by category.
#[utoipa::path(
    get, path = "/v1/me/data", tag = "member",
    responses(
        (status = 200, description = "Values by category", body = Object),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn my_data(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<serde_json::Map<String, serde_json::Value>>, ApiError> {
    Ok(JsonResponse(values(state.store.data_of(&member.id).await?)))
}

/// The calling member's pairwise subject for a third party: created on the
/// first call, the same on every later one.
#[utoipa::path(
    post, path = "/v1/me/connections", tag = "member",
    request_body = CreateConnection,
    responses(
        (status = 201, description = "The subject", body = Connection),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn connect(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Json(body): Json<CreateConnection>,
) -> Result<(StatusCode, JsonResponse<Connection>), ApiError> {
    let third_party = match ThirdPartyId::parse(&body.third_party) {
        Some(id) => state.store.third_party(&id).await?,
        None => None,
    };
    let Some(third_party) = third_party else {
        return Err(ApiError::invalid(
            "third_party",
            format!("`{}` is not a third party", body.third_party),
        ));
    };
    // A random subject: unlinkable across third parties by construction.
    let fresh = credentials::generate_public_id("sub_").map_err(ApiError::internal)?;
    let subject = state
        .store
        .connect(&member.id, &third_party.id, &fresh, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(Connection {
            third_party: third_party.id.to_string(),
            subject,
        }),
    ))
}

/// The calling member's connections.
#[utoipa::path(
    get, path = "/v1/me/connections", tag = "member",
    responses(
        (status = 200, description = "The member's subjects", body = Vec<Connection>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn connections(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<Connection>>, ApiError> {
    Ok(JsonResponse(connections_of(&state, &member.id).await?))
}

/// Cut a third party off: its subject for the calling member ends (a call
/// with it is answered like one about nobody), and every category it
/// received is withdrawn (`consent.withdrawn`, which it must confirm
/// deleting). Connecting again gives a new subject.
#[utoipa::path(
    delete, path = "/v1/me/connections/{third_party}", tag = "member",
    params(("third_party" = String, Path, description = "Third-party id")),
    responses(
        (status = 204, description = "Disconnected", headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn disconnect(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Path(third_party): Path<String>,
) -> Result<(StatusCode, Receipt), ApiError> {
    let third_party = ThirdPartyId::parse(&third_party).ok_or(ApiError::NotFound)?;
    let ended = state
        .store
        .disconnect(&member.id, &third_party, state.clock.now())
        .await?;
    if !ended.value {
        return Err(ApiError::NotFound);
    }
    tracing::info!(third_party = %third_party, "a member cut a third party off");
    Ok((StatusCode::NO_CONTENT, Receipt(ended.log_index)))
}

async fn connections_of(state: &AppState, member: &MemberId) -> Result<Vec<Connection>, ApiError> {
    Ok(state
        .store
        .connections_of(member)
        .await?
        .into_iter()
        .map(|(third_party, subject)| Connection {
            third_party,
            subject,
        })
        .collect())
}

/// One read as the member's log shows it, with the withdrawals that
/// reached what it gave (`withdrawals`: the member's, newest first).
fn log_entry(record: AccessRecord, withdrawals: &[crate::store::EventRecord]) -> AccessLogEntry {
    let covering = app::export::withdrawals_covering(&record, withdrawals)
        .into_iter()
        .cloned()
        .map(super::webhooks::withdrawal)
        .collect();
    AccessLogEntry {
        at: record.at,
        requester: record.third_party.to_string(),
        purpose: record.purpose,
        action: record.action,
        decision: record.decision,
        categories: record
            .categories
            .into_iter()
            .map(|category| datacoop_wire::LoggedCategory {
                category: category.category,
                decision: category.verdict,
                reason: category.reason,
            })
            .collect(),
        withdrawals: covering,
        dataset_build: None,
    }
}

/// A build that counted the member, as an entry of their access log: the
/// licensee counted every category the dataset reads, for its purpose.
pub fn build_entry(build: datacoop_wire::CountedBuild) -> AccessLogEntry {
    AccessLogEntry {
        at: build.built_at,
        requester: build.licensee.clone(),
        purpose: build.purpose.clone(),
        action: datacoop_wire::Action::Aggregate,
        decision: datacoop_wire::Verdict::Allow,
        categories: build
            .data_categories
            .iter()
            .map(|category| datacoop_wire::LoggedCategory {
                category: category.clone(),
                decision: datacoop_wire::Verdict::Allow,
                reason: datacoop_wire::Reason::Allowed,
            })
            .collect(),
        withdrawals: Vec::new(),
        dataset_build: Some(build),
    }
}

/// Every access decision about the calling member's data, newest first.
#[utoipa::path(
    get, path = "/v1/me/access-log", tag = "member",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of the log", body = datacoop_wire::Page<AccessLogEntry>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn access_log(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<datacoop_wire::Page<AccessLogEntry>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    Ok(JsonResponse(
        access_log_page(&state, &member.id, &page).await?,
    ))
}

/// One page of a member's access log, newest first, dataset builds merged
/// in by time: what `GET /v1/me/access-log` and the access log page show.
pub(crate) async fn access_log_page(
    state: &AppState,
    member: &MemberId,
    page: &PageRequest,
) -> Result<datacoop_wire::Page<AccessLogEntry>, ApiError> {
    let rows = state
        .store
        .access_log(member, page.after, page.fetch_limit())
        .await?;
    // The dataset builds that counted the member are merged in by time:
    // this page holds those after the next page's newest read (the row
    // fetched beyond the limit) and, past the first page, up to this
    // page's newest read; so each is on exactly one page.
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let lower = rows.get(limit).map(|(_, record)| record.at);
    let upper = match page.after {
        Some(_) => rows.first().map(|(_, record)| Some(record.at)),
        None => Some(None),
    };
    let (records, next_cursor) = page.finish(rows);
    let withdrawals = app::export::withdrawals_of(state.store.as_ref(), member).await?;
    let mut items: Vec<AccessLogEntry> = records
        .into_iter()
        .map(|record| log_entry(record, &withdrawals))
        .collect();
    if let Some(upper) = upper {
        items.extend(
            super::datasets::counted_builds(state, member)
                .await?
                .into_iter()
                .filter(|build| {
                    lower.is_none_or(|lower| build.built_at > lower)
                        && upper.is_none_or(|upper| build.built_at <= upper)
                })
                .map(build_entry),
        );
        items.sort_by_key(|entry| std::cmp::Reverse(entry.at));
    }
    Ok(datacoop_wire::Page { items, next_cursor })
}

/// Everything the co-op holds about the calling member, in one document.
/// The access log is last and is sent as it is read, a page at a time.
#[utoipa::path(
    get, path = "/v1/me/export", tag = "member",
    responses(
        (status = 200, description = "The export", body = Export),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn export(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    export_document(&state, member).await
}

/// Everything held about `member` as one JSON document, streamed: what
/// `GET /v1/me/export` answers and the "My data" page downloads.
pub(crate) async fn export_document(
    state: &AppState,
    member: Member,
) -> Result<Response, ApiError> {
    let id = member.id.clone();
    let holdings = app::export::holdings(state.store.as_ref(), member).await?;
    let exported_at = state.clock.now();
    let delegations: Vec<_> = holdings
        .delegations
        .iter()
        .map(|(delegation, active)| super::delegations::to_wire(delegation, *active))
        .collect();
    let connections: Vec<Connection> = holdings
        .connections
        .into_iter()
        .map(|(third_party, subject)| Connection {
            third_party,
            subject,
        })
        .collect();
    let rules: Vec<_> = holdings.rules.iter().map(Rule::to_wire).collect();
    let withdrawn = Arc::new(holdings.withdrawals);
    let withdrawals: Vec<_> = withdrawn
        .iter()
        .cloned()
        .map(super::webhooks::withdrawal)
        .collect();
    // The document's fields, the access log last, so it can follow as it
    // is read: `{"profile":…,…,"access_log":[` entries `]}`.
    let dataset_builds = super::datasets::counted_builds(state, &id).await?;
    let head = format!(
        "{{\"profile\":{},\"data\":{},\"rules\":{},\"delegations\":{},\"connections\":{},\"withdrawals\":{},\"dataset_builds\":{},\"exported_at\":{},\"access_log\":[",
        json(&me(holdings.member))?,
        json(&values(holdings.data))?,
        json(&rules)?,
        json(&delegations)?,
        json(&connections)?,
        json(&withdrawals)?,
        json(&dataset_builds)?,
        json(&exported_at)?,
    );
    let mut first = true;
    let pages = app::export::access_log(Arc::clone(&state.store), id).map(move |page| {
        let page = page.map_err(|error| {
            tracing::error!(error = format!("{error:#}"), "export failed midway");
            std::io::Error::other("the export could not be read")
        })?;
        let mut chunk = String::new();
        for record in page {
            if !std::mem::take(&mut first) {
                chunk.push(',');
            }
            chunk.push_str(
                &serde_json::to_string(&log_entry(record, &withdrawn))
                    .map_err(std::io::Error::other)?,
            );
        }
        Ok::<_, std::io::Error>(Bytes::from(chunk))
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(pages)
        .chain(futures_util::stream::once(async {
            Ok(Bytes::from_static(b"]}"))
        }));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

fn json(value: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

/// A third party reads a member's data: every requested category is a
/// consent decision (action `access`); `data` holds the allowed ones only.
#[utoipa::path(
    post, path = "/v1/access", tag = "third party",
    request_body = AccessRequest,
    responses(
        (status = 200, description = "The decision and the allowed data", body = AccessResponse, headers(("Datacoop-Log-Index" = u64, description = "The index of the call's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn access(
    AuthThirdParty(third_party): AuthThirdParty,
    State(state): State<AppState>,
    Json(body): Json<AccessRequest>,
) -> Result<(Receipt, JsonResponse<AccessResponse>), ApiError> {
    let (categories, purpose) =
        super::decisions::requested_terms(&state, &body.data_categories, &body.purpose)?;
    let request = app::access::AccessRequest {
        third_party: third_party.id,
        subject: body.subject.clone(),
        categories,
        purpose,
    };
    let answer = app::access::read(
        state.store.as_ref(),
        &state.engine,
        request,
        state.clock.now(),
    )
    .await?;
    // The third party sees its subject in place of member ids, and no rule ids.
    let categories = answer
        .categories
        .into_iter()
        .map(|category| CategoryDecision {
            category: category.category.to_string(),
            decision: category.verdict,
            reason: category.reason,
            decided_by: if category.by_coop {
                DecidedBy::Coop(true)
            } else {
                DecidedBy::Member(body.subject.clone())
            },
            chain: vec![body.subject.clone()],
            rules: Vec::new(),
        })
        .collect();
    Ok((
        Receipt(answer.log_index),
        JsonResponse(AccessResponse {
            decision: answer.verdict,
            categories,
            data: values(answer.data),
            log_index: answer.log_index,
        }),
    ))
}
