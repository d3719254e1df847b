//! The reads of every third party's call, answered from memory by the
//! SQLite store (the one process that writes its file, like `Mirror`):
//! which third party holds an access token, which member a pairwise
//! subject stands for, and that member's stored data.
//!
//! Entries are only ever added from what the database just said, and only
//! if no write that could change the answer committed meanwhile: every
//! commit that touches a third party (approval, suspension, reinstatement,
//! a new secret, which kills its tokens) or a member's membership (leaving,
//! which deletes their subjects and erases their data) forgets everything,
//! and a commit of a member's data forgets that member's, before it is
//! acknowledged; each moves a generation that a read started earlier must
//! still match to be remembered. So an answer is never older than the
//! last acknowledged write. A token's expiry is checked at every use.
//!
//! Members' data is bounded in bytes (`MAX_DATA_BYTES`), never printed
//! (`Debug` shows only its size), and gone from memory once the member
//! leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::credentials::TokenHash;
use crate::domain::{MemberId, ThirdParty, ThirdPartyId};

/// Most entries of each kind; past it, that kind starts over empty.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct CallCache {
    inner: Mutex<Inner>,
}

/// Most bytes of members' data held (categories and values); past it,
/// the data starts over empty.
const MAX_DATA_BYTES: usize = 64 * 1024 * 1024;

/// A member's stored data, `(category, JSON text)`, by category.
pub type Data = Arc<Vec<(String, String)>>;

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    tokens: HashMap<Vec<u8>, (ThirdParty, DateTime<Utc>)>,
    subjects: HashMap<(String, String), MemberId>,
    data: HeldData,
}

/// Members' data held, with its size; `Debug` never shows a value.
#[derive(Default)]
struct HeldData {
    by_member: HashMap<String, Data>,
    bytes: usize,
}

impl std::fmt::Debug for HeldData {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HeldData")
            .field("members", &self.by_member.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl HeldData {
    fn size_of(data: &[(String, String)]) -> usize {
        data.iter()
            .map(|(category, value)| category.len() + value.len())
            .sum()
    }

    fn clear(&mut self) {
        self.by_member.clear();
        self.bytes = 0;
    }

    fn remove(&mut self, member: &str) {
        if let Some(data) = self.by_member.remove(member) {
            self.bytes = self.bytes.saturating_sub(Self::size_of(&data));
        }
    }
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

    /// `member`'s stored data, if known.
    pub fn data(&self, member: &MemberId) -> Option<Data> {
        self.lock().data.by_member.get(member.as_str()).cloned()
    }

    pub fn remember_data(&self, generation: u64, member: &MemberId, data: Data) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let size = HeldData::size_of(&data);
        if size > MAX_DATA_BYTES {
            return;
        }
        inner.data.remove(member.as_str());
        if inner.data.by_member.len() >= MAX_ENTRIES
            || inner.data.bytes.saturating_add(size) > MAX_DATA_BYTES
        {
            inner.data.clear();
        }
        inner.data.bytes += size;
        inner.data.by_member.insert(member.to_string(), data);
    }

    /// Forgets `member`'s data: a write of it committed.
    pub fn forget_data(&self, member: &MemberId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.data.remove(member.as_str());
    }

    /// Forgets everything: a write that may change an answer committed.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.tokens.clear();
        inner.subjects.clear();
        inner.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(value: &str) -> Data {
        Arc::new(vec![("health".to_owned(), value.to_owned())])
    }

    #[test]
    fn data_read_before_a_write_is_not_remembered_after_it() {
        let cache = CallCache::default();
        let ada = MemberId::from_trusted("mem_ada".to_owned());
        let before = cache.generation();
        cache.forget_data(&ada);
        cache.remember_data(before, &ada, data("old"));
        assert_eq!(cache.data(&ada), None);
        cache.remember_data(cache.generation(), &ada, data("new"));
        assert_eq!(cache.data(&ada), Some(data("new")));
        cache.forget();
        assert_eq!(cache.data(&ada), None);
    }

    #[test]
    fn data_is_bounded_in_bytes_and_never_printed() {
        let cache = CallCache::default();
        let big = "x".repeat(MAX_DATA_BYTES / 2);
        for index in 0..3 {
            let member = MemberId::from_trusted(format!("mem_{index}"));
            cache.remember_data(cache.generation(), &member, data(&big));
        }
        let held = cache.lock().data.bytes;
        assert!(held <= MAX_DATA_BYTES, "{held}");
        assert!(
            cache
                .data(&MemberId::from_trusted("mem_2".to_owned()))
                .is_some()
        );
        let printed = format!("{cache:?}");
        assert!(!printed.contains("xxxx"), "{printed}");
        let too_big = "x".repeat(MAX_DATA_BYTES + 1);
        let member = MemberId::from_trusted("mem_big".to_owned());
        cache.remember_data(cache.generation(), &member, data(&too_big));
        assert_eq!(cache.data(&member), None);
    }
}
