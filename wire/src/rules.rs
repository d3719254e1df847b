use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `allow` or `deny` (consent-semantics §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Deny,
}

/// What a rule applies to: one action, or `*` for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RuleAction {
    #[serde(rename = "access")]
    Access,
    #[serde(rename = "aggregate")]
    Aggregate,
    #[serde(rename = "*")]
    Any,
}

/// The action of one request: a third party receives one member's data
/// (`access`), or the member is counted in an aggregate (`aggregate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Access,
    Aggregate,
}

/// Which requesters a rule selects: `"*"`, `{"class": C}` or
/// `{"third_party": ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequesterSelector {
    Any,
    Class(String),
    ThirdParty(String),
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RequesterSelector {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        OneOfBuilder::new()
            .item(
                text()
                    .enum_values(Some(["*"]))
                    .description(Some("every requester")),
            )
            .item(
                ObjectBuilder::new()
                    .property("class", text())
                    .required("class")
                    .description(Some("every third party of this class")),
            )
            .item(
                ObjectBuilder::new()
                    .property("third_party", text())
                    .required("third_party")
                    .description(Some("one third party, by id")),
            )
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RequesterSelector {}

impl Serialize for RequesterSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Any => serializer.serialize_str("*"),
            Self::Class(class) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("class", class)?;
                map.end()
            }
            Self::ThirdParty(id) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("third_party", id)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for RequesterSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "expected \"*\", {\"class\": CLASS} or {\"third_party\": ID}";
        let value = serde_json::Value::deserialize(deserializer)?;
        let invalid = || serde::de::Error::custom(EXPECTED);
        match value {
            serde_json::Value::String(text) if text == "*" => Ok(Self::Any),
            serde_json::Value::Object(map) if map.len() == 1 => {
                let (key, value) = map.into_iter().next().ok_or_else(invalid)?;
                let serde_json::Value::String(text) = value else {
                    return Err(invalid());
                };
                match key.as_str() {
                    "class" => Ok(Self::Class(text)),
                    "third_party" => Ok(Self::ThirdParty(text)),
                    _ => Err(invalid()),
                }
            }
            _ => Err(invalid()),
        }
    }
}

/// A rule as submitted: `POST /v1/me/rules`, `POST /v1/coop/rules`, and
/// each rule of `POST /v1/personas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub effect: Effect,
    pub action: RuleAction,
    pub requester: RequesterSelector,
    /// Category ids or `*`; at least one.
    pub data_categories: Vec<String>,
    /// Purpose ids or `*`; at least one.
    pub purposes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Must be later than now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored rule, with the Cedar policy the broker evaluates for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    pub id: String,
    pub effect: Effect,
    pub action: RuleAction,
    pub requester: RequesterSelector,
    pub data_categories: Vec<String>,
    pub purposes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The Cedar text stored and evaluated for this rule.
    pub cedar: String,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// Body of `POST /v1/personas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePersona {
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleBody>,
}

/// A persona: a preset profile of rules the co-op publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: Vec<Rule>,
    pub created_at: DateTime<Utc>,
    /// The index of this write's entry in the verifiable log, as in the
    /// `Datacoop-Log-Index` header; absent on reads and on writes that
    /// log nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}
