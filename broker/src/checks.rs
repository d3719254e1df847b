//! The verifiable log's checkers, for members, auditors and operators:
//!
//! * `datacoop audit verify`: against a running broker, over HTTP. Checks
//!   the checkpoint's signature, its consistency with the last checkpoint
//!   this client saw (kept in a local state file), and, with a member's
//!   token, the inclusion of every entry about that member.
//! * `datacoop audit check-db`: against the database. Recomputes the whole
//!   tree from the stored entries and compares it with the latest signed
//!   checkpoint and with the stored tree hashes, so a changed or deleted
//!   row is caught.
//!
//! Both fail with a message saying what does not match.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use datacoop_sdk::Client;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::app::audit::SIGNING_KEY_SETTING;
use crate::audit::note::{self, Checkpoint, Verifier};
use crate::audit::tree::{self, Hash, Rebuilt};
use crate::config::{CheckDbSettings, VerifySettings};
use crate::store::{self, Store};

/// What `verify` remembers of a log between runs: its key and the last
/// checkpoint it checked. A new checkpoint must extend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    origin: String,
    key: String,
    size: u64,
    root: String,
    /// For each member who verified with their token here, the indices of
    /// the entries about them found so far: every one must still be there.
    #[serde(default)]
    members: std::collections::BTreeMap<String, Vec<u64>>,
}

/// What `verify` found, for its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The size of the checkpoint seen before, if any.
    pub previous: Option<u64>,
    /// Entries about the member checked for inclusion (with a token).
    pub entries: Option<u64>,
    pub state: PathBuf,
}

/// `datacoop audit verify`.
pub async fn verify(settings: &VerifySettings) -> anyhow::Result<Verified> {
    let client = Client::new(&settings.url).context("--url is not a URL")?;
    let served_key = client
        .audit_key()
        .await
        .context("cannot read the log's key (GET /v1/audit/key)")?;
    let pinned = settings.key.as_deref().unwrap_or(&served_key);
    ensure!(
        pinned == served_key,
        "the broker's log key `{served_key}` is not the key given with --key"
    );
    let verifier = Verifier::parse(&served_key).context("the broker's log key is malformed")?;
    let mut checkpoint = signed_checkpoint(&client, &verifier).await?;
    let state = settings
        .state
        .clone()
        .unwrap_or_else(|| default_state_path(checkpoint.origin()));
    let seen = read_state(&state)?;
    if let Some(seen) = &seen {
        ensure!(
            seen.origin == checkpoint.origin(),
            "the checkpoint's origin `{}` is not the origin `{}` seen before (state file {})",
            checkpoint.origin(),
            seen.origin,
            state.display()
        );
        ensure!(
            seen.key == served_key,
            "the log's key changed: `{}` was seen before, the broker now serves `{served_key}` (state file {})",
            seen.key,
            state.display()
        );
        check_extends(&client, seen, &checkpoint).await?;
    }
    let mut members = seen
        .as_ref()
        .map(|seen| seen.members.clone())
        .unwrap_or_default();
    let entries = match &settings.token {
        Some(token) => {
            let member = client.with_token(token.expose_secret());
            let id = member
                .me()
                .await
                .context(
                    "cannot read who the token is (GET /v1/me; --token must be a member's token)",
                )?
                .id;
            let known = members.get(&id).cloned().unwrap_or_default();
            let (found, checkpoint_now) =
                check_entries(&member, &verifier, checkpoint, &known, settings.wait()).await?;
            checkpoint = checkpoint_now;
            let count = u64::try_from(found.len())?;
            members.insert(id, found);
            Some(count)
        }
        None => None,
    };
    write_state(
        &state,
        &Seen {
            origin: checkpoint.origin().to_owned(),
            key: served_key,
            size: checkpoint.size(),
            root: checkpoint.root().to_base64(),
            members,
        },
    )?;
    Ok(Verified {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: checkpoint.root(),
        previous: seen.map(|seen| seen.size),
        entries,
        state,
    })
}

