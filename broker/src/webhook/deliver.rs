//! The delivery worker: sends the outbox's events in the Standard
//! Webhooks format, at least once.
//!
//! Each round leases due events (on PostgreSQL `FOR UPDATE SKIP LOCKED`,
//! so replicas never send one event at the same time), signs each with
//! its third party's secret (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`: `v1,` HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! the SDK's `webhook::sign`), and posts it. A 2xx delivers it; 410 Gone
//! disables the endpoint until a new URL is set; anything else (another
//! status, a redirect, which is never followed, a timeout, a refused
//! address) is tried again after an exponential backoff with jitter, or
//! after `Retry-After` when the receiver asks for longer, until the
//! delivery horizon, when the event is given up and recorded as failed.
//! A lease that lapses (a replica killed mid-send) makes the event due
//! again: at least once, never lost.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::address::{self, AddressError, GuardedResolver};
use crate::clock::Clock;
use crate::store::{Attempt, Outgoing, Store, StoreError};

/// Events leased per round, and sent at once.
const EVENTS_PER_ROUND: u32 = 128;
const SENDS_AT_ONCE: usize = 32;
/// The first retry's delay; each further one doubles it, up to `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// How soon an event with no endpoint to go to is looked at again (a new
/// endpoint makes it due at once).
const NO_ENDPOINT_DELAY: Duration = Duration::from_secs(300);
/// The most of a receiver's answer read (then dropped).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub const ATTEMPTS_TOTAL: &str = "datacoop_webhook_attempts_total";
pub const FAILURES_TOTAL: &str = "datacoop_webhook_failures_total";
pub const OUTBOX_DEPTH: &str = "datacoop_webhook_outbox_depth";
pub const OLDEST_PENDING: &str = "datacoop_webhook_oldest_pending_seconds";

/// How webhooks are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// The whole request, connection included.
    pub timeout: Duration,
    /// How long after an event is recorded its delivery is given up.
    pub horizon: Duration,
    /// Sends to loopback addresses too (development only).
    pub allow_loopback: bool,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            horizon: Duration::from_secs(3 * 24 * 3600),
            allow_loopback: false,
        }
    }
}

/// How one request ended.
#[derive(Debug)]
enum Sent {
    Delivered,
    Gone,
    /// Not delivered; `after`: the receiver's `Retry-After`.
    Failed {
        error: String,
        after: Option<Duration>,
    },
}

