//! The verifiable log's proofs at scale: inclusion and consistency proof
//! time at 1,000,000 and 10,000,000 entries, side by side, read through
//! the store as `GET /v1/audit/proof/*` reads them (one query of the
//! stored hashes a proof needs, then the proof computed from them).
//!
//! `cargo bench -p datacoop-broker --bench log` (BENCH_LOG_SIZES, default
//! `1000000,10000000`; BENCH_PROOFS per size, default 2000). The log is
//! written straight into a fresh SQLite file, the way a bulk load writes
//! it (entries and the tree's stored hashes, holding only the peaks), so
//! that ten million entries take minutes, not hours.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "benchmark harness"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use datacoop_broker::app::audit;
use datacoop_broker::audit::tree::{self, Hash};
use datacoop_broker::store::{self, Store};
use sqlx::Connection;

/// Rows per multi-row insert (SQLite's bound parameters allow 32,766).
const ROWS: usize = 4000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

/// A small deterministic generator (xorshift), for the proofs' indexes.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Appends entries `from..to` to the log in the SQLite file at `url`.
async fn grow(url: &str, from: u64, to: u64, peaks: &mut HashMap<u64, Hash>) {
    let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut connection)
        .await
        .unwrap();
    let mut tx = connection.begin().await.unwrap();
    let mut next = from;
    while next < to {
        let end = (next + ROWS as u64).min(to);
        let mut entries = Vec::with_capacity(ROWS);
        let mut hashes = Vec::with_capacity(2 * ROWS);
        for index in next..end {
            let body = format!(
                "{{\"at\":\"2026-11-22T12:00:00.000000Z\",\"n\":\"{index}\",\"type\":\"bench\"}}"
            )
            .into_bytes();
            let new = tree::append(index, tree::leaf_hash(&body), peaks).unwrap();
            for (stored, hash) in &new {
                hashes.push((i64::try_from(*stored).unwrap(), hash.0));
            }
            peaks.extend(new);
            let keep = tree::peaks(index + 1).unwrap();
            peaks.retain(|stored, _| keep.contains(stored));
            entries.push((i64::try_from(index).unwrap(), body));
        }
        sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO log_entries (idx, kind, body, at) ")
            .push_values(&entries, |mut row, (index, body)| {
                row.push_bind(*index)
                    .push_bind("bench")
                    .push_bind(body.as_slice())
                    .push_bind("2026-11-22T12:00:00.000000Z");
            })
            .build()
            .execute(&mut *tx)
            .await
            .unwrap();
        for rows in hashes.chunks(ROWS) {
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO log_hashes (idx, hash) ")
                .push_values(rows, |mut row, (index, hash)| {
                    row.push_bind(*index).push_bind(hash.as_slice());
                })
                .build()
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        next = end;
    }
    sqlx::query("UPDATE log_head SET size = $1 WHERE id = 1")
        .bind(i64::try_from(to).unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    connection.close().await.unwrap();
}

struct Timing {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    hashes: f64,
}

fn timing(mut samples: Vec<Duration>, hashes: usize) -> Timing {
    let count = samples.len();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(count).unwrap();
    samples.sort();
    let at = |q: f64| samples[((count as f64 - 1.0) * q) as usize];
    Timing {
        mean,
        p50: at(0.50),
        p99: at(0.99),
        hashes: hashes as f64 / count as f64,
    }
}

/// Times `proofs` inclusion and consistency proofs of the whole log
/// (`size` entries), verifying each against the root.
async fn measure(store: &dyn Store, size: u64, proofs: usize) -> (Timing, Timing) {
    let root = audit::root_at(store, size).await.unwrap();
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ size);
    let mut samples = Vec::with_capacity(proofs);
    let mut lengths = 0;
    for _ in 0..proofs {
        let index = random.below(size);
        let started = Instant::now();
        let proof = audit::inclusion(store, index, size).await.unwrap();
        samples.push(started.elapsed());
        lengths += proof.len();
        let body = format!(
            "{{\"at\":\"2026-11-22T12:00:00.000000Z\",\"n\":\"{index}\",\"type\":\"bench\"}}"
        );
        tree::verify_inclusion(tree::leaf_hash(body.as_bytes()), index, size, root, &proof)
            .unwrap();
    }
    let inclusion = timing(samples, lengths);
    let mut samples = Vec::with_capacity(proofs);
    let mut lengths = 0;
    for _ in 0..proofs {
        let first = 1 + random.below(size - 1);
        let first_root = audit::root_at(store, first).await.unwrap();
        let started = Instant::now();
        let proof = audit::consistency_proof(store, first, size).await.unwrap();
        samples.push(started.elapsed());
        lengths += proof.len();
        tree::verify_consistency(first, first_root, size, root, &proof).unwrap();
    }
    (inclusion, timing(samples, lengths))
}

async fn run() {
    let sizes = env_list("BENCH_LOG_SIZES", &[1_000_000, 10_000_000]);
    let proofs = env_list("BENCH_PROOFS", &[2000])[0] as usize;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    {
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.close().await;
    }
    let mut peaks = HashMap::new();
    let mut size = 0;
    let mut rows = Vec::new();
    for target in sizes {
        let started = Instant::now();
        grow(&url, size, target, &mut peaks).await;
        println!(
            "wrote entries {size}..{target} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        size = target;
        let store = store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.log_size().await.unwrap(), size);
        let (inclusion, consistency) = measure(store.as_ref(), size, proofs).await;
        store.close().await;
        rows.push((size, inclusion, consistency));
    }
    println!();
    println!(
        "| entries | inclusion mean / p50 / p99 (hashes) | consistency mean / p50 / p99 (hashes) |"
    );
    println!("|---|---|---|");
    for (size, inclusion, consistency) in rows {
        println!(
            "| {size} | {:.1} / {:.1} / {:.1} µs ({:.1}) | {:.1} / {:.1} / {:.1} µs ({:.1}) |",
            inclusion.mean.as_secs_f64() * 1e6,
            inclusion.p50.as_secs_f64() * 1e6,
            inclusion.p99.as_secs_f64() * 1e6,
            inclusion.hashes,
            consistency.mean.as_secs_f64() * 1e6,
            consistency.p50.as_secs_f64() * 1e6,
            consistency.p99.as_secs_f64() * 1e6,
            consistency.hashes,
        );
    }
}
