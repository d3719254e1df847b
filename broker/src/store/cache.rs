//! Two reads of every third party's call, answered from memory by the
//! SQLite store (the one process that writes its file, like `Mirror`):
//! which third party holds an access token, and which member a pairwise
//! subject stands for.
//!
//! Entries are only ever added from what the database just said, and only
//! if no write that could change the answer committed meanwhile: every
//! commit that touches a third party (approval, suspension, reinstatement,
//! a new secret, which kills its tokens) or a member's membership (leaving,
//! which deletes their subjects) forgets everything before it is
//! acknowledged, and moves a generation that a read started earlier must
//! still match to be remembered. So an answer is never older than the
//! last acknowledged write. A token's expiry is checked at every use.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::credentials::TokenHash;
use crate::domain::{MemberId, ThirdParty, ThirdPartyId};

/// Most entries of each kind; past it, that kind starts over empty.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct CallCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    tokens: HashMap<Vec<u8>, (ThirdParty, DateTime<Utc>)>,
    subjects: HashMap<(String, String), MemberId>,
}

impl CallCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the cache stands: pass it back to `remember_*` with what the
    /// database said after this call.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The third party holding `token`, if known and the token is live at
    /// `now`.
    pub fn token(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<ThirdParty> {
        let inner = self.lock();
        let (third_party, expires_at) = inner.tokens.get(token.as_bytes())?;
        (*expires_at > now).then(|| third_party.clone())
    }

    pub fn remember_token(
        &self,
        generation: u64,
        token: &TokenHash,
        third_party: ThirdParty,
        expires_at: DateTime<Utc>,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.tokens.len() >= MAX_ENTRIES {
            inner.tokens.clear();
        }
        inner
            .tokens
            .insert(token.as_bytes().to_vec(), (third_party, expires_at));
    }

    /// The member `subject` stands for with `third_party`, if known.
    pub fn subject(&self, third_party: &ThirdPartyId, subject: &str) -> Option<MemberId> {
        self.lock()
            .subjects
            .get(&(third_party.to_string(), subject.to_owned()))
            .cloned()
    }

    pub fn remember_subject(
        &self,
        generation: u64,
        third_party: &ThirdPartyId,
        subject: &str,
        member: MemberId,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.subjects.len() >= MAX_ENTRIES {
            inner.subjects.clear();
        }
        inner
            .subjects
            .insert((third_party.to_string(), subject.to_owned()), member);
    }

    /// Forgets everything: a write that may change an answer committed.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.tokens.clear();
        inner.subjects.clear();
    }
}
