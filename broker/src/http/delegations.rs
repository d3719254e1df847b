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
use super::extract::Json;
use crate::domain::rule::{MAX_TERMS_PER_RULE, Owner};
use crate::domain::vocabulary::TermId;
use crate::domain::{Delegation, DelegationId, FieldErrors, MemberId, PersonaId, Scope};
use crate::store::StoreError;

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
    }
}

/// Delegate a scope (every category and purpose by default) to a member
/// who accepts delegations, or to a persona.
#[utoipa::path(
    post, path = "/v1/me/delegations", tag = "member", operation_id = "create_delegation",
    request_body = CreateDelegation,
    responses(
        (status = 201, description = "The delegation, with its Cedar policy", body = datacoop_wire::Delegation),
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
) -> Result<(StatusCode, JsonResponse<datacoop_wire::Delegation>), ApiError> {
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
        Proxy::Member(raw) => match MemberId::parse(raw) {
            Some(id) if id == member.id => {
                errors.push("to.member", "a member cannot delegate to themselves");
                None
            }
            Some(id) => match state.store.member(&id).await? {
                None => {
                    errors.push(
                        "to.member",
                        format!("`{raw}` is not a member of this co-op"),
                    );
                    None
                }
                Some(proxy) if !proxy.accepts_delegations => {
                    errors.push("to.member", "this member does not accept delegations");
                    None
                }
                Some(proxy) => Some(Owner::Member(proxy.id)),
            },
            None => {
                errors.push(
                    "to.member",
                    format!("`{raw}` is not a member of this co-op"),
                );
                None
            }
        },
        Proxy::Persona(raw) => {
            let exists = match PersonaId::parse(raw) {
                Some(id) => state
                    .store
                    .owner_states(&[Owner::Persona(id.clone())])
                    .await?
                    .first()
                    .is_some_and(|s| s.can_proxy)
                    .then_some(id),
                None => None,
            };
            if exists.is_none() {
                errors.push(
                    "to.persona",
                    format!("`{raw}` is not a persona of this co-op"),
                );
            }
            exists.map(Owner::Persona)
        }
    };
    let Some(proxy) = proxy.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let mut delegation = Delegation {
        id: DelegationId::generate(),
        member: member.id.clone(),
        proxy,
        scope: Scope {
            data_categories,
            purposes,
        },
        seq: 0,
        created_at: state.clock.now(),
        cedar: String::new(),
    };
    delegation.cedar = state
        .engine
        .evaluator()
        .model()
        .compile_delegation(&delegation)
        .map_err(ApiError::internal)?;
    let stored = state
        .store
        .create_delegation(&delegation)
        .await
        .map_err(|error| match error {
            StoreError::Conflict => ApiError::Conflict(
                "you already delegate exactly this scope; revoke that delegation first".to_owned(),
            ),
            other => ApiError::from(other),
        })?;
    tracing::info!(delegation = %stored.id, "delegation created");
    Ok((StatusCode::CREATED, JsonResponse(to_wire(&stored, true))))
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
        (status = 204, description = "Revoked"),
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
) -> Result<StatusCode, ApiError> {
    let id = DelegationId::parse(&id).ok_or(ApiError::NotFound)?;
    if !state.store.delete_delegation(&member.id, &id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(delegation = %id, "delegation revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// How many members delegate to the caller, and which of them are in the
/// public registry (anonymous delegators are only counted).
#[utoipa::path(
    get, path = "/v1/me/delegators", tag = "member",
    responses(
        (status = 200, description = "The caller's delegators", body = Delegators),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
    security(("bearer" = []))
)]
async fn delegators(
    AuthMember(member): AuthMember,
    State(state): State<AppState>,
) -> Result<JsonResponse<Delegators>, ApiError> {
    let (count, public) = state.store.delegators(&Owner::Member(member.id)).await?;
    Ok(JsonResponse(Delegators {
        count,
        public: public.iter().map(ToString::to_string).collect(),
    }))
}
