//! Cursor pagination: `?limit&cursor`, answered with `next_cursor`.
//! A cursor is an opaque token naming the last item of the previous page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::error::ApiError;
use super::extract::RawQuery;
use crate::domain::FieldErrors;
use crate::store::Seq;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<Seq>,
    pub limit: u32,
}

impl PageRequest {
    pub fn from_query(query: &RawQuery) -> Result<Self, ApiError> {
        Self::from_query_with(query, &[])
    }

    /// As `from_query`, with the call's own parameters `extra` allowed
    /// beside `limit` and `cursor`.
    pub fn from_query_with(query: &RawQuery, extra: &[&str]) -> Result<Self, ApiError> {
        let mut known = vec!["limit", "cursor"];
        known.extend_from_slice(extra);
        query.only(&known)?;
        let mut errors = FieldErrors::new();
        let limit = match query.get("limit") {
            None => Some(DEFAULT_LIMIT),
            Some(raw) => match raw.parse::<u32>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Some(limit),
                _ => {
                    errors.push(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    None
                }
            },
        };
        let after = match query.get("cursor") {
            None => Some(None),
            Some(raw) => match decode_cursor(raw) {
                Some(seq) => Some(Some(seq)),
                None => {
                    errors.push("cursor", "is not a cursor this server issued");
                    None
                }
            },
        };
        Ok(errors.finish(|| {
            Some(Self {
                after: after?,
                limit: limit?,
            })
        })?)
    }

    /// How many rows to fetch: one more than the page, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> u32 {
        self.limit + 1
    }

    /// Cuts the fetched rows to the page and computes the next cursor.
    pub fn finish<T>(&self, mut rows: Vec<(Seq, T)>) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(|(seq, _)| encode_cursor(*seq))
        } else {
            None
        };
        (rows.into_iter().map(|(_, item)| item).collect(), next)
    }
}

fn encode_cursor(seq: Seq) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

pub(crate) fn decode_cursor(raw: &str) -> Option<Seq> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let seq: Seq = text.strip_prefix("v1:")?.parse().ok()?;
    (seq >= 0).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> RawQuery {
        RawQuery(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v1:-5")), None);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(
            PageRequest::from_query(&query(&[])).unwrap().limit,
            DEFAULT_LIMIT
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("limit", "7")]))
                .unwrap()
                .limit,
            7
        );
        for bad in ["0", "201", "-1", "ten"] {
            let error = PageRequest::from_query(&query(&[("limit", bad)])).unwrap_err();
            assert_eq!(error.problem().errors[0].field, "limit");
        }
        let error = PageRequest::from_query(&query(&[("page", "2")])).unwrap_err();
        assert_eq!(error.problem().errors[0].field, "page");
    }

    #[test]
    fn finish_cuts_and_points_past_the_page() {
        let page = PageRequest {
            after: None,
            limit: 2,
        };
        let (items, next) = page.finish(vec![(1, 'a'), (2, 'b'), (3, 'c')]);
        assert_eq!(items, vec!['a', 'b']);
        assert_eq!(next.as_deref().and_then(decode_cursor), Some(2));
        let (items, next) = page.finish(vec![(1, 'a'), (2, 'b')]);
        assert_eq!(items.len(), 2);
        assert_eq!(next, None);
    }
}
