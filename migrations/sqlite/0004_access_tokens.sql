-- OAuth2 access tokens of third parties (SQLite), stored as SHA-256.

CREATE TABLE access_tokens (
    token_hash     BLOB PRIMARY KEY NOT NULL,
    third_party_id TEXT NOT NULL REFERENCES third_parties (id),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL
) STRICT;

CREATE INDEX access_tokens_by_third_party ON access_tokens (third_party_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
