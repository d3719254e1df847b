use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whom a delegation hands decisions to: `{"member": ID}` or `{"persona": ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Proxy {
    Member(String),
    Persona(String),
}

/// Body of `POST /v1/me/delegations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDelegation {
    pub to: Proxy,
    /// The scope's categories; `["*"]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_categories: Option<Vec<String>>,
    /// The scope's purposes; `["*"]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<Vec<String>>,
}

/// A delegation, with the Cedar policy that states the proxy's right to
/// decide for the member over the scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delegation {
    pub id: String,
    pub to: Proxy,
    pub data_categories: Vec<String>,
    pub purposes: Vec<String>,
    /// False while the proxy is a member who left or stopped accepting
    /// delegations: the delegation is then ignored, as if absent.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub cedar: String,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Answer of `GET /v1/me/delegators`: anonymous delegators are only counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delegators {
    pub count: u64,
    pub public: Vec<String>,
    /// Where the next page of `public` starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
