//! Signed webhooks, as the [Standard Webhooks] specification defines them:
//! the broker signs each event it sends, and the receiving third party
//! checks the signature with a [`Verifier`] before it trusts the body.
//!
//! Each request carries three headers: `webhook-id` (the event's id, an
//! idempotency key, and what [`ThirdPartyClient::confirm_deletion`] takes),
//! `webhook-timestamp` (unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256>` signatures of
//! `{id}.{timestamp}.{body}` (more than one while a secret is rotated). The
//! key is the endpoint's secret, `whsec_` and the key's base64.
//!
//! ```no_run
//! # fn example(headers: &http::HeaderMap, body: &[u8]) -> Result<(), datacoop_sdk::webhook::WebhookError> {
//! use datacoop_sdk::webhook::{EventKind, Verifier};
//!
//! let verifier = Verifier::new("whsec_…")?;
//! let event = verifier.verify_and_parse_now(headers, body)?;
//! if let EventKind::ConsentWithdrawn(withdrawn) = &event.kind {
//!     // Delete what was received about `withdrawn.subject` for
//!     // `withdrawn.categories` and `withdrawn.purpose`, then confirm with
//!     // `ThirdPartyClient::confirm_deletion(&event.id)`.
//! }
//! # Ok(()) }
//! ```
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/
//! [`ThirdPartyClient::confirm_deletion`]: crate::ThirdPartyClient::confirm_deletion

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::wire::{EventType, WithdrawalData};

/// The header with the event's id.
pub const ID_HEADER: &str = "webhook-id";
/// The header with the time of sending, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header with the space-separated signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// How far a request's `webhook-timestamp` may be from the receiver's
/// clock, either way, unless [`Verifier::with_tolerance`] says otherwise.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The prefix of a serialized secret.
const SECRET_PREFIX: &str = "whsec_";
/// The version of the symmetric (HMAC-SHA256) signature scheme.
const SIGNATURE_VERSION: &str = "v1";

/// Why a webhook request is refused. No message includes the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The secret is not base64 (after an optional `whsec_` prefix).
    #[error("the webhook secret is not `whsec_` followed by base64")]
    InvalidSecret,
    /// The secret decodes to no key at all.
    #[error("the webhook secret is empty")]
    EmptySecret,
    /// A required header is absent (or empty).
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is not visible ASCII.
    #[error("header `{0}` is not visible ASCII")]
    InvalidHeader(&'static str),
    /// `webhook-timestamp` is not an integer number of seconds.
    #[error("header `webhook-timestamp` is not a unix time in seconds")]
    InvalidTimestamp,
    /// The request was signed longer ago than the tolerance: a replay, or
    /// a clock far behind.
    #[error(
        "the webhook was signed {age_seconds} s ago, more than the {tolerance_seconds} s tolerated"
    )]
    TimestampTooOld {
        age_seconds: i64,
        tolerance_seconds: i64,
    },
    /// The request claims to be signed further in the future than the
    /// tolerance: a clock far ahead.
    #[error(
        "the webhook is signed {ahead_seconds} s in the future, more than the {tolerance_seconds} s tolerated"
    )]
    TimestampInFuture {
        ahead_seconds: i64,
        tolerance_seconds: i64,
    },
    /// `webhook-signature` holds no `v1,` signature.
    #[error("header `webhook-signature` holds no `v1` signature")]
    NoSignature,
    /// No `v1` signature matches: a wrong secret, or a changed body or header.
    #[error("no signature matches the body and headers")]
    SignatureMismatch,
    /// The signature is good, but the body is not an event this SDK can read.
    #[error("the webhook body is not a valid event: {0}")]
    InvalidPayload(#[from] serde_json::Error),
}

/// The `webhook-signature` value (`v1,` and the base64 HMAC-SHA256) of
/// one event: `secret` is `whsec_` and base64 (the prefix is optional),
/// `id` the `webhook-id`, `timestamp` the `webhook-timestamp` in unix
/// seconds, and `body` the exact bytes sent.
///
/// ```
/// let signature = datacoop_sdk::webhook::sign(
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
///     "msg_p5jXN8AQM9LWM0D4loKWxJek",
///     1614265330,
///     br#"{"test": 2432232314}"#,
/// )?;
/// assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// # Ok::<(), datacoop_sdk::webhook::WebhookError>(())
/// ```
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = Key::parse(secret)?;
    let tag = key.tag(id, timestamp, body)?;
    Ok(format!("{SIGNATURE_VERSION},{}", STANDARD.encode(tag)))
}