#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: DeliverySettings,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .timeout(settings.timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback: settings.allow_loopback,
            }))
            .user_agent(concat!("datacoop-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            clock,
            client,
            settings,
        })
    }

    /// Sends what is due; says how many events it handled.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        // Held past the longest a round can take: every wave of sends
        // timing out, then the outcomes written.
        let waves = EVENTS_PER_ROUND.div_ceil(u32::try_from(SENDS_AT_ONCE).unwrap_or(1));
        let longest = self.settings.timeout.saturating_mul(waves) + Duration::from_secs(30);
        let lease = chrono::Duration::from_std(longest).unwrap_or(chrono::Duration::minutes(10));
        let events = self
            .store
            .claim_events(now, now + lease, EVENTS_PER_ROUND)
            .await?;
        let handled = events.len();
        let attempts: Vec<(crate::store::Seq, Attempt)> = futures_util::stream::iter(events)
            .map(|event| self.deliver(event))
            .buffer_unordered(SENDS_AT_ONCE)
            .collect()
            .await;
        // One transaction (one fsync on SQLite) for the round's outcomes.
        self.store
            .record_attempts(&attempts, self.clock.now())
            .await?;
        Ok(handled)
    }

    /// Publishes the outbox's depth and age.
    pub async fn gauge(&self) -> Result<(), StoreError> {
        let stats = self.store.outbox_stats().await?;
        let now = self.clock.now();
        #[allow(clippy::cast_precision_loss, reason = "a gauge")]
        metrics::gauge!(OUTBOX_DEPTH).set(stats.pending as f64);
        let age = stats
            .oldest_pending
            .map_or(0.0, |oldest| (now - oldest).as_seconds_f64().max(0.0));
        metrics::gauge!(OLDEST_PENDING).set(age);
        Ok(())
    }

    /// Sends one event; says how the attempt ended.
    async fn deliver(&self, event: Outgoing) -> (crate::store::Seq, Attempt) {
        let horizon =
            chrono::Duration::from_std(self.settings.horizon).unwrap_or(chrono::Duration::days(3));
        let give_up_at = event.created_at + horizon;
        let (attempt, outcome) = match &event.endpoint {
            None => {
                let now = self.clock.now();
                let error = "no webhook endpoint".to_owned();
                (
                    self.retry(&event, now, give_up_at, error, None, false),
                    "no_endpoint",
                )
            }
            Some((url, secret)) => {
                let sent = self.send(url, secret, &event).await;
                let now = self.clock.now();
                match sent {
                    Sent::Delivered => (Attempt::Delivered, "delivered"),
                    Sent::Gone => (Attempt::Gone { next: give_up_at }, "gone"),
                    Sent::Failed { error, after } => (
                        self.retry(&event, now, give_up_at, error, after, true),
                        "failed",
                    ),
                }
            }
        };
        metrics::counter!(ATTEMPTS_TOTAL, "outcome" => outcome).increment(1);
        if matches!(attempt, Attempt::Failed { .. }) {
            metrics::counter!(FAILURES_TOTAL).increment(1);
            tracing::warn!(event = %event.id, third_party = %event.third_party, "webhook delivery given up");
        }
        (event.seq, attempt)
    }

    /// The next attempt after a failed one: backoff (or `Retry-After`,
    /// when longer), but never past the horizon; past it, given up.
    fn retry(
        &self,
        event: &Outgoing,
        now: DateTime<Utc>,
        give_up_at: DateTime<Utc>,
        error: String,
        after: Option<Duration>,
        counted: bool,
    ) -> Attempt {
        if now >= give_up_at {
            let attempts = event.attempts + u32::from(counted);
            return Attempt::Failed {
                error: format!("given up after {attempts} attempts: {error}"),
            };
        }
        let delay = if counted {
            backoff(event.attempts).max(after.unwrap_or_default())
        } else {
            NO_ENDPOINT_DELAY
        };
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
        Attempt::Retry {
            next: next.min(give_up_at),
            error,
            counted,
        }
    }

    async fn send(&self, url: &str, secret: &str, event: &Outgoing) -> Sent {
        let failed = |error: &str| Sent::Failed {
            error: error.to_owned(),
            after: None,
        };
        let Ok(url) = url::Url::parse(url) else {
            return failed("the endpoint URL does not parse");
        };
        // An address literal never reaches the resolver: checked here.
        if matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            && address::check_url(&url, self.settings.allow_loopback)
                .await
                .is_err()
        {
            return failed("refused: the endpoint is a private, loopback or link-local address");
        }
        let timestamp = self.clock.now().timestamp();
        let Ok(signature) = datacoop_sdk::webhook::sign(
            secret,
            event.id.as_str(),
            timestamp,
            event.body.as_bytes(),
        ) else {
            return failed("the endpoint's signing secret is unusable");
        };
        let request = self
            .client
            .post(url)
            .header("webhook-id", event.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(event.body.clone());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(&describe(&error)),
        };
        let status = response.status();
        let after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, self.clock.now()));
        // Read a bounded part of the answer, so the connection can be
        // reused, and drop it: nothing of it is kept or logged.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match tokio::time::timeout(Duration::from_secs(1), response.chunk()).await {
                Ok(Ok(Some(chunk))) => read += chunk.len(),
                _ => break,
            }
        }
        if status.is_success() {
            Sent::Delivered
        } else if status == http::StatusCode::GONE {
            Sent::Gone
        } else if status.is_redirection() {
            failed(&format!(
                "answered {} (redirects are not followed)",
                status.as_u16()
            ))
        } else {
            Sent::Failed {
                error: format!("answered {}", status.as_u16()),
                after,
            }
        }
    }
}

/// `FIRST_DELAY` doubled per earlier attempt, up to `MAX_DELAY`, drawn
/// uniformly from its upper half (jitter: receivers that failed together
/// are not all retried together).
fn backoff(attempts: u32) -> Duration {
    let delay = FIRST_DELAY
        .saturating_mul(2_u32.saturating_pow(attempts.min(20)))
        .min(MAX_DELAY);
    let mut bytes = [0_u8; 8];
    let fraction = match getrandom::fill(&mut bytes) {
        Ok(()) => {
            #[allow(clippy::cast_precision_loss, reason = "a fraction")]
            let drawn = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
            drawn
        }
        Err(_) => 1.0,
    };
    delay.mul_f64(0.5 + fraction / 2.0)
}

/// `Retry-After` as seconds or an HTTP date, at most a day.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
            (at.with_timezone(&Utc) - now).to_std().unwrap_or_default()
        }
    };
    Some(wait.min(Duration::from_secs(24 * 3600)))
}

/// What went wrong, without the URL (it may carry a token of the
/// receiver's) or anything the receiver sent.
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<AddressError>() {
            return format!("refused: {refused}");
        }
        source = current.source();
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_growing() {
        for attempts in 0..30 {
            let full = FIRST_DELAY
                .saturating_mul(2_u32.saturating_pow(attempts.min(20)))
                .min(MAX_DELAY);
            let drawn = backoff(attempts);
            assert!(drawn >= full / 2 && drawn <= full, "{attempts}: {drawn:?}");
        }
        assert!(backoff(40) <= MAX_DELAY);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Thu, 03 Dec 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("999999999", now),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
