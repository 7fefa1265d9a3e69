-- A tenant's own message texts (see the SQLite migration of the same name).
CREATE TABLE tenant_templates (
    tenant_id          BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel            TEXT   NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    locale             TEXT   NOT NULL,
    subject            TEXT,
    text               TEXT,
    html               TEXT,
    whatsapp_template  TEXT,
    whatsapp_language  TEXT,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, channel, locale)
);
