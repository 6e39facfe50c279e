-- bench/pgbench/list.sql — what one incidentd worker runs for
-- GET /v1/tickets?limit=50: the newest-first page with its total (list.c) —
-- no filters and no q, limit 50, offset 0.  No key lookup: a worker answers
-- a key it has seen from its cache (auth_cache.c).
-- The SQL is src/db.c's; bench/pgbench/check-sql fails the run if it drifts.
-- Without filters the page is STMT_INCIDENT_LIST (db_list_sql's shape 0, no
-- filter parameters); its total sums the org's rows of incident_counts.
-- The worker fetches limit + 1 rows (the one more says whether rows follow).
-- bench/crud passes the values (pgbench -D).
\set fetch :limit + 1
-- db.c: STMT_INCIDENT_LIST
SELECT id, org_id, title, description, status, priority, severity, source, source_ref, lat, lng, location_name, impact_description, assigned_to, tags::text, affected_services::text, extract(epoch from sla_due_at)::bigint, customer_token, extract(epoch from started_at)::bigint, extract(epoch from acknowledged_at)::bigint, extract(epoch from resolved_at)::bigint, created_by, extract(epoch from created_at)::bigint, extract(epoch from updated_at)::bigint, uuid::text, version, (extract(epoch from created_at) * 1000000)::bigint, (SELECT coalesce(sum(n), 0) FROM incident_counts WHERE org_id = :org ) FROM incidents WHERE org_id = :org ORDER BY created_at DESC, id DESC LIMIT :fetch OFFSET :offset;
