//! Signing in and out: one-time links (a confirming form, so a mail
//! scanner fetching the link does not use it up), the identity provider's
//! authorization code flow, and sign-out here or everywhere. Attempts are
//! rate limited per client address (`DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS`).

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::oidc::FLOW_COOKIE;
use super::page::{CONTENT_SECURITY_POLICY, CsrfForm, Layout, PageError, render, same_site};
use super::session::{SESSION_COOKIE, Visitor, host_cookie, removal};
use crate::app::sign_in;
use crate::credentials::TokenHash;
use crate::http::AppState;
use crate::http::ratelimit;
use crate::store::web::{Redeemed, SessionHolder, WebChange, WebSession};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(page))
        .route("/sign-in/link", get(confirm_link).post(use_link))
        .route("/sign-in/oidc", get(begin_oidc))
        .route("/sign-in/oidc/callback", get(oidc_callback))
        .route("/sign-out", post(sign_out))
        .route("/sign-out/everywhere", post(sign_out_everywhere))
}

/// The client address, for rate limiting.
#[derive(Debug, Clone, Copy)]
struct Peer(Option<IpAddr>);

impl FromRequestParts<AppState> for Peer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        Ok(Self(ratelimit::peer(&parts.extensions)))
    }
}

fn attempt(state: &AppState, Peer(peer): Peer) -> Result<(), PageError> {
    state
        .rate_limits
        .sign_in_from(peer)
        .map_err(|limited| PageError::TooMany {
            retry_after_secs: limited.retry_after_secs(),
        })
}

/// Where a session's holder starts.
fn home_of(holder: &SessionHolder) -> &'static str {
    if holder.member.is_some() {
        "/"
    } else {
        "/stewards"
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    l: Layout,
    ended: bool,
    left: bool,
    oidc: bool,
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    ended: Option<String>,
    left: Option<String>,
}

/// The request's path and query, for the language switcher to return to.
fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

/// `GET /sign-in`.
async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    if let Some(session) = &visitor.session {
        return Ok(Redirect::to(home_of(&session.holder)).into_response());
    }
    render(&SignInPage {
        l: Layout::visitor(visitor.tr, "sign-in-title", &here(&uri)),
        ended: query.ended.is_some(),
        left: query.left.is_some(),
        oidc: state.web.oidc.is_some(),
    })
}

#[derive(Debug, Deserialize)]
struct LinkToken {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "sign_in_link.html")]
struct LinkPage {
    l: Layout,
    token: String,
    /// A member's link while an identity provider is configured: it
    /// links the account the member signs in with.
    enrol: bool,
    steward: bool,
}

