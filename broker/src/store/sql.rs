//! The SQL text of every statement, one text for both databases: sqlx
//! binds `$N` on SQLite as on PostgreSQL. What differs between the two
//! dialects is named in `dialect.rs`, and nowhere else.

macro_rules! member_columns {
    () => {
        "seq, id, display_name, registry, accepts_delegations, created_at"
    };
}
macro_rules! third_party_columns {
    () => {
        "seq, id, name, class, status, webhook_url, client_id, created_at, updated_at"
    };
}

pub const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub const INSERT_SETTING_IF_ABSENT: &str =
    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

pub const INSERT_MEMBER: &str = "INSERT INTO members \
    (id, display_name, registry, accepts_delegations, created_at) VALUES ($1, $2, $3, $4, $5)";
pub const INSERT_MEMBER_TOKEN: &str =
    "INSERT INTO member_tokens (token_hash, member_id, created_at) VALUES ($1, $2, $3)";
pub const SELECT_MEMBER: &str = concat!(
    "SELECT ",
    member_columns!(),
    " FROM members WHERE id = $1 AND left_at IS NULL"
);
pub const SELECT_MEMBER_BY_TOKEN: &str = "SELECT m.seq, m.id, m.display_name, m.registry, \
    m.accepts_delegations, m.created_at FROM member_tokens t JOIN members m ON m.id = t.member_id \
    WHERE t.token_hash = $1 AND m.left_at IS NULL";
pub const LIST_MEMBERS: &str = concat!(
    "SELECT ",
    member_columns!(),
    " FROM members WHERE seq > $1 AND left_at IS NULL ORDER BY seq LIMIT $2"
);
pub const UPDATE_MEMBER: &str = concat!(
    "UPDATE members SET \
     display_name = CASE WHEN $1 THEN $2 ELSE display_name END, \
     registry = COALESCE($3, registry), \
     accepts_delegations = COALESCE($4, accepts_delegations) \
     WHERE id = $5 AND left_at IS NULL RETURNING ",
    member_columns!()
);

pub const INSERT_THIRD_PARTY: &str = "INSERT INTO third_parties \
    (id, name, class, status, webhook_url, client_id, client_secret_hash, created_at, updated_at, webhook_secret) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const SELECT_THIRD_PARTY: &str = concat!(
    "SELECT ",
    third_party_columns!(),
    " FROM third_parties WHERE id = $1"
);
pub const LIST_THIRD_PARTIES: &str = concat!(
    "SELECT ",
    third_party_columns!(),
    " FROM third_parties WHERE seq > $1 ORDER BY seq LIMIT $2"
);
pub const UPDATE_THIRD_PARTY_STATUS: &str = concat!(
    "UPDATE third_parties SET status = $1, updated_at = $2 WHERE id = $3 RETURNING ",
    third_party_columns!()
);

