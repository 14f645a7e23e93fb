-- The eventIds published in the last 24 hours, one row per (application, eventId): a publish
-- claims its eventId with one upsert that succeeds only if the eventId is new or older than
-- 24 hours, which is also what serializes concurrent publishes of one eventId (on PostgreSQL,
-- across nodes) without a lock of its own. Rows older than 24 hours are pruned.
CREATE TABLE event_ids (
    app_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    msg_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, event_id)
);
INSERT INTO event_ids (app_id, event_id, msg_id, created_at)
    SELECT app_id, event_id, MAX(id), MAX(created_at) FROM messages
    WHERE event_id IS NOT NULL GROUP BY app_id, event_id;
