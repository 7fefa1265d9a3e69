-- Each tenant's account SID (`AC` and 32 hex digits): the user name of the Twilio
-- Verify-compatible door's HTTP Basic credentials (the password is one of the tenant's API keys).
-- Not a secret. Existing tenants get theirs here, new ones when they are created.
ALTER TABLE tenants ADD COLUMN account_sid TEXT;
UPDATE tenants SET account_sid = 'AC' || lower(hex(randomblob(16)));
CREATE UNIQUE INDEX tenants_account_sid ON tenants (account_sid);
