//! Personas: preset profiles of rules the co-op publishes.

use chrono::{DateTime, Utc};

use super::PersonaId;
use super::validation::{TextError, long_text, short_text};

/// A persona's name: 1 to 100 characters, one line, trimmed, every one
/// visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaName(String);

impl PersonaName {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        short_text(raw, 100).map(Self)
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a persona stands for, for members choosing one: 1 to 2,000
/// characters, trimmed, every one visible but line feeds and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaDescription(String);

impl PersonaDescription {
    pub const MAX_CHARS: usize = 2000;

    /// Several lines may be given; see `long_text`.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        long_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub id: PersonaId,
    pub name: PersonaName,
    pub description: PersonaDescription,
    pub created_at: DateTime<Utc>,
}
