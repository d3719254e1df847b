use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{RequesterClass, ThirdPartyStatus};

/// Body of `POST /v1/third-parties`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateThirdParty {
    /// 1 to 200 characters, no control characters.
    pub name: String,
    pub class: RequesterClass,
    /// Where consent withdrawals are announced: an absolute `https` URL
    /// (`http` is accepted for loopback addresses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// Answer of `POST /v1/third-parties`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedThirdParty {
    pub id: String,
    pub name: String,
    pub class: RequesterClass,
    pub status: ThirdPartyStatus,
    pub webhook_url: Option<String>,
    /// The OAuth2 client id.
    pub client_id: String,
    /// The OAuth2 client secret. Stored as a password hash: it cannot be shown again.
    pub client_secret: String,
    /// The Standard Webhooks signing secret of `webhook_url`, when one was
    /// given: shown this once (the third party can rotate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// A third party as the stewards see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThirdParty {
    pub id: String,
    pub name: String,
    pub class: RequesterClass,
    pub status: ThirdPartyStatus,
    pub webhook_url: Option<String>,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A webhook signing secret created by this write (a first endpoint),
    /// shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Body of `PATCH /v1/third-parties/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateThirdParty {
    /// `active` or `suspended` (never null).
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<ThirdPartyStatus>,
    /// A new webhook endpoint, or `null` to remove it. Setting one where
    /// there was none gives the third party its signing secret, shown in
    /// this answer as `webhook_secret`.
    #[serde(
        default,
        deserialize_with = "crate::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub webhook_url: Option<Option<String>>,
}
