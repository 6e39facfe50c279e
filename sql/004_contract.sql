-- 004_contract.sql — safe retries, dedup and optimistic concurrency
-- (DESIGN §4): a version per incident for its ETag, one active incident per
-- (org, source, source_ref), and the Idempotency-Key records.

-- Bumped by every change of the incident, its timeline included: the ETag.
ALTER TABLE incidents ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- Before the index can exist, earlier duplicates among active incidents give
-- up their source_ref to the newest one; the value they had stays in their
-- timeline (an internal entry), so nothing is lost.
WITH dup AS (
    SELECT id, org_id, source_ref, status,
           first_value(id) OVER (PARTITION BY org_id, source, source_ref
                                 ORDER BY created_at DESC, id DESC) AS kept
      FROM incidents
     WHERE source_ref IS NOT NULL
       AND status IN ('new', 'open', 'acknowledged', 'in_progress', 'investigating',
                      'identified', 'monitoring')
), moved AS (
    INSERT INTO replies (incident_id, org_id, body, internal, status, author, created_at,
                         incident_status)
    SELECT id, org_id,
           'source_ref "' || source_ref || '" moved to incident ' || kept
           || ': one active incident per source and source_ref (migration 004)',
           true, NULL, 'incidentd', now(), status
      FROM dup WHERE id <> kept
    RETURNING incident_id
)
UPDATE incidents SET source_ref = NULL, version = version + 1
 WHERE id IN (SELECT incident_id FROM moved);

-- The statuses are the active phase of DESIGN §4; src/db.c's create names the
-- same predicate in its ON CONFLICT clause (ACTIVE_SOURCE_REF there).
CREATE UNIQUE INDEX incidents_active_source_ref ON incidents (org_id, source, source_ref)
    WHERE source_ref IS NOT NULL
      AND status IN ('new', 'open', 'acknowledged', 'in_progress', 'investigating',
                     'identified', 'monitoring');

-- One row per (org, Idempotency-Key): the request it was first used with
-- and the response that request got, written in the same transaction as
-- the write.  Rows older than 24 h are pruned in batches by the workers.
CREATE TABLE idempotency_keys (
    org_id        bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  text NOT NULL,   -- SHA-256 of method, path and body
    status        integer,
    headers       text,
    body          text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
