-- Initial schema. Times are Unix seconds (INTEGER). Codes, API keys and session tokens are stored
-- only as hashes: HMAC-SHA-256 under the server secret for codes, SHA-256 for keys and tokens
-- (they carry at least 128 random bits, so a plain hash cannot be reversed by guessing).

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_origins (
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    origin      TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, origin)
) STRICT;

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash    BLOB    NOT NULL UNIQUE,
    -- The key's first characters, shown by the CLI and used to revoke it.
    prefix      TEXT    NOT NULL UNIQUE,
    is_test     INTEGER NOT NULL CHECK (is_test IN (0, 1)),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE TABLE sessions (
    id                        INTEGER PRIMARY KEY,
    tenant_id                 INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_hash                BLOB    NOT NULL UNIQUE,
    is_test                   INTEGER NOT NULL CHECK (is_test IN (0, 1)),
    mode                      TEXT    NOT NULL CHECK (mode IN ('any', 'all')),
    code_length               INTEGER NOT NULL CHECK (code_length BETWEEN 4 AND 10),
    max_attempts              INTEGER NOT NULL CHECK (max_attempts > 0),
    max_attempts_per_channel  INTEGER CHECK (max_attempts_per_channel > 0),
    failed_attempts           INTEGER NOT NULL DEFAULT 0,
    locale                    TEXT,
    created_at                INTEGER NOT NULL,
    expires_at                INTEGER NOT NULL,
    cancelled_at              INTEGER
) STRICT;

CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE session_channels (
    session_id       INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    channel          TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    recipient        TEXT    NOT NULL,
    code_hash        BLOB    NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    verified_rank    INTEGER,
    verified_at      INTEGER,
    last_sent_at     INTEGER NOT NULL,
    PRIMARY KEY (session_id, position),
    UNIQUE (session_id, channel)
) STRICT;

CREATE TABLE sms_requests (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    request_id       TEXT    NOT NULL UNIQUE,
    phone_number     TEXT    NOT NULL,
    code_hash        BLOB    NOT NULL,
    is_test          INTEGER NOT NULL CHECK (is_test IN (0, 1)),
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    verified_at      INTEGER
) STRICT;

CREATE INDEX sms_requests_expiry ON sms_requests (expires_at);

-- Messages caught instead of delivered: always for test keys, and for live keys in development
-- mode. The only place a plaintext code is kept, deleted with its session or request.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id   INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    request_id   INTEGER REFERENCES sms_requests (id) ON DELETE CASCADE,
    is_test      INTEGER NOT NULL CHECK (is_test IN (0, 1)),
    channel      TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    sent_at      INTEGER NOT NULL,
    CHECK ((session_id IS NULL) <> (request_id IS NULL))
) STRICT;

CREATE INDEX outbox_by_tenant ON outbox (tenant_id, is_test, recipient);
CREATE INDEX outbox_by_session ON outbox (session_id);
CREATE INDEX outbox_by_request ON outbox (request_id);

-- Idempotent sends: the first answer, sealed under a key derived from the server secret because
-- it holds the session token in clear.
CREATE TABLE idempotency_keys (
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key          TEXT    NOT NULL,
    body_hash    BLOB    NOT NULL,
    nonce        BLOB    NOT NULL,
    sealed       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE INDEX idempotency_age ON idempotency_keys (created_at);