macro_rules! rule_columns {
    () => {
        "id, owner_kind, owner_id, effect, action, requester_kind, requester_value, \
         data_categories, purposes, not_before, expires_at, created_at, cedar"
    };
}
pub const INSERT_RULE: &str = concat!(
    "INSERT INTO rules (",
    rule_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub const DELETE_RULE: &str =
    "DELETE FROM rules WHERE id = $1 AND owner_kind = $2 AND owner_id = $3";
pub const RULES_OF: &str = concat!(
    "SELECT ",
    rule_columns!(),
    " FROM rules WHERE owner_kind = $1 AND owner_id = $2 ORDER BY seq"
);
pub const ALL_RULES: &str = concat!("SELECT ", rule_columns!(), " FROM rules ORDER BY seq");
/// Followed by the members' ids, bound, and `) ORDER BY seq`.
pub const RULES_OF_MEMBERS_IN: &str = concat!(
    "SELECT ",
    rule_columns!(),
    " FROM rules WHERE owner_kind = 'member' AND owner_id IN ("
);
/// Followed by the members' ids, bound, and `) ORDER BY seq`.
pub const DELEGATIONS_OF_MEMBERS_IN: &str = "SELECT seq, id, member_id, proxy_kind, proxy_id, data_categories, purposes, created_at, cedar FROM delegations WHERE member_id IN (";
pub const BUMP_POLICY_VERSION: &str = "INSERT INTO policy_versions (owner_kind, owner_id, version) \
    VALUES ($1, $2, 1) ON CONFLICT (owner_kind, owner_id) DO UPDATE SET version = policy_versions.version + 1 \
    RETURNING version";
pub const ALL_POLICY_VERSIONS: &str = "SELECT owner_kind, owner_id, version FROM policy_versions";
pub const DECISION_FACTS: &str = "SELECT \
    (SELECT class FROM third_parties WHERE id = $1) AS class, \
    (SELECT status FROM third_parties WHERE id = $1) AS status, \
    EXISTS (SELECT 1 FROM members WHERE id = $2 AND left_at IS NULL) AS member_active, \
    COALESCE((SELECT version FROM policy_versions WHERE owner_kind = 'coop' AND owner_id = ''), 0) AS coop_version, \
    COALESCE((SELECT version FROM policy_versions WHERE owner_kind = 'member' AND owner_id = $2), 0) AS member_version";

pub const INSERT_PERSONA: &str =
    "INSERT INTO personas (id, name, description, created_at) VALUES ($1, $2, $3, $4)";
pub const LIST_PERSONAS: &str =
    "SELECT id, name, description, created_at FROM personas ORDER BY seq";

pub const ALL_THIRD_PARTY_FACTS: &str = "SELECT id, class, status FROM third_parties";
pub const ALL_ACTIVE_MEMBER_IDS: &str =
    "SELECT id, accepts_delegations FROM members WHERE left_at IS NULL";

pub const COHORT_CANDIDATES: &str = "SELECT m.id, v.version, m.accepts_delegations FROM members m \
    JOIN policy_versions v ON v.owner_kind = 'member' AND v.owner_id = m.id \
    WHERE m.left_at IS NULL AND v.version > 0";

pub const ALL_PERSONA_IDS: &str = "SELECT id FROM personas";
pub const INSERT_DELEGATION: &str = "INSERT INTO delegations \
    (id, member_id, proxy_kind, proxy_id, data_categories, purposes, scope_key, created_at, cedar) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq";
pub const DELETE_DELEGATION: &str = "DELETE FROM delegations WHERE id = $1 AND member_id = $2";
pub const DELEGATIONS_OF: &str = "SELECT seq, id, member_id, proxy_kind, proxy_id, data_categories, purposes, created_at, cedar FROM delegations WHERE member_id = $1 ORDER BY seq";
pub const ALL_DELEGATIONS: &str = "SELECT seq, id, member_id, proxy_kind, proxy_id, data_categories, purposes, created_at, cedar FROM delegations ORDER BY seq";
pub const COUNT_DELEGATORS: &str = "SELECT COUNT(DISTINCT d.member_id) FROM delegations d \
    JOIN members m ON m.id = d.member_id WHERE d.proxy_kind = $1 AND d.proxy_id = $2 AND m.left_at IS NULL";
/// The public delegators of a proxy after position `$3` (a member's
/// `seq`), at most `$4`.
pub const PUBLIC_DELEGATORS: &str = "SELECT m.seq, m.id FROM members m \
    WHERE m.seq > $3 AND m.left_at IS NULL AND m.registry = 'public' AND EXISTS \
    (SELECT 1 FROM delegations d WHERE d.member_id = m.id AND d.proxy_kind = $1 AND d.proxy_id = $2) \
    ORDER BY m.seq LIMIT $4";

pub const MARK_LEFT: &str =
    "UPDATE members SET left_at = $1, display_name = NULL WHERE id = $2 AND left_at IS NULL";
pub const DELETE_TOKENS_OF: &str = "DELETE FROM member_tokens WHERE member_id = $1";
pub const DELETE_DELEGATIONS_OF: &str = "DELETE FROM delegations WHERE member_id = $1";
pub const DELETE_RULES_OF: &str = "DELETE FROM rules WHERE owner_kind = $1 AND owner_id = $2";

pub const SELECT_CLIENT: &str = "SELECT seq, id, name, class, status, webhook_url, client_id, created_at, updated_at FROM third_parties WHERE client_id = $1";
pub const SELECT_CLIENT_SECRET_HASH: &str =
    "SELECT client_secret_hash FROM third_parties WHERE id = $1";
pub const DELETE_EXPIRED_ACCESS_TOKENS: &str = "DELETE FROM access_tokens WHERE expires_at <= $1";
pub const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens \
    (token_hash, third_party_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const THIRD_PARTY_BY_TOKEN: &str = "SELECT t.seq, t.id, t.name, t.class, t.status, t.webhook_url, t.client_id, t.created_at, t.updated_at FROM access_tokens a \
    JOIN third_parties t ON t.id = a.third_party_id WHERE a.token_hash = $1 AND a.expires_at > $2";
pub const ACCESS_TOKEN_EXPIRY: &str = "SELECT expires_at FROM access_tokens WHERE token_hash = $1";
pub const ROTATE_SECRET: &str = "UPDATE third_parties SET client_secret_hash = $1, updated_at = $2 \
    WHERE id = $3 RETURNING seq, id, name, class, status, webhook_url, client_id, created_at, updated_at";
pub const DELETE_ACCESS_TOKENS_OF: &str = "DELETE FROM access_tokens WHERE third_party_id = $1";

/// In no order: the store sorts by code point (collations differ).
pub const DATA_OF: &str = "SELECT category, value FROM member_data WHERE member_id = $1";
/// Connects a member still in the co-op (a member who left gets nothing).
pub const INSERT_CONNECTION: &str = "INSERT INTO connections (member_id, third_party_id, subject, created_at) \
    SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM members WHERE id = $1 AND left_at IS NULL) \
    ON CONFLICT (member_id, third_party_id) DO NOTHING";
/// 1 when the member is in the co-op, 0 when they left or never were.
pub const MEMBER_IN_COOP: &str = "SELECT COUNT(*) FROM members WHERE id = $1 AND left_at IS NULL";
pub const SELECT_CONNECTION: &str =
    "SELECT subject FROM connections WHERE member_id = $1 AND third_party_id = $2";
pub const CONNECTIONS_OF: &str = "SELECT third_party_id, subject FROM connections WHERE member_id = $1 ORDER BY created_at, third_party_id";
pub const MEMBER_BY_SUBJECT: &str = "SELECT c.member_id FROM connections c JOIN members m ON m.id = c.member_id \
    WHERE c.third_party_id = $1 AND c.subject = $2 AND m.left_at IS NULL";
pub const ACCESS_LOG: &str = "SELECT seq, member_id, third_party_id, purpose, action, decision, categories, at \
    FROM access_log WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
pub const DELETE_DATA_OF: &str = "DELETE FROM member_data WHERE member_id = $1";
pub const DELETE_CONNECTIONS_OF: &str = "DELETE FROM connections WHERE member_id = $1";

pub const COUNT_RULES_OF: &str =
    "SELECT COUNT(*) FROM rules WHERE owner_kind = $1 AND owner_id = $2";
pub const COUNT_DELEGATIONS_OF: &str = "SELECT COUNT(*) FROM delegations WHERE member_id = $1";
/// Stores (or replaces) a member's value for one category, unless the
/// member left or their values would then hold more than `$6` bytes,
/// counting the new value as `$5` bytes. (On PostgreSQL the member's row
/// is locked first, `dialect::postgres::LOCK_MEMBER`, so writes of one
/// member take turns and each sums what the others stored.)
pub const PUT_DATA_WITHIN: &str = "INSERT INTO member_data (member_id, category, value, updated_at) \
    SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM members WHERE id = $1 AND left_at IS NULL) AND (SELECT COALESCE(SUM(CASE WHEN category = $2 THEN 0 \
    ELSE octet_length(value) END), 0) FROM member_data WHERE member_id = $1) + $5 <= $6 \
    ON CONFLICT (member_id, category) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

// ---- The verifiable log ----

/// The log's size once a batch's entries are in (its head read by
/// `dialect::*::LOG_HEAD`).
pub const SET_LOG_SIZE: &str = "UPDATE log_head SET size = $1 WHERE id = 1";
/// `SET_LOG_SIZE` for a `QueryBuilder`: the text before and after the size.
pub const SET_LOG_SIZE_AROUND: [&str; 2] = ["UPDATE log_head SET size = ", " WHERE id = 1"];
pub const LOG_SIZE: &str = "SELECT size FROM log_head WHERE id = 1";
pub const LOG_ENTRY: &str = "SELECT kind, body FROM log_entries WHERE idx = $1";
/// Entries from an index on, in order, for `datacoop audit check-db`.
pub const LOG_ENTRIES_FROM: &str =
    "SELECT idx, body FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2";
pub const SIGNED_CHECKPOINT: &str = "SELECT size, note FROM log_checkpoint WHERE id = 1";
pub const FIRST_CHECKPOINT: &str =
    "INSERT INTO log_checkpoint (id, size, note) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING";
/// Replaces the signed checkpoint only if it is still the one of size `$3`.
pub const NEXT_CHECKPOINT: &str =
    "UPDATE log_checkpoint SET size = $1, note = $2 WHERE id = 1 AND size = $3";
/// Entries about a member after an index, oldest first.
pub const LOG_ABOUT: &str = "SELECT e.idx, e.kind, e.at FROM log_subjects s \
    JOIN log_entries e ON e.idx = s.idx \
    WHERE s.member_id = $1 AND s.idx > $2 ORDER BY s.idx LIMIT $3";

// Withdrawals (issue 10): recipients, rechecks, the webhook outbox.

pub const INSERT_RECHECK: &str =
    "INSERT INTO consent_rechecks (owner_kind, owner_id, created_at) VALUES ($1, $2, $3)";
pub const RECHECKS_DUE: &str = "SELECT EXISTS (SELECT 1 FROM consent_rechecks \
    WHERE leased_until IS NULL OR leased_until <= $1)";
pub const DELETE_RECHECK: &str = "DELETE FROM consent_rechecks WHERE seq = $1";
/// The fold's position, its row locked (PostgreSQL) or the file's write
/// lock taken (SQLite) until commit: one fold at a time on every replica.
pub const FOLD_HEAD: &str =
    "UPDATE recipients_fold SET through = through WHERE id = 1 RETURNING through, swept_at";
/// How far the fold has read, without taking its row.
pub const FOLD_THROUGH: &str = "SELECT through FROM recipients_fold WHERE id = 1";
/// The last call logged and the last folded: whether a fold has work.
pub const FOLD_PENDING: &str = "SELECT COALESCE((SELECT MAX(seq) FROM access_log), 0), \
    (SELECT through FROM recipients_fold WHERE id = 1)";
pub const SET_FOLD: &str = "UPDATE recipients_fold SET through = $1 WHERE id = 1";
pub const SET_SWEPT: &str = "UPDATE recipients_fold SET swept_at = $1 WHERE id = 1";
pub const CALLS_AFTER: &str = "SELECT seq, member_id, third_party_id, purpose, categories \
    FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2";
pub const MEMBER_CALLS_AFTER: &str = "SELECT seq, member_id, third_party_id, purpose, categories \
    FROM access_log WHERE member_id = $1 AND seq > $2 ORDER BY seq";
/// A call made this recipient active: `unchecked` when it was not active
/// before (new, or withdrawn since), so it is decided once more.
pub const UPSERT_RECIPIENT: &str = "INSERT INTO recipients \
    (member_id, third_party_id, purpose, category, received_through, withdrawn_through, unchecked) \
    VALUES ($1, $2, $3, $4, $5, 0, TRUE) \
    ON CONFLICT (member_id, third_party_id, purpose, category) DO UPDATE SET \
    unchecked = CASE WHEN excluded.received_through > recipients.withdrawn_through \
        AND recipients.received_through <= recipients.withdrawn_through THEN TRUE \
        ELSE recipients.unchecked END, \
    received_through = CASE WHEN excluded.received_through > recipients.received_through \
        THEN excluded.received_through ELSE recipients.received_through END";
pub const OWNERS_WITH_INSTANTS: &str = "SELECT DISTINCT owner_kind, owner_id FROM rules \
    WHERE (not_before > $1 AND not_before <= $2) OR (expires_at > $1 AND expires_at <= $2)";

macro_rules! recipient_columns {
    () => {
        "r.member_id, r.third_party_id, c.subject, r.purpose, r.category, r.received_through \
         FROM recipients r LEFT JOIN connections c \
         ON c.member_id = r.member_id AND c.third_party_id = r.third_party_id"
    };
}
/// Every member whose decisions `$2:$1` reaches (itself when a member,
/// and every member whose delegations lead to it), and their active
/// recipients. The members found drive both joins (`CROSS JOIN`: SQLite
/// keeps that order, which without statistics it might not, scanning
/// every delegation or recipient once per member found).
pub const RECIPIENTS_REACHED: &str = "WITH RECURSIVE affected(member_id) AS ( \
     SELECT CAST($1 AS TEXT) WHERE $2 = 'member' \
     UNION SELECT member_id FROM delegations WHERE proxy_kind = $2 AND proxy_id = $1 \
     UNION SELECT d.member_id FROM affected a CROSS JOIN delegations d \
     WHERE d.proxy_kind = 'member' AND d.proxy_id = a.member_id) \
     SELECT r.member_id, r.third_party_id, c.subject, r.purpose, r.category, r.received_through \
     FROM affected a CROSS JOIN recipients r \
     LEFT JOIN connections c ON c.member_id = r.member_id AND c.third_party_id = r.third_party_id \
     WHERE r.member_id = a.member_id AND r.received_through > r.withdrawn_through";
pub const ALL_RECIPIENTS: &str = concat!(
    "SELECT ",
    recipient_columns!(),
    " WHERE r.received_through > r.withdrawn_through"
);
pub const UNCHECKED_RECIPIENTS: &str = concat!(
    "SELECT ",
    recipient_columns!(),
    " WHERE r.unchecked = TRUE AND r.received_through > r.withdrawn_through LIMIT $1"
);
/// A member's active recipients (of one third party when `$2` is set).
pub const RECIPIENTS_OF: &str = concat!(
    "SELECT ",
    recipient_columns!(),
    " WHERE r.member_id = $1 AND r.third_party_id = COALESCE($2, r.third_party_id) \
     AND r.received_through > r.withdrawn_through"
);
/// Follows `WITH v (member_id, third_party_id, purpose, category,
/// through) AS (VALUES …)`: marks each recipient of `v` told, unless a
/// withdrawal already covered the call, and returns those it marked.
pub const WITHDRAW_RECIPIENTS_FROM_V: &str = ") UPDATE recipients \
    SET withdrawn_through = v.through, unchecked = FALSE FROM v \
    WHERE recipients.member_id = v.member_id AND recipients.third_party_id = v.third_party_id \
    AND recipients.purpose = v.purpose AND recipients.category = v.category \
    AND recipients.withdrawn_through < v.through \
    RETURNING recipients.member_id, recipients.third_party_id, recipients.purpose, recipients.category";
pub const RECIPIENT_CHECKED: &str = "UPDATE recipients SET unchecked = FALSE \
    WHERE member_id = $1 AND third_party_id = $2 AND purpose = $3 AND category = $4 \
    AND received_through <= $5";
pub const DELETE_CONNECTION: &str =
    "DELETE FROM connections WHERE member_id = $1 AND third_party_id = $2";

/// Followed by the rows' `VALUES`.
pub const INSERT_EVENTS: &str = "INSERT INTO webhook_events \
    (id, kind, third_party_id, member_id, purpose, categories, body, log_index, created_at, state, next_attempt_at) ";
/// Whether `claim_events` would find work (a read; the claim writes).
pub const EVENTS_DUE: &str = "SELECT EXISTS (SELECT 1 FROM webhook_events \
    WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1))";
pub const SET_WEBHOOK: &str = concat!(
    "UPDATE third_parties SET webhook_url = $1, \
     webhook_secret = CASE WHEN $1 IS NULL THEN NULL WHEN $5 THEN $2 \
         ELSE COALESCE(webhook_secret, $2) END, \
     webhook_disabled_at = NULL, updated_at = $3 WHERE id = $4 RETURNING webhook_secret, ",
    third_party_columns!()
);
/// A new endpoint: what waited for one is due at once.
pub const EVENTS_DUE_NOW: &str = "UPDATE webhook_events SET next_attempt_at = $1 \
    WHERE third_party_id = $2 AND state = 'pending'";
pub const WEBHOOK_OF: &str = "SELECT webhook_url, webhook_secret FROM third_parties \
    WHERE id = $1 AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL \
    AND webhook_disabled_at IS NULL";
pub const EVENT_OF: &str = "SELECT member_id, deletion_confirmed_at FROM webhook_events \
    WHERE id = $1 AND third_party_id = $2";
pub const CONFIRM_DELETION: &str =
    "UPDATE webhook_events SET deletion_confirmed_at = $1 WHERE id = $2";
pub const DELIVERED: &str = "UPDATE webhook_events SET state = 'delivered', attempts = attempts + 1, \
    delivered_at = $1, last_error = NULL, leased_until = NULL WHERE seq = $2 AND state = 'pending'";
pub const RETRY: &str = "UPDATE webhook_events SET attempts = attempts + $1, next_attempt_at = $2, \
    last_error = $3, leased_until = NULL WHERE seq = $4 AND state = 'pending'";
pub const DISABLE_WEBHOOK: &str = "UPDATE third_parties SET webhook_disabled_at = $1 \
    WHERE id = (SELECT third_party_id FROM webhook_events WHERE seq = $2)";
pub const GAVE_UP: &str = "UPDATE webhook_events SET state = 'failed', failed_at = $1, \
    last_error = $2, leased_until = NULL WHERE seq = $3 AND state = 'pending'";
macro_rules! event_columns {
    () => {
        "SELECT seq, id, kind, third_party_id, member_id, purpose, categories, state, attempts, \
         created_at, delivered_at, failed_at, last_error, deletion_confirmed_at, log_index \
         FROM webhook_events "
    };
}
pub const EVENTS_OF_MEMBER: &str = concat!(
    event_columns!(),
    "WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
);
pub const EVENTS_IN_STATE: &str = concat!(
    event_columns!(),
    "WHERE state = $1 AND seq > $2 ORDER BY seq LIMIT $3"
);
pub const EVENTS_UNCONFIRMED: &str = concat!(
    event_columns!(),
    "WHERE deletion_confirmed_at IS NULL AND created_at < $1 AND seq > $2 ORDER BY seq LIMIT $3"
);
pub const ALL_EVENTS: &str = concat!(event_columns!(), "WHERE seq > $1 ORDER BY seq LIMIT $2");
pub const OUTBOX_STATS: &str =
    "SELECT COUNT(*), MIN(created_at) FROM webhook_events WHERE state = 'pending'";

// ---- aggregate datasets (issue 11) ------------------------------------

pub const INSERT_DATASET: &str =
    "INSERT INTO datasets (id, name, definition, created_at) VALUES ($1, $2, $3, $4)";
pub const DATASET: &str =
    "SELECT seq, id, definition, epsilon_spent, created_at FROM datasets WHERE id = $1";
pub const LIST_DATASETS: &str = "SELECT seq, id, definition, epsilon_spent, created_at FROM datasets \
    WHERE seq > $1 ORDER BY seq LIMIT $2";
/// The ledger's guarded spend: no row when it would pass the budget.
pub const SPEND_BUDGET: &str = "UPDATE datasets SET epsilon_spent = epsilon_spent + $1 \
    WHERE id = $2 AND epsilon_spent + $1 <= $3 RETURNING epsilon_spent";

macro_rules! license_columns {
    () => {
        "seq, id, dataset_id, third_party_id, valid_from, valid_until, data_life_days, status, created_at, revoked_at"
    };
}
pub const INSERT_LICENSE: &str = "INSERT INTO licenses \
    (id, dataset_id, third_party_id, valid_from, valid_until, data_life_days, status, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)";
pub const LICENSE: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE id = $1"
);
pub const LIST_LICENSES: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE seq > $1 ORDER BY seq LIMIT $2"
);
pub const REVOKE_LICENSE: &str = "UPDATE licenses SET status = 'revoked', revoked_at = $1 \
    WHERE id = $2 AND status = 'active' RETURNING third_party_id, dataset_id";
