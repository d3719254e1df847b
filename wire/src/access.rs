use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Action, CategoryDecision, Reason, Verdict};

/// Body of `POST /v1/me/connections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub third_party: String,
}

/// A member's pairwise subject for one third party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Connection {
    pub third_party: String,
    /// Stable for this member and third party; means nothing to any other.
    pub subject: String,
}

/// Body of `POST /v1/access` (a third party).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    pub subject: String,
    pub data_categories: Vec<String>,
    pub purpose: String,
}

/// Answer of `POST /v1/access`: the decision, and the data of the allowed
/// categories only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessResponse {
    pub decision: Verdict,
    /// Per category. Member ids and rule ids are the co-op's: a third party
    /// sees the subject in their place, and no rule ids.
    pub categories: Vec<CategoryDecision>,
    /// Stored values by category id: for an allowed parent category,
    /// every stored descendant.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Map<String, serde_json::Value>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// One category's outcome in the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedCategory {
    pub category: String,
    pub decision: Verdict,
    pub reason: Reason,
}

/// One access decision about the member: when, who, what for, outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessLogEntry {
    pub at: DateTime<Utc>,
    /// The third party's id.
    pub requester: String,
    pub purpose: String,
    pub action: Action,
    pub decision: Verdict,
    pub categories: Vec<LoggedCategory>,
    /// For an allowed read whose data consent no longer allows: the
    /// withdrawal sent to the third party for each category it received
    /// here (the first sent after this read), with its delivery and
    /// deletion receipt. Absent while nothing is withdrawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawals: Vec<crate::Withdrawal>,
    /// For an `aggregate` entry: the dataset build that counted the
    /// member (never its figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_build: Option<crate::CountedBuild>,
}

/// Answer of `GET /v1/me/export`: everything the co-op holds about the
/// member, in one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    pub profile: crate::Me,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub rules: Vec<crate::Rule>,
    pub delegations: Vec<crate::Delegation>,
    pub connections: Vec<Connection>,
    /// Newest first.
    pub access_log: Vec<AccessLogEntry>,
    /// Every withdrawal sent to a third party that received the member's
    /// data, newest first, with its delivery and deletion receipt.
    #[serde(default)]
    pub withdrawals: Vec<crate::Withdrawal>,
    /// Every aggregate dataset build that counted the member, newest
    /// first: the dataset, the licensee, the purpose and when (never the
    /// figures).
    #[serde(default)]
    pub dataset_builds: Vec<crate::CountedBuild>,
    pub exported_at: DateTime<Utc>,
}
