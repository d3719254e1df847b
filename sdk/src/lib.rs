//! Typed Rust client for the datacoop consent broker.
//!
//! One [`Client`] per bearer token: the co-op's admin token, a member's
//! token, or (with the service-layer endpoints) a third party's access
//! token. Every error the broker answers arrives as [`Error::Api`] with
//! its RFC 9457 problem document. [`webhook`] checks the signed events
//! the broker sends to third parties.
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
pub mod webhook;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The JSON shapes of the HTTP interface.
pub use datacoop_wire as wire;
pub use third_party::ThirdPartyClient;
use wire::{
    AuditEntry, ConsistencyProof, CreateDelegation, CreateMember, CreatePersona, CreateThirdParty,
    CreatedMember, CreatedThirdParty, Decision, DecisionRequest, Delegation, Delegators, Delivery,
    DeliveryState, ExplainRequest, Health, InclusionProof, Me, MemberSummary, Page, Persona,
    Problem, Rule, RuleBody, ThirdParty, ThirdPartyStatus, UpdateMe, UpdateThirdParty, Vocabulary,
    Withdrawal,
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

    /// `DELETE /v1/me/connections/{third_party}` (member): disconnect from
    /// a third party, which is sent a `consent.withdrawn` webhook for the
    /// data it received. Answers the log index of the disconnection's entry.
    pub async fn disconnect(&self, third_party: &str) -> Result<Option<u64>> {
        let path = format!("v1/me/connections/{}", encode_segment(third_party));
        self.send_empty(self.request(Method::DELETE, &path)?).await
    }

    /// `GET /v1/me/withdrawals` (member), newest first: who was told to
    /// delete what, whether it was delivered, and whether deletion was
    /// confirmed.
    pub async fn my_withdrawals(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Withdrawal>> {
        let request = self.request(Method::GET, "v1/me/withdrawals")?;
        self.send(page_query(request, limit, cursor)).await
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

    /// `POST /v1/datasets` (admin): define an aggregate dataset.
    pub async fn create_dataset(&self, body: &wire::CreateDataset) -> Result<wire::Dataset> {
        self.send_json(Method::POST, "v1/datasets", body).await
    }

    /// `GET /v1/datasets/{id}` (admin), with its privacy budget.
    pub async fn dataset(&self, id: &str) -> Result<wire::Dataset> {
        self.get_json(&format!("v1/datasets/{id}")).await
    }

    /// `POST /v1/licenses` (admin): license a dataset to a third party.
    pub async fn create_license(&self, body: &wire::CreateLicense) -> Result<wire::License> {
        self.send_json(Method::POST, "v1/licenses", body).await
    }

    /// `PATCH /v1/licenses/{id}` (admin): `revoked` ends a license.
    pub async fn update_license(
        &self,
        id: &str,
        body: &wire::UpdateLicense,
    ) -> Result<wire::License> {
        self.send_json(Method::PATCH, &format!("v1/licenses/{id}"), body)
            .await
    }

    /// `POST /v1/licenses/{id}/builds` (admin): build the license's
    /// dataset now; answers the release the licensee will receive.
    pub async fn build_license(&self, id: &str) -> Result<wire::Release> {
        self.send(self.request(Method::POST, &format!("v1/licenses/{id}/builds"))?)
            .await
    }

    /// `GET /v1/me/dataset-builds` (member): the builds that counted me.
    pub async fn my_dataset_builds(&self) -> Result<Page<wire::CountedBuild>> {
        self.get_json("v1/me/dataset-builds").await
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
        let body = UpdateThirdParty {
            status: Some(status),
            webhook_url: None,
        };
        self.update_third_party(id, &body).await
    }

    /// `PATCH /v1/third-parties/{id}` (admin): its status, its webhook
    /// endpoint, or both.
    pub async fn update_third_party(
        &self,
        id: &str,
        body: &UpdateThirdParty,
    ) -> Result<ThirdParty> {
        let path = format!("v1/third-parties/{}", encode_segment(id));
        self.send_json(Method::PATCH, &path, body).await
    }

    /// `GET /v1/deletion-receipts?overdue=true` (admin): the withdrawals
    /// whose receivers have not confirmed deletion in time, a page at a
    /// time; pass `next_cursor` for the next.
    pub async fn overdue_deletion_receipts(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>> {
        let request = self
            .request(Method::GET, "v1/deletion-receipts")?
            .query(&[("overdue", "true")]);
        self.send(page_query(request, limit, cursor)).await
    }

    /// `GET /v1/webhook-deliveries?state` (admin): the events sent to third
    /// parties, those in `state` only when given, a page at a time; pass
    /// `next_cursor` for the next.
    pub async fn webhook_deliveries(
        &self,
        state: Option<DeliveryState>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>> {
        let mut request = self.request(Method::GET, "v1/webhook-deliveries")?;
        if let Some(state) = state {
            request = request.query(&[("state", state.as_str())]);
        }
        self.send(page_query(request, limit, cursor)).await
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

    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)?).await
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

    /// One request as a [`recording_server`] saw it.
    #[derive(Debug, Clone)]
    struct Recorded {
        /// `METHOD target HTTP/1.1`
        line: String,
        head: String,
        body: String,
    }

    type Log = std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>;

    fn answer(status: &str, extra_headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n{extra_headers}\r\n{body}",
            body.len()
        )
    }

    /// A server that records every request and answers them with
    /// `answers` in turn (the last one again once they run out), except
    /// the OAuth2 token endpoint, which always hands out `tok_1`.
    async fn recording_server(answers: Vec<String>) -> (String, Log) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let log = Log::default();
        let seen = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            let mut answers = std::collections::VecDeque::from(answers);
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut bytes = Vec::new();
                let mut buffer = [0u8; 4096];
                let head_end = loop {
                    if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end;
                    }
                    let n = socket.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the request ended before its headers");
                    bytes.extend_from_slice(&buffer[..n]);
                };
                let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|line| {
                        let line = line.to_ascii_lowercase();
                        let value = line.strip_prefix("content-length:")?;
                        Some(value.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                while bytes.len() < head_end + 4 + length {
                    let n = socket.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the request ended before its body");
                    bytes.extend_from_slice(&buffer[..n]);
                }
                let body = String::from_utf8_lossy(&bytes[head_end + 4..head_end + 4 + length])
                    .into_owned();
                let line = head.lines().next().unwrap().to_owned();
                let response = if line.starts_with("POST /oauth2/token ") {
                    answer(
                        "200 OK",
                        "",
                        r#"{"access_token":"tok_1","token_type":"Bearer","expires_in":3600}"#,
                    )
                } else if answers.len() > 1 {
                    answers.pop_front().unwrap()
                } else {
                    answers.front().unwrap().clone()
                };
                seen.lock().unwrap().push(Recorded { line, head, body });
                socket.write_all(response.as_bytes()).await.unwrap();
            }
        });
        (format!("http://{address}"), log)
    }

    fn lines(log: &Log) -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .map(|recorded| recorded.line.clone())
            .collect()
    }

    #[tokio::test]
    async fn disconnect_escapes_the_third_party_and_answers_the_log_index() {
        let (url, log) = recording_server(vec![answer(
            "204 No Content",
            "datacoop-log-index: 7\r\n",
            "",
        )])
        .await;
        let member = Client::new(&url).unwrap().with_token("dcm_1");
        assert_eq!(member.disconnect("tp_1/x").await.unwrap(), Some(7));
        assert_eq!(lines(&log), ["DELETE /v1/me/connections/tp_1%2Fx HTTP/1.1"]);
        assert!(
            log.lock().unwrap()[0]
                .head
                .to_ascii_lowercase()
                .contains("authorization: bearer dcm_1")
        );
    }

    #[tokio::test]
    async fn withdrawals_and_deliveries_are_read_a_page_at_a_time() {
        let delivery = serde_json::json!({
            "event_id": "evt_1",
            "type": "consent.withdrawn",
            "third_party": "tp_1",
            "member": "mem_1",
            "purpose": "research.academic",
            "categories": ["health.heart"],
            "state": "failed",
            "attempts": 9,
            "sent_at": "2026-03-01T12:00:00Z",
            "failed_at": "2026-03-04T12:00:00Z",
            "last_error": "503",
            "log_index": 12
        });
        let page = serde_json::json!({ "items": [delivery], "next_cursor": "c_2" }).to_string();
        let (url, log) = recording_server(vec![answer("200 OK", "", &page)]).await;
        let steward = Client::new(&url).unwrap().with_token("dca_1");

        let overdue = steward
            .overdue_deletion_receipts(Some(2), None)
            .await
            .unwrap();
        assert_eq!(overdue.next_cursor.as_deref(), Some("c_2"));
        assert_eq!(overdue.items[0].state, DeliveryState::Failed);
        steward
            .webhook_deliveries(Some(DeliveryState::Failed), None, Some("c/1"))
            .await
            .unwrap();
        steward.webhook_deliveries(None, None, None).await.unwrap();

        let (url, member_log) =
            recording_server(vec![answer("200 OK", "", r#"{"items":[]}"#)]).await;
        let member = Client::new(&url).unwrap().with_token("dcm_1");
        let withdrawals = member.my_withdrawals(Some(5), Some("c_1")).await.unwrap();
        assert!(withdrawals.items.is_empty());
        assert_eq!(withdrawals.next_cursor, None);

        assert_eq!(
            lines(&log),
            [
                "GET /v1/deletion-receipts?overdue=true&limit=2 HTTP/1.1",
                "GET /v1/webhook-deliveries?state=failed&cursor=c%2F1 HTTP/1.1",
                "GET /v1/webhook-deliveries HTTP/1.1",
            ]
        );
        assert_eq!(
            lines(&member_log),
            ["GET /v1/me/withdrawals?limit=5&cursor=c_1 HTTP/1.1"]
        );
    }

    #[tokio::test]
    async fn a_third_party_sets_its_webhook_and_confirms_deletions() {
        let endpoint = r#"{"url":"https://lab.example/hooks","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
        let receipt = r#"{"event_id":"evt_1","confirmed_at":"2026-03-01T12:00:00Z","log_index":9}"#;
        let (url, log) = recording_server(vec![
            answer("200 OK", "", endpoint),
            answer("200 OK", "", endpoint),
            answer("201 Created", "", receipt),
            answer("200 OK", "", receipt),
        ])
        .await;
        let lab = ThirdPartyClient::new(&url, "dcc_1", "dcs_1").unwrap();

        let set = lab.set_webhook("https://lab.example/hooks").await.unwrap();
        assert!(set.secret.starts_with("whsec_"));
        webhook::Verifier::new(&set.secret).unwrap();
        lab.rotate_webhook_secret().await.unwrap();
        let first = lab.confirm_deletion("evt_1").await.unwrap();
        let again = lab.confirm_deletion("evt_1").await.unwrap();
        assert_eq!(first, again);
        assert_eq!(first.log_index, Some(9));

        let recorded = log.lock().unwrap().clone();
        let calls: Vec<(&str, &str)> = recorded
            .iter()
            .filter(|call| !call.line.starts_with("POST /oauth2/token "))
            .map(|call| (call.line.as_str(), call.body.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                (
                    "PUT /v1/third-parties/me/webhook HTTP/1.1",
                    r#"{"url":"https://lab.example/hooks"}"#
                ),
                ("POST /v1/third-parties/me/webhook/secret HTTP/1.1", ""),
                (
                    "POST /v1/deletion-receipts HTTP/1.1",
                    r#"{"event_id":"evt_1"}"#
                ),
                (
                    "POST /v1/deletion-receipts HTTP/1.1",
                    r#"{"event_id":"evt_1"}"#
                ),
            ]
        );
        assert!(
            recorded
                .iter()
                .filter(|call| !call.line.starts_with("POST /oauth2/token "))
                .all(|call| call
                    .head
                    .to_ascii_lowercase()
                    .contains("authorization: bearer tok_1"))
        );
    }
}
