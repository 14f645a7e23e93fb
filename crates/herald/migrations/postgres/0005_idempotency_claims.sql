-- An idempotency key is claimed by a row before its request runs (status 0, "in progress",
-- until locked_until), so that a retry on any node waits for the first request's response
-- instead of running it again; the row gets the response's status and body when it is done.
ALTER TABLE idempotency ADD COLUMN locked_until BIGINT;
