//! Personas: preset profiles of rules the co-op publishes.

use chrono::{DateTime, Utc};

use super::PersonaId;
use super::validation::{TextError, short_text};

/// A persona's name: 1 to 100 characters, one line.
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

/// What a persona stands for, for members choosing one: up to 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaDescription(String);

impl PersonaDescription {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty);
        }
        if trimmed.chars().count() > 2000 {
            return Err(TextError::TooLong { max: 2000 });
        }
        Ok(Self(trimmed.to_owned()))
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