/// The broker's checkpoint, its signature checked.
async fn signed_checkpoint(client: &Client, verifier: &Verifier) -> anyhow::Result<Checkpoint> {
    let text = client
        .audit_checkpoint()
        .await
        .context("cannot read the checkpoint (GET /v1/audit/checkpoint)")?;
    let body = note::open_note(&text, verifier)
        .map_err(|error| anyhow!("the checkpoint's signature does not verify: {error}"))?;
    Checkpoint::parse(body).map_err(|error| anyhow!("the checkpoint is malformed: {error}"))
}

/// Fails unless `checkpoint` extends the one seen before.
async fn check_extends(
    client: &Client,
    seen: &Seen,
    checkpoint: &Checkpoint,
) -> anyhow::Result<()> {
    let root = Hash::from_base64(&seen.root).context("the state file's root is malformed")?;
    ensure!(
        checkpoint.size() >= seen.size,
        "the log shrank: a checkpoint of {} entries was seen before, the broker now signs {}",
        seen.size,
        checkpoint.size()
    );
    if seen.size == 0 {
        return Ok(());
    }
    if seen.size == checkpoint.size() {
        ensure!(
            root == checkpoint.root(),
            "two checkpoints of {} entries with different roots: the log was rewritten",
            seen.size
        );
        return Ok(());
    }
    let proof = client
        .consistency_proof(seen.size, checkpoint.size())
        .await
        .context("cannot read the consistency proof")?;
    let hashes = decode(&proof.hashes)?;
    tree::verify_consistency(
        seen.size,
        root,
        checkpoint.size(),
        checkpoint.root(),
        &hashes,
    )
    .map_err(|_| {
        anyhow!(
            "the checkpoint of {} entries is not consistent with the one of {} seen before: the log was rewritten",
            checkpoint.size(),
            seen.size
        )
    })
}

/// Checks every entry about the member for inclusion in `checkpoint`,
/// waiting (up to `wait`) for a checkpoint that covers the newest of them,
/// and that every entry `known` from earlier runs is still listed;
/// answers the indices it checked and the checkpoint they are in.
async fn check_entries(
    member: &Client,
    verifier: &Verifier,
    mut checkpoint: Checkpoint,
    known: &[u64],
    wait: Duration,
) -> anyhow::Result<(Vec<u64>, Checkpoint)> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = member
            .my_audit(Some(200), cursor.as_deref())
            .await
            .context("cannot list the entries about you (GET /v1/me/audit; --token must be a member's token)")?;
        listed.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let indices: std::collections::BTreeSet<u64> = listed.iter().map(|entry| entry.index).collect();
    if let Some(gone) = known.iter().find(|index| !indices.contains(index)) {
        anyhow::bail!(
            "entry {gone} about you, found by an earlier run, is no longer listed: it was deleted"
        );
    }
    let newest = indices.last().copied();
    let deadline = tokio::time::Instant::now() + wait;
    while newest.is_some_and(|newest| newest >= checkpoint.size()) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "entry {} about you is not in the latest checkpoint ({} entries) after {} s",
            newest.unwrap_or_default(),
            checkpoint.size(),
            wait.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = signed_checkpoint(member, verifier).await?;
        let seen = Seen {
            origin: checkpoint.origin().to_owned(),
            key: String::new(),
            size: checkpoint.size(),
            root: checkpoint.root().to_base64(),
            members: std::collections::BTreeMap::new(),
        };
        check_extends(member, &seen, &next).await?;
        checkpoint = next;
    }
    for listed in &listed {
        let body = member
            .audit_entry(listed.index)
            .await
            .with_context(|| format!("cannot read entry {} about you", listed.index))?;
        let parsed: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| anyhow!("entry {} is not JSON", listed.index))?;
        ensure!(
            parsed.get("type").and_then(serde_json::Value::as_str) == Some(listed.kind.as_str()),
            "entry {} is not the `{}` entry the list of entries about you names",
            listed.index,
            listed.kind
        );
        let proof = member
            .inclusion_proof(listed.index, checkpoint.size())
            .await
            .with_context(|| {
                format!("cannot read the inclusion proof of entry {}", listed.index)
            })?;
        let hashes = decode(&proof.hashes)?;
        tree::verify_inclusion(
            tree::leaf_hash(&body),
            listed.index,
            checkpoint.size(),
            checkpoint.root(),
            &hashes,
        )
        .map_err(|_| {
            anyhow!(
                "entry {} about you ({}) is not in the log the checkpoint of {} entries signs: it was changed or dropped",
                listed.index,
                listed.kind,
                checkpoint.size()
            )
        })?;
    }
    Ok((indices.into_iter().collect(), checkpoint))
}

