//! End-to-end tests: the real `datacoop` binary on port 0 with a fresh
//! database, driven through the SDK. One test binary (STYLE rule 19).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a step that fails should fail the test loudly"
)]

mod audit;
mod cli;
mod consent;
mod datasets;
mod errors;
mod lifecycle;
mod observability;
mod operations;
mod replicas;
mod service;
mod settings;
mod web;
mod webhooks;

use datacoop_sdk::Client;
use datacoop_tests::{Broker, BrokerOptions};
use tempfile::TempDir;

/// A broker on a fresh SQLite file in its own folder.
#[derive(Debug)]
pub struct SqliteBroker {
    pub dir: TempDir,
    pub broker: Broker,
}

impl SqliteBroker {
    pub async fn start() -> Self {
        Self::start_with(|options| options).await
    }

    pub async fn start_with(configure: impl FnOnce(BrokerOptions) -> BrokerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(configure(BrokerOptions::new(sqlite_url(&dir)))).await;
        Self { dir, broker }
    }

    pub fn admin(&self) -> Client {
        client(&self.broker).with_token(self.broker.printed_admin_token.as_deref().unwrap())
    }
}

pub fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("coop.db").display())
}

pub fn client(broker: &Broker) -> Client {
    Client::new(&broker.base_url).unwrap()
}
