-- Channel fallback: a session whose channels are sent one after the other. `fallback_after_secs`
-- is how long each channel is given; `fallback_due_at` is when the fallback pass looks at the
-- session next (the current channel's timer, or at once when its message failed), NULL when
-- nothing more will be sent. The timer is this row: a restart or another instance carries it on.
ALTER TABLE sessions ADD COLUMN fallback_after_secs INTEGER;
ALTER TABLE sessions ADD COLUMN fallback_due_at INTEGER;
CREATE INDEX sessions_fallback_due ON sessions (fallback_due_at) WHERE fallback_due_at IS NOT NULL;
