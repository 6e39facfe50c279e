-- bench/pgbench/create.sql — what one incidentd worker runs for
-- POST /v1/tickets (seed 000's create body): one transaction with the
-- incident row (incident.c) and its event row (event.c).  No key lookup: a
-- worker answers a key it has seen from its cache (auth_cache.c).
-- The SQL is src/db.c's, statement for statement; bench/pgbench/check-sql
-- fails the run if it drifts.  bench/crud passes the parameter values a
-- worker sends (pgbench -D); a NULL stands where the worker sends a NULL
-- parameter.  The payload is the event JSON of an incident created through
-- the API.  customer_token must be unique: a random 18-digit number here
-- (the worker sends 24 random base64url characters).
\set token random(100000000000000000, 999999999999999999)
BEGIN;
-- db.c: STMT_INCIDENT_INSERT
INSERT INTO incidents (title, description, status, priority, severity, source, source_ref, lat, lng, location_name, impact_description, assigned_to, tags, affected_services, sla_due_at, customer_token, started_at, acknowledged_at, resolved_at, created_by, created_at, updated_at, org_id) VALUES (:title, :description, :status, :priority, :severity, :source, NULL, :lat, :lng, :location_name, NULL, NULL, :tags::jsonb, :affected_services::jsonb, to_timestamp(:sla_due_at), :token, to_timestamp(:now), to_timestamp(NULL), to_timestamp(NULL), :created_by, to_timestamp(:now), to_timestamp(:now), :org) ON CONFLICT (org_id, source, source_ref) WHERE source_ref IS NOT NULL AND status IN ('new', 'open', 'acknowledged', 'in_progress', 'investigating', 'identified', 'monitoring') DO NOTHING RETURNING id, uuid::text \gset
-- db.c: STMT_EVENT_APPEND
WITH s AS (UPDATE orgs SET event_seq = event_seq + 1 WHERE id = :org RETURNING event_seq) INSERT INTO events (org_id, seq, type, incident_id, payload, at) SELECT :org, s.event_seq, :event_type, :id, :payload::json, to_timestamp(:now) FROM s RETURNING seq;
COMMIT;
