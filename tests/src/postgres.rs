use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the PostgreSQL server tests may use.
pub const POSTGRES_URL_VAR: &str = "DATACOOP_TEST_POSTGRES_URL";

/// A database created for one test and dropped when this value drops.
#[derive(Debug)]
pub struct TestPostgres {
    server_url: String,
    name: String,
    url: String,
}

impl TestPostgres {
    /// Creates a fresh, empty database; `None` when no server is
    /// configured (outside CI).
    pub async fn create() -> Option<Self> {
        let Some(server_url) = Self::server_url() else {
            eprintln!("skipped: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        let name = format!("datacoop_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {POSTGRES_URL_VAR}: {error}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&server_url, &name);
        Some(Self {
            server_url,
            name,
            url,
        })
    }

    /// The configured server, or `None` outside CI; panics in CI without one.
    pub fn server_url() -> Option<String> {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() => {
                panic!(
                    "{POSTGRES_URL_VAR} must be set when CI is set: CI runs the PostgreSQL suite"
                )
            }
            _ => None,
        }
    }

    /// The URL of the fresh database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop may run inside an async runtime: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&server_url).await?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// `server_url` with its database path replaced by `database`.
fn with_database(server_url: &str, database: &str) -> String {
    let mut url = url::Url::parse(server_url).expect("DATACOOP_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "t1"
            ),
            "postgres://postgres@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "t2"),
            "postgres://postgres@127.0.0.1:5432/t2"
        );
    }
}
