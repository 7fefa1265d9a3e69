-- Admin tokens for the admin listener, stored as SHA-256 hashes (they carry 190 random bits,
-- like API keys). A token scoped to a tenant sees and changes only that tenant.
CREATE TABLE admin_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    -- The token's first characters, shown by `admin-token list`.
    prefix      TEXT    NOT NULL UNIQUE,
    scope       TEXT    NOT NULL CHECK (scope IN ('read', 'write')),
    tenant_id   INTEGER REFERENCES tenants (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
) STRICT;
