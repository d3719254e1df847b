//! The Cedar mapping: the schema, the entities built from the vocabulary,
//! and the policy each rule compiles to (consent-semantics §2).
//!
//! * principal: `ThirdParty::"tp_…"`; resource: `DataCategory::"…"`;
//!   action: `Action::"access"` or `Action::"aggregate"`.
//! * context: `purpose` (a `Purpose`), `requester_class`, `now`
//!   (microseconds since the epoch), `member`.
//! * An allow rule is a `permit` whose categories and purposes *cover*
//!   the request's: `resource in [C…]`, `context.purpose in [P…]`.
//! * A deny rule is a `forbid` whose categories and purposes *overlap*
//!   the request's: `resource in [C…] || C in resource …`.
//! * `*` is the root entity of each tree, so `in DataCategory::"*"` holds
//!   for every category.

use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use chrono::{DateTime, Utc};

use crate::domain::rule::{Effect, Owner, Requester, RuleAction, RuleSpec};
use crate::domain::vocabulary::{Term, TermId, Vocabulary, WILDCARD};
use crate::domain::{Delegation, DelegationId, MemberId, Scope};
use crate::domain::{RequesterClass, RuleId};

/// Why Cedar text was refused.
#[derive(Debug, thiserror::Error)]
pub enum CedarError {
    #[error("`{origin}` is not a usable Cedar schema: {message}")]
    Schema { origin: String, message: String },
    #[error("policy `{id}` does not parse: {message}")]
    Parse { id: String, message: String },
    #[error("policy `{id}` does not validate against the schema: {message}")]
    Invalid { id: String, message: String },
    #[error("`{origin}`: policy `{id}` must be a `forbid`: co-op policies only deny")]
    NotForbid { origin: String, id: String },
    #[error("cannot build the vocabulary entities: {0}")]
    Entities(String),
    #[error("cannot build a decision request: {0}")]
    Request(String),
}

/// The entity type names, parsed once.
#[derive(Debug, Clone)]
pub struct Types {
    third_party: EntityTypeName,
    class: EntityTypeName,
    category: EntityTypeName,
    purpose: EntityTypeName,
    member: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Result<Self, CedarError> {
        let parse = |name: &str| {
            EntityTypeName::from_str(name).map_err(|error| CedarError::Request(error.to_string()))
        };
        Ok(Self {
            third_party: parse("ThirdParty")?,
            class: parse("RequesterClass")?,
            category: parse("DataCategory")?,
            purpose: parse("Purpose")?,
            member: parse("Member")?,
            action: parse("Action")?,
        })
    }

    fn uid(name: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(name.clone(), EntityId::new(id))
    }

    pub fn third_party(&self, id: &str) -> EntityUid {
        Self::uid(&self.third_party, id)
    }

    pub fn class(&self, class: RequesterClass) -> EntityUid {
        Self::uid(&self.class, class.as_str())
    }

    pub fn category(&self, id: &TermId) -> EntityUid {
        Self::uid(&self.category, id.as_str())
    }

    pub fn purpose(&self, id: &TermId) -> EntityUid {
        Self::uid(&self.purpose, id.as_str())
    }

    pub fn member(&self, id: &str) -> EntityUid {
        Self::uid(&self.member, id)
    }

    pub fn action(&self, action: datacoop_wire::Action) -> EntityUid {
        Self::uid(&self.action, action_name(action))
    }
}

fn action_name(action: datacoop_wire::Action) -> &'static str {
    match action {
        datacoop_wire::Action::Access => "access",
        datacoop_wire::Action::Aggregate => "aggregate",
    }
}

/// The schema, its validator, the vocabulary as entities, and the co-op's
/// base policies: everything compiled once at start.
#[derive(Debug)]
pub struct CedarModel {
    validator: Validator,
    pub types: Types,
    pub entities: Entities,
    pub base_policies: PolicySet,
}

