-- The web pages' sign-in (SQLite): one-time sign-in links, OpenID Connect
-- sign-ins under way, identity-provider accounts linked to members, and
-- sessions. Every secret a browser or a link carries is stored only as its
-- SHA-256, like member tokens.

-- A link signs in once, before `expires_at`; redeeming deletes it. A NULL
-- member makes it a steward's link.
CREATE TABLE sign_in_links (
    token_hash BLOB PRIMARY KEY NOT NULL,
    member_id  TEXT REFERENCES members (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX sign_in_links_by_member ON sign_in_links (member_id);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at);

-- Between the redirect to the identity provider and its answer: what the
-- answer must match. `enrol_member` links the account to that member.
CREATE TABLE oidc_flows (
    id_hash       BLOB PRIMARY KEY NOT NULL,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    enrol_member  TEXT REFERENCES members (id) ON DELETE CASCADE,
    expires_at    TEXT NOT NULL
) STRICT;

CREATE INDEX oidc_flows_by_expiry ON oidc_flows (expires_at);

-- One account of the identity provider per member and issuer.
CREATE TABLE member_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    member_id  TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT;

CREATE UNIQUE INDEX member_identities_by_member ON member_identities (member_id, issuer);

-- A signed-in browser: a member, a steward, or both.
CREATE TABLE web_sessions (
    id_hash    BLOB PRIMARY KEY NOT NULL,
    member_id  TEXT REFERENCES members (id) ON DELETE CASCADE,
    steward    INTEGER NOT NULL CHECK (steward IN (0, 1)),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    CHECK (member_id IS NOT NULL OR steward = 1)
) STRICT;

CREATE INDEX web_sessions_by_member ON web_sessions (member_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
