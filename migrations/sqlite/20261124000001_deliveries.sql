-- The delivery queue. Every message of a send, resend or initiate is a row here, written in the
-- same transaction as its session or request, so nothing acknowledged can be lost. A worker
-- claims due rows with a lease ('sending'), hands them to the channel's provider and records the
-- outcome; a crash leaves the lease to expire and the row is claimed again (at-least-once).
-- Messages caught in the outbox (test keys, development mode) are rows too, 'sent' at once.

CREATE TABLE deliveries (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id           INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    request_id           INTEGER REFERENCES sms_requests (id) ON DELETE CASCADE,
    channel              TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    recipient            TEXT    NOT NULL,
    -- The code, sealed (ChaCha20-Poly1305 under a key derived from the server secret, bound to
    -- its session and channel or its request); NULL once the provider accepted the message or
    -- the session ended. Never stored in clear.
    sealed_code          BLOB,
    status               TEXT    NOT NULL
                         CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled')),
    error                TEXT,
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER NOT NULL,
    lease_until          INTEGER,
    -- Set when a resend replaced this message's code while a worker was handing it over: a
    -- transient failure then ends it instead of retrying a dead code.
    superseded           INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),
    provider             TEXT,
    provider_message_id  TEXT,
    expires_at           INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    -- Milliseconds, for measuring how long messages wait (the benchmark reads them).
    queued_at_ms         INTEGER NOT NULL,
    CHECK ((session_id IS NULL) <> (request_id IS NULL))
) STRICT;

CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_by_session ON deliveries (session_id, channel);
CREATE INDEX deliveries_by_request ON deliveries (request_id);
CREATE INDEX deliveries_by_provider_id ON deliveries (provider, provider_message_id);

-- Every hand-over to a provider, with its outcome. `detail` never contains a code.
CREATE TABLE delivery_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    -- When the provider answered, in milliseconds.
    answered_at_ms INTEGER NOT NULL,
    provider     TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('accepted', 'transient', 'permanent')),
    detail       TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
