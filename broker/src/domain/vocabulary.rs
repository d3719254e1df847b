//! The vocabulary in force: data categories and purposes as two trees of
//! dotted ids (consent-semantics §1), and the requester classes.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;

use super::RequesterClass;

/// The wildcard that stands for a whole tree.
pub const WILDCARD: &str = "*";

/// Why a term id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermIdError {
    #[error("must be dot-separated lowercase segments such as `health.heart`")]
    Malformed,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
}

/// A category or purpose id, or `*`: well-formed, but not necessarily in
/// the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TermId(String);

impl TermId {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, TermIdError> {
        if raw == WILDCARD {
            return Ok(Self(raw.to_owned()));
        }
        if raw.len() > Self::MAX_CHARS {
            return Err(TermIdError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let segment_ok = |segment: &str| {
            let mut bytes = segment.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_lowercase())
                && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if raw.split('.').all(segment_ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TermIdError::Malformed)
        }
    }

    pub fn wildcard() -> Self {
        Self(WILDCARD.to_owned())
    }

    pub fn is_wildcard(&self) -> bool {
        self.0 == WILDCARD
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id without its last segment; `None` for a root and for `*`.
    pub fn parent(&self) -> Option<Self> {
        if self.is_wildcard() {
            return None;
        }
        self.0
            .rsplit_once('.')
            .map(|(parent, _)| Self(parent.to_owned()))
    }

    /// 0 for `*`, 1 for `health`, 2 for `health.heart` (§1).
    pub fn depth(&self) -> usize {
        if self.is_wildcard() {
            0
        } else {
            self.0.split('.').count()
        }
    }

    /// `self` covers `other` when it is `*`, equal, or an ancestor (§1).
    pub fn covers(&self, other: &Self) -> bool {
        self.is_wildcard()
            || self.0 == other.0
            || other
                .0
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }

    /// Either covers the other (§1).
    pub fn overlaps(&self, other: &Self) -> bool {
        self.covers(other) || other.covers(self)
    }
}

impl fmt::Display for TermId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a vocabulary tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub id: TermId,
    pub label: String,
    pub description: Option<String>,
    pub dpv: Option<String>,
}

/// What is wrong with a vocabulary document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabularyError {
    #[error("not a vocabulary document: {0}")]
    Syntax(String),
    #[error("unsupported version {0}; this broker reads version 1")]
    Version(u32),
    #[error("{tree} must list at least one term")]
    EmptyTree { tree: &'static str },
    #[error("{tree}: id `{id}` {error}")]
    BadId {
        tree: &'static str,
        id: String,
        error: TermIdError,
    },
    #[error("{tree}: `*` is implicit and must not be listed")]
    WildcardListed { tree: &'static str },
    #[error("{tree}: `{id}` is listed twice")]
    Duplicate { tree: &'static str, id: String },
    #[error("{tree}: `{id}` has parent `{parent}`, which is not listed")]
    MissingParent {
        tree: &'static str,
        id: String,
        parent: String,
    },
    #[error("{tree}: `{id}` has an empty label")]
    EmptyLabel { tree: &'static str, id: String },
    #[error("requester_classes: unknown class `{0}`")]
    UnknownClass(String),
    #[error("requester_classes must list at least one class")]
    NoClasses,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "documents where the vocabulary comes from; not served"
    )]
    source: Option<String>,
    data_categories: Vec<DocumentTerm>,
    purposes: Vec<DocumentTerm>,
    requester_classes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentTerm {
    id: String,
    label: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    dpv: Option<String>,
}

/// The vocabulary in force, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    data_categories: Vec<Term>,
    purposes: Vec<Term>,
    requester_classes: Vec<RequesterClass>,
    /// Ids to positions, for lookups on every request.
    category_index: HashMap<String, usize>,
    purpose_index: HashMap<String, usize>,
}

impl Vocabulary {
    /// Parses and validates a vocabulary document (JSON).
    pub fn from_json(text: &str) -> Result<Self, VocabularyError> {
        let document: Document = serde_json::from_str(text)
            .map_err(|error| VocabularyError::Syntax(error.to_string()))?;
        if document.version != 1 {
            return Err(VocabularyError::Version(document.version));
        }
        let data_categories = build_tree("data_categories", document.data_categories)?;
        let purposes = build_tree("purposes", document.purposes)?;
        if document.requester_classes.is_empty() {
            return Err(VocabularyError::NoClasses);
        }
        let requester_classes = document
            .requester_classes
            .iter()
            .map(|raw| {
                RequesterClass::parse(raw).ok_or_else(|| VocabularyError::UnknownClass(raw.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let index = |terms: &[Term]| {
            terms
                .iter()
                .enumerate()
                .map(|(i, term)| (term.id.to_string(), i))
                .collect()
        };
        Ok(Self {
            category_index: index(&data_categories),
            purpose_index: index(&purposes),
            data_categories,
            purposes,
            requester_classes,
        })
    }

    pub fn data_categories(&self) -> &[Term] {
        &self.data_categories
    }

    pub fn purposes(&self) -> &[Term] {
        &self.purposes
    }

    pub fn requester_classes(&self) -> &[RequesterClass] {
        &self.requester_classes
    }

    pub fn has_class(&self, class: RequesterClass) -> bool {
        self.requester_classes.contains(&class)
    }

    /// The label of the listed category or purpose `id`.
    pub fn label(&self, id: &str) -> Option<&str> {
        let listed = |index: &HashMap<String, usize>| index.get(id).copied();
        listed(&self.category_index)
            .and_then(|i| self.data_categories.get(i))
            .or_else(|| listed(&self.purpose_index).and_then(|i| self.purposes.get(i)))
            .map(|term| term.label.as_str())
    }

    /// `raw` as a category id when it is `*` or a listed category.
    pub fn category(&self, raw: &str) -> Option<TermId> {
        find(&self.data_categories, &self.category_index, raw)
    }

    /// `raw` as a purpose id when it is `*` or a listed purpose.
    pub fn purpose(&self, raw: &str) -> Option<TermId> {
        find(&self.purposes, &self.purpose_index, raw)
    }
}

fn find(terms: &[Term], index: &HashMap<String, usize>, raw: &str) -> Option<TermId> {
    if raw == WILDCARD {
        return Some(TermId::wildcard());
    }
    index
        .get(raw)
        .and_then(|&i| terms.get(i))
        .map(|term| term.id.clone())
}

fn build_tree(
    tree: &'static str,
    entries: Vec<DocumentTerm>,
) -> Result<Vec<Term>, VocabularyError> {
    if entries.is_empty() {
        return Err(VocabularyError::EmptyTree { tree });
    }
    let mut seen = HashSet::new();
    let mut terms = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.id == WILDCARD {
            return Err(VocabularyError::WildcardListed { tree });
        }
        let id = TermId::parse(&entry.id).map_err(|error| VocabularyError::BadId {
            tree,
            id: entry.id.clone(),
            error,
        })?;
        if !seen.insert(entry.id.clone()) {
            return Err(VocabularyError::Duplicate { tree, id: entry.id });
        }
        if entry.label.trim().is_empty() {
            return Err(VocabularyError::EmptyLabel { tree, id: entry.id });
        }
        terms.push(Term {
            id,
            label: entry.label,
            description: entry.description,
            dpv: entry.dpv,
        });
    }
    for term in &terms {
        if let Some(parent) = term.id.parent()
            && !seen.contains(parent.as_str())
        {
            return Err(VocabularyError::MissingParent {
                tree,
                id: term.id.to_string(),
                parent: parent.to_string(),
            });
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> TermId {
        TermId::parse(raw).unwrap()
    }

    // consent-semantics §1: covers, overlaps, depth.
    #[test]
    fn covers_follows_section_1() {
        assert!(id("*").covers(&id("health.heart")));
        assert!(id("health").covers(&id("health")));
        assert!(id("health").covers(&id("health.heart")));
        assert!(!id("health.heart").covers(&id("health")));
        assert!(!id("health").covers(&id("healthcare")));
        assert!(!id("health").covers(&id("location")));
    }

    #[test]
    fn overlaps_is_covers_either_way() {
        assert!(id("health.heart").overlaps(&id("health")));
        assert!(id("health").overlaps(&id("health.heart")));
        assert!(id("*").overlaps(&id("location")));
        assert!(!id("health.heart").overlaps(&id("health.sleep")));
    }

    #[test]
    fn depth_follows_section_1() {
        assert_eq!(id("*").depth(), 0);
        assert_eq!(id("health").depth(), 1);
        assert_eq!(id("health.heart").depth(), 2);
        assert_eq!(id("health.heart").parent(), Some(id("health")));
        assert_eq!(id("health").parent(), None);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "Health",
            "health.",
            ".health",
            "health..heart",
            "1x",
            "a-b",
            "a b",
        ] {
            assert_eq!(TermId::parse(raw), Err(TermIdError::Malformed), "{raw:?}");
        }
    }

    const MINIMAL: &str = r#"{"version": 1,
        "data_categories": [{"id": "health", "label": "Health"}, {"id": "health.heart", "label": "Heart"}],
        "purposes": [{"id": "research", "label": "Research"}],
        "requester_classes": ["academic"]}"#;

    #[test]
    fn a_minimal_document_loads() {
        let vocabulary = Vocabulary::from_json(MINIMAL).unwrap();
        assert_eq!(
            vocabulary.category("health.heart"),
            Some(id("health.heart"))
        );
        assert_eq!(vocabulary.category("*"), Some(TermId::wildcard()));
        assert_eq!(vocabulary.category("location"), None);
        assert_eq!(vocabulary.purpose("research"), Some(id("research")));
        assert!(vocabulary.has_class(RequesterClass::Academic));
        assert!(!vocabulary.has_class(RequesterClass::Commercial));
    }

    #[test]
    fn broken_documents_say_what_is_wrong() {
        let cases = [
            (
                MINIMAL.replace("\"health\", \"label\"", "\"Health\", \"label\""),
                "id `Health`",
            ),
            (
                MINIMAL.replace(
                    "\"health\", \"label\": \"Health\"",
                    "\"health\", \"label\": \" \"",
                ),
                "empty label",
            ),
            (
                MINIMAL.replace("{\"id\": \"health\", \"label\": \"Health\"}, ", ""),
                "parent `health`",
            ),
            (
                MINIMAL.replace("\"academic\"", "\"pirates\""),
                "unknown class `pirates`",
            ),
            (
                MINIMAL.replace("\"version\": 1", "\"version\": 2"),
                "version 2",
            ),
            (
                MINIMAL.replace("\"id\": \"research\"", "\"id\": \"*\""),
                "`*` is implicit",
            ),
            (
                MINIMAL.replace(
                    "{\"id\": \"research\"",
                    "{\"id\": \"research\", \"label\": \"R\"}, {\"id\": \"research\"",
                ),
                "listed twice",
            ),
            (
                MINIMAL.replace(
                    "\"label\": \"Heart\"",
                    "\"label\": \"Heart\", \"colour\": 1",
                ),
                "unknown field",
            ),
            ("{".to_owned(), "not a vocabulary document"),
        ];
        for (text, expected) in cases {
            let error = Vocabulary::from_json(&text).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn the_default_vocabulary_is_valid_and_holds_the_contract_ids() {
        let vocabulary = Vocabulary::from_json(crate::policy::DEFAULT_VOCABULARY).unwrap();
        assert!(vocabulary.data_categories().len() >= 30);
        assert!(vocabulary.purposes().len() >= 20);
        for category in [
            "identity",
            "identity.contact",
            "identity.demographic",
            "health",
            "health.heart",
            "health.sleep",
            "health.activity",
            "health.condition",
            "location",
            "location.precise",
            "location.coarse",
            "financial",
            "financial.transactions",
            "behaviour",
            "behaviour.browsing",
        ] {
            assert!(
                vocabulary.category(category).is_some(),
                "missing category {category}"
            );
        }
        for purpose in [
            "service_provision",
            "research",
            "research.academic",
            "research.commercial",
            "public_interest",
            "public_interest.health",
            "marketing",
            "marketing.advertising",
            "marketing.direct",
        ] {
            assert!(
                vocabulary.purpose(purpose).is_some(),
                "missing purpose {purpose}"
            );
        }
        assert_eq!(vocabulary.requester_classes(), RequesterClass::ALL);
    }
}
