-- One row the readiness check rewrites: a write that reaches the file, so `/readyz` notices a
-- database that takes no writes (a read-only or immutable file, a full disk). Taking the write
-- lock alone does not: SQLite locks with fcntl, which a read-only file allows.
CREATE TABLE readiness_probe (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL  -- milliseconds: every probe changes the row
);
