-- The latest checkpoint the broker signed (issue 9): every new one must
-- be consistent with it, across restarts and replicas, and
-- `datacoop audit check-db` compares the stored entries with it.
CREATE TABLE log_checkpoint (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    note TEXT NOT NULL
) STRICT;
