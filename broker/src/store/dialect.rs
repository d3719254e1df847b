//! Everything the two databases say differently, in one place. The rest
//! of the SQL (`sql.rs`) is one text for both.

/// The change feed's statements (PostgreSQL only; see
/// `migrations/postgres/0011_change_feed.sql` and `store::mirror`).
#[derive(Debug, Clone, Copy)]
pub struct FeedSql {
    /// Appends a batch's effects (`$1`, JSON) as the feed's next number,
    /// drops rows more than 65,536 behind it (a replica further behind
    /// loads everything again), and wakes the replicas
    /// listening on `FEED_CHANNEL` at commit. Runs under the log head's
    /// lock, so numbers follow commit order.
    pub append: &'static str,
    /// The feed's head, and the rows after position `$1`, at most `$2` of
    /// them, in order: one query, one snapshot. Always at least one row
    /// (the head's); a head with no rows after comes with NULLs.
    pub since: &'static str,
    /// The feed's head.
    pub head: &'static str,
    /// Moves the head with no row: every replica finds a gap and loads
    /// everything again (after a bulk load, which writes no effects).
    pub skip: &'static str,
}

/// The channel replicas `LISTEN` on to hear of new feed rows.
pub const FEED_CHANNEL: &str = "datacoop_feed";

/// The statement of `Store::owner_states`, around the one fragment that
/// differs: how a JSON array of owner keys (`$1`) becomes rows `k(value)`.
macro_rules! owner_states {
    ($keys:literal) => {
        concat!(
            "SELECT o.owner_key, \
             COALESCE((SELECT v.version FROM policy_versions v WHERE v.owner_kind = o.kind AND v.owner_id = o.id), 0) AS version, \
             CASE WHEN o.kind = 'member' THEN EXISTS (SELECT 1 FROM members m WHERE m.id = o.id \
                  AND m.left_at IS NULL AND m.accepts_delegations) \
                  ELSE EXISTS (SELECT 1 FROM personas p WHERE p.id = o.id) END AS can_proxy \
             FROM (SELECT k.value AS owner_key, \
                   CASE WHEN k.value LIKE 'member:%' THEN 'member' WHEN k.value = 'coop' THEN 'coop' \
                        ELSE 'persona' END AS kind, \
                   CASE WHEN k.value LIKE 'member:%' THEN substr(k.value, 8) ELSE substr(k.value, 9) END AS id \
                   FROM ",
            $keys,
            ") o"
        )
    };
}

/// Statements over a JSON array parameter (`$1`, as rows `k(value)`):
/// every member's stored value of the listed categories (`Store::
/// dataset_values`), and a build's members by id (`$2`: the build's seq).
macro_rules! json_array_statements {
    ($keys:literal, $members:literal) => {
        /// `(members.seq, member id, category, value)` for the members
        /// listed in `$2` (a JSON array) still in the co-op, and every
        /// category listed in `$1`.
        pub const DATASET_VALUES: &str = concat!(
            "SELECT m.seq, m.id, d.category, d.value FROM member_data d \
             JOIN members m ON m.id = d.member_id \
             WHERE m.left_at IS NULL AND d.category IN (SELECT k.value FROM ",
            $keys,
            ") AND d.member_id IN (SELECT j.value FROM ",
            $members,
            ")"
        );
        /// Records that build `$2` counted the listed members.
        pub const INSERT_BUILD_MEMBERS: &str = concat!(
            "INSERT INTO build_members (member_seq, build_seq) \
             SELECT m.seq, $2 FROM members m WHERE m.id IN (SELECT k.value FROM ",
            $keys,
            ")"
        );
    };
}

/// Leases up to `$3` rows of `table` that are due at `$1` and unleased
/// until `$2`, oldest first; PostgreSQL skips rows another replica is
/// leasing at this moment (`FOR UPDATE SKIP LOCKED`).
macro_rules! claim {
    ($table:literal, $due:literal, $order:literal, $returning:literal, $lock:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET leased_until = $2 WHERE seq IN (SELECT seq FROM ",
            $table,
            " WHERE ",
            $due,
            " (leased_until IS NULL OR leased_until <= $1) ORDER BY ",
            $order,
            " LIMIT $3",
            $lock,
            ") RETURNING ",
            $returning
        )
    };
}
macro_rules! claims {
    ($lock:literal) => {
        /// Leases rechecks (`Store::claim_rechecks`).
        pub const CLAIM_RECHECKS: &str = claim!(
            "consent_rechecks",
            "",
            "seq",
            "seq, owner_kind, owner_id",
            $lock
        );
        /// Leases due events (`Store::claim_events`).
        pub const CLAIM_EVENTS: &str = claim!(
            "webhook_events",
            "state = 'pending' AND next_attempt_at <= $1 AND",
            "next_attempt_at",
            "seq, id, third_party_id, body, created_at, attempts",
            $lock
        );
    };
}

