-- Which channels a tenant may send on (comma-separated wire names; NULL for every channel) and
-- when it was disabled (NULL while it is enabled): a disabled tenant's keys are refused and
-- nothing is sent for it.
ALTER TABLE tenants ADD COLUMN enabled_channels TEXT;
ALTER TABLE tenants ADD COLUMN disabled_at BIGINT;
