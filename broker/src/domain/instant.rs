//! Instants a request may carry: UTC, years 1970 to 9999, whole
//! microseconds. Both databases store every such instant exactly and
//! alike, and every one is written back in RFC 3339 (four-digit years).

use chrono::{DateTime, Utc};

/// 1970-01-01T00:00:00Z, in microseconds since the Unix epoch.
const EARLIEST_MICROS: i64 = 0;
/// 9999-12-31T23:59:59.999999Z, in microseconds since the Unix epoch.
const LATEST_MICROS: i64 = 253_402_300_799_999_999;

/// Why an instant was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstantError {
    #[error("must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z")]
    OutOfRange,
}

/// `raw` within the range, cut to whole microseconds (the finest instant
/// both databases keep); a leap second (`23:59:60`) is the next second's
/// start, as PostgreSQL reads it.
pub fn bounded(raw: DateTime<Utc>) -> Result<DateTime<Utc>, InstantError> {
    let micros = raw.timestamp_micros();
    if !(EARLIEST_MICROS..=LATEST_MICROS).contains(&micros) {
        return Err(InstantError::OutOfRange);
    }
    DateTime::from_timestamp_micros(micros).ok_or(InstantError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_range_is_1970_to_9999_inclusive() {
        let first = at("1970-01-01T00:00:00Z");
        let last = at("9999-12-31T23:59:59.999999Z");
        assert_eq!(bounded(first), Ok(first));
        assert_eq!(bounded(last), Ok(last));
        assert_eq!(
            last.timestamp_micros(),
            LATEST_MICROS,
            "the constant is the last microsecond of 9999"
        );
        for outside in [
            first - chrono::TimeDelta::microseconds(1),
            last + chrono::TimeDelta::microseconds(1),
            at("0001-01-01T00:00:00Z"),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ] {
            assert_eq!(bounded(outside), Err(InstantError::OutOfRange), "{outside}");
        }
    }

    #[test]
    fn instants_are_whole_microseconds_and_rfc_3339() {
        let fine = at("2030-01-01T00:00:00.123456789Z");
        let kept = bounded(fine).unwrap();
        assert_eq!(kept, at("2030-01-01T00:00:00.123456Z"));
        let leap = at("2030-06-30T23:59:60.5Z");
        assert_eq!(bounded(leap).unwrap(), at("2030-07-01T00:00:00.5Z"));
        let offset = at("2030-01-01T01:00:00+01:00");
        assert_eq!(
            serde_json::to_value(bounded(offset).unwrap()).unwrap(),
            "2030-01-01T00:00:00Z"
        );
    }
}
