-- Aggregate datasets (issue 11): definitions with their privacy-budget
-- ledger, licenses, builds and which members each build counted (PostgreSQL).

-- A dataset's definition is kept as validated JSON (purpose, categories,
-- dimensions, measures, k_min, epsilon). `epsilon_spent` is the ledger:
-- millionths of epsilon spent by every build of every license, raised
-- only by a guarded update that refuses to pass the budget.
CREATE TABLE datasets (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    definition    TEXT NOT NULL,
    epsilon_spent BIGINT NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
    created_at    TIMESTAMPTZ NOT NULL
);

-- `expired_at`: when the license's `license.expired` event was written
-- (its window ended while active).
CREATE TABLE licenses (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    dataset_id     TEXT NOT NULL REFERENCES datasets (id),
    third_party_id TEXT NOT NULL REFERENCES third_parties (id),
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_until    TIMESTAMPTZ NOT NULL,
    data_life_days BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    expired_at     TIMESTAMPTZ
);

CREATE INDEX licenses_expiring ON licenses (valid_until) WHERE status = 'active' AND expired_at IS NULL;

-- A build: its manifest and published rows (JSON). The rows are deleted
-- (`published` NULL) once `expires_at` (built_at + data_life_days) passes.
CREATE TABLE dataset_builds (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    license_id      TEXT NOT NULL REFERENCES licenses (id),
    built_at        TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    manifest        TEXT NOT NULL,
    published       TEXT,
    rows_deleted_at TIMESTAMPTZ,
    log_index       BIGINT
);

CREATE INDEX dataset_builds_by_license ON dataset_builds (license_id, seq);
CREATE INDEX dataset_builds_expiring ON dataset_builds (expires_at) WHERE published IS NOT NULL;

-- The members a build counted, by `members.seq` (what a member's access
-- log and export list; deleted when the member leaves).
CREATE TABLE build_members (
    member_seq BIGINT NOT NULL,
    build_seq  BIGINT NOT NULL,
    PRIMARY KEY (member_seq, build_seq)
);
