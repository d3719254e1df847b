//! The broker's own integration tests: the router driven with `oneshot`
//! (no socket), the consent engine through it (named examples, data-file
//! scenarios, properties against a model of the spec), and the storage
//! suite, on SQLite and PostgreSQL.
//! One test binary for the crate (STYLE rule 19).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a step that fails should fail the test loudly"
)]

mod caches;
mod cancel;
mod consent;
mod delegation;
mod generate;
mod inputs;
mod limits;
mod oauth;
mod properties;
mod router;
mod scenarios;
mod service;
mod sign_in;
mod storage;
mod storage_support;
mod subjects;
mod support;
