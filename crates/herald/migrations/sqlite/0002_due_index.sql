-- The claim skips saturated endpoints: with endpoint_id in the due index it does so from the
-- index alone, without reading each skipped row.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, endpoint_id) WHERE status = 1;
-- A stalled endpoint's due deliveries are parked (moved later) by endpoint.
CREATE INDEX deliveries_endpoint_due ON deliveries(endpoint_id, next_attempt_at) WHERE status = 1;
