//! Typed Rust client for the datacoop consent broker.
//!
//! One [`Client`] per bearer token: the co-op's admin token, a member's
//! token, or (with the service-layer endpoints) a third party's access
//! token. Every error the broker answers arrives as [`Error::Api`] with
//! its RFC 9457 problem document.
//!
//! ```no_run
//! # async fn example() -> Result<(), datacoop_sdk::Error> {
//! use datacoop_sdk::{Client, wire::{CreateMember, Registry}};
//!
//! let admin = Client::new("http://127.0.0.1:8080")?.with_token("dca_…");
//! let member = admin
//!     .create_member(&CreateMember { display_name: Some("Ada".into()), registry: Registry::Public })
//!     .await?;
//! let ada = Client::new("http://127.0.0.1:8080")?.with_token(&member.token);
//! assert_eq!(ada.me().await?.id, member.id);
//! # Ok(()) }
//! ```

mod third_party;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The JSON shapes of the HTTP interface.
pub use datacoop_wire as wire;
pub use third_party::ThirdPartyClient;
use wire::{
    AuditEntry, ConsistencyProof, CreateDelegation, CreateMember, CreatePersona, CreateThirdParty,
    CreatedMember, CreatedThirdParty, Decision, DecisionRequest, Delegation, Delegators,
    ExplainRequest, Health, InclusionProof, Me, MemberSummary, Page, Persona, Problem, Rule,
    RuleBody, ThirdParty, ThirdPartyStatus, UpdateMe, UpdateThirdParty, Vocabulary,
};

