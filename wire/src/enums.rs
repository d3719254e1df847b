use serde::{Deserialize, Serialize};

/// Whether a member appears by name in the co-op's registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Registry {
    /// Listed with their display name.
    Public,
    /// Listed by id only; never shown with a name to anyone but themselves.
    Anonymous,
}

impl Registry {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "anonymous" => Some(Self::Anonymous),
            _ => None,
        }
    }
}

/// The class of a third party (consent-semantics §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequesterClass {
    Nonprofit,
    Academic,
    PublicBody,
    Commercial,
}

impl RequesterClass {
    pub const ALL: [Self; 4] = [
        Self::Nonprofit,
        Self::Academic,
        Self::PublicBody,
        Self::Commercial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nonprofit => "nonprofit",
            Self::Academic => "academic",
            Self::PublicBody => "public_body",
            Self::Commercial => "commercial",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == text)
    }
}

/// Whether a third party may currently receive data (consent-semantics §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ThirdPartyStatus {
    Active,
    Suspended,
}

impl ThirdPartyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}
