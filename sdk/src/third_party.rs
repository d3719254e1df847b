//! The third party's client: OAuth2 client credentials (with the `oauth2`
//! crate), tokens refreshed before they expire, and typed reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenResponse as _, TokenUrl};
use tokio::sync::Mutex;

use crate::wire::{
    AccessRequest, AccessResponse, CreateDeletionReceipt, DeletionReceipt, SetWebhook, Vocabulary,
    WebhookEndpoint,
};
use crate::{Client, Error, Result};

type OAuthClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// A third party's connection to the broker.
///
/// ```no_run
/// # async fn example() -> Result<(), datacoop_sdk::Error> {
/// use datacoop_sdk::{ThirdPartyClient, wire::AccessRequest};
///
/// let lab = ThirdPartyClient::new("http://127.0.0.1:8080", "dcc_…", "dcs_…")?;
/// let answer = lab
///     .access(&AccessRequest {
///         subject: "sub_…".into(),
///         data_categories: vec!["health.heart".into()],
///         purpose: "research.academic".into(),
///     })
///     .await?;
/// println!("{:?}: {:?}", answer.decision, answer.data);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ThirdPartyClient {
    api: Client,
    oauth: OAuthClient,
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl ThirdPartyClient {
    /// A client for the broker at `base_url` with the third party's OAuth2
    /// credentials. Nothing is fetched until the first call.
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Result<Self> {
        let api = Client::new(base_url)?;
        let token_url = api.base.join("oauth2/token")?;
        let oauth = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.to_owned()))
            .set_token_uri(TokenUrl::from_url(token_url));
        Ok(Self {
            api,
            oauth,
            token: Arc::new(Mutex::new(None)),
        })
    }

    /// A live access token: the cached one, or a new one when it is about
    /// to expire (or `renew` asks for it).
    async fn token(&self, renew: bool) -> Result<String> {
        let mut cached = self.token.lock().await;
        if !renew
            && let Some((token, expires)) = cached.as_ref()
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return Ok(token.clone());
        }
        let http = self.api.http.clone();
        let call = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move {
                let (parts, body) = request.into_parts();
                let response = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await?;
                let mut builder = http::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    builder = builder.header(name, value);
                }
                let bytes = response.bytes().await?;
                Ok::<_, reqwest::Error>(builder.body(bytes.to_vec()).unwrap_or_default())
            }
        };
        let answer = self
            .oauth
            .exchange_client_credentials()
            .request_async(&call)
            .await
            .map_err(|error| Error::Token(error.to_string()))?;
        let lifetime = answer.expires_in().unwrap_or(Duration::from_secs(60));
        let token = answer.access_token().secret().clone();
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Runs `call` with a live token; once more with a new one if the
    /// broker says the token is no longer good (401).
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = self.token(false).await?;
        match call(self.api.with_token(&token)).await {
            Err(error) if error.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                let token = self.token(true).await?;
                call(self.api.with_token(&token)).await
            }
            other => other,
        }
    }

    /// `POST /v1/access`: the decision, and the data consent allows.
    pub async fn access(&self, request: &AccessRequest) -> Result<AccessResponse> {
        self.with_token(|client| async move {
            client
                .send_json(reqwest::Method::POST, "v1/access", request)
                .await
        })
        .await
    }

    /// `GET /v1/licenses/{license}/builds/latest`: the latest build of an
    /// aggregate dataset licensed to this third party (rows and manifest).
    pub async fn latest_build(&self, license: &str) -> Result<crate::wire::Release> {
        let path = format!("v1/licenses/{license}/builds/latest");
        self.with_token(|client| {
            let path = path.clone();
            async move { client.get_json(&path).await }
        })
        .await
    }

    /// `GET /v1/vocabulary`
    pub async fn vocabulary(&self) -> Result<Vocabulary> {
        self.with_token(|client| async move { client.vocabulary().await })
            .await
    }

    /// `PUT /v1/third-parties/me/webhook`: where the broker sends this third
    /// party's signed events (`https`; `http` to a loopback host only when
    /// the broker runs with `DATACOOP_ALLOW_INSECURE_WEBHOOKS=true`). The
    /// answer carries the signing secret for a
    /// [`webhook::Verifier`](crate::webhook::Verifier); keep it, as it is
    /// not shown again.
    pub async fn set_webhook(&self, url: &str) -> Result<WebhookEndpoint> {
        let body = SetWebhook {
            url: url.to_owned(),
        };
        let body = &body;
        self.with_token(|client| async move {
            client
                .send_json(reqwest::Method::PUT, "v1/third-parties/me/webhook", body)
                .await
        })
        .await
    }

    /// `POST /v1/third-parties/me/webhook/secret`: a new signing secret for
    /// the endpoint, shown in this answer only.
    pub async fn rotate_webhook_secret(&self) -> Result<WebhookEndpoint> {
        self.with_token(|client| async move {
            let request =
                client.request(reqwest::Method::POST, "v1/third-parties/me/webhook/secret")?;
            client.send(request).await
        })
        .await
    }

    /// `POST /v1/deletion-receipts`: confirms that the data a
    /// `consent.withdrawn` event named is deleted; `event_id` is its
    /// `webhook-id` ([`Event::id`](crate::webhook::Event::id)). Confirming
    /// again answers the first receipt.
    pub async fn confirm_deletion(&self, event_id: &str) -> Result<DeletionReceipt> {
        let body = CreateDeletionReceipt {
            event_id: event_id.to_owned(),
        };
        let body = &body;
        self.with_token(|client| async move {
            client
                .send_json(reqwest::Method::POST, "v1/deletion-receipts", body)
                .await
        })
        .await
    }
}