/// What can go wrong calling the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker answered with an error status and a problem document.
    #[error("the broker answered {status}: {}", problem.detail)]
    Api {
        status: StatusCode,
        problem: Box<Problem>,
    },
    /// The request did not complete, or the answer was not the expected JSON.
    #[error("cannot reach the broker: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("invalid broker URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// The OAuth2 token endpoint refused the client credentials.
    #[error("cannot obtain an access token: {0}")]
    Token(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem document of an API error.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Api { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A client of one broker, acting with one bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

/// Attempts at a call the broker answers 429 or 503 (with backoff).
const ATTEMPTS: u32 = 4;

impl Client {
    /// A client for the broker at `base_url`, with a 30-second timeout and
    /// redirects off.
    pub fn new(base_url: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self::with_http_client(base_url, http)?)
    }

    /// A client that shares an existing `reqwest::Client`.
    pub fn with_http_client(
        base_url: &str,
        http: reqwest::Client,
    ) -> std::result::Result<Self, url::ParseError> {
        let mut base = url::Url::parse(base_url)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The same client, acting with `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// `GET /healthz`
    pub async fn health(&self) -> Result<Health> {
        self.send(self.request(Method::GET, "healthz")?).await
    }

    /// `GET /readyz`
    pub async fn ready(&self) -> Result<Health> {
        self.send(self.request(Method::GET, "readyz")?).await
    }

    /// `POST /v1/me/connections` (member): the pairwise subject for a third party.
    pub async fn connect(&self, third_party: &str) -> Result<wire::Connection> {
        let body = wire::CreateConnection {
            third_party: third_party.to_owned(),
        };
        self.send_json(Method::POST, "v1/me/connections", &body)
            .await
    }

    /// `PUT /v1/me/data/{category}` (member)
    pub async fn put_data(&self, category: &str, value: &serde_json::Value) -> Result<()> {
        let path = format!("v1/me/data/{}", encode_segment(category));
        self.send_empty(self.request(Method::PUT, &path)?.json(value))
            .await
            .map(drop)
    }

    /// `GET /v1/me/data` (member)
    pub async fn my_data(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.send(self.request(Method::GET, "v1/me/data")?).await
    }

    /// `GET /v1/me/access-log` (member), newest first.
    pub async fn access_log(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<wire::AccessLogEntry>> {
        let request = self.request(Method::GET, "v1/me/access-log")?;
        self.send(page_query(request, limit, cursor)).await
    }

    /// `GET /v1/me/export` (member)
    pub async fn export(&self) -> Result<wire::Export> {
        self.send(self.request(Method::GET, "v1/me/export")?).await
    }

    /// `POST /v1/third-parties/{id}/secret` (admin)
    pub async fn rotate_secret(&self, id: &str) -> Result<wire::RotatedSecret> {
        let path = format!("v1/third-parties/{}/secret", encode_segment(id));
        self.send(self.request(Method::POST, &path)?).await
    }

    /// `GET /v1/vocabulary` (any token)
    pub async fn vocabulary(&self) -> Result<Vocabulary> {
        self.send(self.request(Method::GET, "v1/vocabulary")?).await
    }

    /// `POST /v1/members` (admin)
    pub async fn create_member(&self, body: &CreateMember) -> Result<CreatedMember> {
        self.send_json(Method::POST, "v1/members", body).await
    }

    /// `GET /v1/members` (admin): one page; pass `next_cursor` for the next.
    pub async fn list_members(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<MemberSummary>> {
        let request = self.request(Method::GET, "v1/members")?;
        self.send(page_query(request, limit, cursor)).await
    }

    /// `POST /v1/third-parties` (admin)
    pub async fn create_third_party(&self, body: &CreateThirdParty) -> Result<CreatedThirdParty> {
        self.send_json(Method::POST, "v1/third-parties", body).await
    }

    /// `GET /v1/third-parties` (admin)
    pub async fn list_third_parties(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<ThirdParty>> {
        let request = self.request(Method::GET, "v1/third-parties")?;
        self.send(page_query(request, limit, cursor)).await
    }

    /// `GET /v1/third-parties/{id}` (admin)
    pub async fn third_party(&self, id: &str) -> Result<ThirdParty> {
        let path = format!("v1/third-parties/{}", encode_segment(id));
        self.send(self.request(Method::GET, &path)?).await
    }

    /// `PATCH /v1/third-parties/{id}` (admin): suspend or reinstate.
    pub async fn set_third_party_status(
        &self,
        id: &str,
        status: ThirdPartyStatus,
    ) -> Result<ThirdParty> {
        let path = format!("v1/third-parties/{}", encode_segment(id));
        self.send_json(Method::PATCH, &path, &UpdateThirdParty { status })
            .await
    }

    /// `GET /v1/me` (member)
    pub async fn me(&self) -> Result<Me> {
        self.send(self.request(Method::GET, "v1/me")?).await
    }

    /// `PATCH /v1/me` (member)
    pub async fn update_me(&self, body: &UpdateMe) -> Result<Me> {
        self.send_json(Method::PATCH, "v1/me", body).await
    }

    /// `DELETE /v1/me` (member): leave the co-op. Answers the log index
    /// of the departure's entry.
    pub async fn leave(&self) -> Result<Option<u64>> {
        self.send_empty(self.request(Method::DELETE, "v1/me")?)
            .await
    }

    /// `POST /v1/me/delegations` (member)
    pub async fn delegate(&self, body: &CreateDelegation) -> Result<Delegation> {
        self.send_json(Method::POST, "v1/me/delegations", body)
            .await
    }

    /// `GET /v1/me/delegations` (member)
    pub async fn my_delegations(&self) -> Result<Vec<Delegation>> {
        self.send(self.request(Method::GET, "v1/me/delegations")?)
            .await
    }

    /// `DELETE /v1/me/delegations/{id}` (member). Answers the log index of
    /// the revocation's entry.
    pub async fn revoke_delegation(&self, id: &str) -> Result<Option<u64>> {
        let path = format!("v1/me/delegations/{}", encode_segment(id));
        self.send_empty(self.request(Method::DELETE, &path)?).await
    }

    /// `GET /v1/me/delegators` (member): the count, and one page of the
    /// public delegators; pass `next_cursor` for the next.
    pub async fn delegators(&self) -> Result<Delegators> {
        self.delegators_page(None, None).await
    }

    /// `GET /v1/me/delegators?limit&cursor` (member).
    pub async fn delegators_page(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Delegators> {
        let request = self.request(Method::GET, "v1/me/delegators")?;
        self.send(page_query(request, limit, cursor)).await
    }

    /// `POST /v1/me/rules` (member)
    pub async fn create_my_rule(&self, body: &RuleBody) -> Result<Rule> {
        self.send_json(Method::POST, "v1/me/rules", body).await
    }

    /// `GET /v1/me/rules` (member)
    pub async fn my_rules(&self) -> Result<Vec<Rule>> {
        self.send(self.request(Method::GET, "v1/me/rules")?).await
    }

    /// `DELETE /v1/me/rules/{id}` (member). Answers the log index of the
    /// deletion's entry.
    pub async fn delete_my_rule(&self, id: &str) -> Result<Option<u64>> {
        let path = format!("v1/me/rules/{}", encode_segment(id));
        self.send_empty(self.request(Method::DELETE, &path)?).await
    }

    /// `POST /v1/coop/rules` (admin): deny only.
    pub async fn create_coop_rule(&self, body: &RuleBody) -> Result<Rule> {
        self.send_json(Method::POST, "v1/coop/rules", body).await
    }

    /// `GET /v1/coop/rules` (admin)
    pub async fn coop_rules(&self) -> Result<Vec<Rule>> {
        self.send(self.request(Method::GET, "v1/coop/rules")?).await
    }

    /// `DELETE /v1/coop/rules/{id}` (admin). Answers the log index of the
    /// deletion's entry.
    pub async fn delete_coop_rule(&self, id: &str) -> Result<Option<u64>> {
        let path = format!("v1/coop/rules/{}", encode_segment(id));
        self.send_empty(self.request(Method::DELETE, &path)?).await
    }

    /// `POST /v1/personas` (admin)
    pub async fn create_persona(&self, body: &CreatePersona) -> Result<Persona> {
        self.send_json(Method::POST, "v1/personas", body).await
    }

    /// `GET /v1/personas` (admin or member)
    pub async fn personas(&self) -> Result<Vec<Persona>> {
        self.send(self.request(Method::GET, "v1/personas")?).await
    }

    /// `POST /v1/decisions` (admin)
    pub async fn decide(&self, body: &DecisionRequest) -> Result<Decision> {
        self.send_json(Method::POST, "v1/decisions", body).await
    }

    /// `POST /v1/me/explain` (member)
    pub async fn explain(&self, body: &ExplainRequest) -> Result<Decision> {
        self.send_json(Method::POST, "v1/me/explain", body).await
    }

    /// `GET /v1/audit/checkpoint`: the log's signed checkpoint, as the
    /// note's text (check it with the key of `audit_key`).
    pub async fn audit_checkpoint(&self) -> Result<String> {
        self.send_text(self.request(Method::GET, "v1/audit/checkpoint")?)
            .await
    }

    /// `GET /v1/audit/key`: the verifier key that signs checkpoints.
    pub async fn audit_key(&self) -> Result<String> {
        let key = self
            .send_text(self.request(Method::GET, "v1/audit/key")?)
            .await?;
        Ok(key.trim_end().to_owned())
    }

    /// `GET /v1/audit/proof/inclusion?index&tree_size`
    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<InclusionProof> {
        let request = self
            .request(Method::GET, "v1/audit/proof/inclusion")?
            .query(&[("index", index), ("tree_size", tree_size)]);
        self.send(request).await
    }

    /// `GET /v1/audit/proof/consistency?first&second`
    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<ConsistencyProof> {
        let request = self
            .request(Method::GET, "v1/audit/proof/consistency")?
            .query(&[("first", first), ("second", second)]);
        self.send(request).await
    }

    /// `GET /v1/audit/entries/{index}` (admin, or the member it is about):
    /// the entry's exact bytes.
    pub async fn audit_entry(&self, index: u64) -> Result<Vec<u8>> {
        let path = format!("v1/audit/entries/{index}");
        let response =
            Self::check(Self::send_with_retries(self.request(Method::GET, &path)?).await?).await?;
        Ok(response.bytes().await?.to_vec())
    }

    /// `GET /v1/me/audit` (member): one page of the entries about the
    /// caller; pass `next_cursor` for the next.
    pub async fn my_audit(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        let request = self.request(Method::GET, "v1/me/audit")?;
        self.send(page_query(request, limit, cursor)).await
    }

    fn request(&self, method: Method, path: &str) -> Result<RequestBuilder> {
        let url = self.base.join(path)?;
        let request = self.http.request(method, url);
        Ok(match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.request(method, path)?.json(body)).await
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = Self::check(Self::send_with_retries(request).await?).await?;
        Ok(response.json().await?)
    }

    /// For calls answered 204 with no body: the write's log index, from
    /// its `Datacoop-Log-Index` header, when it logged one.
    async fn send_empty(&self, request: RequestBuilder) -> Result<Option<u64>> {
        let response = Self::check(Self::send_with_retries(request).await?).await?;
        Ok(log_index(&response))
    }

    async fn send_text(&self, request: RequestBuilder) -> Result<String> {
        let response = Self::check(Self::send_with_retries(request).await?).await?;
        Ok(response.text().await?)
    }

    /// Sends, and again after a pause when the broker answers 429 (rate
    /// limited) or 503 (unavailable): `Retry-After` when it says, otherwise
    /// 100 ms doubling each time.
    async fn send_with_retries(request: RequestBuilder) -> Result<reqwest::Response> {
        let mut pause = Duration::from_millis(100);
        for _ in 1..ATTEMPTS {
            let Some(retry) = request.try_clone() else {
                break;
            };
            let response = retry.send().await?;
            let status = response.status();
            if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE
            {
                return Ok(response);
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
                .map_or(pause, Duration::from_secs);
            tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
            pause *= 2;
        }
        Ok(request.send().await?)
    }

    /// The response when successful, its problem document as an error otherwise.
    async fn check(response: reqwest::Response) -> Result<reqwest::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await?;
        let problem = serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: String::from_utf8_lossy(&bytes).into_owned(),
            errors: Vec::new(),
        });
        Err(Error::Api {
            status,
            problem: Box::new(problem),
        })
    }
}

/// The `Datacoop-Log-Index` header of a write's answer.
fn log_index(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(LOG_INDEX_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The header in which every write answers the index of its entry in the
/// verifiable log (JSON answers also carry it as `log_index`).
pub const LOG_INDEX_HEADER: &str = "datacoop-log-index";

fn page_query(request: RequestBuilder, limit: Option<u32>, cursor: Option<&str>) -> RequestBuilder {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(limit) = limit {
        pairs.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor.to_owned()));
    }
    request.query(&pairs)
}

fn encode_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_join_with_or_without_a_trailing_slash() {
        for base in [
            "http://h:1",
            "http://h:1/",
            "http://h:1/coop",
            "http://h:1/coop/",
        ] {
            let client = Client::new(base).unwrap();
            let url = client.base.join("v1/me").unwrap();
            assert!(url.as_str().ends_with("/v1/me"), "{base} -> {url}");
            assert_eq!(url.as_str().contains("/coop/"), base.contains("coop"));
        }
    }

    /// A server that answers `503` (with `Retry-After: 0`) `failures`
    /// times, then the vocabulary; returns its address and a request count.
    async fn flaky_server(
        failures: usize,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = if n < failures {
                    let json = r#"{"type":"urn:datacoop:problem:unavailable","title":"x","status":503,"detail":"busy!"}"#;
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    )
                } else {
                    let json = r#"{"data_categories":[],"purposes":[],"requester_classes":[]}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    )
                };
                let _ = socket.write_all(body.as_bytes()).await;
            }
        });
        (format!("http://{address}"), count)
    }

    #[tokio::test]
    async fn unavailable_answers_are_retried_with_backoff() {
        let (url, count) = flaky_server(2).await;
        let vocabulary = Client::new(&url)
            .unwrap()
            .with_token("t")
            .vocabulary()
            .await
            .unwrap();
        assert!(vocabulary.data_categories.is_empty());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_stop_and_the_problem_is_returned() {
        let (url, count) = flaky_server(usize::MAX).await;
        let error = Client::new(&url)
            .unwrap()
            .with_token("t")
            .vocabulary()
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(error.problem().unwrap().detail, "busy!");
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            ATTEMPTS as usize
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_segment("tp_1/../x"), "tp_1%2F..%2Fx");
    }
}
