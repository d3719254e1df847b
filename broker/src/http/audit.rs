//! The verifiable log (`/v1/audit/…`, `/v1/me/audit`): the signed
//! checkpoint and the verifier key, inclusion and consistency proofs, an
//! entry's exact bytes, and the list of entries about the calling member.
//! Checkpoints, keys and proofs are public: they hold hashes only.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{AuditEntry, ConsistencyProof, InclusionProof, Page};

use super::AppState;
use super::auth::{AuthMember, Principal};
use super::error::ApiError;
use super::extract::RawQuery;
use super::pagination::PageRequest;
use crate::app::audit::{self, Reader};
use crate::audit::tree::Hash;
use crate::domain::FieldErrors;

const TEXT: &str = "text/plain; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/checkpoint", get(checkpoint))
        .route("/v1/audit/key", get(key))
        .route("/v1/audit/proof/inclusion", get(inclusion))
        .route("/v1/audit/proof/consistency", get(consistency))
        .route("/v1/audit/entries/{index}", get(entry))
        .route("/v1/me/audit", get(mine))
}

/// The log's latest checkpoint: a C2SP `tlog-checkpoint` signed note
/// (origin, tree size, base64 root hash, then the Ed25519 signature).
#[utoipa::path(
    get, path = "/v1/audit/checkpoint", tag = "audit", operation_id = "audit_checkpoint",
    responses(
        (status = 200, description = "The signed checkpoint", content_type = "text/plain", body = String),
    )
)]
async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let note = state.log.checkpoint(state.store.as_ref()).await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], note.to_string()).into_response())
}

/// The key that signs checkpoints, as a signed-note verifier key
/// (`<name>+<key id>+<base64 key>`).
#[utoipa::path(
    get, path = "/v1/audit/key", tag = "audit", operation_id = "audit_key",
    responses(
        (status = 200, description = "The verifier key", content_type = "text/plain", body = String),
    )
)]
async fn key(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", state.log.verifier_key()),
    )
        .into_response()
}

/// The RFC 9162 §2.1.3 inclusion proof of entry `index` in the tree of
/// `tree_size` entries.
#[utoipa::path(
    get, path = "/v1/audit/proof/inclusion", tag = "audit", operation_id = "audit_inclusion_proof",
    params(
        ("index" = u64, Query, minimum = 0, description = "The entry's index"),
        ("tree_size" = u64, Query, minimum = 1, description = "A tree size no larger than the log's, above `index`"),
    ),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 422, response = super::openapi::Invalid),
    )
)]
async fn inclusion(
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<InclusionProof>, ApiError> {
    let [index, tree_size] = numbers(&query, ["index", "tree_size"])?;
    let hashes = audit::inclusion(state.store.as_ref(), index, tree_size).await?;
    Ok(JsonResponse(InclusionProof {
        index,
        tree_size,
        hashes: base64(&hashes),
    }))
}

/// The RFC 9162 §2.1.4 consistency proof between the trees of `first` and
/// `second` entries.
#[utoipa::path(
    get, path = "/v1/audit/proof/consistency", tag = "audit", operation_id = "audit_consistency_proof",
    params(
        ("first" = u64, Query, minimum = 1, description = "The smaller tree size, at least 1"),
        ("second" = u64, Query, minimum = 1, description = "The larger tree size, no larger than the log's"),
    ),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 422, response = super::openapi::Invalid),
    )
)]
async fn consistency(
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<ConsistencyProof>, ApiError> {
    let [first, second] = numbers(&query, ["first", "second"])?;
    let hashes = audit::consistency_proof(state.store.as_ref(), first, second).await?;
    Ok(JsonResponse(ConsistencyProof {
        first,
        second,
        hashes: base64(&hashes),
    }))
}

/// A log entry's exact bytes (canonical JSON): SHA-256(0x00 ‖ body) is its
/// leaf hash. The stewards may read any entry, a member the entries about
/// them; anyone else is answered 404.
#[utoipa::path(
    get, path = "/v1/audit/entries/{index}", tag = "audit", operation_id = "audit_entry",
    params(("index" = u64, Path, minimum = 0, description = "The entry's index")),
    responses(
        (status = 200, description = "The entry's bytes", content_type = "application/json", body = Object),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn entry(
    principal: Principal,
    State(state): State<AppState>,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let index = index.parse::<u64>().map_err(|_| ApiError::NotFound)?;
    let reader = match &principal {
        Principal::Admin => Reader::Stewards,
        Principal::Member(member) => Reader::Member(&member.id),
        Principal::ThirdParty(_) => return Err(ApiError::NotFound),
    };
    let body = audit::entry(state.store.as_ref(), reader, index)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The entries about the calling member, oldest first: their indices,
/// types and instants, to check each one's inclusion in the log.
#[utoipa::path(
    get, path = "/v1/me/audit", tag = "member", operation_id = "my_audit",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of entries", body = Page<AuditEntry>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn mine(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Page<AuditEntry>>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let after = page.after.and_then(|after| u64::try_from(after).ok());
    let rows = audit::entries_about(state.store.as_ref(), &member.id, after, page.fetch_limit())
        .await?
        .into_iter()
        .map(|entry| {
            let seq = i64::try_from(entry.index).unwrap_or(i64::MAX);
            (
                seq,
                AuditEntry {
                    index: entry.index,
                    kind: entry.kind,
                    at: entry.at,
                },
            )
        })
        .collect();
    let (items, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Page { items, next_cursor }))
}

/// The named query parameters, each a required whole number; no others.
fn numbers<const N: usize>(query: &RawQuery, names: [&str; N]) -> Result<[u64; N], ApiError> {
    query.only(&names)?;
    let mut errors = FieldErrors::new();
    let values = names.map(|name| match query.get(name) {
        None => {
            errors.push(name, "is required");
            0
        }
        Some(raw) => match raw.parse::<u64>() {
            Ok(value) if raw.bytes().all(|byte| byte.is_ascii_digit()) => value,
            _ => {
                errors.push(name, "must be a whole number, at least 0");
                0
            }
        },
    });
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn base64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}
