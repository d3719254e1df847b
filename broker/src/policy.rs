//! Loading the co-op's policy folder: the vocabulary now; the Cedar schema
//! and co-op policies join it with the consent engine.
//!
//! The folder compiled into the binary is `policies/` at the repository
//! root; `DATACOOP_POLICY_DIR` replaces it with a folder laid out the same.

use std::path::{Path, PathBuf};

use crate::domain::{Vocabulary, VocabularyError};

/// `policies/vocabulary.json` as compiled into the binary.
pub const DEFAULT_VOCABULARY: &str = include_str!("../../policies/vocabulary.json");

/// The file name of the vocabulary inside a policy folder.
pub const VOCABULARY_FILE: &str = "vocabulary.json";

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
}

impl Policies {
    /// The policies compiled into the binary.
    pub fn built_in() -> Result<Self, PolicyError> {
        let vocabulary =
            Vocabulary::from_json(DEFAULT_VOCABULARY).map_err(|source| PolicyError::Invalid {
                path: PathBuf::from("(built in) policies").join(VOCABULARY_FILE),
                source,
            })?;
        Ok(Self { vocabulary })
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
        Ok(Self { vocabulary })
    }

    /// `from_dir` when a folder is given, the built-in policies otherwise.
    pub fn load(dir: Option<&Path>) -> Result<Self, PolicyError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::built_in(),
        }
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
