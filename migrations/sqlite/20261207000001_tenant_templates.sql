-- A tenant's own message texts, per channel and language (MiniJinja templates, checked before
-- they are saved). Without a row, the built-in text of that channel and language is sent.
CREATE TABLE tenant_templates (
    tenant_id          INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel            TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    -- One of the built-in languages' primary tags (`en`, `pt`, `fa`, ...).
    locale             TEXT    NOT NULL,
    -- email: subject, text and html; sms: text.
    subject            TEXT,
    text               TEXT,
    html               TEXT,
    -- whatsapp: the approved template's name and language code (its text is Meta's).
    whatsapp_template  TEXT,
    whatsapp_language  TEXT,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, channel, locale)
) STRICT;
