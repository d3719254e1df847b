use serde::{Deserialize, Serialize};

/// Answer of `POST /oauth2/token` (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token stops working.
    pub expires_in: u64,
}

/// An error of `POST /oauth2/token` (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unauthorized_client` or
    /// `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

/// Answer of `POST /v1/third-parties/{id}/secret`: the new secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedSecret {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}
