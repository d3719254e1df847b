use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Answer of `GET /v1/audit/proof/inclusion`: the RFC 9162 §2.1.3 path
/// from entry `index` to the root of the tree of `tree_size` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// Standard base64 of each 32-byte hash, leaf side first.
    pub hashes: Vec<String>,
}

/// Answer of `GET /v1/audit/proof/consistency`: the RFC 9162 §2.1.4 proof
/// that the tree of `first` entries is a prefix of the tree of `second`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Standard base64 of each 32-byte hash.
    pub hashes: Vec<String>,
}

/// One entry about the calling member in `GET /v1/me/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its index in the log: `GET /v1/audit/entries/{index}` gives its
    /// bytes, `GET /v1/audit/proof/inclusion` its proof.
    pub index: u64,
    /// The entry's `type`, such as `rules.created` or `access`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(rename = "type"))]
    pub kind: String,
    pub at: DateTime<Utc>,
}
