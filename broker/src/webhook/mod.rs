//! Withdrawals reaching the recipients (issue 10): the two background
//! workers and what they share.
//!
//! * `withdraw`: after a change commits, decides again every recipient it
//!   may reach and commits a `consent.withdrawn` event (the outbox row) for
//!   each that is no longer allowed, through `Store::apply`.
//! * `deliver`: sends the outbox's events, signed, at least once.
//! * `address`: where a webhook may go (never inside the co-op's network).

pub mod address;
pub mod deliver;
pub mod withdraw;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use deliver::{Deliverer, DeliverySettings};
pub use withdraw::Withdrawer;

use crate::clock::Clock;
use crate::consent::Engine;
use crate::store::Store;

/// The prefix of a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut key = [0_u8; 32];
    getrandom::fill(&mut key)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// How often the workers look for work nobody signalled (retries due,
/// rules starting or expiring, other replicas' changes).
const POLL: Duration = Duration::from_secs(1);
/// The least time between two rounds of the withdrawal worker.
const SETTLE: Duration = Duration::from_millis(50);

/// Why the workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    #[error("cannot build the webhook client")]
    Client(#[from] reqwest::Error),
    #[error("cannot release the leases of a previous run")]
    Store(#[from] crate::store::StoreError),
}

/// The running workers; `stop` ends them between rounds.
#[derive(Debug)]
pub struct Workers {
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Workers {
    /// Starts both workers, first releasing what a process killed
    /// mid-round left leased (`Store::release_leases`), so it is due again
    /// at once.
    pub async fn spawn(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Result<Self, WorkersError> {
        store.release_leases().await?;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let delivery_due = Arc::new(tokio::sync::Notify::new());
        let withdrawer = Withdrawer::new(Arc::clone(&store), engine, Arc::clone(&clock));
        let deliverer = Deliverer::new(Arc::clone(&store), clock, settings)?;
        tasks.spawn(withdraw_loop(
            store,
            withdrawer,
            Arc::clone(&delivery_due),
            cancel.clone(),
        ));
        tasks.spawn(deliver_loop(deliverer, delivery_due, cancel.clone()));
        tasks.close();
        Ok(Self { cancel, tasks })
    }

    /// Stops the workers once their current round ends.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tasks.wait().await;
    }
}

async fn withdraw_loop(
    store: Arc<dyn Store>,
    withdrawer: Withdrawer,
    delivery_due: Arc<tokio::sync::Notify>,
    cancel: CancellationToken,
) {
    loop {
        match withdrawer.run_until_idle().await {
            Ok(round) if round.withdrawals > 0 => {
                tracing::info!(
                    rechecks = round.rechecks,
                    decided = round.decided,
                    withdrawals = round.withdrawals,
                    "consent withdrawals recorded"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "deciding recipients again failed; retrying"),
        }
        // A commit may have written events itself (a member leaving or
        // cutting a third party off).
        delivery_due.notify_one();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = store.next_commit() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        // Under a stream of commits (third parties' calls) a round runs at
        // most every `SETTLE`: what it writes stays a small share of the
        // database's writes.
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(SETTLE) => {}
        }
    }
}

async fn deliver_loop(
    deliverer: Deliverer,
    delivery_due: Arc<tokio::sync::Notify>,
    cancel: CancellationToken,
) {
    let mut gauged: Option<tokio::time::Instant> = None;
    loop {
        let busy = match deliverer.round().await {
            Ok(handled) => handled > 0,
            Err(error) => {
                tracing::error!(%error, "delivering webhooks failed; retrying");
                false
            }
        };
        if gauged.is_none_or(|at| at.elapsed() >= POLL) {
            if let Err(error) = deliverer.gauge().await {
                tracing::warn!(%error, "cannot read the outbox's depth");
            }
            gauged = Some(tokio::time::Instant::now());
        }
        if busy && !cancel.is_cancelled() {
            continue;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = delivery_due.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
