-- Rules of members, personas and the co-op; personas; policy versions
-- (PostgreSQL). A rule's lists are JSON arrays of ids; `cedar` is the
-- policy the broker evaluates for it.

CREATE TABLE personas (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE rules (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    owner_kind      TEXT NOT NULL CHECK (owner_kind IN ('member', 'persona', 'coop')),
    owner_id        TEXT NOT NULL,
    effect          TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    action          TEXT NOT NULL CHECK (action IN ('access', 'aggregate', '*')),
    requester_kind  TEXT NOT NULL CHECK (requester_kind IN ('any', 'class', 'third_party')),
    requester_value TEXT,
    data_categories TEXT NOT NULL,
    purposes        TEXT NOT NULL,
    not_before      TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    cedar           TEXT NOT NULL
);

CREATE INDEX rules_by_owner ON rules (owner_kind, owner_id, seq);

-- Bumped in the same transaction as every change to an owner's rules, so
-- a decision can tell whether its compiled copy is current.
CREATE TABLE policy_versions (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
