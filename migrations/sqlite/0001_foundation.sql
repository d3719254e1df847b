-- Members, their tokens, third parties and broker settings (SQLite).
-- Instants are RFC 3339 text in UTC; ids are opaque text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE members (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    display_name        TEXT,
    registry            TEXT NOT NULL CHECK (registry IN ('public', 'anonymous')),
    accepts_delegations INTEGER NOT NULL DEFAULT 0 CHECK (accepts_delegations IN (0, 1)),
    created_at          TEXT NOT NULL,
    left_at             TEXT
) STRICT;

CREATE TABLE member_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    member_id  TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX member_tokens_by_member ON member_tokens (member_id);

CREATE TABLE third_parties (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    class              TEXT NOT NULL CHECK (class IN ('nonprofit', 'academic', 'public_body', 'commercial')),
    status             TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    webhook_url        TEXT,
    client_id          TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
