-- The change feed (issue 12): every batch of changes that moves what
-- decisions read (a member joining, leaving or opting in or out of
-- proxying, a third party's class or status, a persona, an owner's policy
-- version) appends its effects here, numbered by `log_head.feed_seq`,
-- which it moves under the log head's row lock: numbers follow commit
-- order and a number is visible only with its row. Each replica keeps an
-- in-memory copy of those facts and, before a decision, reads the head
-- and the rows it has not applied (one query). Only PostgreSQL has it: an
-- SQLite file is served by one process, which sees every write.
ALTER TABLE log_head ADD COLUMN feed_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE consent_feed (
    seq     BIGINT PRIMARY KEY,
    -- The batch's effects as a JSON array (`store::mirror::Effect`): ids,
    -- classes, statuses and versions; never names or data.
    effects TEXT NOT NULL
);
