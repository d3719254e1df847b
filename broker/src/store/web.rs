//! What the web pages' sign-in keeps: one-time sign-in links, OpenID
//! Connect sign-ins under way, identity-provider accounts linked to
//! members, and sessions (migration `0012_web_sign_in`). None of it is a
//! consent fact: no change here has a log entry or an effect on the
//! mirror, but every write still goes through the one commit seam
//! (`Change::Web`), so it is whole or absent whatever the client does.
//!
//! Every secret a browser or a link carries is stored as its SHA-256.

use chrono::{DateTime, Utc};

use crate::credentials::TokenHash;
use crate::domain::MemberId;

/// A one-time sign-in link: a member's, or (with no member) a steward's.
#[derive(Debug, Clone)]
pub struct SignInLink {
    pub token: TokenHash,
    pub member: Option<MemberId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Who a session signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHolder {
    /// The member whose pages it opens, if any.
    pub member: Option<MemberId>,
    /// Whether it opens the stewards' pages.
    pub steward: bool,
}

/// A session as stored. Opening one forgets those past their absolute
/// end; one that ended idle is forgotten when next presented, or at its
/// absolute end.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: TokenHash,
    pub holder: SessionHolder,
    /// The value every form of this session must carry back.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// The last request seen (kept to within a minute).
    pub seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// An OpenID Connect sign-in between the redirect to the identity
/// provider and its answer.
#[derive(Debug, Clone)]
pub struct OidcFlow {
    /// The hash of the value the browser's cookie carries.
    pub id: TokenHash,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The member an enrolment link named: the account signing in is
    /// linked to them.
    pub enrol: Option<MemberId>,
    pub expires_at: DateTime<Utc>,
}

/// An identity-provider account, linked to a member on sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

/// What a redeemed link opens.
#[derive(Debug, Clone)]
pub enum Redeemed {
    /// A session, at once.
    Session(WebSession),
    /// An enrolment: the browser goes on to the identity provider.
    Flow(OidcFlow),
}

/// The writes of sign-in, each one statement group in the commit seam.
#[derive(Debug, Clone)]
pub enum WebChange {
    /// Stores a link (and forgets links that expired). `MemberGone` when
    /// its member is not in the co-op.
    IssueLink(SignInLink),
    /// Uses up the link `token` if it is unexpired at `at`, and opens what
    /// `then` says in the same transaction; `Missing` when the link is
    /// unknown, used or expired.
    RedeemLink {
        token: TokenHash,
        at: DateTime<Utc>,
        then: Redeemed,
    },
    /// Stores a sign-in under way (and forgets those that expired).
    BeginFlow(OidcFlow),
    /// Ends the flow `flow` and opens `session`, linking `link` to the
    /// session's member first when given (replacing the member's earlier
    /// account of that issuer). `Missing` when the flow was already ended;
    /// `Conflict` when the account is another member's.
    FinishFlow {
        flow: TokenHash,
        link: Option<Identity>,
        session: WebSession,
    },
    /// Marks a session as seen at `at`.
    Touch { id: TokenHash, at: DateTime<Utc> },
    /// Ends one session; `Missing` when it had ended.
    End { id: TokenHash },
    /// Ends every session of this member, or every steward's session.
    EndAll(SessionHolder),
}

/// How long a sign-in link works.
pub const LINK_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// How long a sign-in may stay at the identity provider.
pub const FLOW_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
