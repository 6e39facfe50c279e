-- 005_search.sql — full-text search over an incident's title and description
-- (GET /v1/tickets?q=...).
--
-- The text search configuration is 'english', here and in src/db.c's list
-- statements (websearch_to_tsquery('english', ...)): incidents are written
-- by responders in English prose, and stemming lets "timeout" find "timeouts"
-- and "failing" find "failed".  Both sides must use the same configuration:
-- a query stemmed differently from the stored vector finds nothing.  The
-- column is generated, so every write keeps it current with no code path to
-- forget; ALTER TABLE rewrites the table once to fill it.
ALTER TABLE incidents ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig, title || ' ' || coalesce(description, ''))) STORED;
CREATE INDEX incidents_search ON incidents USING gin (search);
