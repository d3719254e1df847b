-- The data layer, pairwise subjects and the access log (PostgreSQL).

-- A member's data, one JSON value per category.
CREATE TABLE member_data (
    member_id  TEXT NOT NULL REFERENCES members (id),
    category   TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member_id, category)
);

-- The pairwise subject a member has for one third party.
CREATE TABLE connections (
    member_id      TEXT NOT NULL REFERENCES members (id),
    third_party_id TEXT NOT NULL REFERENCES third_parties (id),
    subject        TEXT NOT NULL UNIQUE,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member_id, third_party_id)
);

-- Every access decision about a member: ids and outcomes, never data.
CREATE TABLE access_log (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id      TEXT NOT NULL,
    third_party_id TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    action         TEXT NOT NULL,
    decision       TEXT NOT NULL,
    categories     TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL
);

CREATE INDEX access_log_by_member ON access_log (member_id, seq);
