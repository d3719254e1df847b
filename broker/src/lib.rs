//! The datacoop consent broker: server and CLI.
//!
//! `ARCHITECTURE.md` at the repository root maps this crate.

pub mod app;
pub mod audit;
pub mod checks;
pub mod clock;
pub mod config;
pub mod consent;
pub mod credentials;
pub mod dataset;
pub mod domain;
pub mod generate;
pub mod http;
pub mod policy;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhook;

pub use startup::Application;

/// The process's allocator: decisions allocate many small, short-lived
/// values (Cedar's evaluation, the explanation), and glibc's allocator
/// spent a fifth of a decision's time on them, more as the heap grows with
/// the co-op (BENCHMARKS.md). Set in the library so the binary, the tests
/// and the benchmarks all run on the allocator that ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
