-- 003_compat.sql — what the compatibility mounts (DESIGN §8) need from the
-- schema: an Alert24-style UUID per incident, and the incident's status as
-- it was when each timeline entry was written (Statly's updates[].status
-- must never change after the fact).

ALTER TABLE incidents ADD COLUMN uuid uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX incidents_uuid ON incidents (uuid);

ALTER TABLE replies ADD COLUMN incident_status text;
-- Existing entries: the status set by the nearest entry at or before them,
-- else (nothing set one yet) the incident's current status.
UPDATE replies r SET incident_status = coalesce(
    (SELECT p.status FROM replies p
      WHERE p.incident_id = r.incident_id AND p.id <= r.id AND p.status IS NOT NULL
      ORDER BY p.id DESC LIMIT 1),
    (SELECT i.status FROM incidents i WHERE i.id = r.incident_id));
ALTER TABLE replies ALTER COLUMN incident_status SET NOT NULL;
