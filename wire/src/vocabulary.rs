use serde::{Deserialize, Serialize};

use crate::RequesterClass;

/// One data category or purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Term {
    /// Dotted id, such as `health.heart`.
    pub id: String,
    /// The id without its last segment; absent for a root.
    pub parent: Option<String>,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The W3C Data Privacy Vocabulary term this one is modelled on, as a CURIE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpv: Option<String>,
}

/// Answer of `GET /v1/vocabulary`: the vocabulary in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Vocabulary {
    pub data_categories: Vec<Term>,
    pub purposes: Vec<Term>,
    pub requester_classes: Vec<RequesterClass>,
}
