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

/// A PostgreSQL server of a test's own, on a free loopback port, that the
/// test may stop and start again (the shared server must stay up for the
/// other tests). Started from the newest installation under
/// `/usr/lib/postgresql`, as the `postgres` user when the tests run as
/// root (the server refuses to run as root). Removed when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    port: u16,
    as_postgres: bool,
    server: Option<tokio::process::Child>,
}

impl PrivatePostgres {
    /// Creates and starts a server; `None` without an installation.
    pub async fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max()?;
        let as_postgres = nix::unistd::geteuid().is_root();
        let dir =
            std::env::temp_dir().join(format!("datacoop-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the server's folder");
        if as_postgres {
            let status = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown the server's folder to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            bin,
            dir,
            port,
            as_postgres,
            server: None,
        };
        let initdb = server
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(server.dir.join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .expect("run initdb");
        assert!(initdb.success(), "initdb failed");
        server.restart().await;
        Some(server)
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = tokio::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            tokio::process::Command::new(program)
        };
        command.kill_on_drop(true);
        command
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let server = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start postgres");
        self.server = Some(server);
        for _ in 0..200 {
            if PgConnection::connect(&self.url()).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the test's own PostgreSQL did not start");
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub async fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let postmaster = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().next().and_then(|line| line.trim().parse().ok()));
        if let Some(pid) = postmaster {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), server.wait()).await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.server.is_some()
            && let Ok(pid) = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            && let Some(pid) = pid.lines().next().and_then(|line| line.trim().parse().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGQUIT,
            );
        }
        // Give the server a moment to go before its folder does.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
