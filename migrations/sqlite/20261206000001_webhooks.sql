-- Webhooks (Standard Webhooks v1): a tenant's endpoints, one delivery row per event and
-- endpoint (written in the transaction of the change the event tells of), and every attempt.

-- Where a tenant's events are posted. The signing secret (the random bytes after `whsec_`) is
-- sealed under the server secret; after a rotation the previous one stays valid (each delivery
-- is signed with both) until previous_until.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url              TEXT    NOT NULL,
    -- A JSON array of the event types it wants; NULL: every type.
    event_types      TEXT,
    description      TEXT    NOT NULL DEFAULT '',
    secret_sealed    BLOB    NOT NULL,
    previous_sealed  BLOB,
    previous_until   INTEGER,
    -- Set when an operator disabled it, it answered 410 Gone, or it failed for five days.
    disabled_at      INTEGER,
    disabled_reason  TEXT,
    -- When its current run of failed attempts began (NULL after a success).
    failing_since    INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id);

-- One event for one endpoint. The body is stored as it is posted and signed; it never holds a
-- code, a session token or a key.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The webhook-id header: the event's, the same for every endpoint and every retry (random,
    -- 128 bits: unique without an index to keep).
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    -- skipped: the endpoint was disabled when the event happened (a replay may send it).
    status           TEXT    NOT NULL
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    -- The retry schedule counts from here: the event's time, or a replay's.
    scheduled_from   INTEGER NOT NULL,
    lease_until      INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    -- Milliseconds of the wall clock, for the event-to-delivery latency.
    created_at_ms    INTEGER NOT NULL,
    finished_at      INTEGER
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);

-- Every request made to an endpoint, and what it answered (the first 1 KB of the body).
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status       INTEGER,
    error        TEXT,
    response     TEXT
) STRICT;

CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id);

-- How far the expiry pass has told of expired sessions and requests: those that expired at or
-- before `expired_until` (and, at that very second, up to the row `last_id`) have been looked
-- at. Moved forward with a guard, so two instances never tell of one expiry twice.
CREATE TABLE event_cursors (
    name           TEXT    PRIMARY KEY,
    expired_until  INTEGER NOT NULL,
    last_id        INTEGER NOT NULL
) STRICT;

-- Expiries before this migration are not told of.
INSERT INTO event_cursors (name, expired_until, last_id)
VALUES ('sessions', CAST(strftime('%s', 'now') AS INTEGER), 0),
       ('sms_requests', CAST(strftime('%s', 'now') AS INTEGER), 0);
