-- Operator tokens made with `herald token create`, beside the configured or first-start one:
-- several can be valid at once, so one can be replaced without downtime, then revoked.
-- Only a SHA-256 hash of each token is kept.
CREATE TABLE operator_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
