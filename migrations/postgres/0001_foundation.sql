-- Members, their tokens, third parties and broker settings (PostgreSQL).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE members (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    display_name        TEXT,
    registry            TEXT NOT NULL CHECK (registry IN ('public', 'anonymous')),
    accepts_delegations BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          TIMESTAMPTZ NOT NULL,
    left_at             TIMESTAMPTZ
);

CREATE TABLE member_tokens (
    token_hash BYTEA PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX member_tokens_by_member ON member_tokens (member_id);

CREATE TABLE third_parties (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    class              TEXT NOT NULL CHECK (class IN ('nonprofit', 'academic', 'public_body', 'commercial')),
    status             TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    webhook_url        TEXT,
    client_id          TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
