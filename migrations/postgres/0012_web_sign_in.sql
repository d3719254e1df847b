-- The web pages' sign-in (PostgreSQL): one-time sign-in links, OpenID Connect
-- sign-ins under way, identity-provider accounts linked to members, and
-- sessions. Every secret a browser or a link carries is stored only as its
-- SHA-256, like member tokens.

-- A link signs in once, before `expires_at`; redeeming deletes it. A NULL
-- member makes it a steward's link.
CREATE TABLE sign_in_links (
    token_hash BYTEA PRIMARY KEY,
    member_id  TEXT REFERENCES members (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX sign_in_links_by_member ON sign_in_links (member_id);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at);

-- Between the redirect to the identity provider and its answer: what the
-- answer must match. `enrol_member` links the account to that member.
CREATE TABLE oidc_flows (
    id_hash       BYTEA PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    enrol_member  TEXT REFERENCES members (id) ON DELETE CASCADE,
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX oidc_flows_by_expiry ON oidc_flows (expires_at);

-- One account of the identity provider per member and issuer.
CREATE TABLE member_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    member_id  TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE UNIQUE INDEX member_identities_by_member ON member_identities (member_id, issuer);

-- A signed-in browser: a member, a steward, or both.
CREATE TABLE web_sessions (
    id_hash    BYTEA PRIMARY KEY,
    member_id  TEXT REFERENCES members (id) ON DELETE CASCADE,
    steward    BOOLEAN NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CHECK (member_id IS NOT NULL OR steward)
);

CREATE INDEX web_sessions_by_member ON web_sessions (member_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
