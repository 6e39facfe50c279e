-- bench/pgbench/get.sql — what one incidentd worker runs for
-- GET /v1/tickets/:id: the incident by id within the key's org (incident.c).
-- No key lookup: a worker answers a key it has seen from its cache
-- (auth_cache.c).  The SQL is src/db.c's; bench/pgbench/check-sql
-- fails the run if it drifts.  bench/crud passes the values (pgbench -D).
-- db.c: STMT_INCIDENT_GET
SELECT id, org_id, title, description, status, priority, severity, source, source_ref, lat, lng, location_name, impact_description, assigned_to, tags::text, affected_services::text, extract(epoch from sla_due_at)::bigint, customer_token, extract(epoch from started_at)::bigint, extract(epoch from acknowledged_at)::bigint, extract(epoch from resolved_at)::bigint, created_by, extract(epoch from created_at)::bigint, extract(epoch from updated_at)::bigint, uuid::text, version FROM incidents WHERE id = :incident_id::bigint AND org_id = :org;
