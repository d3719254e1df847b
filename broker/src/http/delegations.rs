//! `/v1/me/delegations` and `/v1/me/delegators`: a member hands a scope of
//! decisions to a proxy (consent-semantics §3), and sees who relies on them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json as JsonResponse, Router};
use datacoop_wire::{CreateDelegation, Delegators, Proxy};

use super::AppState;
use super::auth::AuthMember;
use super::error::ApiError;
use super::extract::{Json, RawQuery};
use super::pagination::PageRequest;
use super::receipt::Receipt;
use crate::app;
use crate::app::delegations::ProxyRef;
use crate::domain::rule::{MAX_TERMS_PER_RULE, Owner};
use crate::domain::vocabulary::TermId;
use crate::domain::{Delegation, DelegationId, FieldErrors, MemberId, PersonaId, Scope};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/delegations", post(create).get(list))
        .route("/v1/me/delegations/{id}", delete(remove))
        .route("/v1/me/delegators", get(delegators))
}

/// A scope list: absent means `*`; otherwise non-empty, known ids.
fn scope_terms(
    raw: Option<&[String]>,
    field: &str,
    lookup: impl Fn(&str) -> Option<TermId>,
    what: &str,
    errors: &mut FieldErrors,
) -> Vec<TermId> {
    let Some(raw) = raw else {
        return vec![TermId::wildcard()];
    };
    if raw.is_empty() {
        errors.push(field, "must list at least one id, or `*` (or be left out)");
    }
    if raw.len() > MAX_TERMS_PER_RULE {
        errors.push(field, format!("must list at most {MAX_TERMS_PER_RULE} ids"));
    }
    let mut ids = Vec::with_capacity(raw.len());
    for (index, text) in raw.iter().enumerate() {
        match lookup(text) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => errors.push(
                format!("{field}[{index}]"),
                format!("`{text}` is not a {what} of this co-op"),
            ),
        }
    }
    ids
}

pub(super) fn to_wire(delegation: &Delegation, active: bool) -> datacoop_wire::Delegation {
    datacoop_wire::Delegation {
        id: delegation.id.to_string(),
        to: match &delegation.proxy {
            Owner::Persona(id) => Proxy::Persona(id.to_string()),
            other => Proxy::Member(other.id().to_owned()),
        },
        data_categories: delegation
            .scope
            .data_categories
            .iter()
            .map(ToString::to_string)
            .collect(),
        purposes: delegation
            .scope
            .purposes
            .iter()
            .map(ToString::to_string)
            .collect(),
        active,
        created_at: delegation.created_at,
        cedar: delegation.cedar.clone(),
        log_index: None,
    }
}

/// Delegate a scope (every category and purpose by default) to a member
/// who accepts delegations, or to a persona.
#[utoipa::path(
    post, path = "/v1/me/delegations", tag = "member", operation_id = "create_delegation",
    request_body = CreateDelegation,
    responses(
        (status = 201, description = "The delegation, with its Cedar policy", body = datacoop_wire::Delegation, headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 400, response = super::openapi::Malformed),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 409, description = "A delegation with the same scope exists", body = datacoop_wire::Problem, content_type = "application/problem+json"),
        (status = 413, response = super::openapi::TooLarge),
        (status = 415, response = super::openapi::WrongContentType),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn create(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Json(body): Json<CreateDelegation>,
) -> Result<(StatusCode, Receipt, JsonResponse<datacoop_wire::Delegation>), ApiError> {
    let vocabulary = &state.policies.vocabulary;
    let mut errors = FieldErrors::new();
    let data_categories = scope_terms(
        body.data_categories.as_deref(),
        "data_categories",
        |raw| vocabulary.category(raw),
        "data category",
        &mut errors,
    );
    let purposes = scope_terms(
        body.purposes.as_deref(),
        "purposes",
        |raw| vocabulary.purpose(raw),
        "purpose",
        &mut errors,
    );
    let proxy = match &body.to {
        Proxy::Member(raw) => MemberId::parse(raw)
            .map(ProxyRef::Member)
            .ok_or("to.member"),
        Proxy::Persona(raw) => PersonaId::parse(raw)
            .map(ProxyRef::Persona)
            .ok_or("to.persona"),
    };
    let proxy = match proxy {
        Ok(proxy) => Some(proxy),
        Err(field) => {
            let raw = match &body.to {
                Proxy::Member(raw) | Proxy::Persona(raw) => raw,
            };
            let what = if field == "to.member" {
                "member"
            } else {
                "persona"
            };
            errors.push(field, format!("`{raw}` is not a {what} of this co-op"));
            None
        }
    };
    let Some(proxy) = proxy.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let scope = Scope {
        data_categories,
        purposes,
    };
    let stored = app::delegations::delegate(
        state.store.as_ref(),
        &state.engine,
        &member.id,
        proxy,
        scope,
        state.clock.now(),
    )
    .await?;
    let mut answer = to_wire(&stored.value, true);
    answer.log_index = stored.log_index;
    Ok((
        StatusCode::CREATED,
        Receipt(stored.log_index),
        JsonResponse(answer),
    ))
}

/// The calling member's delegations, oldest first, each marked active or not.
#[utoipa::path(
    get, path = "/v1/me/delegations", tag = "member", operation_id = "list_delegations",
    responses(
        (status = 200, description = "The member's delegations", body = Vec<datacoop_wire::Delegation>),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn list(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<Vec<datacoop_wire::Delegation>>, ApiError> {
    let delegations = state.store.delegations_of(&member.id).await?;
    let proxies: Vec<Owner> = delegations
        .iter()
        .map(|delegation| delegation.proxy.clone())
        .collect();
    let states = state.store.owner_states(&proxies).await?;
    Ok(JsonResponse(
        delegations
            .iter()
            .zip(states)
            .map(|(delegation, proxy)| to_wire(delegation, proxy.can_proxy))
            .collect(),
    ))
}

/// Revoke a delegation; the very next decision no longer follows it.
#[utoipa::path(
    delete, path = "/v1/me/delegations/{id}", tag = "member", operation_id = "delete_delegation",
    params(("id" = String, Path, description = "Delegation id")),
    responses(
        (status = 204, description = "Revoked", headers(("Datacoop-Log-Index" = u64, description = "The index of the write's entry in the verifiable log"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = []))
)]
async fn remove(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Receipt), ApiError> {
    let id = DelegationId::parse(&id).ok_or(ApiError::NotFound)?;
    let revoked = app::delegations::revoke(state.store.as_ref(), &member.id, &id).await?;
    if !revoked.value {
        return Err(ApiError::NotFound);
    }
    Ok((StatusCode::NO_CONTENT, Receipt(revoked.log_index)))
}

/// How many members delegate to the caller, and which of them are in the
/// public registry (anonymous delegators are only counted), one page of
/// public ids at a time, in enrolment order.
#[utoipa::path(
    get, path = "/v1/me/delegators", tag = "member",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size of `public`, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "The caller's delegators", body = Delegators),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 422, response = super::openapi::Invalid),
    ),
    security(("bearer" = []))
)]
async fn delegators(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<JsonResponse<Delegators>, ApiError> {
    let page = PageRequest::from_query(&query)?;
    let proxy = Owner::Member(member.id);
    let count = state.store.count_delegators(&proxy).await?;
    let rows = state
        .store
        .public_delegators(&proxy, page.after, page.fetch_limit())
        .await?;
    let (public, next_cursor) = page.finish(rows);
    Ok(JsonResponse(Delegators {
        count,
        public: public.iter().map(ToString::to_string).collect(),
        next_cursor,
    }))
}
