-- Herald schema, PostgreSQL flavour: the same tables and columns as the SQLite one. Times are
-- Unix milliseconds (BIGINT), every integer is BIGINT, JSON is TEXT. Keys that are ordered and
-- paginated (ids, event type names) use the "C" collation: byte order, which is time order for
-- Herald's ids, whatever the database's default collation.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE applications (
    id            TEXT COLLATE "C" PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    throttle_rate BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id              TEXT COLLATE "C" PRIMARY KEY,
    app_id          TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid             TEXT,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    secret          TEXT NOT NULL,
    old_secrets     TEXT NOT NULL DEFAULT '[]',
    event_types     TEXT,
    channels        TEXT,
    disabled        BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    headers         TEXT NOT NULL DEFAULT '{}',
    metadata        TEXT NOT NULL DEFAULT '{}',
    throttle_rate   BIGINT,
    options         TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE event_types (
    name         TEXT COLLATE "C" PRIMARY KEY,
    description  TEXT NOT NULL,
    archived     BIGINT NOT NULL DEFAULT 0,
    deprecated   BIGINT NOT NULL DEFAULT 0,
    feature_flag TEXT,
    schemas      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE messages (
    id         TEXT COLLATE "C" PRIMARY KEY,
    app_id     TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    payload    TEXT,
    channels   TEXT,
    tags       TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_app ON messages(app_id, id);
CREATE INDEX messages_event_id ON messages(app_id, event_id) WHERE event_id IS NOT NULL;

-- status: 0 success, 1 pending, 2 failed, 3 sending, 4 skipped (endpoint disabled at publish).
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    app_id          TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id          TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status          BIGINT NOT NULL,
    tries           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    lease_token     BIGINT,
    next_trigger    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 1;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE status = 3;
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);

CREATE TABLE attempts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    msg_id        TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id   TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    status        BIGINT NOT NULL,
    status_code   BIGINT NOT NULL,
    response      TEXT,
    duration_ms   BIGINT NOT NULL,
    error         TEXT,
    trigger_type  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE app_tokens (
    token_hash TEXT PRIMARY KEY,
    app_id     TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    status     BIGINT NOT NULL,
    body       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
