use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

/// How long a broker may take to start or to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// The `datacoop` binary under test: `DATACOOP_BIN`, or the one cargo
/// built beside this test executable (`cargo test --workspace` builds it).
pub fn binary_path() -> PathBuf {
    if let Some(path) = std::env::var_os("DATACOOP_BIN") {
        return PathBuf::from(path);
    }
    let executable = std::env::current_exe().expect("the test executable's path");
    // target/debug/deps/e2e-HASH -> target/debug/datacoop
    let profile_dir = executable
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/PROFILE/deps");
    let binary = profile_dir.join(format!("datacoop{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it with \
         `cargo build -p datacoop-broker`, or point DATACOOP_BIN at a binary",
        binary.display()
    );
    assert_fresh(&binary);
    binary
}

/// `cargo test -p datacoop-tests` alone does not rebuild the broker: refuse
/// to test a binary older than the sources it is built from.
fn assert_fresh(binary: &Path) {
    let built = std::fs::metadata(binary)
        .and_then(|meta| meta.modified())
        .expect("the binary's modification time");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest = ["broker/src", "wire/src", "migrations", "policies"]
        .iter()
        .filter_map(|dir| newest_modification(&root.join(dir)))
        .max();
    if let Some(newest) = newest {
        assert!(
            newest <= built,
            "{} is older than its sources: run `cargo test --workspace` (which rebuilds it) \
             or `cargo build -p datacoop-broker` first",
            binary.display()
        );
    }
}

fn newest_modification(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| newest_modification(&entry.path()))
        .max()
}

/// How to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub database_url: String,
    /// Extra environment variables, such as `DATACOOP_ADMIN_TOKEN`.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
}

impl BrokerOptions {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }
}

/// A running `datacoop serve` on a free loopback port.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The admin token this start printed, if it printed one.
    pub printed_admin_token: Option<String>,
    /// Every line written to standard output before it listened.
    pub stdout_lines: Vec<String>,
    /// Standard error, read as it comes (a full pipe would stall the
    /// broker's logging, and so the broker).
    stderr: Option<tokio::task::JoinHandle<String>>,
}

impl Broker {
    /// Starts the binary and waits until it listens and `/readyz` is 200.
    pub async fn start(options: BrokerOptions) -> Self {
        let mut command = Command::new(binary_path());
        command
            .arg("serve")
            .args(&options.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATACOOP_DATABASE_URL", &options.database_url)
            .env("DATACOOP_LISTEN", "127.0.0.1:0")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the datacoop binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut stdout_lines = Vec::new();
        let mut printed_admin_token = None;
        let base_url = tokio::time::timeout(PATIENCE, async {
            loop {
                let Some(line) = lines.next_line().await.expect("read stdout") else {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        pipe.read_to_string(&mut stderr).await.ok();
                    }
                    panic!("datacoop exited before listening; stderr:\n{stderr}");
                };
                stdout_lines.push(line.clone());
                if let Some(token) =
                    line.strip_prefix("admin token (shown once; only its hash is stored): ")
                {
                    printed_admin_token = Some(token.trim().to_owned());
                }
                if let Some(url) = line.strip_prefix("datacoop listening on ") {
                    break url.trim().to_owned();
                }
            }
        })
        .await
        .expect("datacoop did not start listening in time");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let stderr = child.stderr.take().map(|mut pipe: ChildStderr| {
            tokio::spawn(async move {
                let mut text = String::new();
                pipe.read_to_string(&mut text).await.ok();
                text
            })
        });
        let broker = Self {
            child,
            base_url,
            printed_admin_token,
            stdout_lines,
            stderr,
        };
        broker.wait_ready().await;
        broker
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "datacoop never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM, waits for the exit, and returns the status with
    /// everything the process wrote to standard error.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().expect("the broker is running");
        let pid = Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
        kill(pid, Signal::SIGTERM).expect("send SIGTERM");
        let mut stderr = String::new();
        if let Some(reader) = self.stderr.take() {
            stderr = tokio::time::timeout(PATIENCE, reader)
                .await
                .expect("stderr closes when the broker exits")
                .unwrap_or_default();
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the broker exits after SIGTERM")
            .expect("wait for the broker");
        (status, stderr)
    }
}

impl Broker {
    /// Kills the process at once (SIGKILL: no shutdown, no flush), as a
    /// crash or a power cut would, and waits for it to be gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("send SIGKILL");
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the broker dies after SIGKILL")
            .expect("wait for the broker");
    }
}

/// Runs `datacoop ARGS` to completion with a clean environment plus `env`.
pub async fn run_datacoop(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(binary_path())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the datacoop binary")
}
