-- The Twilio Verify-compatible door's verifications (`VE…`): each is a one-channel session
-- whose token otpgate derives from the SID with its server key (never stored), started under a
-- service for one `To`. While `open`, a create for the same service and `To` finds it (and
-- sends again); it closes when approved, canceled, expired or locked, after which the door
-- answers 404 for it, as Twilio does.
CREATE TABLE twilio_verifications (
    id           INTEGER PRIMARY KEY,
    sid          TEXT    NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    service_sid  TEXT    NOT NULL REFERENCES twilio_services (sid) ON DELETE CASCADE,
    -- The `To` as otpgate normalised it (E.164, or the email address in lower case).
    recipient    TEXT    NOT NULL,
    channel      TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    open         INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
-- One open verification per service and `To`: two creates at once make one.
CREATE UNIQUE INDEX twilio_verifications_open
    ON twilio_verifications (service_sid, recipient) WHERE open = 1;
CREATE INDEX twilio_verifications_expiry ON twilio_verifications (expires_at);

-- Each message a verification sent (`send_code_attempts`, `VL…`).
CREATE TABLE twilio_send_attempts (
    sid              TEXT    PRIMARY KEY,
    verification_id  INTEGER NOT NULL REFERENCES twilio_verifications (id) ON DELETE CASCADE,
    channel          TEXT    NOT NULL,
    at               INTEGER NOT NULL
) STRICT;
CREATE INDEX twilio_send_attempts_of ON twilio_send_attempts (verification_id, at);
