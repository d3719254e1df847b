//! The service layer: a member's data (`/v1/me/data`), pairwise subjects
//! (`/v1/me/connections`), the access log and the export (`/v1/me/…`),
//! and third parties' reads (`POST /v1/access`). Nothing but a consent
//! decision reads a member's data for a third party.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{
    AccessLogEntry, AccessRequest, AccessResponse, Action, CategoryDecision, Connection,
    CreateConnection, DecidedBy, Export, Reason, Verdict,
};

use super::AppState;
use super::auth::{AuthMember, AuthThirdParty};
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::members::me;
use super::pagination::PageRequest;
use crate::consent::{Decider, DecisionInput};
use crate::credentials;
use crate::domain::rule::{Owner, Rule};
use crate::domain::vocabulary::TermId;
use crate::domain::{MemberId, ThirdPartyId};
use crate::store::{AccessRecord, Seq};

/// The largest value one category may hold, serialized.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/data", get(my_data))
        .route("/v1/me/data/{category}", put(put_data))
        .route("/v1/me/connections", post(connect).get(connections))
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

fn log_entry(record: AccessRecord) -> AccessLogEntry {
    AccessLogEntry {
        at: record.at,
        requester: record.third_party.to_string(),
        purpose: record.purpose,
        action: record.action,
        decision: record.decision,
        categories: record.categories,
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
    let rows = state
        .store
        .access_log(&member.id, page.after, page.fetch_limit())
        .await?;
    let (records, next_cursor) = page.finish(rows);
    Ok(JsonResponse(datacoop_wire::Page {
        items: records.into_iter().map(log_entry).collect(),
        next_cursor,
    }))
}

/// Everything the co-op holds about the calling member, in one document.
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
) -> Result<JsonResponse<Export>, ApiError> {
    let owner = Owner::Member(member.id.clone());
    let rules = state.store.rules_of(&owner).await?;
    let delegations = state.store.delegations_of(&member.id).await?;
    let proxies: Vec<Owner> = delegations.iter().map(|d| d.proxy.clone()).collect();
    let states = state.store.owner_states(&proxies).await?;
    let mut log = Vec::new();
    let mut before: Option<Seq> = None;
    loop {
        let rows = state.store.access_log(&member.id, before, 500).await?;
        let done = rows.len() < 500;
        before = rows.last().map(|(seq, _)| *seq);
        log.extend(rows.into_iter().map(|(_, record)| log_entry(record)));
        if done {
            break;
        }
    }
    let delegations = delegations
        .iter()
        .zip(states)
        .map(|(delegation, proxy)| super::delegations::to_wire(delegation, proxy.can_proxy))
        .collect();
    let connections = connections_of(&state, &member.id).await?;
    let data = values(state.store.data_of(&member.id).await?);
    let exported_at = state.clock.now();
    Ok(JsonResponse(Export {
        profile: me(member),
        data,
        rules: rules.iter().map(Rule::to_wire).collect(),
        delegations,
        connections,
        access_log: log,
        exported_at,
    }))
}

/// A third party reads a member's data: every requested category is a
/// consent decision (action `access`); `data` holds the allowed ones only.
#[utoipa::path(
    post, path = "/v1/access", tag = "third party",
    request_body = AccessRequest,
    responses(
        (status = 200, description = "The decision and the allowed data", body = AccessResponse),
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
) -> Result<JsonResponse<AccessResponse>, ApiError> {
    let (categories, purpose) =
        super::decisions::requested_terms(&state, &body.data_categories, &body.purpose)?;
    let now = state.clock.now();
    // An unknown subject, or one whose member left, is answered exactly
    // like a member with no consent.
    let Some(member) = state
        .store
        .member_by_subject(&third_party.id, &body.subject)
        .await?
    else {
        let categories = categories
            .iter()
            .map(|category| CategoryDecision {
                category: category.to_string(),
                decision: Verdict::Deny,
                reason: Reason::NoConsent,
                decided_by: DecidedBy::Member(body.subject.clone()),
                chain: vec![body.subject.clone()],
                rules: Vec::new(),
            })
            .collect();
        return Ok(JsonResponse(AccessResponse {
            decision: Verdict::Deny,
            categories,
            data: serde_json::Map::new(),
        }));
    };
    let input = DecisionInput {
        member: member.to_string(),
        requester: third_party.id.to_string(),
        action: Action::Access,
        categories: categories.clone(),
        purpose: purpose.clone(),
    };
    let outcome = state
        .engine
        .decide(&input, now)
        .await
        .map_err(ApiError::internal)?;
    let allowed: Vec<&TermId> = outcome
        .categories
        .iter()
        .filter(|category| category.verdict == Verdict::Allow)
        .map(|category| &category.category)
        .collect();
    let data = if allowed.is_empty() {
        serde_json::Map::new()
    } else {
        values(state.store.data_of(&member).await?)
            .into_iter()
            .filter(|(stored, _)| {
                TermId::parse(stored)
                    .is_ok_and(|stored| allowed.iter().any(|allowed| allowed.covers(&stored)))
            })
            .collect()
    };
    let record = AccessRecord {
        member,
        third_party: third_party.id.clone(),
        purpose: purpose.to_string(),
        action: Action::Access,
        decision: outcome.verdict,
        categories: outcome
            .categories
            .iter()
            .map(|category| datacoop_wire::LoggedCategory {
                category: category.category.to_string(),
                decision: category.verdict,
                reason: category.reason,
            })
            .collect(),
        at: now,
    };
    state.store.log_access(&record).await?;
    // The third party sees its subject in place of member ids, and no rule ids.
    let categories = outcome
        .categories
        .iter()
        .map(|category| CategoryDecision {
            category: category.category.to_string(),
            decision: category.verdict,
            reason: category.reason,
            decided_by: match category.decided_by {
                Decider::Coop => DecidedBy::Coop(true),
                Decider::Member(_) | Decider::Persona(_) => DecidedBy::Member(body.subject.clone()),
            },
            chain: vec![body.subject.clone()],
            rules: Vec::new(),
        })
        .collect();
    Ok(JsonResponse(AccessResponse {
        decision: outcome.verdict,
        categories,
        data,
    }))
}
