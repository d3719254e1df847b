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

/// Runs each case, an `async fn(TestApp)`, as a test on SQLite and one on
/// PostgreSQL (when `DATACOOP_TEST_POSTGRES_URL` is set), in modules
/// `sqlite` and `postgres` of the calling module.
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::support::TestApp::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(app) = crate::support::TestApp::postgres().await else { return };
                    super::$case(app).await;
                }
            )*
        }
    };
}

mod audit;
mod browser;
mod caches;
mod cancel;
mod cohort;
mod consent;
mod datasets;
mod delegation;
mod generate;
mod inputs;
mod limits;
mod member_pages;
mod oauth;
mod properties;
mod router;
mod scenarios;
mod service;
mod sign_in;
mod steward_pages;
mod storage;
mod storage_support;
mod subjects;
mod support;
mod withdrawals;
