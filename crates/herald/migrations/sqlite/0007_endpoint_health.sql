-- Endpoint health, shared by every node through the database: when the endpoint's current
-- run of failed attempts began (NULL while its last attempt succeeded). An endpoint failing
-- for --disable-after with no success in between is disabled. Version 7 (6 is another
-- change's): the runner applies each missing version, whatever the gaps.
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;