/// Active licenses whose window ended and that were not announced yet.
pub const LICENSES_ENDED: &str = "SELECT id, third_party_id, dataset_id FROM licenses \
    WHERE status = 'active' AND expired_at IS NULL AND valid_until <= $1 ORDER BY seq LIMIT 500";
pub const MARK_LICENSE_EXPIRED: &str =
    "UPDATE licenses SET expired_at = $1 WHERE id = $2 AND expired_at IS NULL";

pub const INSERT_BUILD: &str = "INSERT INTO dataset_builds \
    (id, license_id, built_at, expires_at, manifest, published) \
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq";
pub const SET_BUILD_LOG_INDEX: &str = "UPDATE dataset_builds SET log_index = $1 WHERE id = $2";
pub const LATEST_BUILD: &str = "SELECT id, license_id, built_at, expires_at, manifest, published, log_index \
    FROM dataset_builds WHERE license_id = $1 ORDER BY seq DESC LIMIT 1";
/// Deletes the rows of every build whose data life has passed.
pub const DELETE_BUILD_ROWS: &str = "UPDATE dataset_builds SET published = NULL, rows_deleted_at = $1 \
    WHERE expires_at <= $1 AND published IS NOT NULL";
pub const BUILD_ROWS_DUE: &str = "SELECT EXISTS (SELECT 1 FROM dataset_builds \
    WHERE expires_at <= $1 AND published IS NOT NULL) OR EXISTS (SELECT 1 FROM licenses \
    WHERE status = 'active' AND expired_at IS NULL AND valid_until <= $1)";
