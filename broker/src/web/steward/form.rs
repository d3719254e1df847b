//! What the stewards' forms share: the problems a use case found, one
//! message per field in the page's language, and the rule form (personas
//! and co-op rules), read into the API's rule body so that the page and
//! the API validate alike.

use chrono::{DateTime, NaiveDate, Utc};
use datacoop_wire::{RequesterSelector, RuleAction, RuleBody};
use serde::Deserialize;

use crate::domain::rule::Effect;
use crate::domain::vocabulary::{Term, Vocabulary};
use crate::domain::{FieldErrors, RequesterClass};
use crate::web::i18n::Tr;

/// The form fields messages are written for; a problem with any other
/// field is reported for the form as a whole.
const FIELDS: [&str; 10] = [
    "name",
    "description",
    "class",
    "webhook_url",
    "effect",
    "requester",
    "data_categories",
    "purposes",
    "expires_at",
    "limit",
];

/// The form field a problem's path names: `rules[0].data_categories[2]`
/// is `data_categories`, `requester.class` is `requester`.
fn field_of(path: &str) -> &'static str {
    let path = match path.strip_prefix("rules[") {
        Some(rest) => rest.split_once("].").map_or("", |(_, field)| field),
        None => path,
    };
    let head = path.split(['[', '.']).next().unwrap_or_default();
    FIELDS
        .iter()
        .find(|field| **field == head)
        .copied()
        .unwrap_or("form")
}

/// What was wrong with a form, one message per field, in the page's
/// language. Fields' elements are named `<prefix>-<field>`, their
/// messages `<prefix>-<field>-error`.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub prefix: &'static str,
    fields: Vec<(&'static str, String)>,
}

impl FormErrors {
    /// No problem (yet).
    pub fn none(prefix: &'static str) -> Self {
        Self {
            prefix,
            fields: Vec::new(),
        }
    }

    pub fn new(tr: Tr, prefix: &'static str, errors: &FieldErrors) -> Self {
        let mut fields: Vec<(&'static str, String)> = Vec::new();
        for invalid in errors.iter() {
            let field = field_of(&invalid.field);
            if fields.iter().all(|(known, _)| *known != field) {
                let message = tr.t(&format!("steward-invalid-{}", field.replace('_', "-")));
                fields.push((field, message));
            }
        }
        Self { prefix, fields }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The message for `field`, if it has a problem.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(known, _)| *known == field)
            .map(|(_, message)| message.as_str())
    }

    /// Whether `field` has a problem.
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// Each problem with the id of the element it is about, for the
    /// summary at the top of the form.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|(field, message)| {
                let anchor = if *field == "form" || *field == "limit" {
                    format!("{}-errors", self.prefix)
                } else {
                    format!("{}-{field}", self.prefix)
                };
                (anchor, message.clone())
            })
            .collect()
    }
}

/// The rule form's fields, as the browser sends them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleFields {
    #[serde(default)]
    pub effect: String,
    /// `*` or `class:<class>`.
    #[serde(default)]
    pub requester: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub purposes: Vec<String>,
    /// `YYYY-MM-DD`, the day the rule ends (as it begins, UTC); empty:
    /// no end.
    #[serde(default)]
    pub until: String,
}

impl RuleFields {
    /// The API's rule body for these fields, the effect given by the form
    /// or, for co-op rules, `fixed`. What cannot be read is reported under
    /// its field's name and stood in for, so the API's parser still checks
    /// the other fields and every mistake is shown at once.
    pub fn body(&self, fixed: Option<Effect>, errors: &mut FieldErrors) -> RuleBody {
        let effect = match (fixed, self.effect.as_str()) {
            (Some(effect), _) => effect,
            (None, "allow") => Effect::Allow,
            (None, "deny") => Effect::Deny,
            (None, _) => {
                errors.push("effect", "choose allow or deny");
                Effect::Deny
            }
        };
        let requester = match self.requester.split_once(':') {
            None if self.requester == "*" => RequesterSelector::Any,
            Some(("class", class)) => RequesterSelector::Class(class.to_owned()),
            _ => {
                errors.push("requester", "choose who");
                RequesterSelector::Any
            }
        };
        let until = self.until.trim();
        let expires_at = if until.is_empty() {
            None
        } else {
            // Ends as the day it names begins (UTC): the rule reads
            // "until" that day.
            let day = NaiveDate::parse_from_str(until, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0));
            if day.is_none() {
                errors.push("expires_at", "not a date");
            }
            day.map(|at| DateTime::<Utc>::from_naive_utc_and_offset(at, Utc))
        };
        RuleBody {
            effect,
            action: RuleAction::Any,
            requester,
            data_categories: self.categories.clone(),
            purposes: self.purposes.clone(),
            not_before: None,
            expires_at,
        }
    }
}

/// A checkbox or an option.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The element's id.
    pub id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// The choices under one top-level term.
#[derive(Debug, Clone)]
pub struct ChoiceGroup {
    pub legend: String,
    pub choices: Vec<Choice>,
}

/// The rule form, filled in as far as the steward got.
#[derive(Debug, Clone)]
pub struct RuleForm {
    /// Prefix of its elements' ids.
    pub prefix: &'static str,
    /// Whether the steward chooses the effect (co-op rules only deny).
    pub with_effect: bool,
    pub effect: String,
    pub requesters: Vec<Choice>,
    pub all_categories: Choice,
    pub categories: Vec<ChoiceGroup>,
    pub any_purpose: Choice,
    pub purposes: Vec<ChoiceGroup>,
    pub until: String,
}

