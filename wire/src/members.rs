use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Registry;

/// Body of `POST /v1/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// 1 to 100 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub registry: Registry,
}

/// Answer of `POST /v1/members`: the only time the member's token is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedMember {
    pub id: String,
    /// The member's bearer token. Stored hashed: it cannot be shown again.
    pub token: String,
    pub display_name: Option<String>,
    pub registry: Registry,
    pub accepts_delegations: bool,
    pub created_at: DateTime<Utc>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// One member in `GET /v1/members`. Anonymous members carry no name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberSummary {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub registry: Registry,
    pub created_at: DateTime<Utc>,
}

/// Answer of `GET /v1/me` and `PATCH /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: String,
    pub display_name: Option<String>,
    pub registry: Registry,
    /// Whether other members may delegate to this member (false by default).
    pub accepts_delegations: bool,
    pub created_at: DateTime<Utc>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Body of `PATCH /v1/me`: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// A new name, or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "crate::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub display_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Registry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts_delegations: Option<bool>,
}

/// Answer of `POST /v1/members/{id}/sign-in-links` and
/// `POST /v1/stewards/sign-in-links`: a link to the web pages that signs
/// in once, before `expires_at` (15 minutes). With an identity provider
/// configured, a member's link enrols: it links the account the member
/// then signs in with to the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}
