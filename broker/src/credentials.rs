//! Bearer tokens and client secrets: generation, hashing, comparison.
//!
//! Tokens are 256 random bits, so a fast hash (SHA-256) is enough to store
//! them: there is nothing to brute-force. Client secrets are stored with
//! Argon2id as the contract asks, since operators may paste them around.
//! Each Argon2 verification holds about 19 MiB while it runs, so they run
//! through a `SecretVerifier`, which bounds how many run at once.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version, password_hash::PasswordHasher,
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
    verify_in(&mut Vec::new(), candidate.as_bytes(), phc_hash)
}

/// `verify_password` with Argon2's working memory in `memory`, grown to
/// the hash's size once and then reused, so repeated verifications on one
/// thread allocate nothing. Hashes that would need more memory than ours
/// (`hash_password`'s parameters) never verify.
fn verify_in(memory: &mut Vec<Block>, candidate: &[u8], phc_hash: &str) -> bool {
    match PasswordHash::new(phc_hash) {
        Ok(hash) => verify_hash_in(memory, candidate, &hash),
        Err(_) => {
            if let Ok(dummy) = PasswordHash::new(DUMMY_SECRET_HASH) {
                let _same_work = verify_hash_in(memory, candidate, &dummy);
            }
            false
        }
    }
}

fn verify_hash_in(memory: &mut Vec<Block>, candidate: &[u8], hash: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let blocks = params.block_count();
    if params.m_cost() > Params::DEFAULT_M_COST {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut output = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2
        .hash_password_into_with_memory(candidate, salt, &mut output, memory.as_mut_slice())
        .is_ok()
        && bool::from(output.as_slice().ct_eq(expected.as_bytes()))
}

/// Every Argon2 verification is in use and as many are waiting: the caller
/// should answer 503 and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many client secrets are being verified at once")]
pub struct Saturated;

/// Runs client-secret verifications on `concurrency` threads of its own;
/// as many more may wait for one, and any beyond that are refused at once
/// rather than queued. A verification keeps its place until a thread has
/// finished it, even when the request that asked for it is dropped, so the
/// bound holds whatever clients do.
///
/// Why threads of its own, each with its own Argon2 memory: a verification
/// needs about 19 MiB, and allocating it afresh each time leaves the C
/// allocator holding several times that per thread (measured: 2 threads
/// verifying in turn grew to 220 MiB resident). Each thread here allocates
/// its 19 MiB once and reuses it, so a flood holds `concurrency` × 19 MiB.
#[derive(Debug)]
pub struct SecretVerifier {
    jobs: std::sync::mpsc::Sender<Verification>,
    /// Verifications admitted and not yet finished (running or waiting).
    in_flight: Arc<AtomicUsize>,
    /// Threads running; no more than this are ever admitted twice over.
    threads: usize,
}

struct Verification {
    candidate: SecretString,
    phc_hash: String,
    answer: tokio::sync::oneshot::Sender<bool>,
}

impl SecretVerifier {
    pub fn new(concurrency: NonZeroUsize) -> Self {
        let concurrency = concurrency.get().min(MAX_SECRET_VERIFICATIONS);
        let (jobs, queue) = std::sync::mpsc::channel::<Verification>();
        let queue = Arc::new(Mutex::new(queue));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut threads = 0;
        for index in 0..concurrency {
            let queue = Arc::clone(&queue);
            let in_flight = Arc::clone(&in_flight);
            let spawned = std::thread::Builder::new()
                .name(format!("datacoop-secrets-{index}"))
                .spawn(move || verify_until_closed(&queue, &in_flight));
            match spawned {
                Ok(_) => threads += 1,
                Err(error) => {
                    tracing::error!(%error, "cannot start a secret verification thread");
                }
            }
        }
        Self {
            jobs,
            in_flight,
            threads,
        }
    }

    /// One verification per core: Argon2 is CPU-bound.
    pub fn default_concurrency() -> NonZeroUsize {
        std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
    }

    /// How many verifications may run at once.
    pub fn concurrency(&self) -> usize {
        self.threads
    }

    /// Verifications admitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether `candidate` is the secret behind `phc_hash`, or `Saturated`
    /// at once when `2 × concurrency` verifications are already running or
    /// waiting.
    pub async fn verify(
        &self,
        candidate: SecretString,
        phc_hash: String,
    ) -> Result<bool, Saturated> {
        let admitted =
            self.in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_flight| {
                    (in_flight < self.threads * 2).then_some(in_flight + 1)
                });
        if admitted.is_err() {
            return Err(Saturated);
        }
        let (answer, verified) = tokio::sync::oneshot::channel();
        let job = Verification {
            candidate,
            phc_hash,
            answer,
        };
        if self.jobs.send(job).is_err() {
            // Every thread is gone: nothing will verify it.
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Saturated);
        }
        Ok(verified.await.unwrap_or(false))
    }
}

