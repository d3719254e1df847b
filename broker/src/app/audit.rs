//! The verifiable log as its readers see it: signed checkpoints, inclusion
//! and consistency proofs, entries (issue 9).
//!
//! A checkpoint is signed only after checking that it is consistent with
//! the latest one signed before it, which the database keeps
//! (`log_checkpoint`): across restarts and across replicas sharing one
//! PostgreSQL, the broker never signs two checkpoints that are not
//! consistent. A replica that finds the stored tree inconsistent with
//! what it signed refuses to sign anything.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::note::{self, Checkpoint, KeyName, SigningKey, Verifier};
use crate::audit::tree::{self, Hash};
use crate::domain::{FieldErrors, MemberId};
use crate::store::{LoggedEntry, Store, StoreError};

use super::AppError;

/// The settings key of the generated signing key (a C2SP private key).
pub const SIGNING_KEY_SETTING: &str = "log_signing_key";

/// The generated key's name and the default origin: `datacoop/log/` and a
/// random id drawn once, on the database's first start.
pub const DEFAULT_ORIGIN_PREFIX: &str = "datacoop/log/";

/// A new checkpoint is signed at most this often per process; readers in
/// between get the latest one. Bounds what a flood of checkpoint requests
/// can cost while the log grows.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Signing attempts before giving up when other replicas keep moving the
/// stored checkpoint.
const ATTEMPTS: usize = 8;

/// Why the log's signer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the log signing key file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the log signing key file `{path}` does not hold a signed-note private key (PRIVATE+KEY+name+id+base64): {source}"
    )]
    Parse {
        path: String,
        source: note::NoteError,
    },
    #[error("the log signing key stored in the database is unreadable: {0}")]
    Stored(note::NoteError),
    #[error("the log origin `{0}` is not usable: {1}")]
    Origin(String, note::CheckpointError),
    #[error("cannot draw a random key: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs the log's checkpoints with one key, under one origin.
#[derive(Debug)]
pub struct LogSigner {
    origin: String,
    name: KeyName,
    key: SigningKey,
    verifier: Verifier,
    verifier_key: String,
    latest: tokio::sync::Mutex<Option<Signed>>,
}

#[derive(Debug, Clone)]
struct Signed {
    size: u64,
    note: Arc<str>,
    at: Instant,
}

