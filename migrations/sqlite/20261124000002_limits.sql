-- Abuse protection. Counters are events in time windows (counted only up to their limit),
-- written in the same transaction as the send or verify they count, so limits hold under
-- concurrency, across restarts and across processes.
-- Destinations, prefixes and IPs are stored only as keyed hashes (HMAC under a key derived
-- from the server secret): the tables say how often, never to whom.

-- A tenant's own limits, over the server's defaults (JSON; absent fields use the defaults).
ALTER TABLE tenants ADD COLUMN limits TEXT;

CREATE TABLE limit_events (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope       TEXT    NOT NULL
                CHECK (scope IN ('destination', 'prefix', 'client_ip', 'widget_ip')),
    subject     BLOB    NOT NULL,
    at          INTEGER NOT NULL,
    -- What a prefix event counted, so that a verification marks it verified. Plain numbers, not
    -- references: an event outlives its session's purge for as long as its window looks at it.
    session_id  INTEGER,
    request_id  INTEGER,
    channel     TEXT,
    verified    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX limit_events_window ON limit_events (tenant_id, scope, subject, at);
CREATE INDEX limit_events_age ON limit_events (at);
CREATE INDEX limit_events_session ON limit_events (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX limit_events_request ON limit_events (request_id) WHERE request_id IS NOT NULL;

-- Each channel's and request's destination (keyed hash), so a verification finds its streak.
ALTER TABLE session_channels ADD COLUMN destination BLOB;
ALTER TABLE sms_requests ADD COLUMN destination BLOB;

-- Resends so far, capped per session.
ALTER TABLE sessions ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;

-- A tenant's sends per budget (a channel, live and test keys apart) per minute: budgets run to
-- thousands an hour, so they are summed over 60 rows rather than counted event by event.
CREATE TABLE limit_buckets (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    budget     TEXT    NOT NULL,
    minute     INTEGER NOT NULL,
    sends      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, budget, minute)
) STRICT, WITHOUT ROWID;

-- Consecutive failed verifications of a destination, across sessions, and its lock.
CREATE TABLE destination_streaks (
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subject       BLOB    NOT NULL,
    failures      INTEGER NOT NULL,
    locked_until  INTEGER,
    PRIMARY KEY (tenant_id, subject)
) STRICT;

-- Prefixes that passed their threshold of unverified sends, until when they cool down.
CREATE TABLE prefix_cooldowns (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subject    BLOB    NOT NULL,
    until      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject)
) STRICT;

-- Every refusal: which rule, which tenant, which subject (hashed), when; `otpgate limits report`.
CREATE TABLE limit_refusals (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    tenant_id  INTEGER REFERENCES tenants (id) ON DELETE CASCADE,
    rule       TEXT    NOT NULL,
    subject    BLOB,
    channel    TEXT
) STRICT;

CREATE INDEX limit_refusals_at ON limit_refusals (at);
