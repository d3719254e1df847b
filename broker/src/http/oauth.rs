//! `POST /oauth2/token`: RFC 6749 §4.4 client credentials. A third party
//! authenticates with its client id and secret (HTTP Basic, or the
//! `client_id`/`client_secret` form fields) and receives a short-lived
//! bearer token. Errors follow RFC 6749 §5.2, not RFC 9457: OAuth2
//! clients expect them.
//!
//! Verifying a secret is the one expensive step (Argon2, about 19 MiB for
//! a few milliseconds), so before it: requests are counted per client
//! address and per client id (429 past the limit), the body is capped at
//! `TOKEN_BODY_LIMIT`, and the verification waits for a turn of the
//! `SecretVerifier` (503 when none is free).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use datacoop_wire::{OAuthError, TokenResponse};
use secrecy::{ExposeSecret, SecretString};

use super::AppState;
use super::ratelimit::{self, Limited};
use crate::credentials::{self, ACCESS_TOKEN_PREFIX, DUMMY_SECRET_HASH, Saturated, TokenHash};
use crate::domain::ThirdPartyStatus;

/// The largest token request body read (or `DATACOOP_MAX_BODY_BYTES`, if
/// smaller): a client-credentials form is a few hundred bytes.
pub const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// The longest client id looked up; generated ones are much shorter.
const MAX_CLIENT_ID_CHARS: usize = 200;

/// `Retry-After` when every secret verification is busy.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

pub fn router(max_body_bytes: usize) -> Router<AppState> {
    let body_limit = max_body_bytes.min(TOKEN_BODY_LIMIT);
    Router::new().route(
        "/oauth2/token",
        post(move |state: State<AppState>, request: Request| token(state, request, body_limit)),
    )
}

/// An RFC 6749 §5.2 error.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after_secs: Option<u64>,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after_secs: None,
        }
    }

    fn request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    fn server() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }

    /// Over a rate limit: 429, with the RFC 6749 code for "try later".
    fn rate_limited(limited: Limited) -> Self {
        let seconds = limited.retry_after_secs();
        Self {
            retry_after_secs: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("too many token requests; retry in {seconds} s"),
            )
        }
    }

    /// Every secret verification is taken: 503.
    fn busy(_: Saturated) -> Self {
        Self {
            retry_after_secs: Some(BUSY_RETRY_AFTER_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many token requests are being handled; retry in a moment",
            )
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = OAuthError {
            error: self.error.to_owned(),
            error_description: self.description,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: answer 401 with the scheme the client may use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"datacoop\""),
            );
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The body, up to `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, TokenError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = error
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            TokenError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the request body is larger than {limit} bytes"),
            )
        } else {
            TokenError::request("the request body could not be read")
        }
    })
}

/// A client id worth looking up: no control character (PostgreSQL text
/// cannot hold NUL) and not absurdly long.
fn check_client_id(client_id: &str) -> Result<(), TokenError> {
    if client_id.chars().any(char::is_control) {
        return Err(TokenError::request(
            "`client_id` must not contain control characters",
        ));
    }
    if client_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(TokenError::request(format!(
            "`client_id` is longer than {MAX_CLIENT_ID_CHARS} characters"
        )));
    }
    Ok(())
}

/// The form's parameters; each may appear once (RFC 6749 §3.2).
fn form(body: &[u8]) -> Result<Vec<(String, String)>, TokenError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    for (index, (key, _)) in pairs.iter().enumerate() {
        if pairs.iter().skip(index + 1).any(|(other, _)| other == key) {
            return Err(TokenError::request(format!(
                "the parameter `{key}` is repeated"
            )));
        }
    }
    Ok(pairs)
}

/// HTTP Basic credentials (RFC 6749 §2.3.1: each part form-urlencoded).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| TokenError::client())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(TokenError::client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::client());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| TokenError::client())?;
    let text = String::from_utf8(decoded).map_err(|_| TokenError::client())?;
    let (id, secret) = text.split_once(':').ok_or_else(TokenError::client)?;
    let unescape = |part: &str| -> String {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Exchange client credentials for an access token.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials`, with `client_id` and `client_secret` unless sent by HTTP Basic"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `unauthorized_client` (suspended) or `unsupported_grant_type`", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client or wrong secret (not told apart)", body = OAuthError),
        (status = 413, description = "`invalid_request`: the body is over 16 KiB", body = OAuthError),
        (status = 429, description = "`temporarily_unavailable`: too many token requests from this address or for this client; see `Retry-After`", body = OAuthError),
        (status = 503, description = "`temporarily_unavailable`: every secret verification is busy; see `Retry-After`", body = OAuthError),
    )
)]
async fn token(
    State(state): State<AppState>,
    request: Request,
    body_limit: usize,
) -> Result<Response, TokenError> {
    let peer = ratelimit::peer(request.extensions());
    state
        .rate_limits
        .token_request_from(peer)
        .map_err(TokenError::rate_limited)?;
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(TokenError::request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = read_body(body, body_limit).await?;
    let params = form(&body)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let from_basic = basic(&headers)?;
    let (client_id, secret) = match (from_basic, param("client_id"), param("client_secret")) {
        (Some(_), _, Some(_)) => {
            return Err(TokenError::request(
                "authenticate either by HTTP Basic or by form fields, not both",
            ));
        }
        (Some(credentials), _, None) => credentials,
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        (None, _, _) => return Err(TokenError::client()),
    };
    let secret = SecretString::from(secret);
    match param("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(TokenError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("only `client_credentials` is supported, not `{other}`"),
            ));
        }
        None => return Err(TokenError::request("`grant_type` is missing")),
    }
    check_client_id(&client_id)?;
    state
        .rate_limits
        .token_request_for(&client_id)
        .map_err(TokenError::rate_limited)?;
    let client = state.store.client(&client_id).await.map_err(|error| {
        tracing::error!(error = format!("{error:#}"), "token request failed");
        TokenError::server()
    })?;
    // Verify against a hash even for unknown clients, so the answer's
    // timing does not tell whether the client exists.
    let (third_party, hash) = match client {
        Some((third_party, hash)) => (Some(third_party), hash),
        None => (None, DUMMY_SECRET_HASH.to_owned()),
    };
    let verified = state
        .secret_verifier
        .verify(secret, hash)
        .await
        .map_err(TokenError::busy)?;
    let third_party = match third_party {
        Some(third_party) if verified => third_party,
        _ => return Err(TokenError::client()),
    };
    if third_party.status != ThirdPartyStatus::Active {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this third party is suspended",
        ));
    }
    let token =
        credentials::generate_secret(ACCESS_TOKEN_PREFIX).map_err(|_| TokenError::server())?;
    let now = state.clock.now();
    let ttl = state.token_ttl;
    let expires_at =
        now + chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::minutes(15));
    state
        .store
        .issue_access_token(
            &TokenHash::of(token.expose_secret()),
            &third_party.id,
            now,
            expires_at,
        )
        .await
        .map_err(|error| {
            tracing::error!(error = format!("{error:#}"), "token request failed");
            TokenError::server()
        })?;
    tracing::info!(third_party = %third_party.id, "access token issued");
    let mut response = axum::Json(TokenResponse {
        access_token: token.expose_secret().to_owned(),
        token_type: "Bearer".to_owned(),
        expires_in: ttl.as_secs(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
