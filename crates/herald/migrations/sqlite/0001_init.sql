-- Herald schema, SQLite flavour. Times are Unix milliseconds (INTEGER) so the same
-- arithmetic works on every backend; ids are prefixed, time-ordered strings.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    throttle_rate INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid             TEXT,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    secret          TEXT NOT NULL,
    -- JSON array of {"key": "...", "expiresAt": ms}: rotated-out secrets still signing.
    old_secrets     TEXT NOT NULL DEFAULT '[]',
    event_types     TEXT,
    channels        TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    headers         TEXT NOT NULL DEFAULT '{}',
    metadata        TEXT NOT NULL DEFAULT '{}',
    throttle_rate   INTEGER,
    -- Herald's delivery options (JSON object), see endpoint API docs.
    options         TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    archived     INTEGER NOT NULL DEFAULT 0,
    deprecated   INTEGER NOT NULL DEFAULT 0,
    feature_flag TEXT,
    schemas      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    -- The payload bytes exactly as published; NULL once expunged.
    payload    TEXT,
    channels   TEXT,
    tags       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_app ON messages(app_id, id);
CREATE INDEX messages_event_id ON messages(app_id, event_id) WHERE event_id IS NOT NULL;

-- One row per (message, endpoint): the unit of the queue.
-- status: 0 success, 1 pending, 2 failed, 3 sending, 4 skipped (endpoint disabled at publish).
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id          TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status          INTEGER NOT NULL,
    -- Tries made in the current cycle (a resend or recover starts a new cycle).
    tries           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    lease_token     INTEGER,
    -- Trigger of the next attempt: 0 scheduled, 1 manual.
    next_trigger    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 1;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE status = 3;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);

CREATE TABLE attempts (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id        TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id   TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    status        INTEGER NOT NULL,
    status_code   INTEGER NOT NULL,
    response      TEXT,
    duration_ms   INTEGER NOT NULL,
    error         TEXT,
    trigger_type  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE app_tokens (
    token_hash TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
