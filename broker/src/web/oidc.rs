//! Signing in through the co-op's OpenID Connect provider: the
//! authorization code flow with PKCE, `state` and `nonce` checked, the ID
//! token's signature, issuer, audience and expiry verified by the
//! `openidconnect` crate. Its HTTP calls go through our reqwest client
//! with redirects off (a redirect from the provider's endpoints is an
//! error, not something to follow).
//!
//! The provider's metadata and keys are discovered at the first sign-in
//! and again an hour later, so the broker starts whether or not the
//! provider is up, and key rotation is picked up.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::credentials::{TokenHash, generate_secret};
use crate::domain::MemberId;
use crate::store::web::{FLOW_LIFETIME, Identity, OidcFlow};

/// The cookie that ties a sign-in under way to the browser that began it.
pub const FLOW_COOKIE: &str = "__Host-datacoop-oidc";

/// How long discovered metadata and keys are used before asking again.
const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);

/// The most bytes read of one answer of the provider.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Claims of the ID token beyond the standard ones; the groups claim is
/// read from them by the name configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The co-op's identity provider, as configured.
#[derive(Debug)]
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: SecretString,
    redirect: RedirectUrl,
    /// Asked for beside `openid` (the groups claim is often released only
    /// for a scope of its own).
    scopes: Vec<String>,
    groups_claim: String,
    steward_group: String,
    http: reqwest::Client,
    discovered: RwLock<Option<(tokio::time::Instant, Arc<ProviderClient>)>>,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider is unreachable: {0}")]
    Unreachable(String),
    /// The answer does not belong to this sign-in, or its ID token does
    /// not verify.
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Random(#[from] crate::credentials::RandomError),
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct SignedInAs {
    pub identity: Identity,
    /// Whether the groups claim names the stewards' group.
    pub steward: bool,
}

/// Where to send the browser, and what to remember meanwhile.
#[derive(Debug)]
pub struct Begun {
    /// The cookie's value; its hash is the flow's key.
    pub cookie: SecretString,
    pub flow: OidcFlow,
    pub authorize: url::Url,
}

impl Oidc {
    pub fn new(
        issuer: &url::Url,
        client_id: String,
        client_secret: SecretString,
        public_url: &url::Url,
        scopes: Vec<String>,
        groups_claim: String,
        steward_group: String,
    ) -> Result<Self, OidcError> {
        let mut redirect = public_url.clone();
        redirect.set_path("/sign-in/oidc/callback");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| OidcError::Unreachable(error.to_string()))?;
        Ok(Self {
            // The issuer as written: it must equal the discovery
            // document's, which the crate checks.
            issuer: IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())
                .map_err(|error| OidcError::Unreachable(error.to_string()))?,
            client_id: ClientId::new(client_id),
            client_secret,
            redirect: RedirectUrl::from_url(redirect),
            scopes,
            groups_claim,
            steward_group,
            http,
            discovered: RwLock::new(None),
        })
    }

    /// The provider's client, discovered at most an hour ago.
    async fn client(&self) -> Result<Arc<ProviderClient>, OidcError> {
        if let Some((at, client)) = self.discovered.read().await.as_ref()
            && at.elapsed() < REDISCOVER_AFTER
        {
            return Ok(Arc::clone(client));
        }
        let http = |request| send(self.http.clone(), request);
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &http)
            .await
            .map_err(|error| OidcError::Unreachable(describe(&error)))?;
        let client = Arc::new(
            ProviderClient::from_provider_metadata(
                metadata,
                self.client_id.clone(),
                Some(ClientSecret::new(
                    self.client_secret.expose_secret().to_owned(),
                )),
            )
            .set_redirect_uri(self.redirect.clone()),
        );
        *self.discovered.write().await = Some((tokio::time::Instant::now(), Arc::clone(&client)));
        Ok(client)
    }

    /// The origins a form's redirect reaches at the provider (its
    /// issuer's and, once discovered, its authorization endpoint's), for a
    /// page whose form leads there to name in its `form-action`.
    pub async fn form_targets(&self) -> Vec<String> {
        let mut origins = vec![self.issuer.url().origin().ascii_serialization()];
        if let Ok(client) = self.client().await {
            let authorize = client.auth_uri().url().origin().ascii_serialization();
            if !origins.contains(&authorize) {
                origins.push(authorize);
            }
        }
        origins
    }

    /// Begins a sign-in (linking the account to `enrol` when given).
    pub async fn begin(
        &self,
        enrol: Option<MemberId>,
        now: DateTime<Utc>,
    ) -> Result<Begun, OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let cookie = generate_secret("")?;
        let flow = OidcFlow {
            id: TokenHash::of(cookie.expose_secret()),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            enrol,
            expires_at: now + FLOW_LIFETIME,
        };
        Ok(Begun {
            cookie,
            flow,
            authorize,
        })
    }

    /// Finishes `flow` with the provider's answer: the code is exchanged
    /// (with the PKCE verifier) and the ID token verified (signature,
    /// issuer, audience, expiry, and the flow's nonce). The caller has
    /// checked `state`.
    pub async fn finish(&self, flow: &OidcFlow, code: &str) -> Result<SignedInAs, OidcError> {
        let client = self.client().await?;
        let http = |request| send(self.http.clone(), request);
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Unreachable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|error| OidcError::Refused(describe(&error)))?;
        let token = answer
            .id_token()
            .ok_or_else(|| OidcError::Refused("no ID token".to_owned()))?;
        let claims = token
            .claims(&client.id_token_verifier(), &Nonce::new(flow.nonce.clone()))
            .map_err(|error| OidcError::Refused(error.to_string()))?;
        let steward = match claims.additional_claims().rest.get(&self.groups_claim) {
            Some(serde_json::Value::Array(groups)) => groups
                .iter()
                .any(|group| group.as_str() == Some(self.steward_group.as_str())),
            Some(serde_json::Value::String(group)) => *group == self.steward_group,
            _ => false,
        };
        Ok(SignedInAs {
            identity: Identity {
                issuer: claims.issuer().as_str().to_owned(),
                subject: claims.subject().as_str().to_owned(),
            },
            steward,
        })
    }
}

/// An error with its causes, for the log (no secrets: the crate's errors
/// carry URLs and status codes, not tokens).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the answer could not be read: {0}")]
    Answer(#[from] http::Error),
}

/// One request to the provider, redirects not followed, the answer read
/// up to `MAX_ANSWER_BYTES`.
async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request)?;
    let mut answer = http.execute(request).await?;
    let mut builder = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        builder = builder.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(builder.body(body)?)
}
