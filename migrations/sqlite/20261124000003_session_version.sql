-- A session's version: every write to a session's counters, channels or state bumps it, so a
-- decision made on a copy read without the write lock is written only if nothing changed since
-- (an optimistic, conditional UPDATE ... WHERE version = ?).
ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
