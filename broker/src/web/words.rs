//! Rules and delegations in plain words, in the page's language: "Academic
//! researchers may use your heart data for research, until 1 March 2027."
//! This writes down what is stored; it decides nothing (the engine does).

use std::collections::HashMap;

use super::i18n::{Lang, Tr};
use crate::domain::rule::{Effect, Requester, RuleAction, RuleSpec};
use crate::domain::vocabulary::{TermId, Vocabulary};
use crate::domain::{Scope, ThirdPartyId};

/// Names of the third parties rules may name.
pub type ThirdPartyNames = HashMap<ThirdPartyId, String>;

/// Writes rules and scopes for one page.
#[derive(Debug, Clone, Copy)]
pub struct Words<'a> {
    pub tr: Tr,
    pub vocabulary: &'a Vocabulary,
}

impl<'a> Words<'a> {
    pub fn new(tr: Tr, vocabulary: &'a Vocabulary) -> Self {
        Self { tr, vocabulary }
    }

    /// Who a rule selects.
    pub fn requester(&self, requester: &Requester, names: &ThirdPartyNames) -> String {
        match requester {
            Requester::Any => self.tr.t("who-any"),
            Requester::Class(class) => self.tr.t(&format!("who-class-{}", class.as_str())),
            Requester::ThirdParty(id) => names.get(id).cloned().unwrap_or_else(|| id.to_string()),
        }
    }

    /// Categories as a phrase: "your heart and sleep data", "all your
    /// data".
    pub fn categories(&self, ids: &[TermId]) -> String {
        if ids.iter().any(TermId::is_wildcard) {
            return self.tr.t("categories-all");
        }
        let list = self.list(ids, "categories-all");
        self.tr.ta("categories-phrase", &[("list", &list)])
    }

    /// A list of purpose labels.
    pub fn purposes(&self, ids: &[TermId]) -> String {
        self.list(ids, "term-any-purpose")
    }

    fn list(&self, ids: &[TermId], wildcard: &str) -> String {
        let labels: Vec<String> = ids
            .iter()
            .map(|id| {
                if id.is_wildcard() {
                    self.tr.t(wildcard)
                } else {
                    self.in_sentence(self.tr.term(self.vocabulary, id.as_str()))
                }
            })
            .collect();
        self.join(&labels)
    }

    /// English labels start lower case inside a sentence ("your heart
    /// data"), unless they are an abbreviation; German nouns keep theirs.
    fn in_sentence(&self, label: String) -> String {
        if self.tr.lang != Lang::En {
            return label;
        }
        let mut chars = label.chars();
        match (chars.next(), chars.next()) {
            (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
                first.to_lowercase().chain(label.chars().skip(1)).collect()
            }
            _ => label,
        }
    }

    /// "a, b and c".
    pub fn join(&self, items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} {} {last}", init.join(", "), self.tr.t("list-and")),
        }
    }

    /// A rule as a sentence.
    pub fn rule(&self, spec: &RuleSpec, names: &ThirdPartyNames) -> String {
        let mut window = String::new();
        if let Some(from) = spec.not_before {
            window.push_str(&self.tr.ta("rule-from", &[("date", &self.tr.date(from))]));
        }
        if let Some(until) = spec.expires_at {
            window.push_str(&self.tr.ta("rule-until", &[("date", &self.tr.date(until))]));
        }
        let action = match spec.action {
            RuleAction::Any => String::new(),
            RuleAction::Access => self.tr.t("rule-only-access"),
            RuleAction::Aggregate => self.tr.t("rule-only-aggregate"),
        };
        let id = match spec.effect {
            Effect::Allow => "rule-allow",
            Effect::Deny => "rule-deny",
        };
        self.tr.ta(
            id,
            &[
                ("who", &self.requester(&spec.requester, names)),
                ("categories", &self.categories(&spec.data_categories)),
                ("purposes", &self.purposes(&spec.purposes)),
                ("action", &action),
                ("window", &window),
            ],
        )
    }

    /// What part of a member's decisions a delegation hands over.
    pub fn scope(&self, scope: &Scope) -> String {
        self.tr.ta(
            "scope",
            &[
                ("categories", &self.categories(&scope.data_categories)),
                ("purposes", &self.purposes(&scope.purposes)),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::RequesterClass;

    fn spec(vocabulary: &Vocabulary) -> RuleSpec {
        RuleSpec {
            effect: Effect::Allow,
            action: RuleAction::Any,
            requester: Requester::Class(RequesterClass::Academic),
            data_categories: vec![vocabulary.category("health.heart").unwrap()],
            purposes: vec![vocabulary.purpose("research").unwrap()],
            not_before: None,
            expires_at: Some(
                DateTime::parse_from_rfc3339("2027-03-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
        }
    }

    #[test]
    fn a_rule_reads_as_a_sentence_in_each_language() {
        let policies = crate::policy::Policies::load(None).unwrap();
        let vocabulary = &policies.vocabulary;
        let names = ThirdPartyNames::new();
        assert_eq!(
            Words::new(Tr::new(Lang::En), vocabulary).rule(&spec(vocabulary), &names),
            "Academic researchers may use your heart data for research, until 1 March 2027."
        );
        assert_eq!(
            Words::new(Tr::new(Lang::De), vocabulary).rule(&spec(vocabulary), &names),
            "Erlaubt für Hochschulen und Forschungseinrichtungen: Ihre Daten (Herz), für Forschung, bis 1. März 2027."
        );
    }

    #[test]
    fn lists_join_with_the_languages_and() {
        let policies = crate::policy::Policies::load(None).unwrap();
        let words = Words::new(Tr::new(Lang::De), &policies.vocabulary);
        let items = ["A", "B", "C"].map(str::to_owned);
        assert_eq!(words.join(&items), "A, B und C");
        assert_eq!(words.join(&items[..1]), "A");
    }
}