/// SQLite.
pub mod sqlite {
    // One process writes the file: nothing to skip.
    claims!("");
    json_array_statements!("json_each($1) AS k", "json_each($2) AS j");
    /// What `Store::release_leases` forgets: every lease.
    pub const RELEASE_LEASES: &[&str] = &[
        "UPDATE consent_rechecks SET leased_until = NULL WHERE leased_until IS NOT NULL",
        "UPDATE webhook_events SET leased_until = NULL WHERE leased_until IS NOT NULL",
    ];

    /// A JSON array as rows: the `json_each` table-valued function.
    pub const OWNER_STATES: &str = owner_states!("json_each($1) AS k");
    /// After an erasure commits: copy the write-ahead log back into the
    /// database and truncate it, so no older page holding the erased data
    /// stays on disk (with `secure_delete`, the freed pages are zeroed).
    pub const AFTER_ERASURE: Option<&str> = Some("PRAGMA wal_checkpoint(TRUNCATE)");
    /// Nothing to take: one writer at a time holds the file.
    pub const LOCK_MEMBER: Option<&str> = None;
    /// The log's size, read where a batch of changes begins, by a write
    /// that takes the file's write lock at once (a transaction that read
    /// first could not always write after another connection wrote).
    pub const LOG_HEAD: &str = "UPDATE log_head SET size = size WHERE id = 1 RETURNING size";
    /// A text of several statements runs with its parameters in one call
    /// (sqlx binds them to each statement in turn): a transaction's
    /// inserts go to the connection's thread in one trip.
    pub const STATEMENTS_PER_TRIP: bool = true;
    /// No change feed: one process serves the file and sees every write.
    pub const FEED: Option<super::FeedSql> = None;
}

/// PostgreSQL.
pub mod postgres {
    claims!(" FOR UPDATE SKIP LOCKED");
    json_array_statements!(
        "jsonb_array_elements_text($1::jsonb) AS k(value)",
        "jsonb_array_elements_text($2::jsonb) AS j(value)"
    );
    /// What `Store::release_leases` forgets: rechecks' leases only.
    pub const RELEASE_LEASES: &[&str] =
        &["UPDATE consent_rechecks SET leased_until = NULL WHERE leased_until IS NOT NULL"];

    /// A JSON array as rows: `jsonb_array_elements_text`.
    pub const OWNER_STATES: &str =
        owner_states!("jsonb_array_elements_text($1::jsonb) AS k(value)");
    /// Nothing to do: PostgreSQL keeps no erased row in a file we manage
    /// (vacuum reclaims dead tuples).
    pub const AFTER_ERASURE: Option<&str> = None;
    /// Locks the member's row (`$1`) until commit, so concurrent writes of
    /// one member's data take turns and each sums what the others stored
    /// (`sql::PUT_DATA_WITHIN` alone reads a snapshot that misses them).
    pub const LOCK_MEMBER: Option<&str> =
        Some("SELECT 1 FROM members WHERE id = $1 FOR NO KEY UPDATE");
    /// The log's size, its row locked until commit: taken first in every
    /// batch, so the replicas sharing the database append one batch after
    /// another (one linear history) and no batch waits for it while
    /// holding another row a second batch needs.
    pub const LOG_HEAD: &str = "SELECT size FROM log_head WHERE id = 1 FOR UPDATE";
    /// The extended query protocol takes one statement with parameters
    /// at a time.
    pub const STATEMENTS_PER_TRIP: bool = false;
    /// The change feed replicas apply (`super::FeedSql`; the channel is
    /// `super::FEED_CHANNEL`, spelled out: SQL texts are `&'static str`).
    pub const FEED: Option<super::FeedSql> = Some(super::FeedSql {
        append: "WITH head AS (UPDATE log_head SET feed_seq = feed_seq + 1 WHERE id = 1 RETURNING feed_seq), \
                 added AS (INSERT INTO consent_feed (seq, effects) SELECT feed_seq, $1 FROM head RETURNING seq), \
                 pruned AS (DELETE FROM consent_feed WHERE seq <= (SELECT feed_seq FROM head) - 65536 RETURNING seq) \
                 SELECT pg_notify('datacoop_feed', seq::text) FROM added",
        since: "SELECT h.feed_seq, f.seq, f.effects FROM log_head h \
                LEFT JOIN LATERAL (SELECT seq, effects FROM consent_feed WHERE seq > $1 ORDER BY seq LIMIT $2) f ON TRUE \
                WHERE h.id = 1 ORDER BY f.seq",
        head: "SELECT feed_seq FROM log_head WHERE id = 1",
        skip: "WITH head AS (UPDATE log_head SET feed_seq = feed_seq + 1 WHERE id = 1 RETURNING feed_seq) \
               SELECT pg_notify('datacoop_feed', feed_seq::text) FROM head",
    });
}
