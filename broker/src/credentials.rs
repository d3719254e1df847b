//! Bearer tokens and client secrets: generation, hashing, comparison.
//!
//! Tokens are 256 random bits, so a fast hash (SHA-256) is enough to store
//! them: there is nothing to brute-force. Client secrets are stored with
//! Argon2id as the contract asks, since operators may paste them around.

use argon2::{
    Argon2,
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

/// Whether `candidate` is the secret behind `phc_hash`. A malformed stored
/// hash never verifies.
pub fn verify_password(candidate: &str, phc_hash: &str) -> bool {
    Argon2::default()
        .verify_password(candidate.as_bytes(), phc_hash)
        .is_ok()
}

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
    fn password_hash_verifies_the_secret_only() {
        let secret = generate_secret(CLIENT_SECRET_PREFIX).unwrap();
        let hash = hash_password(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(secret.expose_secret(), &hash));
        assert!(!verify_password("dcs_wrong", &hash));
        assert!(!verify_password(secret.expose_secret(), "not a hash"));
    }
}
