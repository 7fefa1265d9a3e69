-- The Twilio Verify-compatible door's services (see the SQLite migration of the same name).
CREATE TABLE twilio_services (
    id             BIGSERIAL PRIMARY KEY,
    sid            TEXT   NOT NULL UNIQUE,
    tenant_id      BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    friendly_name  TEXT   NOT NULL,
    code_length    BIGINT NOT NULL CHECK (code_length BETWEEN 4 AND 10),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX twilio_services_by_tenant ON twilio_services (tenant_id, id);

ALTER TABLE sessions ADD COLUMN app_name TEXT;
