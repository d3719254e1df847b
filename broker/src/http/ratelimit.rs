//! Rate limits, answered 429 with `Retry-After`: token requests per client
//! address and per client id, and failed bearer authentications per client
//! address. Each limit is a GCRA quota of `governor` (N per minute, in
//! bursts of up to N); 0 turns it off.
//!
//! The client address is the TCP peer (`ConnectInfo`), IPv6 addresses
//! grouped by /64 (one host usually holds a whole /64). A request without
//! one (the router driven in-process) is not limited by address.
//!
//! Memory is bounded: every `HOUSEKEEPING_EVERY` checks, keys whose state
//! is back to fresh are dropped, and a limiter tracking more than
//! `MAX_KEYS` keys even so starts afresh.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use governor::clock::{Clock as _, DefaultClock, Reference as _};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Most keys one limiter tracks (a few MiB at most).
pub const MAX_KEYS: usize = 65_536;

/// Checks between two clean-ups of a limiter's stale keys.
const HOUSEKEEPING_EVERY: u64 = 1024;

/// Requests per minute for each limit; 0 is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `POST /oauth2/token` requests from one client address.
    pub token_per_address: u32,
    /// `POST /oauth2/token` requests naming one client id.
    pub token_per_client: u32,
    /// Bearer tokens that failed to authenticate (401), from one client
    /// address. Past the limit, that address's bearer tokens are refused
    /// (429) without being looked up, except the admin token.
    pub failed_auth_per_address: u32,
    /// Web sign-in attempts (a link redeemed, an identity provider's
    /// answer) from one client address.
    pub sign_in_per_address: u32,
}

impl RateLimitSettings {
    /// No limit at all.
    pub const OFF: Self = Self {
        token_per_address: 0,
        token_per_client: 0,
        failed_auth_per_address: 0,
        sign_in_per_address: 0,
    };
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            token_per_address: 60,
            token_per_client: 60,
            failed_auth_per_address: 30,
            sign_in_per_address: 20,
        }
    }
}

/// Over the limit: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to put in `Retry-After`, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        let whole = self.retry_after.as_secs();
        let rounded_up = if self.retry_after.subsec_nanos() > 0 {
            whole.saturating_add(1)
        } else {
            whole
        };
        rounded_up.max(1)
    }
}

/// The rate limiters of one application.
#[derive(Debug)]
pub struct RateLimits {
    settings: RateLimitSettings,
    token_address: Option<Keyed<IpAddr>>,
    token_client: Option<Keyed<String>>,
    failed_auth: Option<FailedAuth>,
    sign_in: Option<Keyed<IpAddr>>,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            token_address: Keyed::per_minute(settings.token_per_address),
            token_client: Keyed::per_minute(settings.token_per_client),
            failed_auth: Keyed::per_minute(settings.failed_auth_per_address).map(FailedAuth::new),
            sign_in: Keyed::per_minute(settings.sign_in_per_address),
        }
    }

    pub fn settings(&self) -> RateLimitSettings {
        self.settings
    }

    /// Counts a token request from `peer`.
    pub fn token_request_from(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.token_address, peer) {
            (Some(limiter), Some(peer)) => limiter.check(&peer),
            _ => Ok(()),
        }
    }

    /// Counts a token request naming `client_id` (known or not, so the
    /// answer never tells whether a client exists).
    pub fn token_request_for(&self, client_id: &str) -> Result<(), Limited> {
        match &self.token_client {
            Some(limiter) => limiter.check(&client_id.to_owned()),
            None => Ok(()),
        }
    }

    /// Whether `peer` has failed to authenticate too often to have its
    /// bearer token looked up now.
    pub fn bearer_allowed_from(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.failed_auth, peer) {
            (Some(failed), Some(peer)) => failed.allowed(peer),
            _ => Ok(()),
        }
    }

    /// Counts a web sign-in attempt from `peer`.
    pub fn sign_in_from(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.sign_in, peer) {
            (Some(limiter), Some(peer)) => limiter.check(&peer),
            _ => Ok(()),
        }
    }

    /// Counts a bearer token from `peer` that did not authenticate;
    /// `Limited` when that was one too many.
    pub fn bearer_failed_from(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.failed_auth, peer) {
            (Some(failed), Some(peer)) => failed.failed(peer),
            _ => Ok(()),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(RateLimitSettings::default())
    }
}