/// Every build that counted the member, newest first, with its dataset.
pub const BUILDS_OF_MEMBER: &str = "SELECT b.id, d.id, d.name, d.definition, l.third_party_id, b.built_at, b.log_index \
    FROM build_members bm \
    JOIN members m ON m.seq = bm.member_seq \
    JOIN dataset_builds b ON b.seq = bm.build_seq \
    JOIN licenses l ON l.id = b.license_id \
    JOIN datasets d ON d.id = l.dataset_id \
    WHERE m.id = $1 ORDER BY b.seq DESC";
pub const FORGET_MEMBER_BUILDS: &str =
    "DELETE FROM build_members WHERE member_seq IN (SELECT seq FROM members WHERE id = $1)";

/// The migrations the database has applied (sqlx's own table).
pub const APPLIED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

// The web pages' sign-in (`store::web`).
pub const INSERT_SIGN_IN_LINK: &str = "INSERT INTO sign_in_links \
    (token_hash, member_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const FORGET_EXPIRED_LINKS: &str = "DELETE FROM sign_in_links WHERE expires_at <= $1";
pub const SELECT_SIGN_IN_LINK: &str =
    "SELECT member_id, expires_at FROM sign_in_links WHERE token_hash = $1";
pub const REDEEM_SIGN_IN_LINK: &str = "DELETE FROM sign_in_links \
    WHERE token_hash = $1 AND expires_at > $2 RETURNING member_id";
