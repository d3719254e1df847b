//! A webhook receiver for tests: an axum server on a loopback port that
//! records every request and answers each path with scripted replies
//! (then 204 once the script is spent).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// Answers 204 after this long (longer than the broker waits: a timeout).
    Slow(Duration),
    /// 307 to this path of the receiver.
    Redirect(String),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Arrival {
    pub fn id(&self) -> String {
        self.headers
            .get("webhook-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Shared {
    arrivals: Vec<Arrival>,
    scripts: HashMap<String, VecDeque<Reply>>,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Listens on `address` (a port reserved earlier, to start late).
    pub async fn start_on(address: SocketAddr) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .unwrap_or_else(|error| panic!("cannot bind the receiver on {address}: {error}"));
        let address = listener.local_addr().unwrap_or(address);
        let app = axum::Router::new()
            .route("/{path}", post(receive))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            shared,
            server: Arc::new(server),
        }
    }

    /// The URL of `path` (one segment) on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.address)
    }

    /// The replies `path` gives, in order, before it answers 204.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.lock()
            .scripts
            .insert(path.to_owned(), replies.into_iter().collect());
    }

    pub fn arrivals(&self, path: &str) -> Vec<Arrival> {
        self.lock()
            .arrivals
            .iter()
            .filter(|arrival| arrival.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has had `count` requests; panics after `within`.
    pub async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Vec<Arrival> {
        let deadline = Instant::now() + within;
        loop {
            let arrivals = self.arrivals(path);
            if arrivals.len() >= count {
                return arrivals;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {count} requests after {within:?}",
                arrivals.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&self) {
        self.server.abort();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.arrivals.push(Arrival {
            path: path.clone(),
            headers,
            body,
            at: Instant::now(),
        });
        shared.scripts.get_mut(&path).and_then(VecDeque::pop_front)
    };
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(Reply::Status(code)) => status(code).into_response(),
        Some(Reply::RetryAfter(code, seconds)) => {
            (status(code), [(header::RETRY_AFTER, seconds.to_string())]).into_response()
        }
        Some(Reply::Slow(wait)) => {
            tokio::time::sleep(wait).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(Reply::Redirect(to)) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("/{to}"))],
        )
            .into_response(),
    }
}
