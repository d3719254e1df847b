//! The pages' languages: messages in Fluent files (`broker/locales/<lang>/`,
//! compiled into the binary), the language chosen from a cookie set by the
//! switcher, else `Accept-Language`, else English; dates and numbers
//! written the way each language writes them.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Datelike, Utc};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};

use crate::domain::vocabulary::Vocabulary;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Bidi isolation marks would end up inside attributes and URLs.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

/// The cookie remembering the switcher's choice.
pub const LANG_COOKIE: &str = "__Host-datacoop-lang";

impl Lang {
    pub const ALL: [Self; 2] = [Self::En, Self::De];

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// The language's own name, for the switcher.
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::De => "Deutsch",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(code))
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Self::En => langid!("en"),
            Self::De => langid!("de"),
        }
    }

    /// The switcher's cookie if it names a language, else the first
    /// language of `Accept-Language` (by weight) the pages have.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let jar = axum_extra::extract::CookieJar::from_headers(headers);
        if let Some(lang) = jar.get(LANG_COOKIE).and_then(|c| Self::parse(c.value())) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::from_accept_language)
            .unwrap_or(Self::En)
    }

    /// The most wanted language of an `Accept-Language` value that the
    /// pages have (`de-AT` counts as `de`).
    fn from_accept_language(value: &str) -> Option<Self> {
        let mut offered: Vec<(u16, usize, Self)> = value
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.trim().split(';');
                let tag = parts.next()?.trim();
                let primary = tag.split('-').next()?;
                let lang = Self::parse(primary)?;
                let weight = parts
                    .find_map(|part| part.trim().strip_prefix("q="))
                    .map_or(Some(1000), quality)?;
                (weight > 0).then_some((weight, position, lang))
            })
            .collect();
        // Highest weight first; among equals, the order given.
        offered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        offered.first().map(|(_, _, lang)| *lang)
    }
}

/// A quality value (`0.8`) in thousandths; `None` when malformed.
fn quality(raw: &str) -> Option<u16> {
    let value: f32 = raw.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

/// The messages of one language, for a template.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The message `id`.
    pub fn t(&self, id: &str) -> String {
        LOCALES.lookup(&self.lang.id(), id)
    }

    /// The message `id` if this language (or English) has it.
    pub fn try_t(&self, id: &str) -> Option<String> {
        LOCALES.try_lookup(&self.lang.id(), id)
    }

    /// The message `id` with arguments.
    pub fn ta(&self, id: &str, args: &[(&str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Owned((*name).to_owned()), FluentValue::from(*value)))
            .collect();
        LOCALES.lookup_with_args(&self.lang.id(), id, &args)
    }

    /// The message `id` with one argument (for templates).
    pub fn ta1(&self, id: &str, name: &str, value: &str) -> String {
        self.ta(id, &[(name, value)])
    }

    /// The message `id` with one numeric argument, for plurals.
    pub fn count(&self, id: &str, name: &str, count: u64) -> String {
        let mut args: HashMap<Cow<'static, str>, FluentValue<'_>> = HashMap::new();
        args.insert(Cow::Owned(name.to_owned()), FluentValue::from(count));
        args.insert(
            Cow::Owned(format!("{name}_text")),
            FluentValue::from(self.number(count)),
        );
        LOCALES.lookup_with_args(&self.lang.id(), id, &args)
    }

    /// A day as the language writes it in full: `1 March 2027`,
    /// `1. März 2027`.
    pub fn date(&self, at: DateTime<Utc>) -> String {
        let month = self.t(&format!("month-{}", at.month()));
        self.ta(
            "date-long",
            &[
                ("day", &at.day().to_string()),
                ("month", &month),
                ("year", &at.year().to_string()),
            ],
        )
    }

    /// A day and time (UTC): `1 March 2027, 14:05 UTC`.
    pub fn date_time(&self, at: DateTime<Utc>) -> String {
        self.ta(
            "date-time",
            &[
                ("date", &self.date(at)),
                ("time", &at.format("%H:%M").to_string()),
            ],
        )
    }

    /// A whole number with the language's thousands separator.
    pub fn number(&self, value: u64) -> String {
        let separator = match self.lang {
            Lang::En => ',',
            Lang::De => '.',
        };
        let digits = value.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (position, digit) in digits.chars().enumerate() {
            if position > 0 && (digits.len() - position).is_multiple_of(3) {
                out.push(separator);
            }
            out.push(digit);
        }
        out
    }

    /// A vocabulary term's label: the co-op's own (`vocabulary.json`) in
    /// English, the translation (`term-<id>`) in other languages where
    /// there is one.
    pub fn term(&self, vocabulary: &Vocabulary, id: &str) -> String {
        let own = vocabulary
            .label(id)
            .map_or_else(|| id.to_owned(), str::to_owned);
        if self.lang == Lang::En {
            return own;
        }
        let key = format!("term-{}", id.replace(['.', '_'], "-"));
        LOCALES.try_lookup(&self.lang.id(), &key).unwrap_or(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(accept: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            accept.parse().unwrap_or_else(|_| unreachable!()),
        );
        Lang::negotiate(&headers)
    }

    #[test]
    fn accept_language_picks_the_heaviest_language_the_pages_have() {
        assert_eq!(negotiated("de-AT,de;q=0.9,en;q=0.8"), Lang::De);
        assert_eq!(negotiated("fr-FR,fr;q=0.9,de;q=0.5,en;q=0.7"), Lang::En);
        assert_eq!(negotiated("en;q=0.2, de"), Lang::De);
        assert_eq!(negotiated("de;q=0, en"), Lang::En);
        assert_eq!(negotiated("fr, it"), Lang::En);
        assert_eq!(negotiated("de;q=nonsense, en"), Lang::En);
    }

    #[test]
    fn the_switchers_cookie_wins() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "en".parse().unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            header::COOKIE,
            "__Host-datacoop-lang=de"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(Lang::negotiate(&headers), Lang::De);
    }

    #[test]
    fn dates_and_numbers_are_written_per_language() {
        let at = DateTime::parse_from_rfc3339("2027-03-01T14:05:00Z")
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(Tr::new(Lang::En).date(at), "1 March 2027");
        assert_eq!(Tr::new(Lang::De).date(at), "1. März 2027");
        assert_eq!(Tr::new(Lang::En).number(1_234_567), "1,234,567");
        assert_eq!(Tr::new(Lang::De).number(1_234_567), "1.234.567");
        assert_eq!(Tr::new(Lang::De).number(999), "999");
    }

    #[test]
    fn every_message_has_a_german_translation() {
        let folder = |lang: &str| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("locales")
                .join(lang)
        };
        let ids = |lang: &str| -> std::collections::BTreeSet<String> {
            let mut ids = std::collections::BTreeSet::new();
            for file in std::fs::read_dir(folder(lang)).unwrap() {
                let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
                ids.extend(
                    text.lines()
                        .filter(|line| line.starts_with(|c: char| c.is_ascii_lowercase()))
                        .filter_map(|line| line.split_once(" ="))
                        .map(|(id, _)| id.trim().to_owned()),
                );
            }
            ids
        };
        let (english, german) = (ids("en"), ids("de"));
        assert!(english.len() > 50, "{} messages", english.len());
        let missing: Vec<_> = english.difference(&german).collect();
        assert!(missing.is_empty(), "not translated: {missing:?}");
        let stray: Vec<_> = german
            .difference(&english)
            .filter(|id| !id.starts_with("term-"))
            .collect();
        assert!(stray.is_empty(), "German only: {stray:?}");
    }
}