impl CedarModel {
    /// Parses `schema_text`, builds the entities of `vocabulary`, and
    /// validates the base policies (each `(id, text)`; forbid only).
    pub fn new(
        (schema_origin, schema_text): (&str, &str),
        vocabulary: &Vocabulary,
        base: &[(String, String)],
    ) -> Result<Self, CedarError> {
        let schema_error = |message: String| CedarError::Schema {
            origin: schema_origin.to_owned(),
            message,
        };
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|error| schema_error(error.to_string()))?;
        let types = Types::new()?;
        let entities = vocabulary_entities(&types, vocabulary, &schema)
            .map_err(|error| schema_error(error.to_string()))?;
        let validator = Validator::new(schema);
        let mut model = Self {
            validator,
            types,
            entities,
            base_policies: PolicySet::new(),
        };
        model
            .check_schema_accepts_compiled_rules()
            .map_err(|error| {
                schema_error(format!(
                    "it cannot type the policies the broker writes: {error}"
                ))
            })?;
        for (origin, text) in base {
            let set = PolicySet::from_str(text).map_err(|error| CedarError::Parse {
                id: origin.clone(),
                message: error.to_string(),
            })?;
            model.validate(&set, origin)?;
            for policy in set.policies() {
                if policy.effect() != cedar_policy::Effect::Forbid {
                    return Err(CedarError::NotForbid {
                        origin: origin.clone(),
                        id: policy.annotation("id").unwrap_or("(no @id)").to_owned(),
                    });
                }
                let id = policy
                    .annotation("id")
                    .map_or_else(|| policy.id().clone(), PolicyId::new);
                model
                    .base_policies
                    .add(policy.new_id(id.clone()))
                    .map_err(|error| CedarError::Parse {
                        id: id.to_string(),
                        message: error.to_string(),
                    })?;
            }
        }
        Ok(model)
    }

    fn validate(&self, set: &PolicySet, id: &str) -> Result<(), CedarError> {
        let result = self.validator.validate(set, ValidationMode::Strict);
        if result.validation_passed() {
            return Ok(());
        }
        let message = result
            .validation_errors()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Err(CedarError::Invalid {
            id: id.to_owned(),
            message,
        })
    }

    /// A schema that cannot type the policies the broker writes is useless:
    /// refuse it at start with the reason.
    fn check_schema_accepts_compiled_rules(&self) -> Result<(), CedarError> {
        let wildcard = TermId::wildcard();
        let probes = [
            RuleSpec {
                effect: Effect::Allow,
                action: RuleAction::Access,
                requester: Requester::Class(RequesterClass::Academic),
                data_categories: vec![wildcard.clone()],
                purposes: vec![wildcard.clone()],
                not_before: DateTime::from_timestamp(0, 0),
                expires_at: DateTime::from_timestamp(1, 0),
            },
            RuleSpec {
                effect: Effect::Deny,
                action: RuleAction::Any,
                requester: Requester::ThirdParty(crate::domain::ThirdPartyId::generate()),
                data_categories: vec![wildcard.clone()],
                purposes: vec![wildcard],
                not_before: None,
                expires_at: None,
            },
        ];
        for spec in probes {
            self.compile(&RuleId::generate(), &spec).map(|_| ())?;
        }
        let probe = Delegation {
            id: DelegationId::generate(),
            member: MemberId::generate(),
            proxy: Owner::Persona(crate::domain::PersonaId::generate()),
            scope: Scope {
                data_categories: vec![TermId::wildcard()],
                purposes: vec![TermId::wildcard()],
            },
            seq: 0,
            created_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            cedar: String::new(),
        };
        self.compile_delegation(&probe).map(|_| ())
    }

    /// The Cedar text of a delegation, parsed and validated in strict mode.
    pub fn compile_delegation(&self, delegation: &Delegation) -> Result<String, CedarError> {
        let text = delegation_text(delegation);
        let id = delegation.id.as_str();
        let policy = self.parse_policy(id, &text)?;
        let mut set = PolicySet::new();
        set.add(policy).map_err(|error| CedarError::Parse {
            id: id.to_owned(),
            message: error.to_string(),
        })?;
        self.validate(&set, id)?;
        Ok(text)
    }

    /// The Cedar text of a rule, parsed and validated in strict mode.
    pub fn compile(&self, id: &RuleId, spec: &RuleSpec) -> Result<(String, Policy), CedarError> {
        let text = rule_text(id, spec);
        let policy = self.parse_policy(id.as_str(), &text)?;
        let mut set = PolicySet::new();
        set.add(policy.clone()).map_err(|error| CedarError::Parse {
            id: id.to_string(),
            message: error.to_string(),
        })?;
        self.validate(&set, id.as_str())?;
        Ok((text, policy))
    }

    /// Parses stored Cedar text under the rule's id.
    pub fn parse_policy(&self, id: &str, text: &str) -> Result<Policy, CedarError> {
        Policy::parse(Some(PolicyId::new(id)), text).map_err(|error| CedarError::Parse {
            id: id.to_owned(),
            message: error.to_string(),
        })
    }

    /// The context of one decision request.
    pub fn context(
        &self,
        purpose: &TermId,
        class: RequesterClass,
        now: DateTime<Utc>,
        member: &str,
    ) -> Result<Context, CedarError> {
        Context::from_pairs([
            (
                "purpose".to_owned(),
                RestrictedExpression::new_entity_uid(self.types.purpose(purpose)),
            ),
            (
                "requester_class".to_owned(),
                RestrictedExpression::new_entity_uid(self.types.class(class)),
            ),
            (
                "now".to_owned(),
                RestrictedExpression::new_long(micros(now)),
            ),
            (
                "member".to_owned(),
                RestrictedExpression::new_entity_uid(self.types.member(member)),
            ),
        ])
        .map_err(|error| CedarError::Request(error.to_string()))
    }
}

