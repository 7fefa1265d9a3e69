-- The audit log: append-only, each entry written in the transaction of the change it records.
-- Never a code, a key, a token or a secret; destinations only masked, with their keyed hash's
-- prefix. Kept OTPGATE_AUDIT_RETENTION_DAYS (90 by default), then purged.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_type  TEXT    NOT NULL
                CHECK (actor_type IN ('admin_token', 'cli', 'api_key', 'operator', 'system')),
    actor_id    TEXT,
    -- Kept when the tenant is not: the entry is the record of what happened to it.
    tenant_id   INTEGER REFERENCES tenants (id) ON DELETE SET NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    before      TEXT,
    after       TEXT,
    ip          TEXT,
    request_id  TEXT
) STRICT;

CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
