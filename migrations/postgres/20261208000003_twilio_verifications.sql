-- The Twilio Verify-compatible door's verifications (see the SQLite migration of the same name).
CREATE TABLE twilio_verifications (
    id           BIGSERIAL PRIMARY KEY,
    sid          TEXT   NOT NULL UNIQUE,
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    service_sid  TEXT   NOT NULL REFERENCES twilio_services (sid) ON DELETE CASCADE,
    recipient    TEXT   NOT NULL,
    channel      TEXT   NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    open         BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX twilio_verifications_open
    ON twilio_verifications (service_sid, recipient) WHERE open = 1;
CREATE INDEX twilio_verifications_expiry ON twilio_verifications (expires_at);

CREATE TABLE twilio_send_attempts (
    sid              TEXT   PRIMARY KEY,
    verification_id  BIGINT NOT NULL REFERENCES twilio_verifications (id) ON DELETE CASCADE,
    channel          TEXT   NOT NULL,
    at               BIGINT NOT NULL
);
CREATE INDEX twilio_send_attempts_of ON twilio_send_attempts (verification_id, at);
