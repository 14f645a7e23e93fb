-- Delivery control (issue 15): ordered delivery, throttles shared by nodes, mTLS client
-- certificates, loop protection, payload validation per event type.

-- A message's orderingKey, and each delivery's ordering key (NULL: unordered). An ordered
-- delivery gets `seq`, its place in its key's order, when it is stored: the next number after
-- the largest stored (the one writer makes that atomic). A claim takes an ordered delivery only
-- if no delivery of the same (endpoint, key) with a smaller seq is pending or being sent.
ALTER TABLE messages ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN order_key TEXT;
ALTER TABLE deliveries ADD COLUMN seq INTEGER;
CREATE INDEX deliveries_seq ON deliveries(seq) WHERE seq IS NOT NULL;
CREATE INDEX deliveries_order ON deliveries(endpoint_id, order_key, seq)
    WHERE order_key IS NOT NULL AND status IN (1, 3);
CREATE TRIGGER deliveries_seq AFTER INSERT ON deliveries
    WHEN NEW.order_key IS NOT NULL AND NEW.seq IS NULL
BEGIN
    UPDATE deliveries SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries
                                 WHERE seq IS NOT NULL)
     WHERE rowid = NEW.rowid;
END;

-- Throttles: each rate-limited key's theoretical arrival time (GCRA), in microseconds. Used on
-- PostgreSQL, where nodes share it; kept here so that both schemas have the same tables.
CREATE TABLE throttles (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL
);

ALTER TABLE endpoints ADD COLUMN client_cert TEXT;
ALTER TABLE endpoints ADD COLUMN loop_detected_at INTEGER;
ALTER TABLE event_types ADD COLUMN validate_payloads INTEGER NOT NULL DEFAULT 0;
