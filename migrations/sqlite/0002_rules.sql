-- Rules of members, personas and the co-op; personas; policy versions
-- (SQLite). A rule's lists are JSON arrays of ids; `cedar` is the policy
-- the broker evaluates for it.

CREATE TABLE personas (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE rules (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    owner_kind      TEXT NOT NULL CHECK (owner_kind IN ('member', 'persona', 'coop')),
    owner_id        TEXT NOT NULL,
    effect          TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    action          TEXT NOT NULL CHECK (action IN ('access', 'aggregate', '*')),
    requester_kind  TEXT NOT NULL CHECK (requester_kind IN ('any', 'class', 'third_party')),
    requester_value TEXT,
    data_categories TEXT NOT NULL,
    purposes        TEXT NOT NULL,
    not_before      TEXT,
    expires_at      TEXT,
    created_at      TEXT NOT NULL,
    cedar           TEXT NOT NULL
) STRICT;

CREATE INDEX rules_by_owner ON rules (owner_kind, owner_id, seq);

-- Bumped in the same transaction as every change to an owner's rules, so
-- a decision can tell whether its compiled copy is current.
CREATE TABLE policy_versions (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
) STRICT;
