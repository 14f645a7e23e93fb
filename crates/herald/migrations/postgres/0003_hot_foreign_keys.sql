-- Deliveries and attempts are written at the rate messages are sent, and their foreign keys cost
-- more than the rest of those writes together: a trigger, a query and a row lock per key per row
-- (EXPLAIN ANALYZE of a batch). Herald keeps their integrity itself (docs/architecture.md): the
-- batch statement locks the endpoints it fans out to and the deliveries it records attempts of,
-- once each, and deleting an endpoint or an application deletes their deliveries and attempts
-- after locking the parent row. Messages keep theirs (one per message, to its application).
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_app_id_fkey,
    DROP CONSTRAINT deliveries_msg_id_fkey,
    DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE attempts
    DROP CONSTRAINT attempts_app_id_fkey,
    DROP CONSTRAINT attempts_msg_id_fkey,
    DROP CONSTRAINT attempts_endpoint_id_fkey;