fn decode(hashes: &[String]) -> anyhow::Result<Vec<Hash>> {
    hashes
        .iter()
        .map(|hash| Hash::from_base64(hash).map_err(|_| anyhow!("a proof hash is malformed")))
        .collect()
}

/// `$XDG_STATE_HOME/datacoop/audit/<origin>.json`, or under
/// `~/.local/state`, or the current folder without a home.
fn default_state_path(origin: &str) -> PathBuf {
    let file: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| Path::new(&home).join(".local").join("state"))
        });
    match base {
        Some(base) => base
            .join("datacoop")
            .join("audit")
            .join(format!("{file}.json")),
        None => PathBuf::from(format!("datacoop-audit-{file}.json")),
    }
}

fn read_state(path: &Path) -> anyhow::Result<Option<Seen>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "the state file {} is not one this tool wrote",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(error).with_context(|| format!("cannot read the state file {}", path.display()))
        }
    }
}

/// Writes the state whole or not at all: a temporary file, then a rename.
fn write_state(path: &Path, seen: &Seen) -> anyhow::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, serde_json::to_vec_pretty(seen)?)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write the state file {}", path.display()))
}

/// What `check-db` found, for its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub entries: u64,
    pub root: Hash,
    /// The latest signed checkpoint's origin and size, if one was signed.
    pub checkpoint: Option<(String, u64)>,
}

/// Entries read per query.
const PAGE: u32 = 10_000;

/// `datacoop audit check-db`.
pub async fn check_db(settings: &CheckDbSettings) -> anyhow::Result<Checked> {
    let url = &settings.database.database_url;
    let store = store::connect(url.expose()).await.with_context(|| {
        format!(
            "cannot open the {} database (DATACOOP_DATABASE_URL)",
            url.scheme()
        )
    })?;
    let checked = check_store(store.as_ref(), settings).await;
    store.close().await;
    checked
}

