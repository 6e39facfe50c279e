/* health.c — GET /healthz: can this worker reach PostgreSQL and Redis? */
#include "incidentd.h"

#include <libpq-fe.h>
#include <time.h>

#define STREAMS_STALE_SEC 5 /* incidentd-sse reports every second */

/* This host's incidentd-sse, from the page it shares (stream_status.c);
 * nothing when it is not configured.  probe_deliveries above 0 means events
 * reached its streams only through its 2 s probe of PostgreSQL: its Redis
 * is down, or not the one the writers publish to. */
static void
health_render_streams(yajl_gen g)
{
	struct stream_status_view v;
	int fresh;

	if (stream_status_read(&v) != 0)
		return;
	fresh = v.updated_at != 0 && time(NULL) - v.updated_at <= STREAMS_STALE_SEC;
	jgen_key(g, "streams");
	yajl_gen_map_open(g);
	jgen_key(g, "status");
	jgen_str(g, fresh ? "ok" : "unavailable");
	jgen_key(g, "redis");
	jgen_str(g, fresh && v.redis_connected ? "ok" : "unavailable");
	jgen_key(g, "streams");
	jgen_int(g, v.streams);
	jgen_key(g, "probe_deliveries");
	jgen_int(g, v.probe_deliveries);
	yajl_gen_map_close(g);
}

void
health_check(struct request *req)
{
	PGresult *res = db_exec(req->worker->db, STMT_PING, 0, NULL);
	int pg_ok = res != NULL;
	int redis_ok = publisher_ping(req->worker->pub) == 0;
	const char *state[] = {"postgres", pg_ok ? "ok" : "unavailable",
	                       "redis", redis_ok ? "ok" : "unavailable", NULL};
	yajl_gen g;

	PQclear(res);
	request_header(req, "Cache-Control: no-store");
	if (!pg_ok)
		errors_add(&req->errors, "database_unavailable", NULL, NULL, "PostgreSQL is not reachable");
	if (!redis_ok)
		errors_add(&req->errors, "redis_unavailable", NULL, NULL, "Redis is not reachable");
	if (!pg_ok || !redis_ok) {
		request_fail_extra(req, 503, state);
		return;
	}
	g = json_gen_new();
	yajl_gen_map_open(g);
	jgen_key(g, "status");
	jgen_str(g, "ok");
	jgen_key(g, "postgres");
	jgen_str(g, state[1]);
	jgen_key(g, "redis");
	jgen_str(g, state[3]);
	health_render_streams(g);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}
