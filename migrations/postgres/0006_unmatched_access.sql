-- Third parties' calls about subjects that stand for no member of the
-- co-op (unknown, another third party's, or a departed member's): logged
-- like every other call, so a call costs the same whether or not its
-- subject exists (PostgreSQL).

CREATE TABLE unmatched_access (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    third_party_id TEXT NOT NULL,
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    action         TEXT NOT NULL,
    decision       TEXT NOT NULL,
    categories     TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL
);

CREATE INDEX unmatched_access_by_third_party ON unmatched_access (third_party_id, seq);
