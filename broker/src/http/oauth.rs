//! `POST /oauth2/token`: RFC 6749 §4.4 client credentials. A third party
//! authenticates with its client id and secret (HTTP Basic, or the
//! `client_id`/`client_secret` form fields) and receives a short-lived
//! bearer token. Errors follow RFC 6749 §5.2, not RFC 9457: OAuth2
//! clients expect them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use datacoop_wire::{OAuthError, TokenResponse};
use secrecy::ExposeSecret;

use super::AppState;
use crate::credentials::{self, ACCESS_TOKEN_PREFIX, TokenHash};
use crate::domain::ThirdPartyStatus;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth2/token", post(token))
}

/// An RFC 6749 §5.2 error.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl TokenError {
    fn request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    fn client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".to_owned(),
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
        response
    }
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
    )
)]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TokenError> {
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
    match param("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(TokenError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!("only `client_credentials` is supported, not `{other}`"),
            });
        }
        None => return Err(TokenError::request("`grant_type` is missing")),
    }
    let client = state.store.client(&client_id).await.map_err(|error| {
        tracing::error!(error = format!("{error:#}"), "token request failed");
        TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "internal error".to_owned(),
        }
    })?;
    // Verify against a hash even for unknown clients, so the answer's
    // timing does not tell whether the client exists.
    let (third_party, hash) = match client {
        Some((third_party, hash)) => (Some(third_party), hash),
        None => (None, dummy_hash().to_owned()),
    };
    let verified =
        tokio::task::spawn_blocking(move || credentials::verify_password(&secret, &hash))
            .await
            .unwrap_or(false);
    let third_party = match third_party {
        Some(third_party) if verified => third_party,
        _ => return Err(TokenError::client()),
    };
    if third_party.status != ThirdPartyStatus::Active {
        return Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            error: "unauthorized_client",
            description: "this third party is suspended".to_owned(),
        });
    }
    let token = credentials::generate_secret(ACCESS_TOKEN_PREFIX).map_err(|_| TokenError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "internal error".to_owned(),
    })?;
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
            TokenError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "server_error",
                description: "internal error".to_owned(),
            }
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

/// An Argon2id hash of a random secret nobody holds, verified against when
/// the client id is unknown (made once, with the same parameters as real
/// ones, so it costs the same).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        credentials::generate_secret("dummy_")
            .ok()
            .and_then(|secret| credentials::hash_password(&secret).ok())
            .unwrap_or_default()
    })
}
