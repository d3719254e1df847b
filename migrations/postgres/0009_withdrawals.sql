-- Withdrawals reaching the recipients (issue 10): who received what, the
-- consent changes still to be worked through, and the webhook outbox
-- (PostgreSQL).

-- A third party's webhook endpoint: the Standard Webhooks signing secret
-- (`whsec_…`, kept to sign), and when the endpoint answered 410 Gone.
ALTER TABLE third_parties ADD COLUMN webhook_secret TEXT;
ALTER TABLE third_parties ADD COLUMN webhook_disabled_at TIMESTAMPTZ;

-- Each (member, third party, purpose, category) a third party received
-- in an allowed `POST /v1/access`, folded from `access_log` off the
-- request path. Active while `received_through` (the latest allowed
-- call's `access_log.seq`) is past `withdrawn_through` (what the latest
-- withdrawal covered); `unchecked` when a call made it active again
-- since its last decision: it is decided once more, after the call
-- committed, so a withdrawal that raced the call is not missed.
CREATE TABLE recipients (
    member_id         TEXT NOT NULL,
    third_party_id    TEXT NOT NULL,
    purpose           TEXT NOT NULL,
    category          TEXT NOT NULL,
    received_through  BIGINT NOT NULL,
    withdrawn_through BIGINT NOT NULL DEFAULT 0,
    unchecked         BOOLEAN NOT NULL,
    PRIMARY KEY (member_id, third_party_id, purpose, category)
);

CREATE INDEX recipients_unchecked ON recipients (member_id) WHERE unchecked = TRUE;
CREATE INDEX recipients_by_third_party ON recipients (third_party_id, member_id);

-- How far the fold has read `access_log`, and up to when rules' start and
-- expiry instants have been turned into rechecks.
CREATE TABLE recipients_fold (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through  BIGINT NOT NULL,
    swept_at TIMESTAMPTZ
);
INSERT INTO recipients_fold (id, through, swept_at) VALUES (1, 0, NULL);

-- A consent change whose recipients are still to be decided again: the
-- owner whose rules, delegations or standing changed (every member whose
-- chain reaches it is affected; `coop`: everyone). Written in the same
-- savepoint as the change; deleted with the withdrawals it led to.
CREATE TABLE consent_rechecks (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_kind   TEXT NOT NULL CHECK (owner_kind IN ('member', 'persona', 'coop')),
    owner_id     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    leased_until TIMESTAMPTZ
);

CREATE INDEX rules_by_not_before ON rules (not_before) WHERE not_before IS NOT NULL;
CREATE INDEX rules_by_expiry ON rules (expires_at) WHERE expires_at IS NOT NULL;

-- The outbox: one row per event, committed with the withdrawal it
-- announces, delivered at least once by the webhook worker. `body` is the
-- exact payload signed and sent.
CREATE TABLE webhook_events (
    seq                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    kind                  TEXT NOT NULL,
    third_party_id        TEXT NOT NULL,
    member_id             TEXT NOT NULL,
    purpose               TEXT NOT NULL,
    categories            TEXT NOT NULL,
    body                  TEXT NOT NULL,
    log_index             BIGINT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       TIMESTAMPTZ NOT NULL,
    leased_until          TIMESTAMPTZ,
    last_error            TEXT,
    delivered_at          TIMESTAMPTZ,
    failed_at             TIMESTAMPTZ,
    deletion_confirmed_at TIMESTAMPTZ
);

CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_events_by_member ON webhook_events (member_id, seq);
CREATE INDEX webhook_events_by_third_party ON webhook_events (third_party_id, seq);
CREATE INDEX webhook_events_unconfirmed ON webhook_events (created_at) WHERE deletion_confirmed_at IS NULL;
