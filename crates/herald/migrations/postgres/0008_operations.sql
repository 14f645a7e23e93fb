-- Running Herald in production (version 8; 7 is another change's: the runner applies each
-- missing version, whatever the gaps).
--
-- Endpoint health, shared by every node through the database: when the endpoint's current
-- run of failed attempts began (NULL while its last attempt succeeded). An endpoint failing
-- for --disable-after with no success in between is disabled.
ALTER TABLE endpoints ADD COLUMN failing_since BIGINT;

-- Payload retention: when a message's payload is expunged (the row stays). Messages stored
-- before this version keep theirs for 90 days, Svix's default.
ALTER TABLE messages ADD COLUMN expires_at BIGINT;
UPDATE messages SET expires_at = created_at + 7776000000;
-- An application's own retention (Herald's addition), for its messages that name none.
ALTER TABLE applications ADD COLUMN payload_retention_ms BIGINT;
-- Only payloads still held are in it: expunged ones leave it, so the retention job's
-- "expired by now" is a range read that never wades through what it did before.
CREATE INDEX messages_expiry ON messages(expires_at) WHERE payload IS NOT NULL;
