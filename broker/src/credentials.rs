//! Bearer tokens and client secrets: generation, hashing, comparison.
//!
//! Tokens are 256 random bits, so a fast hash (SHA-256) is enough to store
//! them: there is nothing to brute-force. Client secrets are stored with
//! Argon2id as the contract asks, since operators may paste them around.
//! Each Argon2 verification holds about 19 MiB while it runs, so they run
//! through a `SecretVerifier`, which bounds how many run at once.

use std::num::NonZeroUsize;
use std::sync::Arc;

use argon2::{
    Argon2, PasswordHash,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of generated admin tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "dca_";
/// Prefix of member tokens.
pub const MEMBER_TOKEN_PREFIX: &str = "dcm_";
/// Prefix of third parties' OAuth2 access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "dct_";
/// Prefix of OAuth2 client ids.
pub const CLIENT_ID_PREFIX: &str = "dcc_";
/// Prefix of OAuth2 client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "dcs_";

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(String);

/// Why a client secret could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordHashError(String);

/// `prefix` followed by 256 random bits, base64url.
pub fn generate_secret(prefix: &str) -> Result<SecretString, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| RandomError(error.to_string()))?;
    Ok(SecretString::from(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// A short random public identifier such as an OAuth2 client id.
pub fn generate_public_id(prefix: &str) -> Result<String, RandomError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| RandomError(error.to_string()))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// SHA-256 of a bearer token: what the database holds instead of the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compares in time independent of where the hashes differ.
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Hashes a client secret with Argon2id and a random salt (PHC string).
pub fn hash_password(secret: &SecretString) -> Result<String, PasswordHashError> {
    Argon2::default()
        .hash_password(secret.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordHashError(error.to_string()))
}

/// An Argon2id hash, made by `hash_password` (same algorithm, version,
/// parameters, salt and output lengths), of a random secret that was thrown
/// away: nothing verifies against it. A token request naming an unknown
/// client is checked against it, so it costs what a wrong secret costs.
/// Compiled in, so the first unknown client costs no more than the next.
pub const DUMMY_SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$xmFzwZ0/wiIIAf6ZmG2Crg$HUhFfsejp2NF8oG7S0DVGynrEYszBW9jCu2ZxCcWP90";

/// Whether `candidate` is the secret behind `phc_hash`. A malformed stored
/// hash never verifies, after the same work as a well-formed one.
pub fn verify_password(candidate: &str, phc_hash: &str) -> bool {
    let argon2 = Argon2::default();
    match PasswordHash::new(phc_hash) {
        Ok(hash) => argon2.verify_password(candidate.as_bytes(), &hash).is_ok(),
        Err(_) => {
            let _same_work = argon2.verify_password(candidate.as_bytes(), DUMMY_SECRET_HASH);
            false
        }
    }
}

/// Every Argon2 verification is in use and as many are waiting: the caller
/// should answer 503 and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many client secrets are being verified at once")]
pub struct Saturated;

/// Runs client-secret verifications on the blocking pool, at most
/// `concurrency` at once (each holds about 19 MiB of Argon2 memory while it
/// runs); as many more may wait for a turn, and any beyond that are refused
/// at once rather than queued. A verification keeps its turn until it
/// finishes, even when the request that asked for it is dropped, so the
/// bound holds whatever clients do.
#[derive(Debug)]
pub struct SecretVerifier {
    /// Turns to run or wait: twice `concurrency`.
    admitted: Arc<tokio::sync::Semaphore>,
    /// Turns to run.
    running: Arc<tokio::sync::Semaphore>,
    concurrency: usize,
}

impl SecretVerifier {
    pub fn new(concurrency: NonZeroUsize) -> Self {
        let concurrency = concurrency.get().min(MAX_SECRET_VERIFICATIONS);
        Self {
            admitted: Arc::new(tokio::sync::Semaphore::new(concurrency * 2)),
            running: Arc::new(tokio::sync::Semaphore::new(concurrency)),
            concurrency,
        }
    }

    /// One verification per core: Argon2 is CPU-bound.
    pub fn default_concurrency() -> NonZeroUsize {
        std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
    }

    /// How many verifications may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Whether `candidate` is the secret behind `phc_hash`, or `Saturated`
    /// at once when `2 × concurrency` verifications are already running or
    /// waiting.
    pub async fn verify(
        &self,
        candidate: SecretString,
        phc_hash: String,
    ) -> Result<bool, Saturated> {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| Saturated)?;
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| Saturated)?;
        let verification = tokio::task::spawn_blocking(move || {
            // Both turns are released when the hash is done, not when the
            // request goes away.
            let _turns = (admitted, running);
            verify_password(candidate.expose_secret(), &phc_hash)
        });
        Ok(verification.await.unwrap_or(false))
    }
}

