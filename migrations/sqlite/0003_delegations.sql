-- Delegations (SQLite): a member hands a scope of decisions to a proxy.
-- `seq` is the monotonic creation order; `scope_key` is the canonical
-- scope, unique per member.

CREATE TABLE delegations (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    member_id       TEXT NOT NULL REFERENCES members (id),
    proxy_kind      TEXT NOT NULL CHECK (proxy_kind IN ('member', 'persona')),
    proxy_id        TEXT NOT NULL,
    data_categories TEXT NOT NULL,
    purposes        TEXT NOT NULL,
    scope_key       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    cedar           TEXT NOT NULL,
    UNIQUE (member_id, scope_key)
) STRICT;

CREATE INDEX delegations_by_proxy ON delegations (proxy_kind, proxy_id);
CREATE INDEX delegations_by_member ON delegations (member_id, seq);
