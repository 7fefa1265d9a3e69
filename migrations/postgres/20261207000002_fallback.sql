-- Channel fallback (see the SQLite migration of the same name).
ALTER TABLE sessions ADD COLUMN fallback_after_secs BIGINT;
ALTER TABLE sessions ADD COLUMN fallback_due_at BIGINT;
CREATE INDEX sessions_fallback_due ON sessions (fallback_due_at) WHERE fallback_due_at IS NOT NULL;