/// The rate-limiting key of the request's TCP peer, if it is known: the
/// IPv4 address, or the IPv6 address's /64.
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    let ConnectInfo(address) = extensions.get::<ConnectInfo<SocketAddr>>()?;
    Some(address_key(address.ip()))
}

fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = v6.to_bits() & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from_bits(network))
        }
    }
}

/// One keyed GCRA limiter, with bounded memory.
struct Keyed<K: Hash + Eq + Clone> {
    quota: Quota,
    limiter: RwLock<Arc<DefaultKeyedRateLimiter<K>>>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for Keyed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    /// `per_minute` a minute in bursts of as many; `None` for 0.
    fn per_minute(per_minute: u32) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        let clock = DefaultClock::default();
        Some(Self {
            quota,
            limiter: RwLock::new(Arc::new(DefaultKeyedRateLimiter::dashmap_with_clock(
                quota,
                clock.clone(),
            ))),
            checks: AtomicU64::new(0),
            clock,
        })
    }

    fn current(&self) -> Arc<DefaultKeyedRateLimiter<K>> {
        Arc::clone(&self.limiter.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn check(&self, key: &K) -> Result<(), Limited> {
        let limiter = self.current();
        let outcome = limiter.check_key(key);
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            self.clean_up(&limiter);
        }
        outcome.map_err(|not_until| Limited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Drops keys whose state is fresh again; starts afresh if too many
    /// keys are live even so.
    fn clean_up(&self, limiter: &DefaultKeyedRateLimiter<K>) {
        limiter.retain_recent();
        if limiter.len() > MAX_KEYS {
            *self.limiter.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(
                DefaultKeyedRateLimiter::dashmap_with_clock(self.quota, self.clock.clone()),
            );
        } else {
            limiter.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current().len()
    }
}

/// Failed bearer authentications per address, and the addresses refused
/// until their quota allows one more.
#[derive(Debug)]
struct FailedAuth {
    failures: Keyed<IpAddr>,
    refused_until: Mutex<HashMap<IpAddr, <DefaultClock as governor::clock::Clock>::Instant>>,
    /// Whether `refused_until` may hold anything: the common case reads no
    /// lock.
    any_refused: AtomicBool,
}

impl FailedAuth {
    fn new(failures: Keyed<IpAddr>) -> Self {
        Self {
            failures,
            refused_until: Mutex::new(HashMap::new()),
            any_refused: AtomicBool::new(false),
        }
    }

    fn allowed(&self, peer: IpAddr) -> Result<(), Limited> {
        if !self.any_refused.load(Ordering::Acquire) {
            return Ok(());
        }
        let now = self.failures.clock.now();
        let mut refused = self
            .refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let outcome = match refused.get(&peer) {
            Some(until) if *until > now => Err(Limited {
                retry_after: until.duration_since(now).into(),
            }),
            Some(_) => {
                refused.remove(&peer);
                Ok(())
            }
            None => Ok(()),
        };
        if refused.is_empty() {
            self.any_refused.store(false, Ordering::Release);
        }
        outcome
    }

    fn failed(&self, peer: IpAddr) -> Result<(), Limited> {
        let limited = match self.failures.check(&peer) {
            Ok(()) => return Ok(()),
            Err(limited) => limited,
        };
        let now = self.failures.clock.now();
        let mut refused = self
            .refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if refused.len() >= MAX_KEYS {
            refused.retain(|_, until| *until > now);
        }
        // When full even so, the address is not remembered: its next
        // failures are still counted, and refused, one by one.
        if refused.len() < MAX_KEYS {
            refused.insert(peer, now + limited.retry_after.into());
            self.any_refused.store(true, Ordering::Release);
        }
        Err(limited)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn v4(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    #[test]
    fn token_requests_are_limited_per_address_and_per_client() {
        let limits = RateLimits::new(RateLimitSettings {
            token_per_address: 2,
            token_per_client: 3,
            failed_auth_per_address: 0,
            sign_in_per_address: 0,
        });
        assert_eq!(limits.token_request_from(v4(1)), Ok(()));
        assert_eq!(limits.token_request_from(v4(1)), Ok(()));
        let limited = limits.token_request_from(v4(1)).unwrap_err();
        // Two a minute: the next one in about 30 seconds.
        assert!(
            (29..=30).contains(&limited.retry_after_secs()),
            "{limited:?}"
        );
        assert_eq!(limits.token_request_from(v4(2)), Ok(()));
        // Without a known address, nothing to key on.
        for _ in 0..5 {
            assert_eq!(limits.token_request_from(None), Ok(()));
        }
        for _ in 0..3 {
            assert_eq!(limits.token_request_for("dcc_a"), Ok(()));
        }
        assert!(limits.token_request_for("dcc_a").is_err());
        assert_eq!(limits.token_request_for("dcc_b"), Ok(()));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = RateLimits::new(RateLimitSettings::OFF);
        for _ in 0..1000 {
            assert_eq!(limits.token_request_from(v4(1)), Ok(()));
            assert_eq!(limits.token_request_for("dcc_a"), Ok(()));
            assert_eq!(limits.bearer_failed_from(v4(1)), Ok(()));
            assert_eq!(limits.bearer_allowed_from(v4(1)), Ok(()));
        }
    }

    #[test]
    fn too_many_failures_refuse_the_address_before_any_lookup() {
        let limits = RateLimits::new(RateLimitSettings {
            token_per_address: 0,
            token_per_client: 0,
            failed_auth_per_address: 2,
            sign_in_per_address: 0,
        });
        for _ in 0..2 {
            assert_eq!(limits.bearer_allowed_from(v4(1)), Ok(()));
            assert_eq!(limits.bearer_failed_from(v4(1)), Ok(()));
        }
        assert_eq!(limits.bearer_allowed_from(v4(1)), Ok(()));
        let limited = limits.bearer_failed_from(v4(1)).unwrap_err();
        assert!(limited.retry_after_secs() >= 29, "{limited:?}");
        let refused = limits.bearer_allowed_from(v4(1)).unwrap_err();
        assert!(refused.retry_after_secs() >= 29, "{refused:?}");
        assert_eq!(limits.bearer_allowed_from(v4(2)), Ok(()));
        assert_eq!(limits.bearer_allowed_from(None), Ok(()));
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let mut extensions = Extensions::new();
        assert_eq!(peer(&extensions), None);
        extensions.insert(ConnectInfo(SocketAddr::new(a, 443)));
        assert_eq!(peer(&extensions), Some(address_key(b)));
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let limiter = Keyed::<String>::per_minute(1).unwrap();
        let many = MAX_KEYS + 2 * usize::try_from(HOUSEKEEPING_EVERY).unwrap();
        for index in 0..many {
            let _ = limiter.check(&format!("dcc_{index}"));
        }
        // Every key is live (one a minute), so the limiter started afresh
        // once past the bound.
        assert!(limiter.len() <= MAX_KEYS, "{}", limiter.len());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limited = |millis| Limited {
            retry_after: Duration::from_millis(millis),
        };
        assert_eq!(limited(0).retry_after_secs(), 1);
        assert_eq!(limited(1).retry_after_secs(), 1);
        assert_eq!(limited(1000).retry_after_secs(), 1);
        assert_eq!(limited(1001).retry_after_secs(), 2);
    }
}
