-- Delivery control (issue 15): ordered delivery, throttles shared by nodes, mTLS client
-- certificates, loop protection, payload validation per event type.

-- A message's orderingKey, and each delivery's ordering key (NULL: unordered). An ordered
-- delivery gets `seq` from a sequence when it is stored (a trigger that fires only for ordered
-- rows, so unordered ones pay nothing): publishes that follow each other get increasing
-- numbers whatever node and clock made them. A claim takes an ordered delivery only if no
-- delivery of the same (endpoint, key) with a smaller seq is pending or being sent.
ALTER TABLE messages ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN order_key TEXT, ADD COLUMN seq BIGINT;
CREATE SEQUENCE deliveries_seq;
CREATE FUNCTION herald_delivery_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := nextval('deliveries_seq');
    RETURN NEW;
END
$$;
CREATE TRIGGER deliveries_seq BEFORE INSERT ON deliveries FOR EACH ROW
    WHEN (NEW.order_key IS NOT NULL AND NEW.seq IS NULL)
    EXECUTE FUNCTION herald_delivery_seq();
CREATE INDEX deliveries_order ON deliveries(endpoint_id, order_key, seq)
    WHERE order_key IS NOT NULL AND status IN (1, 3);

-- Throttles shared by the nodes: each rate-limited key's theoretical arrival time (GCRA), in
-- microseconds, moved forward atomically by the node that takes a send slot.
CREATE TABLE throttles (
    key TEXT COLLATE "C" PRIMARY KEY,
    tat BIGINT NOT NULL
);

ALTER TABLE endpoints ADD COLUMN client_cert TEXT, ADD COLUMN loop_detected_at BIGINT;
ALTER TABLE event_types ADD COLUMN validate_payloads BIGINT NOT NULL DEFAULT 0;