async fn check_store(store: &dyn Store, settings: &CheckDbSettings) -> anyhow::Result<Checked> {
    let size = store
        .log_size()
        .await
        .context("cannot read the log (is the database migrated? `datacoop migrate`)")?;
    let signed = match store.signed_checkpoint().await? {
        Some((signed_size, text)) => {
            let verifier = checkpoint_verifier(store, settings).await?;
            let body = note::open_note(&text, &verifier).map_err(|error| {
                anyhow!(
                    "the stored checkpoint's signature does not verify with `{}`: {error}",
                    verifier_text(&verifier)
                )
            })?;
            let checkpoint = Checkpoint::parse(body)?;
            ensure!(
                checkpoint.size() == signed_size && signed_size <= size,
                "the stored checkpoint ({} entries) does not fit the log ({size} entries)",
                checkpoint.size()
            );
            Some(checkpoint)
        }
        None => None,
    };
    let mut rebuilt = Rebuilt::default();
    let mut at_checkpoint = None;
    if signed
        .as_ref()
        .is_some_and(|checkpoint| checkpoint.size() == 0)
    {
        at_checkpoint = Some(rebuilt.root());
    }
    // Every stored tree hash, recomputed from the entries (holding only
    // the tree's peaks), and the first that differs.
    let mut peaks = std::collections::HashMap::new();
    let mut first_wrong_hash = None;
    loop {
        let page = store.log_entries(rebuilt.size(), PAGE).await?;
        if page.is_empty() {
            break;
        }
        let mut expected = Vec::new();
        for (index, body) in page {
            ensure!(
                index == rebuilt.size(),
                "entry {} is missing from the log (the next stored is {index})",
                rebuilt.size()
            );
            let leaf = tree::leaf_hash(&body);
            rebuilt.push(leaf);
            let new = tree::append(index, leaf, &peaks)?;
            expected.extend(new.iter().map(|(stored, hash)| (*stored, *hash, index)));
            peaks.extend(new);
            let kept = tree::peaks(index + 1)?;
            peaks.retain(|stored, _| kept.contains(stored));
            if signed
                .as_ref()
                .is_some_and(|checkpoint| checkpoint.size() == rebuilt.size())
            {
                at_checkpoint = Some(rebuilt.root());
            }
        }
        if first_wrong_hash.is_none() {
            let indexes: Vec<u64> = expected.iter().map(|(stored, _, _)| *stored).collect();
            let stored = store.log_hashes(&indexes).await?;
            first_wrong_hash = expected
                .into_iter()
                .find(|(index, hash, _)| stored.get(index) != Some(hash))
                .map(|(index, _, entry)| (index, entry));
        }
    }
    ensure!(
        rebuilt.size() == size,
        "the log holds {} entries where its head says {size}: entries were deleted or added outside the broker",
        rebuilt.size()
    );
    if let (Some(checkpoint), Some(root)) = (&signed, at_checkpoint) {
        ensure!(
            root == checkpoint.root(),
            "the stored entries do not give the root of the checkpoint signed at {} entries: an entry was changed or deleted",
            checkpoint.size()
        );
    }
    if let Some((index, entry)) = first_wrong_hash {
        anyhow::bail!(
            "the stored tree hash {index} (written with entry {entry}) does not match the stored entries: a row was changed or deleted"
        );
    }
    let needs = tree::root_needs(size)?;
    let stored_root = tree::root(size, &store.log_hashes(&needs).await?)
        .map_err(|error| anyhow!("the stored tree hashes are incomplete: {error}"))?;
    ensure!(
        stored_root == rebuilt.root(),
        "the stored tree hashes do not match the stored entries: a row was changed"
    );
    Ok(Checked {
        entries: size,
        root: rebuilt.root(),
        checkpoint: signed.map(|checkpoint| (checkpoint.origin().to_owned(), checkpoint.size())),
    })
}

/// The key the stored checkpoint must verify with: `--key`, else the key
/// of `--log-signing-key-file`, else the one the database keeps.
async fn checkpoint_verifier(
    store: &dyn Store,
    settings: &CheckDbSettings,
) -> anyhow::Result<Verifier> {
    if let Some(key) = &settings.key {
        return Verifier::parse(key).context("--key is not a verifier key");
    }
    let private = match &settings.log_signing_key_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => store.setting(SIGNING_KEY_SETTING).await?.ok_or_else(|| {
            anyhow!(
                "no signing key in the database: give the key with --key or --log-signing-key-file"
            )
        })?,
    };
    let (name, key) = note::parse_private_key(private.trim())
        .map_err(|error| anyhow!("the log signing key is unreadable: {error}"))?;
    Verifier::parse(&key.verifier_key(&name)).context("the log signing key is unreadable")
}

fn verifier_text(verifier: &Verifier) -> String {
    format!("{}+{:08x}", verifier.name(), verifier.key_id())
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "checkpoint: {} entries, root {}, origin {}, signature verified",
            self.size,
            self.root.to_base64(),
            self.origin
        )?;
        match self.previous {
            Some(previous) => writeln!(
                f,
                "consistent with the checkpoint of {previous} entries seen before"
            )?,
            None => writeln!(f, "first checkpoint seen from this log")?,
        }
        if let Some(entries) = self.entries {
            writeln!(f, "{entries} entries about you, each included in the log")?;
        }
        write!(f, "state saved in {}", self.state.display())
    }
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} entries recomputed from their bytes: root {}; every stored tree hash matches",
            self.entries,
            self.root.to_base64()
        )?;
        match &self.checkpoint {
            Some((origin, size)) => write!(
                f,
                "the checkpoint signed at {size} entries (origin {origin}) matches the entries"
            ),
            None => write!(f, "no checkpoint has been signed yet"),
        }
    }
}
