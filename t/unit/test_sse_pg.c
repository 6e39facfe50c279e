/* test_sse_pg.c — incidentd-sse's query queue runs every completion from the
 * loop, never inside sse_pg_query, where its caller is half-way through an
 * update: here, a query refused because the queue is full.  No PostgreSQL is
 * needed: the connection never comes up, so every query waits in the queue. */
#include "tap.h"

#include <event2/event.h>

static int failed;

static void
count_failure(void *arg, struct pg_result *res)
{
	(void)arg;
	if (res == NULL)
		failed++;
}

void
test_sse_pg(void)
{
	struct event_base *base = event_base_new();
	enum log_level saved = log_threshold;
	struct sse_pg *pg;
	int i;

	if (!ok(base != NULL, "an event loop"))
		return;
	log_threshold = LOG_ERROR; /* the refused connection's warnings */
	sse_dns_init(base, "/nonexistent/resolv.conf");
	pg = sse_pg_new(base, "host=/nonexistent/incidentd-test dbname=x");
	for (i = 0; i < SSE_PG_QUEUE_MAX; i++)
		sse_pg_query(pg, "SELECT 1", 0, NULL, count_failure, NULL);
	is_int(failed, 0, "queued queries wait for the connection");
	sse_pg_query(pg, "SELECT 1", 0, NULL, count_failure, NULL);
	is_int(failed, 0, "a query over the cap does not complete inside sse_pg_query");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(failed, 1, "it completes, failed, from the loop");
	sse_pg_free(pg);
	is_int(failed, 1 + SSE_PG_QUEUE_MAX, "freeing the queue fails the rest");
	sse_dns_free();
	event_base_free(base);
	log_threshold = saved;
}
