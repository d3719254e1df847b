//! Collecting what is wrong with a request, field by field.

use std::fmt;

/// One invalid field: a dotted path and a lowercase message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// Every problem found in one request; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<Invalid>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, message);
        errors
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Invalid {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Keeps the value when it parsed, records the error otherwise.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Invalid> {
        self.0.iter()
    }

    /// `Ok(value)` when no error was recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Self> {
        if !self.is_empty() {
            return Err(self);
        }
        value().ok_or(self)
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|invalid| format!("{}: {}", invalid.field, invalid.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// Why a short human text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Trims `raw` and checks it is a non-empty single line of at most `max` characters.
pub fn short_text(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_trims_and_bounds() {
        assert_eq!(short_text("  Ada  ", 10).as_deref(), Ok("Ada"));
        assert_eq!(short_text("   ", 10), Err(TextError::Empty));
        assert_eq!(short_text("abcdef", 5), Err(TextError::TooLong { max: 5 }));
        assert_eq!(short_text("a\nb", 5), Err(TextError::ControlCharacter));
        // Characters, not bytes, are counted.
        assert_eq!(short_text("ééééé", 5).as_deref(), Ok("ééééé"));
    }

    #[test]
    fn finish_reports_every_error() {
        let mut errors = FieldErrors::new();
        errors.push("a", "bad");
        errors.push("b", "worse");
        let result: Result<(), _> = errors.finish(|| Some(()));
        let errors = result.unwrap_err();
        assert_eq!(errors.iter().count(), 2);
        assert_eq!(errors.to_string(), "a: bad; b: worse");
    }
}
