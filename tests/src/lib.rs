//! What datacoop's tests share: a fresh PostgreSQL database per test, the
//! real `datacoop` binary started on port 0 with its own database, and a
//! webhook receiver.
//!
//! PostgreSQL tests read `DATACOOP_TEST_POSTGRES_URL` (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`). Without it they are
//! skipped, with a note on stderr, so a developer without PostgreSQL can
//! run everything else; under CI (`CI` set) a missing URL fails instead.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failure to set up a test should stop that test loudly"
)]

mod broker;
mod oidc;
mod postgres;
mod proxy;
mod receiver;

pub use broker::{Broker, BrokerOptions, binary_path, run_datacoop};
pub use oidc::{Account, TestOidc};
pub use postgres::{PrivatePostgres, TestPostgres};
pub use proxy::TcpProxy;
pub use receiver::{Arrival, Receiver, Reply};
