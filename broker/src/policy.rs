//! Loading the co-op's policy folder: the vocabulary, the Cedar schema and
//! the co-op's base policies.
//!
//! The folder compiled into the binary is `policies/` at the repository
//! root; `DATACOOP_POLICY_DIR` replaces it with a folder laid out the same:
//! `vocabulary.json` (required), `schema.cedarschema` (the built-in one
//! when absent) and `coop.cedar` (no base policies when absent). The Cedar
//! files are parsed and validated when the consent engine loads them.

use std::path::{Path, PathBuf};

use crate::domain::{Vocabulary, VocabularyError};

/// `policies/vocabulary.json` as compiled into the binary.
pub const DEFAULT_VOCABULARY: &str = include_str!("../../policies/vocabulary.json");

/// `policies/schema.cedarschema` as compiled into the binary.
pub const DEFAULT_SCHEMA: &str = include_str!("../../policies/schema.cedarschema");

/// `policies/coop.cedar` as compiled into the binary.
pub const DEFAULT_COOP_POLICIES: &str = include_str!("../../policies/coop.cedar");

/// The file name of the vocabulary inside a policy folder.
pub const VOCABULARY_FILE: &str = "vocabulary.json";
/// The file name of the Cedar schema inside a policy folder.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// The file name of the co-op's base policies inside a policy folder.
pub const COOP_POLICIES_FILE: &str = "coop.cedar";

/// Why the policies could not be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is invalid: {source}")]
    Invalid {
        path: PathBuf,
        source: VocabularyError,
    },
}

/// Everything loaded from a policy folder.
#[derive(Debug, Clone)]
pub struct Policies {
    pub vocabulary: Vocabulary,
    /// The Cedar schema text, and where it came from.
    pub schema: String,
    pub schema_origin: String,
    /// The co-op's base policies: `(where from, Cedar text)`.
    pub coop_policies: Vec<(String, String)>,
}

impl Policies {
    /// The policies compiled into the binary.
    pub fn built_in() -> Result<Self, PolicyError> {
        let vocabulary =
            Vocabulary::from_json(DEFAULT_VOCABULARY).map_err(|source| PolicyError::Invalid {
                path: PathBuf::from("(built in) policies").join(VOCABULARY_FILE),
                source,
            })?;
        Ok(Self {
            vocabulary,
            schema: DEFAULT_SCHEMA.to_owned(),
            schema_origin: format!("(built in) policies/{SCHEMA_FILE}"),
            coop_policies: vec![(
                format!("(built in) policies/{COOP_POLICIES_FILE}"),
                DEFAULT_COOP_POLICIES.to_owned(),
            )],
        })
    }

    /// The policies in `dir`, laid out like `policies/`.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        let path = dir.join(VOCABULARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
            path: path.clone(),
            source,
        })?;
        let vocabulary =
            Vocabulary::from_json(&text).map_err(|source| PolicyError::Invalid { path, source })?;
        let schema_path = dir.join(SCHEMA_FILE);
        let (schema, schema_origin) = match read_optional(&schema_path)? {
            Some(text) => (text, schema_path.display().to_string()),
            None => (
                DEFAULT_SCHEMA.to_owned(),
                format!("(built in) policies/{SCHEMA_FILE}"),
            ),
        };
        let coop_path = dir.join(COOP_POLICIES_FILE);
        let coop_policies = read_optional(&coop_path)?
            .map(|text| (coop_path.display().to_string(), text))
            .into_iter()
            .collect();
        Ok(Self {
            vocabulary,
            schema,
            schema_origin,
            coop_policies,
        })
    }

    /// `from_dir` when a folder is given, the built-in policies otherwise.
    pub fn load(dir: Option<&Path>) -> Result<Self, PolicyError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::built_in(),
        }
    }
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, PolicyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PolicyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Policies::from_dir(dir.path()).unwrap_err().to_string();
        assert!(missing.contains("vocabulary.json"), "{missing}");

        std::fs::write(dir.path().join(VOCABULARY_FILE), "{\"version\": 1}").unwrap();
        let invalid = Policies::from_dir(dir.path()).unwrap_err().to_string();
        assert!(invalid.contains("vocabulary.json"), "{invalid}");
        assert!(invalid.contains("missing field"), "{invalid}");
    }

    #[test]
    fn a_folder_replaces_the_built_in_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(VOCABULARY_FILE),
            r#"{"version": 1, "data_categories": [{"id": "water", "label": "Water use"}],
                "purposes": [{"id": "billing", "label": "Billing"}],
                "requester_classes": ["public_body"]}"#,
        )
        .unwrap();
        let policies = Policies::from_dir(dir.path()).unwrap();
        assert!(policies.vocabulary.category("water").is_some());
        assert!(policies.vocabulary.category("health").is_none());
    }
}