/// A verification thread: takes the next verification, and gives its place
/// back once the hash is done, before answering.
fn verify_until_closed(
    queue: &Mutex<std::sync::mpsc::Receiver<Verification>>,
    in_flight: &AtomicUsize,
) {
    // Argon2's working memory, allocated once and reused by every
    // verification this thread runs.
    let mut memory = Vec::new();
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return;
        };
        let verified = verify_in(
            &mut memory,
            job.candidate.expose_secret().as_bytes(),
            &job.phc_hash,
        );
        in_flight.fetch_sub(1, Ordering::AcqRel);
        // The request may be gone; the answer then goes nowhere.
        let _ = job.answer.send(verified);
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
            Params::try_from(&dummy).unwrap(),
            Params::try_from(&real).unwrap()
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

    /// A hash that takes long to verify (40 passes instead of 2), so a
    /// test can see verifications in flight.
    fn slow_hash(secret: &SecretString) -> String {
        let params = Params::new(Params::DEFAULT_M_COST, 40, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(secret.expose_secret().as_bytes())
            .unwrap()
            .to_string()
    }

    async fn until(condition: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !condition() {
            assert!(std::time::Instant::now() < deadline, "never happened");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_verifier_refuses_at_once_when_every_place_is_taken() {
        let verifier = Arc::new(SecretVerifier::new(NonZeroUsize::MIN));
        assert_eq!(verifier.concurrency(), 1);
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
        assert_eq!(verifier.in_flight(), 0);
        // One running and one waiting take both places; a third is refused
        // without waiting.
        let slow = slow_hash(&secret);
        let mut admitted = Vec::new();
        for _ in 0..2 {
            let (verifier, secret, slow) = (Arc::clone(&verifier), secret.clone(), slow.clone());
            admitted.push(tokio::spawn(
                async move { verifier.verify(secret, slow).await },
            ));
        }
        until(|| verifier.in_flight() == 2).await;
        assert_eq!(
            verifier.verify(secret.clone(), hash.clone()).await,
            Err(Saturated)
        );
        for verification in admitted {
            assert_eq!(verification.await.unwrap(), Ok(true));
        }
        assert_eq!(verifier.in_flight(), 0);
        assert_eq!(verifier.verify(secret, hash).await, Ok(true));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_request_keeps_its_place_until_the_hash_is_done() {
        let verifier = Arc::new(SecretVerifier::new(NonZeroUsize::MIN));
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let slow = slow_hash(&secret);
        let request = {
            let (verifier, secret, slow) = (Arc::clone(&verifier), secret.clone(), slow.clone());
            tokio::spawn(async move { verifier.verify(secret, slow).await })
        };
        until(|| verifier.in_flight() == 1).await;
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        // The hash goes on; its place comes back only when it is done.
        assert_eq!(verifier.in_flight(), 1);
        until(|| verifier.in_flight() == 0).await;
    }

    #[test]
    fn reused_memory_verifies_like_fresh_memory() {
        let mut memory = Vec::new();
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let other = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let hash = hash_password(&secret).unwrap();
        let other_hash = hash_password(&other).unwrap();
        for _ in 0..2 {
            assert!(verify_in(
                &mut memory,
                secret.expose_secret().as_bytes(),
                &hash
            ));
            assert!(!verify_in(&mut memory, b"dcs_wrong", &hash));
            assert!(verify_in(
                &mut memory,
                other.expose_secret().as_bytes(),
                &other_hash
            ));
            assert!(!verify_in(
                &mut memory,
                secret.expose_secret().as_bytes(),
                &other_hash
            ));
        }
        assert_eq!(memory.len(), 19 * 1024);
        // A costlier hash than ours is refused, without growing the memory.
        let params = Params::new(Params::DEFAULT_M_COST * 2, 1, 1, None).unwrap();
        let costly = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(secret.expose_secret().as_bytes())
            .unwrap()
            .to_string();
        assert!(!verify_in(
            &mut memory,
            secret.expose_secret().as_bytes(),
            &costly
        ));
        assert_eq!(memory.len(), 19 * 1024);
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
