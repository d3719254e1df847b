//! Signing in to the web pages: one-time sign-in links (issued by the CLI
//! and `POST /v1/members/{id}/sign-in-links`), and sessions. The identity
//! provider's part of the flow is the web edge's (`web::oidc`); what is
//! stored, and when, is decided here.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::AppError;
use crate::credentials::{TokenHash, generate_secret};
use crate::domain::MemberId;
use crate::store::Store;
use crate::store::web::{
    Identity, LINK_LIFETIME, Redeemed, SessionHolder, SignInLink, WebChange, WebSession,
};

/// The prefix of sign-in link tokens.
pub const LINK_PREFIX: &str = "dcl_";
/// The prefix of session cookies' values.
pub const SESSION_PREFIX: &str = "dcw_";

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimes {
    /// Without a request.
    pub idle: Duration,
    /// At most.
    pub max: Duration,
}

impl Default for SessionTimes {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            max: Duration::from_secs(12 * 3600),
        }
    }
}

fn random(prefix: &str) -> Result<SecretString, AppError> {
    Ok(generate_secret(prefix)?)
}

/// A sign-in link for `member` (a steward's when `None`), working once
/// within 15 minutes: its address under `public_url`, and its end.
pub async fn issue_link(
    store: &dyn Store,
    public_url: &url::Url,
    member: Option<MemberId>,
    now: DateTime<Utc>,
) -> Result<(url::Url, DateTime<Utc>), AppError> {
    let token = random(LINK_PREFIX)?;
    let expires_at = now + LINK_LIFETIME;
    store
        .web(WebChange::IssueLink(SignInLink {
            token: TokenHash::of(token.expose_secret()),
            member: member.clone(),
            created_at: now,
            expires_at,
        }))
        .await?;
    tracing::info!(
        steward = member.is_none(),
        member = member.as_ref().map(MemberId::as_str),
        "sign-in link issued"
    );
    let mut url = public_url.clone();
    url.set_path("/sign-in/link");
    url.query_pairs_mut()
        .append_pair("token", token.expose_secret());
    Ok((url, expires_at))
}

/// The member a link signs in (`Some(None)`: a steward's link), when it
/// is stored and unexpired at `now`.
pub async fn link_holder(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Option<MemberId>>, AppError> {
    if !token.starts_with(LINK_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    Ok(store
        .sign_in_link(&TokenHash::of(token))
        .await?
        .filter(|(_, expires_at)| now < *expires_at)
        .map(|(member, _)| member))
}

/// A new session for `holder`, not stored yet: the cookie's value and the
/// row.
pub fn new_session(
    holder: SessionHolder,
    times: SessionTimes,
    now: DateTime<Utc>,
) -> Result<(SecretString, WebSession), AppError> {
    let token = random(SESSION_PREFIX)?;
    let csrf = random("")?;
    // Settings keep it within 30 days, far from chrono's limits.
    let max = TimeDelta::from_std(times.max).unwrap_or(TimeDelta::days(30));
    let session = WebSession {
        id: TokenHash::of(token.expose_secret()),
        holder,
        csrf: csrf.expose_secret().to_owned(),
        created_at: now,
        seen_at: now,
        expires_at: now + max,
    };
    Ok((token, session))
}

/// Uses up the link `token` and opens `then`; false when the link was
/// used or expired meanwhile.
pub async fn redeem_link(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
    then: Redeemed,
) -> Result<bool, AppError> {
    let redeemed = store
        .web(WebChange::RedeemLink {
            token: TokenHash::of(token),
            at: now,
            then,
        })
        .await?;
    if redeemed {
        tracing::info!("sign-in link used");
    }
    Ok(redeemed)
}

/// Opens `session` at the end of an identity provider's sign-in, ending
/// its flow and linking `link` to the session's member when given. False
/// when the flow had already ended (an answer replayed).
pub async fn finish_flow(
    store: &dyn Store,
    flow: TokenHash,
    link: Option<Identity>,
    session: WebSession,
) -> Result<bool, AppError> {
    let linked = link.is_some();
    let finished = store
        .web(WebChange::FinishFlow {
            flow,
            link,
            session,
        })
        .await
        .map_err(|error| match error {
            crate::store::StoreError::Conflict => {
                AppError::Conflict("that account is already linked to another member")
            }
            error => error.into(),
        })?;
    if finished {
        tracing::info!(linked, "signed in through the identity provider");
    }
    Ok(finished)
}

/// Ends one session.
pub async fn sign_out(store: &dyn Store, session: &WebSession) -> Result<(), AppError> {
    store
        .web(WebChange::End {
            id: session.id.clone(),
        })
        .await?;
    Ok(())
}

/// Ends every session of the session's member, and if it is a steward's,
/// every steward's session.
pub async fn sign_out_everywhere(store: &dyn Store, session: &WebSession) -> Result<(), AppError> {
    store.web(WebChange::EndAll(session.holder.clone())).await?;
    tracing::info!(
        member = session.holder.member.as_ref().map(MemberId::as_str),
        steward = session.holder.steward,
        "signed out everywhere"
    );
    Ok(())
}
