-- The Twilio Verify-compatible door's services: a tenant's named settings (the app name its
-- messages say, the code length) that its verifications are started under, by SID (`VA…`).
CREATE TABLE twilio_services (
    -- Creation order: services are listed (and paged) in it.
    id             INTEGER PRIMARY KEY,
    sid            TEXT    NOT NULL UNIQUE,
    tenant_id      INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    friendly_name  TEXT    NOT NULL,
    code_length    INTEGER NOT NULL CHECK (code_length BETWEEN 4 AND 10),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX twilio_services_by_tenant ON twilio_services (tenant_id, id);

-- The app name a session's messages say when it is not its tenant's (a Twilio service's
-- `FriendlyName`, or a verification's `CustomFriendlyName`); NULL for the tenant's name.
ALTER TABLE sessions ADD COLUMN app_name TEXT;
