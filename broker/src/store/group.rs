//! Group commit: changes that arrive while a commit is under way wait for
//! it, then commit together in one transaction (one fsync on SQLite, one
//! commit on PostgreSQL) as soon as it ends, each in a savepoint of its
//! own so one refused change leaves the others whole. No change is
//! answered before the transaction holding it is durable.
//!
//! Leader and followers: every change queues itself, then waits for its
//! outcome or the commit turn, whichever comes first; whoever gets the
//! turn commits every change queued by then (its own, unless an earlier
//! holder took it). A change that an earlier turn committed returns
//! without a turn of its own. Each change still runs in
//! its own store task (`in_own_task`), so a dropped request changes
//! nothing of this.

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{Change, Committed, StoreResult};

/// Most changes one transaction commits; the rest wait for the next turn.
pub const MAX_BATCH: usize = 512;

/// One queued change and where its outcome goes.
pub struct Job {
    pub change: Change,
    pub reply: oneshot::Sender<StoreResult<Committed>>,
}

/// The peaks of the log's tree (`audit::tree::peaks`) as the last batch
/// left it, with the size they are of.
pub type Peaks = (
    i64,
    std::collections::HashMap<u64, crate::audit::tree::Hash>,
);

#[derive(Default)]
pub struct GroupCommit {
    pending: Mutex<Vec<Job>>,
    /// Held by whoever commits; it holds the peaks the last batch left,
    /// which the next one reads instead of the database when the log's
    /// size is still theirs (on PostgreSQL another replica may have moved
    /// it).
    turn: tokio::sync::Mutex<Option<Peaks>>,
    /// Signalled after every batch commits: wakes the withdrawal worker
    /// (a permit is kept when it is busy, so no commit goes unnoticed).
    committed: tokio::sync::Notify,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Says that a batch committed.
    pub fn signal_commit(&self) {
        self.committed.notify_one();
    }

    /// Returns once a batch has committed since the last call returned.
    pub async fn next_commit(&self) {
        self.committed.notified().await;
    }

    /// Queues `change`; its outcome arrives on the receiver.
    pub fn enqueue(&self, change: Change) -> oneshot::Receiver<StoreResult<Committed>> {
        let (reply, outcome) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Job { change, reply });
        outcome
    }

    /// Waits for the turn to commit.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, Option<Peaks>> {
        self.turn.lock().await
    }

    /// The oldest queued changes, at most `MAX_BATCH`.
    pub fn take(&self) -> Vec<Job> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = pending.len().min(MAX_BATCH);
        pending.drain(..count).collect()
    }
}
