//! The broker's own integration tests: the router driven with `oneshot`
//! (no socket), and the storage suite on SQLite and PostgreSQL.
//! One test binary for the crate (STYLE rule 19).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a step that fails should fail the test loudly"
)]

mod router;
mod storage;