/// Checks the signatures of the requests one endpoint receives.
#[derive(Clone)]
pub struct Verifier {
    key: Key,
    tolerance: Duration,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Verifier")
            .field("key", &"[redacted]")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Verifier {
    /// A verifier for the endpoint whose secret is `secret` (`whsec_` and
    /// base64, as the broker shows it; the prefix is optional), with the
    /// default tolerance of five minutes.
    pub fn new(secret: &str) -> Result<Self, WebhookError> {
        Ok(Self {
            key: Key::parse(secret)?,
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// The same verifier, accepting timestamps at most `tolerance` from
    /// the receiver's clock, either way.
    #[must_use]
    pub fn with_tolerance(self, tolerance: Duration) -> Self {
        Self { tolerance, ..self }
    }

    /// How far a timestamp may be from the receiver's clock.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Checks that the request with these `headers` and exactly these
    /// `body` bytes was signed with this secret, at most the tolerance
    /// away from `now`.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WebhookError> {
        self.verify_headers(headers, body, now).map(drop)
    }

    /// [`verify`](Self::verify) at the current time.
    pub fn verify_now(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
        self.verify(headers, body, system_now())
    }

    /// Verifies the request as [`verify`](Self::verify) does and only then
    /// reads its body as an [`Event`].
    pub fn verify_and_parse(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Event, WebhookError> {
        let id = self.verify_headers(headers, body, now)?;
        Event::parse(id, body)
    }

    /// [`verify_and_parse`](Self::verify_and_parse) at the current time.
    pub fn verify_and_parse_now(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Event, WebhookError> {
        self.verify_and_parse(headers, body, system_now())
    }

    /// Verifies, and answers the event's id.
    fn verify_headers<'h>(
        &self,
        headers: &'h HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<&'h str, WebhookError> {
        let id = header(headers, ID_HEADER)?;
        let timestamp = header(headers, TIMESTAMP_HEADER)?
            .parse::<i64>()
            .map_err(|_| WebhookError::InvalidTimestamp)?;
        let signatures = header(headers, SIGNATURE_HEADER)?;
        self.check_timestamp(timestamp, unix_seconds(now))?;

        let expected = self.key.tag(id, timestamp, body)?;
        let mut candidates = signatures
            .split(' ')
            .filter_map(|versioned| versioned.split_once(','))
            .filter(|(version, _)| *version == SIGNATURE_VERSION)
            .map(|(_, signature)| signature)
            .peekable();
        if candidates.peek().is_none() {
            return Err(WebhookError::NoSignature);
        }
        let matches = candidates.any(|signature| {
            STANDARD
                .decode(signature)
                .is_ok_and(|decoded| bool::from(decoded.as_slice().ct_eq(expected.as_slice())))
        });
        if matches {
            Ok(id)
        } else {
            Err(WebhookError::SignatureMismatch)
        }
    }

    fn check_timestamp(&self, timestamp: i64, now: i64) -> Result<(), WebhookError> {
        let tolerance_seconds = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        let age_seconds = now.saturating_sub(timestamp);
        if age_seconds > tolerance_seconds {
            return Err(WebhookError::TimestampTooOld {
                age_seconds,
                tolerance_seconds,
            });
        }
        let ahead_seconds = timestamp.saturating_sub(now);
        if ahead_seconds > tolerance_seconds {
            return Err(WebhookError::TimestampInFuture {
                ahead_seconds,
                tolerance_seconds,
            });
        }
        Ok(())
    }
}

/// A verified event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The `webhook-id`: an idempotency key (the broker may send an event
    /// more than once), and what a deletion receipt names.
    pub id: String,
    /// When the event happened (the body's `timestamp`), not when it was sent.
    pub timestamp: DateTime<Utc>,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// `consent.withdrawn`: delete what was received about the subject for
    /// these categories and purpose, then send a deletion receipt.
    ConsentWithdrawn(WithdrawalData),
    /// `license.revoked` or `license.expired`: a dataset license ended;
    /// delete what its builds delivered when it was revoked.
    LicenseEnded {
        kind: EventType,
        data: datacoop_wire::LicenseEventData,
    },
    /// A kind of event this version of the SDK does not know: its `type`
    /// and its `data` as they came.
    Other {
        kind: String,
        data: serde_json::Value,
    },
}

/// The Standard Webhooks payload, before its `data` is read by its `type`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    timestamp: DateTime<Utc>,
    #[serde(default)]
    data: serde_json::Value,
}

impl Event {
    fn parse(id: &str, body: &[u8]) -> Result<Self, WebhookError> {
        let envelope: Envelope = serde_json::from_slice(body)?;
        let known =
            serde_json::from_value::<EventType>(serde_json::Value::String(envelope.kind.clone()));
        let kind = match known {
            Ok(EventType::ConsentWithdrawn) => {
                EventKind::ConsentWithdrawn(serde_json::from_value(envelope.data)?)
            }
            Ok(kind @ (EventType::LicenseRevoked | EventType::LicenseExpired)) => {
                EventKind::LicenseEnded {
                    kind,
                    data: serde_json::from_value(envelope.data)?,
                }
            }
            Err(_) => EventKind::Other {
                kind: envelope.kind,
                data: envelope.data,
            },
        };
        Ok(Self {
            id: id.to_owned(),
            timestamp: envelope.timestamp,
            kind,
        })
    }
}

/// A decoded signing key; never printed.
#[derive(Clone)]
struct Key(Vec<u8>);

impl Key {
    fn parse(secret: &str) -> Result<Self, WebhookError> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        // The decoding error is dropped: it would name a byte of the secret.
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret)?;
        if key.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        Ok(Self(key))
    }

    /// The HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    fn tag(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<Vec<u8>, WebhookError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).map_err(|_| WebhookError::InvalidSecret)?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

/// A required header's value; an empty one counts as missing.
fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, WebhookError> {
    let value = headers
        .get(name)
        .ok_or(WebhookError::MissingHeader(name))?
        .to_str()
        .map_err(|_| WebhookError::InvalidHeader(name))?;
    if value.is_empty() {
        return Err(WebhookError::MissingHeader(name));
    }
    Ok(value)
}

/// `instant` in whole unix seconds (negative before 1970).
fn unix_seconds(instant: SystemTime) -> i64 {
    match instant.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |seconds| -seconds)
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the convenience verifiers read the clock; `verify` takes it as an input"
)]
fn system_now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    // The test vector the libraries of the Standard Webhooks repository
    // (github.com/standard-webhooks/standard-webhooks, `libraries/*`) check
    // their signing against: Go `TestWebhookSign`, and the same in the
    // JavaScript, Python, Ruby, PHP, C# and Java tests.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(unix_seconds: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(unix_seconds).unwrap())
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    fn vector_headers() -> HeaderMap {
        headers(MSG_ID, &TIMESTAMP.to_string(), SIGNATURE)
    }

    fn verifier() -> Verifier {
        Verifier::new(SECRET).unwrap()
    }

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        assert_eq!(sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD).unwrap(), SIGNATURE);
    }

    #[test]
    fn signs_the_rust_reference_library_test_vector() {
        // `test_sign` in the `standardwebhooks` crate (libraries/rust).
        let signature = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn the_whsec_prefix_is_optional() {
        // As in the reference libraries (Go `TestWebhookPrefix`).
        let bare = SECRET.strip_prefix("whsec_").unwrap();
        assert_eq!(sign(bare, MSG_ID, TIMESTAMP, PAYLOAD).unwrap(), SIGNATURE);
        Verifier::new(bare)
            .unwrap()
            .verify(&vector_headers(), PAYLOAD, at(TIMESTAMP))
            .unwrap();
    }

    #[test]
    fn verifies_the_test_vector_at_a_fixed_time() {
        let verifier = verifier();
        verifier
            .verify(&vector_headers(), PAYLOAD, at(TIMESTAMP))
            .unwrap();
        // Anywhere within the tolerance, either way, inclusive.
        for now in [
            TIMESTAMP - 300,
            TIMESTAMP - 1,
            TIMESTAMP + 1,
            TIMESTAMP + 300,
        ] {
            verifier
                .verify(&vector_headers(), PAYLOAD, at(now))
                .unwrap();
        }
    }

    #[test]
    fn refuses_a_timestamp_older_than_the_tolerance() {
        let error = verifier()
            .verify(&vector_headers(), PAYLOAD, at(TIMESTAMP + 301))
            .unwrap_err();
        assert!(
            matches!(
                error,
                WebhookError::TimestampTooOld {
                    age_seconds: 301,
                    tolerance_seconds: 300
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the webhook was signed 301 s ago, more than the 300 s tolerated"
        );
    }

    #[test]
    fn refuses_a_timestamp_further_in_the_future_than_the_tolerance() {
        let error = verifier()
            .verify(&vector_headers(), PAYLOAD, at(TIMESTAMP - 301))
            .unwrap_err();
        assert!(
            matches!(
                error,
                WebhookError::TimestampInFuture {
                    ahead_seconds: 301,
                    tolerance_seconds: 300
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn the_tolerance_can_be_set() {
        let strict = verifier().with_tolerance(Duration::from_secs(10));
        assert_eq!(strict.tolerance(), Duration::from_secs(10));
        strict
            .verify(&vector_headers(), PAYLOAD, at(TIMESTAMP + 10))
            .unwrap();
        assert!(matches!(
            strict.verify(&vector_headers(), PAYLOAD, at(TIMESTAMP + 11)),
            Err(WebhookError::TimestampTooOld { .. })
        ));
        assert!(matches!(
            strict.verify(&vector_headers(), PAYLOAD, at(TIMESTAMP - 11)),
            Err(WebhookError::TimestampInFuture { .. })
        ));
        let lenient = verifier().with_tolerance(Duration::MAX);
        lenient.verify(&vector_headers(), PAYLOAD, at(0)).unwrap();
    }

    #[test]
    fn refuses_a_tampered_body() {
        let error = verifier()
            .verify(&vector_headers(), br#"{"test": 2432232315}"#, at(TIMESTAMP))
            .unwrap_err();
        assert!(
            matches!(error, WebhookError::SignatureMismatch),
            "{error:?}"
        );
        let error = verifier()
            .verify(
                &vector_headers(),
                br#"{"test": 2432232314} "#,
                at(TIMESTAMP),
            )
            .unwrap_err();
        assert!(
            matches!(error, WebhookError::SignatureMismatch),
            "{error:?}"
        );
    }

    #[test]
    fn refuses_a_tampered_id_or_timestamp() {
        let other_id = headers("msg_other", &TIMESTAMP.to_string(), SIGNATURE);
        assert!(matches!(
            verifier().verify(&other_id, PAYLOAD, at(TIMESTAMP)),
            Err(WebhookError::SignatureMismatch)
        ));
        let other_time = headers(MSG_ID, &(TIMESTAMP + 1).to_string(), SIGNATURE);
        assert!(matches!(
            verifier().verify(&other_time, PAYLOAD, at(TIMESTAMP)),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn refuses_a_wrong_secret() {
        let other = Verifier::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert!(matches!(
            other.verify(&vector_headers(), PAYLOAD, at(TIMESTAMP)),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn accepts_any_matching_signature_of_several() {
        // The Go library's "valid multi sig is valid" case: other versions
        // and other signatures around the one that matches.
        let several = [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            SIGNATURE,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
        .join(" ");
        verifier()
            .verify(
                &headers(MSG_ID, &TIMESTAMP.to_string(), &several),
                PAYLOAD,
                at(TIMESTAMP),
            )
            .unwrap();
        // While a secret is rotated, the old and the new both sign.
        let old = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            MSG_ID,
            TIMESTAMP,
            PAYLOAD,
        )
        .unwrap();
        for list in [format!("{old} {SIGNATURE}"), format!("{SIGNATURE} {old}")] {
            verifier()
                .verify(
                    &headers(MSG_ID, &TIMESTAMP.to_string(), &list),
                    PAYLOAD,
                    at(TIMESTAMP),
                )
                .unwrap();
        }
    }

    #[test]
    fn refuses_several_signatures_none_of_which_matches() {
        let none = [
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
            "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
        ]
        .join(" ");
        assert!(matches!(
            verifier().verify(
                &headers(MSG_ID, &TIMESTAMP.to_string(), &none),
                PAYLOAD,
                at(TIMESTAMP)
            ),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn refuses_missing_headers() {
        for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut missing = vector_headers();
            missing.remove(name);
            let error = verifier()
                .verify(&missing, PAYLOAD, at(TIMESTAMP))
                .unwrap_err();
            assert!(
                matches!(error, WebhookError::MissingHeader(missing) if missing == name),
                "{error:?}"
            );
            assert_eq!(error.to_string(), format!("missing header `{name}`"));

            let mut empty = vector_headers();
            empty.insert(name, HeaderValue::from_static(""));
            assert!(matches!(
                verifier().verify(&empty, PAYLOAD, at(TIMESTAMP)),
                Err(WebhookError::MissingHeader(_))
            ));
        }
    }

    #[test]
    fn refuses_garbled_headers() {
        let verifier = verifier();
        let now = at(TIMESTAMP);
        for timestamp in [
            "abc",
            "1614265330.5",
            "1e9",
            " 1614265330",
            "99999999999999999999",
        ] {
            let garbled = headers(MSG_ID, timestamp, SIGNATURE);
            assert!(
                matches!(
                    verifier.verify(&garbled, PAYLOAD, now),
                    Err(WebhookError::InvalidTimestamp)
                ),
                "{timestamp}"
            );
        }
        for signature in [
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE",
            "v1",
        ] {
            let garbled = headers(MSG_ID, &TIMESTAMP.to_string(), signature);
            assert!(
                matches!(
                    verifier.verify(&garbled, PAYLOAD, now),
                    Err(WebhookError::NoSignature)
                ),
                "{signature}"
            );
        }
        for signature in [
            "v1,",
            "v1,g0hM9SsE",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
            "v1,!!!!",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OEAAAA=",
        ] {
            let garbled = headers(MSG_ID, &TIMESTAMP.to_string(), signature);
            assert!(
                matches!(
                    verifier.verify(&garbled, PAYLOAD, now),
                    Err(WebhookError::SignatureMismatch)
                ),
                "{signature}"
            );
        }
        let mut opaque = vector_headers();
        opaque.insert(ID_HEADER, HeaderValue::from_bytes(b"msg_\xff").unwrap());
        assert!(matches!(
            verifier.verify(&opaque, PAYLOAD, now),
            Err(WebhookError::InvalidHeader(ID_HEADER))
        ));
    }

    #[test]
    fn extreme_times_are_refused_without_overflow() {
        let verifier = verifier();
        for timestamp in [i64::MIN, i64::MAX, -1, 0] {
            let extreme = headers(MSG_ID, &timestamp.to_string(), SIGNATURE);
            assert!(verifier.verify(&extreme, PAYLOAD, at(TIMESTAMP)).is_err());
        }
        let before_1970 = UNIX_EPOCH - Duration::from_secs(1_000);
        assert!(matches!(
            verifier.verify(&vector_headers(), PAYLOAD, before_1970),
            Err(WebhookError::TimestampInFuture { .. })
        ));
        assert_eq!(unix_seconds(before_1970), -1_000);
    }

    #[test]
    fn refuses_bad_secrets_without_showing_them() {
        for secret in ["whsec_", ""] {
            assert!(matches!(
                Verifier::new(secret),
                Err(WebhookError::EmptySecret)
            ));
        }
        for secret in ["whsec_not base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"] {
            let error = Verifier::new(secret).unwrap_err();
            assert!(matches!(error, WebhookError::InvalidSecret), "{error:?}");
            assert!(!error.to_string().contains("base64!"));
            assert!(sign(secret, MSG_ID, TIMESTAMP, PAYLOAD).is_err());
        }
        let debug = format!("{:?}", verifier());
        assert!(!debug.contains("MfKQ9r8"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }

    fn withdrawal_body() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": "consent.withdrawn",
            "timestamp": "2026-03-01T12:00:00Z",
            "data": {
                "subject": "sub_abc",
                "categories": ["health.heart"],
                "purpose": "research.academic",
                "log_index": 42
            }
        }))
        .unwrap()
    }

    fn signed(body: &[u8], id: &str) -> HeaderMap {
        let signature = sign(SECRET, id, TIMESTAMP, body).unwrap();
        headers(id, &TIMESTAMP.to_string(), &signature)
    }

    #[test]
    fn parses_a_verified_withdrawal() {
        let body = withdrawal_body();
        let event = verifier()
            .verify_and_parse(&signed(&body, "evt_1"), &body, at(TIMESTAMP))
            .unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.timestamp.to_rfc3339(), "2026-03-01T12:00:00+00:00");
        assert_eq!(
            event.kind,
            EventKind::ConsentWithdrawn(WithdrawalData {
                subject: "sub_abc".into(),
                categories: vec!["health.heart".into()],
                purpose: "research.academic".into(),
                log_index: 42,
            })
        );
    }

    #[test]
    fn the_wire_type_is_what_is_parsed() {
        let sent = crate::wire::WithdrawalEvent {
            kind: EventType::ConsentWithdrawn,
            timestamp: "2026-03-01T12:00:00.123456Z".parse().unwrap(),
            data: WithdrawalData {
                subject: "sub_x".into(),
                categories: vec!["a".into(), "b".into()],
                purpose: "p".into(),
                log_index: 7,
            },
        };
        let body = serde_json::to_vec(&sent).unwrap();
        let event = verifier()
            .verify_and_parse(&signed(&body, "evt_2"), &body, at(TIMESTAMP))
            .unwrap();
        assert_eq!(event.timestamp, sent.timestamp);
        assert_eq!(event.kind, EventKind::ConsentWithdrawn(sent.data));
    }

    #[test]
    fn unknown_event_types_are_kept() {
        let body = br#"{"type":"consent.renewed","timestamp":"2026-03-01T12:00:00Z","data":{"x":[1,2]},"extra":true}"#;
        let event = verifier()
            .verify_and_parse(&signed(body, "evt_3"), body, at(TIMESTAMP))
            .unwrap();
        assert_eq!(
            event.kind,
            EventKind::Other {
                kind: "consent.renewed".into(),
                data: serde_json::json!({"x": [1, 2]}),
            }
        );
    }

    #[test]
    fn a_verified_body_that_is_not_an_event_is_invalid_payload() {
        for body in [
            &b"not json"[..],
            br#"{"timestamp":"2026-03-01T12:00:00Z","data":{}}"#,
            br#"{"type":"consent.withdrawn","timestamp":"yesterday","data":{}}"#,
            br#"{"type":"consent.withdrawn","timestamp":"2026-03-01T12:00:00Z","data":{"subject":"s"}}"#,
            br#"{"type":"consent.withdrawn","timestamp":"2026-03-01T12:00:00Z"}"#,
        ] {
            let error = verifier()
                .verify_and_parse(&signed(body, "evt_4"), body, at(TIMESTAMP))
                .unwrap_err();
            assert!(matches!(error, WebhookError::InvalidPayload(_)), "{error:?}");
        }
    }

    #[test]
    fn nothing_is_parsed_before_it_is_verified() {
        let body = withdrawal_body();
        let mut forged = signed(&body, "evt_5");
        forged.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_static("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        );
        assert!(matches!(
            verifier().verify_and_parse(&forged, &body, at(TIMESTAMP)),
            Err(WebhookError::SignatureMismatch)
        ));
        // Garbage with a bad signature is a signature error, not a parse error.
        assert!(matches!(
            verifier().verify_and_parse(&forged, b"garbage", at(TIMESTAMP)),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "the reference library reads the clock, so the cross-check must too"
    )]
    fn current_unix_seconds() -> i64 {
        unix_seconds(SystemTime::now())
    }

    #[test]
    fn our_signature_verifies_with_the_reference_library() {
        let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
        let body = withdrawal_body();
        let now = current_unix_seconds();
        let signature = sign(SECRET, "evt_ours", now, &body).unwrap();
        reference
            .verify(&body, &headers("evt_ours", &now.to_string(), &signature))
            .unwrap();
        // And a tampered body fails there as here.
        assert!(
            reference
                .verify(b"{}", &headers("evt_ours", &now.to_string(), &signature))
                .is_err()
        );
    }

    #[test]
    fn the_reference_library_signature_verifies_with_ours() {
        let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
        let body = withdrawal_body();
        let now = current_unix_seconds();
        let signature = reference.sign("evt_theirs", now, &body).unwrap();
        assert_eq!(signature, sign(SECRET, "evt_theirs", now, &body).unwrap());
        let headers = headers("evt_theirs", &now.to_string(), &signature);
        verifier().verify_now(&headers, &body).unwrap();
        let event = verifier().verify_and_parse_now(&headers, &body).unwrap();
        assert_eq!(event.id, "evt_theirs");
        // The fixed vector, signed by the reference library too.
        assert_eq!(
            reference.sign(MSG_ID, TIMESTAMP, PAYLOAD).unwrap(),
            SIGNATURE
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_requests(
            id in proptest::collection::vec(any::<u8>(), 0..40),
            timestamp in proptest::collection::vec(any::<u8>(), 0..24),
            signature in proptest::collection::vec(any::<u8>(), 0..120),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            now in any::<i64>(),
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in [(ID_HEADER, id), (TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)] {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    map.insert(name, value);
                }
            }
            let now = if now >= 0 {
                UNIX_EPOCH + Duration::from_secs(now.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(now.unsigned_abs() / 4)
            };
            prop_assert!(verifier().verify_and_parse(&map, &body, now).is_err());
        }

        #[test]
        fn what_we_sign_we_verify(
            id in "[a-zA-Z0-9_]{1,40}",
            timestamp in 0i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let signature = sign(SECRET, &id, timestamp, &body).unwrap();
            let map = headers(&id, &timestamp.to_string(), &signature);
            prop_assert!(verifier().verify(&map, &body, at(timestamp)).is_ok());
        }
    }
}
