-- OAuth2 access tokens of third parties (PostgreSQL), stored as SHA-256.

CREATE TABLE access_tokens (
    token_hash     BYTEA PRIMARY KEY,
    third_party_id TEXT NOT NULL REFERENCES third_parties (id),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);

CREATE INDEX access_tokens_by_third_party ON access_tokens (third_party_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