pub const INSERT_OIDC_FLOW: &str = "INSERT INTO oidc_flows \
    (id_hash, state, nonce, pkce_verifier, enrol_member, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const FORGET_EXPIRED_FLOWS: &str = "DELETE FROM oidc_flows WHERE expires_at <= $1";
pub const SELECT_OIDC_FLOW: &str = "SELECT id_hash, state, nonce, pkce_verifier, enrol_member, \
    expires_at FROM oidc_flows WHERE id_hash = $1";
pub const END_OIDC_FLOW: &str = "DELETE FROM oidc_flows WHERE id_hash = $1";
pub const UNLINK_IDENTITY: &str =
    "DELETE FROM member_identities WHERE member_id = $1 AND issuer = $2";
pub const LINK_IDENTITY: &str = "INSERT INTO member_identities \
    (issuer, subject, member_id, created_at) VALUES ($1, $2, $3, $4)";
pub const MEMBER_BY_IDENTITY: &str = "SELECT i.member_id FROM member_identities i \
    JOIN members m ON m.id = i.member_id WHERE i.issuer = $1 AND i.subject = $2 AND m.left_at IS NULL";
pub const INSERT_WEB_SESSION: &str = "INSERT INTO web_sessions \
    (id_hash, member_id, steward, csrf, created_at, seen_at, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const FORGET_ENDED_SESSIONS: &str = "DELETE FROM web_sessions WHERE expires_at <= $1";
pub const SELECT_WEB_SESSION: &str = "SELECT id_hash, member_id, steward, csrf, created_at, \
    seen_at, expires_at FROM web_sessions WHERE id_hash = $1";
pub const TOUCH_WEB_SESSION: &str = "UPDATE web_sessions SET seen_at = $2 WHERE id_hash = $1";
pub const END_WEB_SESSION: &str = "DELETE FROM web_sessions WHERE id_hash = $1";
pub const END_MEMBER_SESSIONS: &str = "DELETE FROM web_sessions WHERE member_id = $1";
pub const END_STEWARD_SESSIONS: &str = "DELETE FROM web_sessions WHERE steward";
pub const DELETE_LINKS_OF: &str = "DELETE FROM sign_in_links WHERE member_id = $1";
pub const DELETE_FLOWS_OF: &str = "DELETE FROM oidc_flows WHERE enrol_member = $1";
pub const DELETE_IDENTITIES_OF: &str = "DELETE FROM member_identities WHERE member_id = $1";