impl RuleForm {
    pub fn new(
        tr: Tr,
        vocabulary: &Vocabulary,
        prefix: &'static str,
        with_effect: bool,
        fields: &RuleFields,
    ) -> Self {
        let choice = |kind: &str, value: &str, label: String, picked: &[String]| Choice {
            id: format!("{prefix}-{kind}-{}", element_id(value)),
            value: value.to_owned(),
            label,
            checked: picked.iter().any(|picked| picked == value),
        };
        let groups = |kind: &str, terms: &[Term], picked: &[String]| {
            let mut groups: Vec<ChoiceGroup> = Vec::new();
            for term in terms {
                let id = term.id.as_str();
                let label = tr.term(vocabulary, id);
                if term.id.depth() <= 1 {
                    groups.push(ChoiceGroup {
                        legend: label.clone(),
                        choices: vec![choice(
                            kind,
                            id,
                            tr.ta("steward-rule-whole", &[("label", &label)]),
                            picked,
                        )],
                    });
                    continue;
                }
                let label = match term.id.parent() {
                    Some(parent) if term.id.depth() > 2 => tr.ta(
                        "steward-rule-nested",
                        &[
                            ("parent", &tr.term(vocabulary, parent.as_str())),
                            ("label", &label),
                        ],
                    ),
                    _ => label,
                };
                if let Some(group) = groups.last_mut() {
                    group.choices.push(choice(kind, id, label, picked));
                }
            }
            groups
        };
        let mut requesters = vec![Choice {
            id: format!("{prefix}-requester-any"),
            value: "*".to_owned(),
            label: tr.t("who-any"),
            checked: fields.requester == "*",
        }];
        requesters.extend(vocabulary.requester_classes().iter().map(|class| {
            let value = class_value(*class);
            Choice {
                id: format!("{prefix}-requester-{}", class.as_str()),
                checked: fields.requester == value,
                label: tr.t(&format!("who-class-{}", class.as_str())),
                value,
            }
        }));
        Self {
            prefix,
            with_effect,
            effect: fields.effect.clone(),
            requesters,
            all_categories: choice(
                "category",
                "*",
                tr.t("steward-rule-all-categories"),
                &fields.categories,
            ),
            categories: groups("category", vocabulary.data_categories(), &fields.categories),
            any_purpose: choice(
                "purpose",
                "*",
                tr.t("steward-rule-any-purpose"),
                &fields.purposes,
            ),
            purposes: groups("purpose", vocabulary.purposes(), &fields.purposes),
            until: fields.until.clone(),
        }
    }
}

/// The form's value for a requester class.
fn class_value(class: RequesterClass) -> String {
    format!("class:{}", class.as_str())
}

/// A vocabulary id as part of an element id: `*` is `all`, dots and
/// underscores are dashes.
fn element_id(value: &str) -> String {
    if value == "*" {
        return "all".to_owned();
    }
    value.replace(['.', '_'], "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_reported_for_the_fields_the_form_shows() {
        assert_eq!(field_of("name"), "name");
        assert_eq!(field_of("rules[0].data_categories[3]"), "data_categories");
        assert_eq!(field_of("rules[12].requester.class"), "requester");
        assert_eq!(field_of("requester.third_party"), "requester");
        assert_eq!(field_of("expires_at"), "expires_at");
        assert_eq!(field_of("not_before"), "form");
        assert_eq!(field_of(""), "form");
        assert_eq!(field_of("rules"), "form");
    }

    #[test]
    fn one_message_per_field_in_the_pages_language() {
        let mut errors = FieldErrors::new();
        errors.push("data_categories[0]", "`x` is not a data category");
        errors.push("data_categories[1]", "`y` is not a data category");
        errors.push("name", "must not be empty");
        let shown = FormErrors::new(Tr::new(crate::web::i18n::Lang::De), "persona", &errors);
        let summary = shown.summary();
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].0, "persona-data_categories");
        assert!(shown.has("name"));
        assert!(!shown.has("purposes"));
        assert!(!summary[1].1.contains("must not"), "{}", summary[1].1);
    }

    #[test]
    fn the_rule_form_reads_into_the_apis_body() {
        let fields = RuleFields {
            effect: "allow".into(),
            requester: "class:academic".into(),
            categories: vec!["health".into()],
            purposes: vec!["research".into()],
            until: "2027-03-01".into(),
        };
        let mut errors = FieldErrors::new();
        let body = fields.body(None, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(body.effect, Effect::Allow);
        assert_eq!(body.requester, RequesterSelector::Class("academic".into()));
        assert_eq!(
            body.expires_at.unwrap().to_rfc3339(),
            "2027-03-01T00:00:00+00:00"
        );
        let co_op = fields.body(Some(Effect::Deny), &mut errors);
        assert_eq!(co_op.effect, Effect::Deny);
        let bad = RuleFields {
            effect: "maybe".into(),
            until: "soon".into(),
            ..fields
        };
        let stood_in = bad.body(None, &mut errors);
        assert_eq!(stood_in.expires_at, None);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["effect", "expires_at"]);
    }
}
