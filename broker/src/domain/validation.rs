//! Collecting what is wrong with a request, field by field.

use std::fmt;
use std::ops::RangeInclusive;

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

/// Why a human text (a name, a description) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error(
        "must not contain U+{code_point:04X}: control, format and invisible characters \
         (such as bidirectional overrides and zero-width characters) are refused"
    )]
    Forbidden { code_point: u32 },
}

/// Trims `raw` and checks it is a non-empty single line of at most `max`
/// characters, every one visible (see `forbidden`).
pub fn short_text(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    check_text(trimmed, max, |_| false)?;
    Ok(trimmed.to_owned())
}

/// Trims `raw` and checks it is a non-empty text of at most `max`
/// characters, every one visible (see `forbidden`) but line feeds and
/// tabs; `\r\n` line ends become `\n`.
pub fn long_text(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim().replace("\r\n", "\n");
    check_text(&text, max, |c| c == '\n' || c == '\t')?;
    Ok(text)
}

fn check_text(text: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), TextError> {
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    match text.chars().find(|&c| forbidden(c) && !allowed(c)) {
        Some(c) => Err(TextError::Forbidden {
            code_point: u32::from(c),
        }),
        None => Ok(()),
    }
}

/// Whether `c` may not appear in a text others read, because it is
/// invisible or changes how the text around it shows, so that one name
/// could pass for another: controls, format characters (bidirectional
/// embeddings, overrides and isolates, zero-width spaces and joiners, the
/// byte-order mark), private-use, surrogate and unassigned code points
/// (general category C), line and paragraph separators, and the other
/// default-ignorable code points and blanks listed in `INVISIBLE`.
pub fn forbidden(c: char) -> bool {
    use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
    c.general_category_group() == GeneralCategoryGroup::Other
        || matches!(
            c.general_category(),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
        || INVISIBLE.iter().any(|range| range.contains(&c))
}

/// Invisible code points outside general category C: Unicode's
/// Default_Ignorable_Code_Point ones (combining grapheme joiner, Hangul
/// fillers, Khmer inherent vowels, Mongolian free variation selectors,
/// variation selectors) and the blank Braille pattern.
const INVISIBLE: [RangeInclusive<char>; 10] = [
    '\u{034F}'..='\u{034F}',
    '\u{115F}'..='\u{1160}',
    '\u{17B4}'..='\u{17B5}',
    '\u{180B}'..='\u{180D}',
    '\u{180F}'..='\u{180F}',
    '\u{2800}'..='\u{2800}',
    '\u{3164}'..='\u{3164}',
    '\u{FE00}'..='\u{FE0F}',
    '\u{FFA0}'..='\u{FFA0}',
    '\u{E0100}'..='\u{E01EF}',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_trims_and_bounds() {
        assert_eq!(short_text("  Ada  ", 10).as_deref(), Ok("Ada"));
        assert_eq!(short_text("   ", 10), Err(TextError::Empty));
        assert_eq!(short_text("abcdef", 5), Err(TextError::TooLong { max: 5 }));
        assert_eq!(
            short_text("a\nb", 5),
            Err(TextError::Forbidden { code_point: 0x0A })
        );
        // Characters, not bytes, are counted.
        assert_eq!(short_text("ééééé", 5).as_deref(), Ok("ééééé"));
    }

    #[test]
    fn names_refuse_invisible_and_reordering_characters() {
        let refused = [
            '\0',
            '\t',
            '\r',
            '\u{7F}',
            '\u{85}',
            '\u{AD}',
            '\u{61C}',
            '\u{180E}',
            // Zero-width space, non-joiner, joiner; marks; word joiner; BOM.
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{2060}',
            '\u{FEFF}', // Bidirectional embeddings, overrides and isolates.
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // Separators, private use, unassigned.
            '\u{2028}',
            '\u{2029}',
            '\u{E000}',
            '\u{10FFFF}', // Invisible letters and marks.
            '\u{34F}',
            '\u{115F}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{FE0F}',
            '\u{2800}',
            '\u{E0041}',
            '\u{E0100}',
        ];
        for c in refused {
            let name = format!("Ada{c}Lovelace");
            assert_eq!(
                short_text(&name, 100),
                Err(TextError::Forbidden {
                    code_point: u32::from(c)
                }),
                "U+{:04X}",
                u32::from(c)
            );
        }
        let message = short_text("\u{202E}adA", 100).unwrap_err().to_string();
        assert!(message.starts_with("must not contain U+202E:"), "{message}");
        for fine in [
            "Ada Lovelace",
            "Zoë O'Brien-Núñez",
            "李小龍",
            "محمد",
            "Ελένη",
            "Ada\u{A0}L.",
            "Ada 🦀",
        ] {
            assert_eq!(short_text(fine, 100).as_deref(), Ok(fine));
        }
    }

    #[test]
    fn long_texts_keep_lines_and_tabs_only() {
        assert_eq!(
            long_text(" one\r\ntwo\tthree\n", 100).as_deref(),
            Ok("one\ntwo\tthree")
        );
        assert_eq!(
            long_text("one\rtwo", 100),
            Err(TextError::Forbidden { code_point: 0x0D })
        );
        assert_eq!(
            long_text("one\u{2067}two", 100),
            Err(TextError::Forbidden { code_point: 0x2067 })
        );
        assert_eq!(long_text(" \n ", 100), Err(TextError::Empty));
        assert_eq!(long_text("abc", 2), Err(TextError::TooLong { max: 2 }));
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
