//! The datacoop consent broker: server and CLI.
//!
//! `ARCHITECTURE.md` at the repository root maps this crate.

pub mod app;
pub mod clock;
pub mod config;
pub mod consent;
pub mod credentials;
pub mod domain;
pub mod generate;
pub mod http;
pub mod policy;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use startup::Application;