impl Default for SecretVerifier {
    fn default() -> Self {
        Self::new(Self::default_concurrency())
    }
}

/// The most verifications `DATACOOP_MAX_SECRET_VERIFICATIONS` may allow.
pub const MAX_SECRET_VERIFICATIONS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_long() {
        let a = generate_secret(MEMBER_TOKEN_PREFIX).unwrap();
        let b = generate_secret(MEMBER_TOKEN_PREFIX).unwrap();
        assert!(a.expose_secret().starts_with("dcm_"));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 4 + 43);
    }

    #[test]
    fn token_hash_matches_only_the_same_token() {
        let hash = TokenHash::of("dcm_abc");
        assert!(hash.matches(&TokenHash::of("dcm_abc")));
        assert!(!hash.matches(&TokenHash::of("dcm_abd")));
        assert_eq!(TokenHash::from_bytes(hash.as_bytes()), Some(hash));
        assert_eq!(TokenHash::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn token_hash_never_prints_its_bytes() {
        assert_eq!(format!("{:?}", TokenHash::of("x")), "TokenHash(..)");
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let real = hash_password(&secret).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_SECRET_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            argon2::Params::try_from(&dummy).unwrap(),
            argon2::Params::try_from(&real).unwrap()
        );
        assert_eq!(
            dummy.salt.map(|salt| salt.len()),
            real.salt.map(|salt| salt.len())
        );
        assert_eq!(
            dummy.hash.map(|hash| hash.len()),
            real.hash.map(|hash| hash.len())
        );
        assert!(!verify_password(secret.expose_secret(), DUMMY_SECRET_HASH));
        assert!(!verify_password("", DUMMY_SECRET_HASH));
    }

    #[tokio::test]
    async fn the_verifier_refuses_at_once_when_every_turn_is_taken() {
        let verifier = SecretVerifier::new(NonZeroUsize::MIN);
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let hash = hash_password(&secret).unwrap();
        assert_eq!(
            verifier.verify(secret.clone(), hash.clone()).await,
            Ok(true)
        );
        assert_eq!(
            verifier
                .verify(SecretString::from("dcs_wrong"), hash.clone())
                .await,
            Ok(false)
        );
        // One running and one waiting take both turns; a third is refused
        // without waiting.
        let running = Arc::clone(&verifier.running).try_acquire_owned().unwrap();
        let waiting = Arc::clone(&verifier.admitted)
            .try_acquire_many_owned(2)
            .unwrap();
        assert_eq!(
            verifier.verify(secret.clone(), hash.clone()).await,
            Err(Saturated)
        );
        drop((running, waiting));
        assert_eq!(verifier.verify(secret, hash).await, Ok(true));
    }

    #[tokio::test]
    async fn a_dropped_request_keeps_its_turn_until_the_hash_is_done() {
        let verifier = Arc::new(SecretVerifier::new(NonZeroUsize::MIN));
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let hash = hash_password(&secret).unwrap();
        let started = {
            let verifier = Arc::clone(&verifier);
            let (secret, hash) = (secret.clone(), hash.clone());
            tokio::spawn(async move { verifier.verify(secret, hash).await })
        };
        // Wait until the verification holds its turn, then drop the request.
        while verifier.running.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        started.abort();
        assert_eq!(verifier.running.available_permits(), 0);
        // The turn comes back once the blocking hash finishes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while verifier.running.available_permits() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the turn never came back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(verifier.admitted.available_permits(), 2);
    }

    #[test]
    fn a_malformed_stored_hash_never_verifies() {
        assert!(!verify_password("anything", "!generated"));
    }

    #[test]
    fn password_hash_verifies_the_secret_only() {
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let hash = hash_password(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(secret.expose_secret(), &hash));
        assert!(!verify_password("dcs_wrong", &hash));
        assert!(!verify_password(secret.expose_secret(), "not a hash"));
    }
}