/// Microseconds since the epoch, as the policies compare instants.
pub fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

fn vocabulary_entities(
    types: &Types,
    vocabulary: &Vocabulary,
    schema: &Schema,
) -> Result<Entities, CedarError> {
    let tree = |name: &EntityTypeName, terms: &[Term]| -> Vec<Entity> {
        let root = Types::uid(name, WILDCARD);
        let mut entities = vec![Entity::new_no_attrs(root.clone(), Default::default())];
        for term in terms {
            let parent = term
                .id
                .parent()
                .map_or_else(|| root.clone(), |parent| Types::uid(name, parent.as_str()));
            entities.push(Entity::new_no_attrs(
                Types::uid(name, term.id.as_str()),
                [parent].into_iter().collect(),
            ));
        }
        entities
    };
    let mut all = tree(&types.category, vocabulary.data_categories());
    all.extend(tree(&types.purpose, vocabulary.purposes()));
    all.extend(
        RequesterClass::ALL
            .into_iter()
            .map(|class| Entity::new_no_attrs(types.class(class), Default::default())),
    );
    Entities::from_entities(all, Some(schema))
        .map_err(|error| CedarError::Entities(error.to_string()))
}

/// Writes the Cedar policy of one rule. Ids are validated before they get
/// here (lowercase, digits, `_`, `.` or `*`); they are escaped anyway.
pub fn rule_text(id: &RuleId, spec: &RuleSpec) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "@id({})", quote(id.as_str()));
    let (keyword, matches) = match spec.effect {
        Effect::Allow => ("permit", covers as fn(&str, &[TermId], &str) -> String),
        Effect::Deny => ("forbid", overlaps as fn(&str, &[TermId], &str) -> String),
    };
    let principal = match &spec.requester {
        Requester::ThirdParty(third_party) => {
            format!("principal == ThirdParty::{}", quote(third_party.as_str()))
        }
        Requester::Any | Requester::Class(_) => "principal".to_owned(),
    };
    let action = match spec.action {
        RuleAction::Access => "action == Action::\"access\"".to_owned(),
        RuleAction::Aggregate => "action == Action::\"aggregate\"".to_owned(),
        RuleAction::Any => "action in [Action::\"access\", Action::\"aggregate\"]".to_owned(),
    };
    let _ = writeln!(
        text,
        "{keyword} (\n    {principal},\n    {action},\n    resource\n)"
    );
    let mut conditions = vec![
        matches("resource", &spec.data_categories, "DataCategory"),
        matches("context.purpose", &spec.purposes, "Purpose"),
    ];
    if let Requester::Class(class) = spec.requester {
        conditions.push(format!(
            "context.requester_class == RequesterClass::{}",
            quote(class.as_str())
        ));
    }
    if let Some(start) = spec.not_before {
        conditions.push(format!("context.now >= {}", micros(start)));
    }
    if let Some(end) = spec.expires_at {
        conditions.push(format!("context.now < {}", micros(end)));
    }
    let _ = write!(text, "when {{\n    {}\n}};", conditions.join(" &&\n    "));
    text
}

/// Writes the Cedar policy of a delegation: the proxy may decide for the
/// member over the scope (§3).
pub fn delegation_text(delegation: &Delegation) -> String {
    let principal = match &delegation.proxy {
        Owner::Persona(id) => format!("Persona::{}", quote(id.as_str())),
        other => format!("Member::{}", quote(other.id())),
    };
    format!(
        "@id({})\npermit (\n    principal == {principal},\n    action == Action::\"decide_for\",\n    resource == Member::{}\n)\nwhen {{\n    {} &&\n    {}\n}};",
        quote(delegation.id.as_str()),
        quote(delegation.member.as_str()),
        covers(
            "context.category",
            &delegation.scope.data_categories,
            "DataCategory"
        ),
        covers("context.purpose", &delegation.scope.purposes, "Purpose"),
    )
}

/// `value` is in (a descendant of, or equal to) one of `terms` (§1 covers).
fn covers(value: &str, terms: &[TermId], entity_type: &str) -> String {
    format!("{value} in [{}]", literals(terms, entity_type).join(", "))
}

/// `value` covers or is covered by one of `terms` (§1 overlaps).
fn overlaps(value: &str, terms: &[TermId], entity_type: &str) -> String {
    let literals = literals(terms, entity_type);
    let mut alternatives = vec![format!("{value} in [{}]", literals.join(", "))];
    alternatives.extend(
        literals
            .iter()
            .map(|literal| format!("{literal} in {value}")),
    );
    format!("({})", alternatives.join(" || "))
}

fn literals(terms: &[TermId], entity_type: &str) -> Vec<String> {
    terms
        .iter()
        .map(|term| format!("{entity_type}::{}", quote(term.as_str())))
        .collect()
}

/// A Cedar string literal.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{{{:x}}}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
