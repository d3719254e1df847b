//! Who is calling. Authentication is an explicit, failing extractor: a
//! missing or unknown token is 401, a known token on the wrong endpoint is
//! 403. There is no anonymous principal.
//!
//! Presenting a bearer token is how members, stewards and third parties
//! sign in, so failed attempts are rate limited per client address: past
//! `DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS` a minute, the address's
//! tokens are answered 429 without being looked up (the admin token, held
//! in memory, still works).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::AppState;
use super::error::ApiError;
use super::ratelimit::{self, Limited};
use crate::credentials::{ACCESS_TOKEN_PREFIX, TokenHash};
use crate::domain::{Member, ThirdParty, ThirdPartyStatus};

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Admin,
    Member(Member),
    /// A third party with a live access token, not suspended.
    ThirdParty(ThirdParty),
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let hash = TokenHash::of(token);
        if state.admin_token.matches(&hash) {
            return Ok(Self::Admin);
        }
        let peer = ratelimit::peer(&parts.extensions);
        state
            .rate_limits
            .bearer_allowed_from(peer)
            .map_err(too_many)?;
        match Self::look_up(token, &hash, state).await? {
            Some(principal) => Ok(principal),
            None => {
                state
                    .rate_limits
                    .bearer_failed_from(peer)
                    .map_err(too_many)?;
                Err(ApiError::Unauthorized)
            }
        }
    }
}

impl Principal {
    /// The member or third party holding `token`, if any (and allowed).
    async fn look_up(
        token: &str,
        hash: &TokenHash,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if token.starts_with(ACCESS_TOKEN_PREFIX) {
            // A suspended third party's live tokens stop working at once.
            let third_party = state
                .store
                .third_party_by_token(hash, state.clock.now())
                .await?;
            return Ok(third_party
                .filter(|third_party| third_party.status == ThirdPartyStatus::Active)
                .map(Self::ThirdParty));
        }
        Ok(state.store.member_by_token(hash).await?.map(Self::Member))
    }
}

fn too_many(limited: Limited) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: limited.retry_after_secs(),
    }
}

/// The `Authorization: Bearer TOKEN` credential, if well-formed.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A steward, holding the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Admin => Ok(Self),
            Principal::Member(_) | Principal::ThirdParty(_) => Err(ApiError::Forbidden),
        }
    }
}

/// A member, holding their own token.
#[derive(Debug, Clone)]
pub struct AuthMember(pub Member);

impl FromRequestParts<AppState> for AuthMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Member(member) => Ok(Self(member)),
            Principal::Admin | Principal::ThirdParty(_) => Err(ApiError::Forbidden),
        }
    }
}

/// A third party, with a live access token.
#[derive(Debug, Clone)]
pub struct AuthThirdParty(pub ThirdParty);

impl FromRequestParts<AppState> for AuthThirdParty {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::ThirdParty(third_party) => Ok(Self(third_party)),
            Principal::Admin | Principal::Member(_) => Err(ApiError::Forbidden),
        }
    }
}
