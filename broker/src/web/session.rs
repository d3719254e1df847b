//! Who a page's request is: the session cookie (`__Host-`, `Secure`,
//! `HttpOnly`, `SameSite=Lax`) names a session stored in the database, by
//! its hash. A session ends after `DATACOOP_SESSION_IDLE_SECS` without a
//! request, at `DATACOOP_SESSION_MAX_SECS` whatever happens, on sign-out,
//! and when its member leaves.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use super::i18n::{Lang, Tr};
use super::page::PageError;
use crate::credentials::TokenHash;
use crate::domain::Member;
use crate::http::AppState;
use crate::store::web::{WebChange, WebSession};

/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-datacoop-session";

/// How stale `seen_at` may get before a request writes it again (or a
/// quarter of the idle timeout, if shorter): the idle timeout is kept to
/// within this.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A `__Host-` cookie: this host only, every path, HTTPS only (browsers
/// count `http://localhost` as secure), out of scripts' reach, not sent
/// with other sites' requests.
pub fn host_cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .build()
}

/// The same cookie, expired.
pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut cookie = host_cookie(name, String::new());
    cookie.make_removal();
    cookie
}

/// The signed-in session of the request, if any (an ended one is none).
async fn current(parts: &Parts, state: &AppState) -> Result<Option<WebSession>, PageError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    let id = TokenHash::of(cookie.value());
    let Some(session) = state.store.web_session(&id).await? else {
        return Err(PageError::SignIn { expired: true });
    };
    let now = state.clock.now();
    let idle = chrono::TimeDelta::from_std(state.web.idle()).unwrap_or(chrono::TimeDelta::days(1));
    if now >= session.expires_at || now - session.seen_at >= idle {
        // Ended: forgotten now rather than at the next sign-in's sweep.
        state.store.web(WebChange::End { id }).await?;
        return Err(PageError::SignIn { expired: true });
    }
    // Often enough that a busy session never ends idle, even under a
    // short idle timeout.
    if now - session.seen_at >= TOUCH_EVERY.min(idle / 4) {
        state
            .store
            .web(WebChange::Touch {
                id: session.id.clone(),
                at: now,
            })
            .await?;
    }
    Ok(Some(session))
}

/// Anyone: the page's language, and the session if signed in.
#[derive(Debug)]
pub struct Visitor {
    pub tr: Tr,
    pub session: Option<WebSession>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let tr = Tr::new(Lang::negotiate(&parts.headers));
        let session = match current(parts, state).await {
            Ok(session) => session,
            // An ended session on a public page is no session.
            Err(PageError::SignIn { .. }) => None,
            Err(error) => return Err(error),
        };
        if let Some(session) = &session {
            parts.extensions.insert(session.clone());
        }
        Ok(Self { tr, session })
    }
}

/// A signed-in member, on the members' pages.
#[derive(Debug)]
pub struct MemberPage {
    pub tr: Tr,
    pub session: WebSession,
    pub member: Member,
}

impl FromRequestParts<AppState> for MemberPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let tr = Tr::new(Lang::negotiate(&parts.headers));
        let session = current(parts, state)
            .await?
            .ok_or(PageError::SignIn { expired: false })?;
        let Some(id) = &session.holder.member else {
            return Err(PageError::Forbidden);
        };
        let member = state
            .store
            .member(id)
            .await?
            .ok_or(PageError::SignIn { expired: true })?;
        parts.extensions.insert(session.clone());
        Ok(Self {
            tr,
            session,
            member,
        })
    }
}

/// A signed-in steward, on the stewards' pages.
#[derive(Debug)]
pub struct StewardPage {
    pub tr: Tr,
    pub session: WebSession,
}

impl FromRequestParts<AppState> for StewardPage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let tr = Tr::new(Lang::negotiate(&parts.headers));
        let session = current(parts, state)
            .await?
            .ok_or(PageError::SignIn { expired: false })?;
        if !session.holder.steward {
            return Err(PageError::Forbidden);
        }
        parts.extensions.insert(session.clone());
        Ok(Self { tr, session })
    }
}
