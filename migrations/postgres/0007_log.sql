-- The verifiable log (issue 9): every consent or membership change and
-- every third-party access, as canonical JSON entries in an append-only
-- Merkle tree (RFC 9162 §2.1). Rows are only ever inserted (PostgreSQL).

-- One row: how many entries the log holds. Every append locks and moves
-- it in the transaction of the change it logs, so the replicas sharing
-- this database append one after another: one linear history.
CREATE TABLE log_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

-- Entry `idx` (from 0): its exact bytes, whose leaf hash is
-- SHA-256(0x00 || body).
CREATE TABLE log_entries (
    idx  BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    body BYTEA NOT NULL,
    at   TIMESTAMPTZ NOT NULL
);

-- The members each entry is about: what a member may read and check.
CREATE TABLE log_subjects (
    member_id TEXT NOT NULL,
    idx       BIGINT NOT NULL,
    PRIMARY KEY (member_id, idx)
);

-- The tree's stored hashes (leaves and complete subtrees), in the
-- "stored hash index" order of Go's tlog: O(log n) reads per proof.
CREATE TABLE log_hashes (
    idx  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);
