/* sse_prune.c — the event log is kept for event_retention_days.  The stream
 * process prunes it in batches of PRUNE_BATCH rows, each batch a statement of
 * its own at the back of the query queue, so streams that wait to be
 * authenticated are never stuck behind one long DELETE.  A transaction-level
 * advisory lock lets one host prune at a time: a host that does not get it
 * leaves this round to the one that did. */
#include "sse.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_BATCH 1000
#define PRUNE_LOCK_ID "7355609" /* migrate.c holds 7355608 */
#define STRINGIFY(x) #x
#define TEXT(x) STRINGIFY(x)

static const char sql_prune_batch[] =
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" PRUNE_LOCK_ID ") AS held), "
    "doomed AS (SELECT e.org_id, e.seq FROM events e, lock WHERE lock.held "
    "AND e.created_at < now() - make_interval(days => $1::int) "
    "ORDER BY e.created_at LIMIT " TEXT(PRUNE_BATCH) "), "
    "gone AS (DELETE FROM events e USING doomed d WHERE e.org_id = d.org_id AND e.seq = d.seq "
    "RETURNING 1) "
    "SELECT (SELECT held FROM lock), (SELECT count(*) FROM gone)";

static int pruning;
static int64_t pruned_rows;

static void prune_batch(void);

static void
batch_done(void *arg, PGresult *res)
{
	int64_t n;

	(void)arg;
	if (res == NULL || PQntuples(res) != 1) {
		pruning = 0; /* the next round tries again */
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		log_info(NULL, "msg=\"sse: another host is pruning the event log\"");
		pruning = 0;
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	pruned_rows += n;
	if (n == PRUNE_BATCH && !sse.stopping) {
		prune_batch();
		return;
	}
	if (pruned_rows > 0)
		log_info(NULL, "msg=\"sse: pruned the event log\" rows=%lld", (long long)pruned_rows);
	pruning = 0;
}

static void
prune_batch(void)
{
	char days[16];
	const char *params[1] = {days};

	snprintf(days, sizeof(days), "%d", sse.cfg->event_retention_days);
	sse_pg_query(sse.pg, sql_prune_batch, 1, params, batch_done, NULL);
}

void
sse_prune_start(void)
{
	if (pruning)
		return;
	pruning = 1;
	pruned_rows = 0;
	prune_batch();
}
