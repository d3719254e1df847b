//! Rules (consent-semantics §2): who they belong to, what they select,
//! and the validated form a rule body takes before it is compiled.

use chrono::{DateTime, Utc};

use super::instant;
use super::validation::FieldErrors;
use super::vocabulary::{TermId, Vocabulary};
use super::{MemberId, PersonaId, RequesterClass, RuleId, ThirdPartyId};

pub use datacoop_wire::{Effect, RuleAction};

/// Whose rule it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Member(MemberId),
    Persona(PersonaId),
    Coop,
}

impl Owner {
    /// `member`, `persona` or `coop`: how the database names the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Member(_) => "member",
            Self::Persona(_) => "persona",
            Self::Coop => "coop",
        }
    }

    /// The owner's id; empty for the co-op.
    pub fn id(&self) -> &str {
        match self {
            Self::Member(id) => id.as_str(),
            Self::Persona(id) => id.as_str(),
            Self::Coop => "",
        }
    }

    /// One string naming the owner, unique across kinds.
    pub fn key(&self) -> String {
        match self {
            Self::Coop => "coop".to_owned(),
            other => format!("{}:{}", other.kind(), other.id()),
        }
    }

    pub fn from_parts(kind: &str, id: String) -> Option<Self> {
        match kind {
            "member" => Some(Self::Member(MemberId::from_trusted(id))),
            "persona" => Some(Self::Persona(PersonaId::from_trusted(id))),
            "coop" => Some(Self::Coop),
            _ => None,
        }
    }
}

/// Which requesters a rule selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requester {
    Any,
    Class(RequesterClass),
    ThirdParty(ThirdPartyId),
}

impl Requester {
    /// The wire form.
    pub fn to_wire(&self) -> datacoop_wire::RequesterSelector {
        match self {
            Self::Any => datacoop_wire::RequesterSelector::Any,
            Self::Class(class) => {
                datacoop_wire::RequesterSelector::Class(class.as_str().to_owned())
            }
            Self::ThirdParty(id) => datacoop_wire::RequesterSelector::ThirdParty(id.to_string()),
        }
    }
}

/// The most categories or purposes one rule may list.
pub const MAX_TERMS_PER_RULE: usize = 64;

/// A validated rule body: every id known, every list non-empty, the
/// window sensible. Whether a named third party exists is checked by the
/// caller, who can ask the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub effect: Effect,
    pub action: RuleAction,
    pub requester: Requester,
    pub data_categories: Vec<TermId>,
    pub purposes: Vec<TermId>,
    pub not_before: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl RuleSpec {
    /// Validates `body` for `owner` against the vocabulary at instant
    /// `now`. Field paths are prefixed with `prefix` (such as `rules[2].`).
    pub fn parse(
        body: datacoop_wire::RuleBody,
        owner: &Owner,
        vocabulary: &Vocabulary,
        now: DateTime<Utc>,
        prefix: &str,
        errors: &mut FieldErrors,
    ) -> Option<Self> {
        let field = |name: &str| format!("{prefix}{name}");
        if matches!(owner, Owner::Coop) && body.effect == Effect::Allow {
            errors.push(field("effect"), "co-op rules can only deny");
        }
        let requester = match &body.requester {
            datacoop_wire::RequesterSelector::Any => Some(Requester::Any),
            datacoop_wire::RequesterSelector::Class(raw) => match RequesterClass::parse(raw) {
                Some(class) if vocabulary.has_class(class) => Some(Requester::Class(class)),
                _ => {
                    errors.push(
                        field("requester.class"),
                        format!("`{raw}` is not a requester class"),
                    );
                    None
                }
            },
            datacoop_wire::RequesterSelector::ThirdParty(raw) => match ThirdPartyId::parse(raw) {
                Some(id) => Some(Requester::ThirdParty(id)),
                None => {
                    errors.push(
                        field("requester.third_party"),
                        format!("`{raw}` is not a third party"),
                    );
                    None
                }
            },
        };
        let data_categories = terms(
            &body.data_categories,
            &field("data_categories"),
            |raw| vocabulary.category(raw),
            "data category",
            errors,
        );
        let purposes = terms(
            &body.purposes,
            &field("purposes"),
            |raw| vocabulary.purpose(raw),
            "purpose",
            errors,
        );
        let not_before = window_instant(body.not_before, &field("not_before"), errors);
        let expires_at = window_instant(body.expires_at, &field("expires_at"), errors);
        if let Some(Some(expires_at)) = expires_at
            && expires_at <= now
        {
            errors.push(field("expires_at"), "must be later than now");
        }
        if let (Some(Some(not_before)), Some(Some(expires_at))) = (not_before, expires_at)
            && not_before >= expires_at
        {
            errors.push(field("not_before"), "must be earlier than `expires_at`");
        }
        Some(Self {
            effect: body.effect,
            action: body.action,
            requester: requester?,
            data_categories: data_categories?,
            purposes: purposes?,
            not_before: not_before?,
            expires_at: expires_at?,
        })
    }

    /// Whether the rule is in force at `t` (§2): `not_before <= t < expires_at`.
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.not_before.is_none_or(|start| start <= t) && self.expires_at.is_none_or(|end| t < end)
    }
}