/// `GET /sign-in/link?token=…`: a button that uses the link. Nothing is
/// used up by fetching this page. An enrolment's form leads on to the
/// identity provider, so its page lets forms go there too.
async fn confirm_link(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Query(link): Query<LinkToken>,
) -> Result<Response, PageError> {
    let holder = sign_in::link_holder(state.store.as_ref(), &link.token, state.clock.now())
        .await?
        .ok_or(PageError::Gone)?;
    let provider = state.web.oidc.as_ref().filter(|_| holder.is_some());
    let mut page = render(&LinkPage {
        l: Layout::visitor(visitor.tr, "sign-in-title", &here(&uri)),
        token: link.token,
        enrol: provider.is_some(),
        steward: holder.is_none(),
    })?;
    if let Some(provider) = provider {
        let targets = provider.form_targets().await.join(" ");
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {targets}"),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            page.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(page)
}

/// `POST /sign-in/link`: uses the link. A steward's link, or a member's
/// without an identity provider, opens a session; a member's with one
/// goes on to the provider, whose account is then linked to the member.
async fn use_link(
    State(state): State<AppState>,
    peer: Peer,
    jar: CookieJar,
    headers: HeaderMap,
    Form(link): Form<LinkToken>,
) -> Result<Response, PageError> {
    attempt(&state, peer)?;
    same_site(&headers, &state)?;
    let now = state.clock.now();
    let member = sign_in::link_holder(state.store.as_ref(), &link.token, now)
        .await?
        .ok_or(PageError::Gone)?;
    if let (Some(member), Some(oidc)) = (&member, &state.web.oidc) {
        let begun = oidc
            .begin(Some(member.clone()), now)
            .await
            .map_err(oidc_failed)?;
        if !sign_in::redeem_link(
            state.store.as_ref(),
            &link.token,
            now,
            Redeemed::Flow(begun.flow),
        )
        .await?
        {
            return Err(PageError::Gone);
        }
        let cookie = host_cookie(FLOW_COOKIE, begun.cookie.expose_secret().to_owned());
        return Ok((jar.add(cookie), Redirect::to(begun.authorize.as_str())).into_response());
    }
    let holder = SessionHolder {
        steward: member.is_none(),
        member,
    };
    let (token, session) = sign_in::new_session(holder, state.web.times, now)?;
    let home = home_of(&session.holder);
    if !sign_in::redeem_link(
        state.store.as_ref(),
        &link.token,
        now,
        Redeemed::Session(session),
    )
    .await?
    {
        return Err(PageError::Gone);
    }
    Ok(signed_in(jar, token.expose_secret(), home))
}

/// The answer that sets the session cookie and opens `home`.
fn signed_in(jar: CookieJar, token: &str, home: &str) -> Response {
    let jar = jar
        .add(host_cookie(SESSION_COOKIE, token.to_owned()))
        .remove(removal(FLOW_COOKIE));
    (jar, Redirect::to(home)).into_response()
}

fn oidc_failed(error: super::oidc::OidcError) -> PageError {
    match error {
        super::oidc::OidcError::Unreachable(cause) => {
            tracing::warn!(%cause, "the identity provider is unreachable");
            PageError::Unavailable
        }
        super::oidc::OidcError::Refused(cause) => {
            tracing::warn!(%cause, "the identity provider's answer was refused");
            PageError::BadRequest("error-oidc-refused")
        }
        super::oidc::OidcError::Random(error) => {
            tracing::error!(%error, "no randomness for a sign-in");
            PageError::Internal
        }
    }
}

/// `GET /sign-in/oidc`: off to the identity provider.
async fn begin_oidc(
    State(state): State<AppState>,
    peer: Peer,
    jar: CookieJar,
) -> Result<Response, PageError> {
    attempt(&state, peer)?;
    let oidc = state.web.oidc.as_ref().ok_or(PageError::NotFound)?;
    let begun = oidc
        .begin(None, state.clock.now())
        .await
        .map_err(oidc_failed)?;
    state.store.web(WebChange::BeginFlow(begun.flow)).await?;
    let cookie = host_cookie(FLOW_COOKIE, begun.cookie.expose_secret().to_owned());
    Ok((jar.add(cookie), Redirect::to(begun.authorize.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /sign-in/oidc/callback`: the provider's answer. It must come to
/// the browser that began the flow (its cookie), carry the flow's
/// `state`, and its code must give an ID token with the flow's nonce.
async fn oidc_callback(
    State(state): State<AppState>,
    peer: Peer,
    jar: CookieJar,
    Query(answer): Query<Callback>,
) -> Result<Response, PageError> {
    attempt(&state, peer)?;
    let oidc = state.web.oidc.as_ref().ok_or(PageError::NotFound)?;
    let now = state.clock.now();
    let flow_id = jar
        .get(FLOW_COOKIE)
        .map(|cookie| TokenHash::of(cookie.value()))
        .ok_or(PageError::BadRequest("error-oidc-no-flow"))?;
    let flow = state
        .store
        .oidc_flow(&flow_id)
        .await?
        .filter(|flow| now < flow.expires_at)
        .ok_or(PageError::BadRequest("error-oidc-no-flow"))?;
    let same_state = answer.state.as_deref().is_some_and(|given| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            flow.state.as_bytes(),
        ))
    });
    if !same_state {
        return Err(PageError::BadRequest("error-oidc-no-flow"));
    }
    if answer.error.is_some() {
        return Err(PageError::BadRequest("error-oidc-refused"));
    }
    let code = answer
        .code
        .ok_or(PageError::BadRequest("error-oidc-refused"))?;
    let signed = oidc.finish(&flow, &code).await.map_err(oidc_failed)?;
    let (member, link) = match flow.enrol.clone() {
        Some(member) => (Some(member), Some(signed.identity)),
        None => (
            state.store.member_by_identity(&signed.identity).await?,
            None,
        ),
    };
    if member.is_none() && !signed.steward {
        return Err(PageError::Forbidden);
    }
    let holder = SessionHolder {
        member,
        steward: signed.steward,
    };
    let (token, session) = sign_in::new_session(holder, state.web.times, now)?;
    let home = home_of(&session.holder);
    match sign_in::finish_flow(state.store.as_ref(), flow.id, link, session).await {
        Ok(true) => Ok(signed_in(jar, token.expose_secret(), home)),
        Ok(false) => Err(PageError::BadRequest("error-oidc-no-flow")),
        Err(crate::app::AppError::Conflict(_)) => {
            Err(PageError::Conflict("error-oidc-linked-elsewhere"))
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
struct NoFields {}

fn session_of(visitor: &Visitor) -> Result<&WebSession, PageError> {
    visitor
        .session
        .as_ref()
        .ok_or(PageError::SignIn { expired: false })
}

/// `POST /sign-out`: ends this session.
async fn sign_out(
    State(state): State<AppState>,
    visitor: Visitor,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    sign_in::sign_out(state.store.as_ref(), session_of(&visitor)?).await?;
    Ok((
        jar.remove(removal(SESSION_COOKIE)),
        Redirect::to("/sign-in"),
    )
        .into_response())
}

/// `POST /sign-out/everywhere`: ends every session of this holder.
async fn sign_out_everywhere(
    State(state): State<AppState>,
    visitor: Visitor,
    jar: CookieJar,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    sign_in::sign_out_everywhere(state.store.as_ref(), session_of(&visitor)?).await?;
    Ok((
        jar.remove(removal(SESSION_COOKIE)),
        Redirect::to("/sign-in"),
    )
        .into_response())
}
