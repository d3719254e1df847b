use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Action;

/// Body of `POST /v1/decisions` (stewards): a hypothetical request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The member whose data is asked for.
    pub member: String,
    /// The third party asking.
    pub requester: String,
    pub action: Action,
    pub data_categories: Vec<String>,
    pub purpose: String,
}

/// Body of `POST /v1/me/explain`: a hypothetical request about the
/// caller's own data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub requester: String,
    pub action: Action,
    pub data_categories: Vec<String>,
    pub purpose: String,
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
}

/// Why a category was decided as it was (consent-semantics §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    RequesterInactive,
    MemberInactive,
    CoopPolicy,
    Allowed,
    DeniedByRule,
    DelegationCycle,
    DelegationTooDeep,
    NoConsent,
}

/// Who decided: `{"member": ID}`, `{"persona": ID}` or `{"coop": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Member(String),
    Persona(String),
    Coop(bool),
}

/// The decision for one requested category, with its explanation (§5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryDecision {
    pub category: String,
    pub decision: Verdict,
    pub reason: Reason,
    pub decided_by: DecidedBy,
    /// Member ids walked, starting with the member asked about.
    pub chain: Vec<String>,
    /// Ids of the rules that matched at the deciding owner.
    pub rules: Vec<String>,
}

/// A whole decision: allowed only when every category is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub decision: Verdict,
    pub categories: Vec<CategoryDecision>,
    pub evaluated_at: DateTime<Utc>,
}