/// An optional bound of a rule's window, within the instants a request
/// may carry (`instant::bounded`); `None` when refused.
fn window_instant(
    raw: Option<DateTime<Utc>>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<Option<DateTime<Utc>>> {
    match raw {
        None => Some(None),
        Some(raw) => errors.check(field, instant::bounded(raw)).map(Some),
    }
}

/// Checks a list of ids: non-empty, bounded, every id known; duplicates
/// are dropped, order kept.
fn terms(
    raw: &[String],
    field: &str,
    lookup: impl Fn(&str) -> Option<TermId>,
    what: &str,
    errors: &mut FieldErrors,
) -> Option<Vec<TermId>> {
    if raw.is_empty() {
        errors.push(field, "must list at least one id, or `*`");
        return None;
    }
    if raw.len() > MAX_TERMS_PER_RULE {
        errors.push(field, format!("must list at most {MAX_TERMS_PER_RULE} ids"));
        return None;
    }
    let mut ids: Vec<TermId> = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (index, text) in raw.iter().enumerate() {
        match lookup(text) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => {
                errors.push(
                    format!("{field}[{index}]"),
                    format!("`{text}` is not a {what} of this co-op"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(ids)
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub owner: Owner,
    pub spec: RuleSpec,
    pub created_at: DateTime<Utc>,
    /// The Cedar policy evaluated for this rule.
    pub cedar: String,
}

impl Rule {
    pub fn to_wire(&self) -> datacoop_wire::Rule {
        datacoop_wire::Rule {
            id: self.id.to_string(),
            effect: self.spec.effect,
            action: self.spec.action,
            requester: self.spec.requester.to_wire(),
            data_categories: self
                .spec
                .data_categories
                .iter()
                .map(ToString::to_string)
                .collect(),
            purposes: self.spec.purposes.iter().map(ToString::to_string).collect(),
            not_before: self.spec.not_before,
            expires_at: self.spec.expires_at,
            created_at: self.created_at,
            cedar: self.cedar.clone(),
            log_index: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use datacoop_wire::{RequesterSelector, RuleBody};

    use super::*;
    use crate::policy::DEFAULT_VOCABULARY;

    fn vocabulary() -> Vocabulary {
        Vocabulary::from_json(DEFAULT_VOCABULARY).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn body() -> RuleBody {
        RuleBody {
            effect: Effect::Allow,
            action: RuleAction::Access,
            requester: RequesterSelector::Class("academic".into()),
            data_categories: vec!["health".into(), "health".into()],
            purposes: vec!["research".into()],
            not_before: None,
            expires_at: None,
        }
    }

    fn parse(body: RuleBody, owner: &Owner) -> Result<RuleSpec, Vec<String>> {
        let mut errors = FieldErrors::new();
        let spec = RuleSpec::parse(body, owner, &vocabulary(), now(), "", &mut errors);
        match (spec, errors.is_empty()) {
            (Some(spec), true) => Ok(spec),
            _ => Err(errors.iter().map(|e| e.field.clone()).collect()),
        }
    }

    #[test]
    fn a_valid_body_parses_with_duplicates_dropped() {
        let spec = parse(body(), &Owner::Member(MemberId::generate())).unwrap();
        assert_eq!(spec.data_categories.len(), 1);
        assert_eq!(spec.requester, Requester::Class(RequesterClass::Academic));
    }

    #[test]
    fn every_invalid_field_is_named() {
        let owner = Owner::Member(MemberId::generate());
        let cases: Vec<(RuleBody, Vec<&str>)> = vec![
            (
                RuleBody {
                    data_categories: vec![],
                    ..body()
                },
                vec!["data_categories"],
            ),
            (
                RuleBody {
                    purposes: vec!["research".into(), "fun".into()],
                    ..body()
                },
                vec!["purposes[1]"],
            ),
            (
                RuleBody {
                    data_categories: vec!["dna".into()],
                    ..body()
                },
                vec!["data_categories[0]"],
            ),
            (
                RuleBody {
                    requester: RequesterSelector::Class("pirates".into()),
                    ..body()
                },
                vec!["requester.class"],
            ),
            (
                RuleBody {
                    requester: RequesterSelector::ThirdParty("x".into()),
                    ..body()
                },
                vec!["requester.third_party"],
            ),
            (
                RuleBody {
                    expires_at: Some(now()),
                    ..body()
                },
                vec!["expires_at"],
            ),
            (
                RuleBody {
                    not_before: Some(now() + chrono::TimeDelta::days(2)),
                    expires_at: Some(now() + chrono::TimeDelta::days(1)),
                    ..body()
                },
                vec!["not_before"],
            ),
        ];
        for (body, fields) in cases {
            assert_eq!(parse(body.clone(), &owner).unwrap_err(), fields, "{body:?}");
        }
    }

    #[test]
    fn window_instants_are_bounded_and_whole_microseconds() {
        let owner = Owner::Member(MemberId::generate());
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let early = RuleBody {
            not_before: Some(at("1969-12-31T23:59:59Z")),
            ..body()
        };
        assert_eq!(parse(early, &owner).unwrap_err(), ["not_before"]);
        let late = RuleBody {
            expires_at: Some(DateTime::<Utc>::MAX_UTC),
            ..body()
        };
        assert_eq!(parse(late, &owner).unwrap_err(), ["expires_at"]);
        let both = RuleBody {
            not_before: Some(DateTime::<Utc>::MIN_UTC),
            expires_at: Some(DateTime::<Utc>::MAX_UTC),
            ..body()
        };
        assert_eq!(
            parse(both, &owner).unwrap_err(),
            ["not_before", "expires_at"]
        );
        let fine = RuleBody {
            not_before: Some(at("1970-01-01T00:00:00.0000009Z")),
            expires_at: Some(at("9999-12-31T23:59:59.9999999Z")),
            ..body()
        };
        let spec = parse(fine, &owner).unwrap();
        assert_eq!(spec.not_before, Some(at("1970-01-01T00:00:00Z")));
        assert_eq!(spec.expires_at, Some(at("9999-12-31T23:59:59.999999Z")));
    }

    #[test]
    fn coop_rules_can_only_deny() {
        assert_eq!(parse(body(), &Owner::Coop).unwrap_err(), ["effect"]);
        assert!(
            parse(
                RuleBody {
                    effect: Effect::Deny,
                    ..body()
                },
                &Owner::Coop
            )
            .is_ok()
        );
    }

    #[test]
    fn in_force_follows_section_2() {
        let spec = RuleSpec {
            not_before: Some(now()),
            expires_at: Some(now() + chrono::TimeDelta::hours(1)),
            ..parse(body(), &Owner::Coop.clone())
                .unwrap_or_else(|_| parse(body(), &Owner::Member(MemberId::generate())).unwrap())
        };
        assert!(!spec.in_force_at(now() - chrono::TimeDelta::microseconds(1)));
        assert!(spec.in_force_at(now()));
        assert!(!spec.in_force_at(now() + chrono::TimeDelta::hours(1)));
    }

    #[test]
    fn owner_keys_are_distinct_across_kinds() {
        let member = Owner::Member(MemberId::generate());
        assert!(member.key().starts_with("member:mbr_"));
        assert_eq!(Owner::Coop.key(), "coop");
        assert_eq!(
            Owner::from_parts("member", member.id().to_owned()),
            Some(member)
        );
    }
}
