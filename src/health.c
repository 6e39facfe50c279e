/* health.c — GET /healthz: can this worker reach PostgreSQL and Redis?
 *
 * /healthz needs no key, so it must not let anyone tie up workers: checking a
 * hung dependency waits out a connect or command timeout (300 ms for Redis).
 * A check that took HEALTH_SLOW_MS or more is therefore reused for
 * HEALTH_REUSE_MS: each worker waits on a hung PostgreSQL or Redis at most
 * once a second and answers from a state at most that old.  A quick check (a
 * round trip on an open connection, or a refused connect) costs no more than
 * the request itself, so it is repeated: an outage or a recovery shows at
 * once. */
#include "api.h"

#include <libpq-fe.h>
#include <time.h>

#define HEALTH_REUSE_MS 1000
#define HEALTH_SLOW_MS 100

static int
health_pg_probe(struct worker *w)
{
	PGresult *res = db_exec(w->db, STMT_PING, 0, NULL);
	int ok = res != NULL;

	PQclear(res);
	return ok;
}

static int
health_redis_probe(struct worker *w)
{
	return publisher_ping(w->pub) == 0;
}

/* 1 when the dependency answers; a slow check younger than HEALTH_REUSE_MS
 * is reused without probing. */
static int
health_checked(struct worker *w, struct health_check *hc, int (*probe)(struct worker *))
{
	int64_t start = clock_monotonic_ms();
	int64_t end;

	if (hc->slow && start - hc->at_ms < HEALTH_REUSE_MS)
		return hc->ok;
	hc->ok = probe(w);
	end = clock_monotonic_ms();
	hc->slow = end - start >= HEALTH_SLOW_MS;
	hc->at_ms = end;
	return hc->ok;
}

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
	struct worker *w = req->worker;
	int pg_ok = health_checked(w, &w->pg_health, health_pg_probe);
	int redis_ok = health_checked(w, &w->redis_health, health_redis_probe);
	const char *state[] = {"postgres", pg_ok ? "ok" : "unavailable",
	                       "redis", redis_ok ? "ok" : "unavailable", NULL};
	yajl_gen g;

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
