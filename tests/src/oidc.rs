//! A minimal OpenID Connect provider on loopback, for tests of the web
//! sign-in through the real binary without a browser: discovery, JWKS
//! (one Ed25519 key), an authorization endpoint that signs in whichever
//! account the test chose and redirects at once, and a token endpoint that
//! checks the client secret, the redirect URI and the PKCE verifier before
//! it issues an ID token carrying the request's nonce and, when the
//! `groups` scope was asked for, the account's groups. (The browser suite, `tests/browser/`, uses the npm
//! `oidc-provider` with its login screens instead.)
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test support: a provider that cannot serve should fail the test loudly"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "test-key";

/// An account the provider can sign in.
#[derive(Debug, Clone)]
pub struct Account {
    pub subject: String,
    /// The claim's name and its groups.
    pub groups: (String, Vec<String>),
}

#[derive(Debug)]
struct Pending {
    subject: String,
    nonce: String,
    challenge: String,
    redirect_uri: String,
    scope: String,
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: SigningKey,
    next: Mutex<Option<Account>>,
    accounts: Mutex<HashMap<String, Account>>,
    codes: Mutex<HashMap<String, Pending>>,
    /// Token requests refused, and why (for assertions).
    refusals: Mutex<Vec<String>>,
}

/// The running provider.
#[derive(Debug)]
pub struct TestOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestOidc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestOidc {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            client_id: "datacoop-test".to_owned(),
            client_secret: "test-client-secret-0123456789".to_owned(),
            key: SigningKey::from_bytes(&[7u8; 32]),
            next: Mutex::new(None),
            accounts: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            issuer,
            client_id: shared.client_id.clone(),
            client_secret: shared.client_secret.clone(),
            shared,
            task,
        }
    }

    /// The next authorization signs in `account`.
    pub fn sign_in_next(&self, account: Account) {
        *self.shared.next.lock().unwrap() = Some(account);
    }

    /// Why token requests were refused so far.
    pub fn refusals(&self) -> Vec<String> {
        self.shared.refusals.lock().unwrap().clone()
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let issuer = &shared.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": ["openid", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    let public = shared.key.verifying_key().to_bytes();
    axum::Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": KEY_ID,
        "x": URL_SAFE_NO_PAD.encode(public),
    }]}))
    .into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if field("client_id") != shared.client_id
        || field("response_type") != "code"
        || field("code_challenge_method") != "S256"
        || field("code_challenge").is_empty()
        || field("nonce").is_empty()
    {
        return (
            StatusCode::BAD_REQUEST,
            "not an authorization request of the test client",
        )
            .into_response();
    }
    let Some(account) = shared.next.lock().unwrap().take() else {
        return (StatusCode::FORBIDDEN, "no account chosen to sign in").into_response();
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    shared
        .accounts
        .lock()
        .unwrap()
        .insert(account.subject.clone(), account.clone());
    shared.codes.lock().unwrap().insert(
        code.clone(),
        Pending {
            subject: account.subject,
            nonce: field("nonce"),
            challenge: field("code_challenge"),
            redirect_uri: field("redirect_uri"),
            scope: field("scope"),
        },
    );
    let mut to = url::Url::parse(&field("redirect_uri")).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &field("state"));
    Redirect::to(to.as_str()).into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |why: &str| {
        shared.refusals.lock().unwrap().push(why.to_owned());
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", shared.client_id, shared.client_secret))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return refuse("client authentication failed");
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let Some(pending) = shared.codes.lock().unwrap().remove(&field("code")) else {
        return refuse("unknown or used code");
    };
    if field("redirect_uri") != pending.redirect_uri {
        return refuse("redirect_uri differs");
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != pending.challenge {
        return refuse("PKCE verifier does not match");
    }
    let account = shared.accounts.lock().unwrap()[&pending.subject].clone();
    let now = wall_clock();
    let mut claims = json!({
        "iss": shared.issuer, "sub": account.subject, "aud": shared.client_id,
        "iat": now, "exp": now + 300, "nonce": pending.nonce,
    });
    // Like many providers, groups only for the scope of that name.
    if pending.scope.split(' ').any(|scope| scope == "groups") {
        claims[account.groups.0.as_str()] = json!(account.groups.1);
    }
    axum::Json(json!({
        "access_token": uuid::Uuid::new_v4().simple().to_string(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": sign(&shared.key, &claims),
    }))
    .into_response()
}

/// A compact JWS (EdDSA) of `claims`.
fn sign(key: &SigningKey, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": KEY_ID});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

#[expect(
    clippy::disallowed_methods,
    reason = "a provider's tokens carry the wall clock's time, which the broker checks"
)]
fn wall_clock() -> i64 {
    chrono::Utc::now().timestamp()
}
