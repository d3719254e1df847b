//! A third party's webhook receiver: it checks the signature of each event
//! the broker sends, deletes what a `consent.withdrawn` event names (here it
//! only says what it would delete), and confirms the deletion with a
//! deletion receipt.
//!
//! 1. Run the broker so that it may send webhooks over plain `http` to a
//!    loopback address (otherwise it accepts only `https` endpoints):
//!
//!    ```text
//!    DATACOOP_ALLOW_INSECURE_WEBHOOKS=true cargo run -p datacoop-broker -- serve
//!    ```
//!
//! 2. Point the third party's webhook at this receiver, with
//!    `PUT /v1/third-parties/me/webhook`, that is
//!    `ThirdPartyClient::set_webhook("http://127.0.0.1:8787/webhook")`. The
//!    answer's `secret` (`whsec_…`) is shown only then. This example does it
//!    itself when `DATACOOP_WEBHOOK_SECRET` is not set but the third party's
//!    credentials are (step 3), and prints the secret to keep for next time.
//!
//! 3. Run the receiver:
//!
//!    ```text
//!    DATACOOP_WEBHOOK_SECRET=whsec_… \
//!    DATACOOP_URL=http://127.0.0.1:8080 DATACOOP_CLIENT_ID=dcc_… DATACOOP_CLIENT_SECRET=dcs_… \
//!    cargo run -p datacoop-sdk --example webhook_receiver [-- 127.0.0.1:8787]
//!    ```
//!
//! It listens on the address given as its argument, or in
//! `DATACOOP_WEBHOOK_LISTEN`, by default `127.0.0.1:8787`, and receives
//! `POST /webhook`. It answers `401` to a request whose signature or
//! timestamp does not check out, `400` to a signed body that is not an
//! event, and otherwise `204` at once, sending the receipt afterwards. The
//! three `DATACOOP_URL`, `DATACOOP_CLIENT_ID` and `DATACOOP_CLIENT_SECRET`
//! are optional: without them it sends no receipts. The broker may send an
//! event more than once; deleting again and confirming again are harmless
//! (the broker answers the first receipt).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use datacoop_sdk::ThirdPartyClient;
use datacoop_sdk::webhook::{Event, EventKind, Verifier, WebhookError};

const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const PATH: &str = "/webhook";

#[derive(Debug)]
struct Receiver {
    verifier: Verifier,
    /// The third party's client, to send deletion receipts with.
    broker: Option<ThirdPartyClient>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .or_else(|| env("DATACOOP_WEBHOOK_LISTEN"))
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
        .parse()
        .map_err(|error| format!("the address to listen on: {error}"))?;
    let broker = match (
        env("DATACOOP_URL"),
        env("DATACOOP_CLIENT_ID"),
        env("DATACOOP_CLIENT_SECRET"),
    ) {
        (Some(url), Some(client_id), Some(client_secret)) => {
            Some(ThirdPartyClient::new(&url, &client_id, &client_secret)?)
        }
        _ => None,
    };
    let secret = match (env("DATACOOP_WEBHOOK_SECRET"), &broker) {
        (Some(secret), _) => secret,
        (None, Some(broker)) => {
            let url = format!("http://{listen}{PATH}");
            let endpoint = broker.set_webhook(&url).await?;
            eprintln!(
                "the broker now sends webhooks to {}; set DATACOOP_WEBHOOK_SECRET={} next time",
                endpoint.url, endpoint.secret
            );
            endpoint.secret
        }
        (None, None) => {
            return Err("set DATACOOP_WEBHOOK_SECRET to the endpoint's `whsec_` secret \
                        (or DATACOOP_URL, DATACOOP_CLIENT_ID and DATACOOP_CLIENT_SECRET to set the webhook)"
                .into());
        }
    };
    let verifier =
        Verifier::new(&secret).map_err(|error| format!("DATACOOP_WEBHOOK_SECRET: {error}"))?;
    if broker.is_none() {
        eprintln!(
            "DATACOOP_URL, DATACOOP_CLIENT_ID or DATACOOP_CLIENT_SECRET is not set: no deletion receipts will be sent"
        );
    }

    let app = Router::new()
        .route(PATH, post(receive))
        .with_state(Arc::new(Receiver { verifier, broker }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "receiving webhooks at http://{}{PATH}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `POST /webhook`: verify, then read; act on the event after answering.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let event = match receiver.verifier.verify_and_parse_now(&headers, &body) {
        Ok(event) => event,
        Err(WebhookError::InvalidPayload(error)) => {
            eprintln!("refused a signed body that is not an event: {error}");
            return StatusCode::BAD_REQUEST;
        }
        Err(error) => {
            eprintln!("refused a webhook: {error}");
            return StatusCode::UNAUTHORIZED;
        }
    };
    tokio::spawn(handle(Arc::clone(&receiver), event));
    StatusCode::NO_CONTENT
}

async fn handle(receiver: Arc<Receiver>, event: Event) {
    let withdrawn = match &event.kind {
        EventKind::ConsentWithdrawn(withdrawn) => withdrawn,
        EventKind::Other { kind, .. } => {
            eprintln!("ignoring event {} of type `{kind}`", event.id);
            return;
        }
        _ => {
            eprintln!("ignoring event {}", event.id);
            return;
        }
    };
    // A real receiver deletes here, and confirms only once it has.
    eprintln!(
        "event {}: delete {} of subject {} received for purpose {} (consent withdrawn at {}, log entry {})",
        event.id,
        withdrawn.categories.join(", "),
        withdrawn.subject,
        withdrawn.purpose,
        event.timestamp,
        withdrawn.log_index,
    );
    let Some(broker) = &receiver.broker else {
        return;
    };
    match broker.confirm_deletion(&event.id).await {
        Ok(receipt) => eprintln!(
            "event {}: deletion confirmed at {}",
            receipt.event_id, receipt.confirmed_at
        ),
        Err(error) => eprintln!(
            "event {}: cannot send the deletion receipt: {error}",
            event.id
        ),
    }
}

/// An environment variable, when set and not blank.
fn env(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}
