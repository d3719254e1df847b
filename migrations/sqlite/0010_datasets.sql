-- Aggregate datasets (issue 11): definitions with their privacy-budget
-- ledger, licenses, builds and which members each build counted (SQLite).

-- A dataset's definition is kept as validated JSON (purpose, categories,
-- dimensions, measures, k_min, epsilon). `epsilon_spent` is the ledger:
-- millionths of epsilon spent by every build of every license, raised
-- only by a guarded update that refuses to pass the budget.
CREATE TABLE datasets (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    definition    TEXT NOT NULL,
    epsilon_spent INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
    created_at    TEXT NOT NULL
) STRICT;

-- `expired_at`: when the license's `license.expired` event was written
-- (its window ended while active).
CREATE TABLE licenses (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    dataset_id     TEXT NOT NULL REFERENCES datasets (id),
    third_party_id TEXT NOT NULL REFERENCES third_parties (id),
    valid_from     TEXT NOT NULL,
    valid_until    TEXT NOT NULL,
    data_life_days INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    expired_at     TEXT
) STRICT;

CREATE INDEX licenses_expiring ON licenses (valid_until) WHERE status = 'active' AND expired_at IS NULL;

-- A build: its manifest and published rows (JSON). The rows are deleted
-- (`published` NULL) once `expires_at` (built_at + data_life_days) passes.
CREATE TABLE dataset_builds (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    license_id      TEXT NOT NULL REFERENCES licenses (id),
    built_at        TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    published       TEXT,
    rows_deleted_at TEXT,
    log_index       INTEGER
) STRICT;

CREATE INDEX dataset_builds_by_license ON dataset_builds (license_id, seq);
CREATE INDEX dataset_builds_expiring ON dataset_builds (expires_at) WHERE published IS NOT NULL;

-- The members a build counted, by `members.seq` (what a member's access
-- log and export list; deleted when the member leaves).
CREATE TABLE build_members (
    member_seq INTEGER NOT NULL,
    build_seq  INTEGER NOT NULL,
    PRIMARY KEY (member_seq, build_seq)
) STRICT, WITHOUT ROWID;