impl LogSigner {
    /// The signer: the key from `key_file` when given, otherwise the one
    /// kept in the database (generated and stored on the first start, by
    /// whichever replica gets there first); the origin `origin` when
    /// given, otherwise the key's name.
    pub async fn load(
        store: &dyn Store,
        key_file: Option<&Path>,
        origin: Option<&str>,
    ) -> Result<Self, KeyError> {
        let (name, key) = match key_file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: shown.clone(),
                    source,
                })?;
                note::parse_private_key(text.trim()).map_err(|source| KeyError::Parse {
                    path: shown,
                    source,
                })?
            }
            None => stored_key(store).await?,
        };
        let origin = origin.map_or_else(|| name.to_string(), str::to_owned);
        // The origin must make a valid checkpoint.
        Checkpoint::new(&origin, 0, tree::EMPTY_ROOT)
            .map_err(|error| KeyError::Origin(origin.clone(), error))?;
        let verifier_key = key.verifier_key(&name);
        let verifier = Verifier::parse(&verifier_key).map_err(KeyError::Stored)?;
        Ok(Self {
            origin,
            name,
            key,
            verifier,
            verifier_key,
            latest: tokio::sync::Mutex::new(None),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, `<name>+<key id>+<base64 key>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The latest checkpoint, signed: a new one when the log has grown
    /// (at most one per `CHECKPOINT_INTERVAL`), checked consistent with
    /// the latest the database holds before it is signed and stored.
    pub async fn checkpoint(&self, store: &dyn Store) -> Result<Arc<str>, AppError> {
        let mut latest = self.latest.lock().await;
        if let Some(signed) = latest
            .as_ref()
            .filter(|s| s.at.elapsed() < CHECKPOINT_INTERVAL)
        {
            return Ok(Arc::clone(&signed.note));
        }
        for _ in 0..ATTEMPTS {
            let size = store.log_size().await?;
            if let Some(signed) = latest.as_mut().filter(|signed| signed.size == size) {
                signed.at = Instant::now();
                return Ok(Arc::clone(&signed.note));
            }
            let stored = store.signed_checkpoint().await?;
            let previous = match &stored {
                Some((stored_size, text)) => Some(self.read_stored(*stored_size, text)?),
                None => None,
            };
            if let Some((previous, _)) = previous.as_ref().filter(|(p, _)| p.size() > size) {
                // Another replica signed a larger tree after our size was
                // read: read again.
                tracing::debug!(
                    signed = previous.size(),
                    size,
                    "the stored checkpoint is ahead"
                );
                continue;
            }
            let root = root_at(store, size).await?;
            if let Some((previous, own)) = &previous {
                self.check_consistent(store, previous, size, root).await?;
                if previous.size() == size && *own && previous.origin() == self.origin {
                    let note: Arc<str> =
                        Arc::from(stored.map(|(_, text)| text).unwrap_or_default());
                    *latest = Some(Signed {
                        size,
                        note: Arc::clone(&note),
                        at: Instant::now(),
                    });
                    return Ok(note);
                }
            }
            let checkpoint = Checkpoint::new(&self.origin, size, root)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let text = note::sign_note(&checkpoint.body(), &self.name, &self.key)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let previous_size = previous.as_ref().map(|(previous, _)| previous.size());
            if store.advance_checkpoint(previous_size, size, &text).await? {
                let note: Arc<str> = Arc::from(text);
                *latest = Some(Signed {
                    size,
                    note: Arc::clone(&note),
                    at: Instant::now(),
                });
                return Ok(note);
            }
        }
        Err(AppError::Store(StoreError::Interrupted))
    }

    /// The stored checkpoint, and whether this signer's key signed it (a
    /// note signed by an earlier key, or under another origin, is signed
    /// again, not served).
    fn read_stored(&self, size: u64, text: &str) -> Result<(Checkpoint, bool), AppError> {
        let (body, own) = match note::open_note(text, &self.verifier) {
            Ok(body) => (body, true),
            Err(_) => (
                text.rfind("\n\n")
                    .and_then(|end| text.get(..=end))
                    .unwrap_or_default(),
                false,
            ),
        };
        let checkpoint = Checkpoint::parse(body)
            .map_err(|error| StoreError::Corrupt(format!("the stored checkpoint: {error}")))?;
        if checkpoint.size() != size {
            return Err(StoreError::Corrupt(
                "the stored checkpoint's size does not match its note".into(),
            )
            .into());
        }
        Ok((checkpoint, own))
    }

    /// Refuses to go on unless the tree of `size` leaves with root `root`
    /// extends the `previous` signed checkpoint.
    async fn check_consistent(
        &self,
        store: &dyn Store,
        previous: &Checkpoint,
        size: u64,
        root: Hash,
    ) -> Result<(), AppError> {
        let consistent = if previous.size() == 0 {
            previous.root() == tree::EMPTY_ROOT
        } else if previous.size() == size {
            previous.root() == root
        } else {
            let proof = consistency(store, previous.size(), size).await?;
            tree::verify_consistency(previous.size(), previous.root(), size, root, &proof).is_ok()
        };
        if consistent {
            return Ok(());
        }
        tracing::error!(
            signed = previous.size(),
            size,
            "the stored log is not consistent with the checkpoint signed before: refusing to sign"
        );
        Err(StoreError::Corrupt(format!(
            "the log of {size} entries is not consistent with the checkpoint signed at {}",
            previous.size()
        ))
        .into())
    }
}

/// The key kept in the database, generated and stored if there is none.
async fn stored_key(store: &dyn Store) -> Result<(KeyName, SigningKey), KeyError> {
    if store.setting(SIGNING_KEY_SETTING).await?.is_none() {
        let key = SigningKey::generate().map_err(|error| KeyError::Random(error.to_string()))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|error| KeyError::Random(error.to_string()))?;
        let id: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
        let name =
            KeyName::parse(&format!("{DEFAULT_ORIGIN_PREFIX}{id}")).map_err(KeyError::Stored)?;
        // Another replica may store its key first; everyone reads back the
        // one stored.
        store
            .insert_setting_if_absent(SIGNING_KEY_SETTING, &note::format_private_key(&name, &key))
            .await?;
    }
    let text = store
        .setting(SIGNING_KEY_SETTING)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the log signing key vanished".into()))?;
    note::parse_private_key(&text).map_err(KeyError::Stored)
}

/// The root of the log's tree of `size` leaves, from its stored hashes.
pub async fn root_at(store: &dyn Store, size: u64) -> Result<Hash, AppError> {
    let needs = tree::root_needs(size).map_err(corrupt)?;
    let known = store.log_hashes(&needs).await?;
    tree::root(size, &known).map_err(corrupt)
}

/// The log's size, checked against a size a caller named.
async fn within_log(store: &dyn Store, field: &str, size: u64) -> Result<(), AppError> {
    let log_size = store.log_size().await?;
    if size > log_size {
        return Err(invalid(
            field,
            format!("must not exceed the log's size, {log_size}"),
        ));
    }
    Ok(())
}

/// The inclusion proof of entry `index` in the tree of `size` entries
/// (RFC 9162 §2.1.3.1); 422 unless `index < size <= the log's size`.
pub async fn inclusion(store: &dyn Store, index: u64, size: u64) -> Result<Vec<Hash>, AppError> {
    if index >= size {
        return Err(invalid(
            "index",
            format!("must be below tree_size ({size})"),
        ));
    }
    within_log(store, "tree_size", size).await?;
    let needs = tree::inclusion_needs(index, size)
        .map_err(|error| invalid("tree_size", error.to_string()))?;
    let known = store.log_hashes(&needs).await?;
    tree::inclusion_proof(index, size, &known).map_err(corrupt)
}

/// The consistency proof between the trees of `first` and `second`
/// entries (RFC 9162 §2.1.4.1); 422 unless `1 <= first <= second <= the
/// log's size`.
pub async fn consistency_proof(
    store: &dyn Store,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, AppError> {
    if first == 0 {
        return Err(invalid(
            "first",
            "must be at least 1 (every tree extends the empty one)",
        ));
    }
    if first > second {
        return Err(invalid(
            "first",
            format!("must not exceed second ({second})"),
        ));
    }
    within_log(store, "second", second).await?;
    consistency(store, first, second).await
}

async fn consistency(store: &dyn Store, first: u64, second: u64) -> Result<Vec<Hash>, AppError> {
    let needs = tree::consistency_needs(first, second)
        .map_err(|error| invalid("second", error.to_string()))?;
    let known = store.log_hashes(&needs).await?;
    tree::consistency_proof(first, second, &known).map_err(corrupt)
}

/// Who reads an entry.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    Stewards,
    Member(&'a MemberId),
}

/// Entry `index`'s exact bytes, if `reader` may read it: the stewards any,
/// a member only entries about them. `None` otherwise, alike whether the
/// entry exists or not.
pub async fn entry(
    store: &dyn Store,
    reader: Reader<'_>,
    index: u64,
) -> Result<Option<Vec<u8>>, AppError> {
    if let Reader::Member(member) = reader {
        let about = store.log_about(member, index.checked_sub(1), 1).await?;
        if about.first().is_none_or(|entry| entry.index != index) {
            return Ok(None);
        }
    }
    Ok(store.log_entry(index).await?.map(|(_, body)| body))
}

/// One page of the entries about `member`, after index `after`.
pub async fn entries_about(
    store: &dyn Store,
    member: &MemberId,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<LoggedEntry>, AppError> {
    Ok(store.log_about(member, after, limit).await?)
}

/// What checking a member's entries against the signed checkpoint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipts {
    /// The checkpoint's tree size.
    pub size: u64,
    /// Entries about the member the checkpoint covers, each shown to be
    /// in its tree by an inclusion proof.
    pub included: u64,
    /// Entries about the member newer than the checkpoint.
    pub newer: u64,
    /// Entries whose proof did not verify (a broken log).
    pub failed: Vec<u64>,
}

/// Checks every entry about `member` against the latest signed checkpoint
/// as `datacoop audit verify --token` does over HTTP: the checkpoint's
/// signature with `signer`'s verifier key, and each covered entry's leaf
/// hash through an inclusion proof to the checkpoint's root. Done by the
/// broker itself, so it shows that its stored log is whole; the client
/// command also checks it against checkpoints seen before.
pub async fn check_receipts(
    store: &dyn Store,
    signer: &LogSigner,
    member: &MemberId,
) -> Result<Receipts, AppError> {
    let note_text = signer.checkpoint(store).await?;
    let verifier = Verifier::parse(signer.verifier_key())
        .map_err(|error| AppError::Store(StoreError::Corrupt(error.to_string())))?;
    let body = note::open_note(&note_text, &verifier)
        .map_err(|error| AppError::Store(StoreError::Corrupt(error.to_string())))?;
    let checkpoint = Checkpoint::parse(body)
        .map_err(|error| AppError::Store(StoreError::Corrupt(error.to_string())))?;
    let size = checkpoint.size();
    let mut receipts = Receipts {
        size,
        included: 0,
        newer: 0,
        failed: Vec::new(),
    };
    let mut after = None;
    loop {
        let page = store.log_about(member, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        for entry in page {
            if entry.index >= size {
                receipts.newer += 1;
                continue;
            }
            let Some((_, bytes)) = store.log_entry(entry.index).await? else {
                receipts.failed.push(entry.index);
                continue;
            };
            let proof = inclusion(store, entry.index, size).await?;
            match tree::verify_inclusion(
                tree::leaf_hash(&bytes),
                entry.index,
                size,
                checkpoint.root(),
                &proof,
            ) {
                Ok(()) => receipts.included += 1,
                Err(_) => receipts.failed.push(entry.index),
            }
        }
    }
    Ok(receipts)
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldErrors::single(field, message))
}

fn corrupt(error: tree::TreeError) -> AppError {
    AppError::Store(StoreError::Corrupt(error.to_string()))
}
