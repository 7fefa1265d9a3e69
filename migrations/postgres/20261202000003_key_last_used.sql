-- When each API key was last used (to the minute: written at most once a minute per key).
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
