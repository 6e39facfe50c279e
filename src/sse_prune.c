/* sse_prune.c — the event log is kept for event_retention_days, and the
 * webhook deliveries (rows and runs) with it.  The stream process prunes
 * them in batches of PRUNE_BATCH rows, the events first, each batch a
 * statement of its own at the back of the query queue, so streams that wait
 * to be authenticated are never stuck behind one long DELETE.  A
 * transaction-level advisory lock lets one host prune at a time: a host
 * that does not get it leaves this round to the one that did. */
#include "sse.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_BATCH 1000
#define PRUNE_LOCK_ID "7355609" /* migrate.c holds 7355608 */
#define STRINGIFY(x) #x
#define TEXT(x) STRINGIFY(x)
#define UUID_TEXT 37 /* 36 characters and the NUL */

static const char sql_prune_batch[] =
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" PRUNE_LOCK_ID ") AS held), "
    "doomed AS (SELECT e.org_id, e.seq FROM events e, lock WHERE lock.held "
    "AND e.created_at < now() - make_interval(days => $1::int) "
    "ORDER BY e.created_at LIMIT " TEXT(PRUNE_BATCH) "), "
    "gone AS (DELETE FROM events e USING doomed d WHERE e.org_id = d.org_id AND e.seq = d.seq "
    "RETURNING 1) "
    "SELECT (SELECT held FROM lock), (SELECT count(*) FROM gone)";

/* For subscription w of org o: the org's oldest seq still logged (its next
 * seq when none is left), oldest.seq; the deliveries below it go. */
#define OLDEST_KEPT                                                                          \
	"LATERAL (SELECT coalesce((SELECT min(e.seq) FROM events e WHERE e.org_id = w.org_id), " \
	"o.event_seq + 1) AS seq) oldest, "

/* A delivery row outlives its event no longer: rows of seqs below their
 * org's oldest event still logged (below its next seq when none is left;
 * replay's bound, STMT_WEBHOOK_LOG_BOUNDS, too) go.  Subscription after
 * subscription in id order from $1 (where the previous batch stopped): its
 * org's oldest seq from the events' primary key, then its doomed rows, a
 * range of the deliveries' (webhook_id, seq) index, deleted by their ctids
 * (EXPLAIN: index scans, a TID scan, no sequential scan of either table).
 * Returns the lock, the rows deleted and the last subscription reached. */
static const char sql_prune_deliveries[] =
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" PRUNE_LOCK_ID ") AS held), "
    "doomed AS (SELECT d.ctid FROM lock, webhooks w JOIN orgs o ON o.id = w.org_id, "
    OLDEST_KEPT
    "LATERAL (SELECT d.ctid FROM webhook_deliveries d WHERE d.webhook_id = w.id "
    "AND d.seq < oldest.seq LIMIT " TEXT(PRUNE_BATCH) ") d "
    "WHERE lock.held AND w.id >= $1::uuid ORDER BY w.id LIMIT " TEXT(PRUNE_BATCH) "), "
    "gone AS (DELETE FROM webhook_deliveries WHERE ctid = ANY (ARRAY(SELECT ctid FROM doomed)) "
    "RETURNING webhook_id) "
    "SELECT (SELECT held FROM lock), (SELECT count(*) FROM gone), "
    "(SELECT webhook_id::text FROM gone ORDER BY webhook_id DESC LIMIT 1)";

/* The same for the runs (sql/014): of each subscription from $1, its runs
 * that begin below its oldest seq, by the runs' primary key, PRUNE_BATCH
 * at most; those that end below it go, the one that reaches past it is cut
 * there.  Returns the lock, the runs reached and the last subscription. */
static const char sql_prune_runs[] =
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" PRUNE_LOCK_ID ") AS held), "
    "doomed AS (SELECT w.id, r.first_seq, r.last_seq, oldest.seq FROM lock, webhooks w "
    "JOIN orgs o ON o.id = w.org_id, "
    OLDEST_KEPT
    "LATERAL (SELECT r.first_seq, r.last_seq FROM webhook_delivery_runs r "
    "WHERE r.webhook_id = w.id AND r.first_seq < oldest.seq ORDER BY r.first_seq "
    "LIMIT " TEXT(PRUNE_BATCH) ") r "
    "WHERE lock.held AND w.id >= $1::uuid ORDER BY w.id LIMIT " TEXT(PRUNE_BATCH) "), "
    "gone AS (DELETE FROM webhook_delivery_runs r USING doomed d WHERE r.webhook_id = d.id "
    "AND r.first_seq = d.first_seq AND d.last_seq < d.seq RETURNING 1), "
    "cut AS (UPDATE webhook_delivery_runs r SET " WEBHOOK_RUN_CUT("d.seq", "r.last_seq")
    "FROM doomed d WHERE r.webhook_id = d.id AND r.first_seq = d.first_seq "
    "AND d.last_seq >= d.seq RETURNING 1) "
    "SELECT (SELECT held FROM lock), (SELECT count(*) FROM gone) + (SELECT count(*) FROM cut), "
    "(SELECT id::text FROM doomed ORDER BY id DESC LIMIT 1)";

/* The deliveries are pruned subscription by subscription, the rows, then
 * the runs. */
struct deliveries_stage {
	const char *sql;
	const char *what; /* for the log */
	const struct deliveries_stage *next;
};
static const struct deliveries_stage runs_stage = {sql_prune_runs, "webhook delivery runs", NULL};
static const struct deliveries_stage rows_stage = {sql_prune_deliveries, "webhook deliveries",
                                                   &runs_stage};

static int pruning;
static int64_t pruned_rows;
static char deliveries_from[UUID_TEXT]; /* where the next deliveries batch starts */

static void prune_events(void);
static void prune_deliveries(const struct deliveries_stage *stage);
static void deliveries_batch(const struct deliveries_stage *stage);

/* The rows a batch deleted; -1 when the round ends here: a failure (the
 * next round tries again) or another host's lock. */
static int64_t
batch_rows(const PGresult *res)
{
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		log_info(NULL, "msg=\"sse: another host is pruning the event log\"");
		return -1;
	}
	return strtoll(PQgetvalue(res, 0, 1), NULL, 10);
}

static void
events_done(void *arg, PGresult *res)
{
	int64_t n = batch_rows(res);

	(void)arg;
	if (n < 0) {
		pruning = 0;
		return;
	}
	pruned_rows += n;
	if (n == PRUNE_BATCH && !sse.stopping) {
		prune_events();
		return;
	}
	if (pruned_rows > 0)
		log_info(NULL, "msg=\"sse: pruned the event log\" rows=%lld", (long long)pruned_rows);
	if (sse.stopping) {
		pruning = 0;
		return;
	}
	prune_deliveries(&rows_stage);
}

static void
deliveries_done(void *arg, PGresult *res)
{
	const struct deliveries_stage *stage = arg;
	int64_t n = batch_rows(res);

	if (n < 0) {
		pruning = 0;
		return;
	}
	pruned_rows += n;
	if (n == PRUNE_BATCH && !sse.stopping) {
		snprintf(deliveries_from, sizeof(deliveries_from), "%s", PQgetvalue(res, 0, 2));
		deliveries_batch(stage);
		return;
	}
	if (pruned_rows > 0)
		log_info(NULL, "msg=\"sse: pruned %s\" rows=%lld", stage->what,
		         (long long)pruned_rows);
	if (stage->next == NULL || sse.stopping) {
		pruning = 0;
		return;
	}
	prune_deliveries(stage->next);
}

static void
prune_events(void)
{
	char days[16];
	const char *params[1] = {days};

	snprintf(days, sizeof(days), "%d", sse.cfg->event_retention_days);
	sse_pg_query(sse.pg, sql_prune_batch, 1, params, events_done, NULL);
}

/* stage's next batch, from deliveries_from */
static void
deliveries_batch(const struct deliveries_stage *stage)
{
	const char *params[1] = {deliveries_from};

	sse_pg_query(sse.pg, stage->sql, 1, params, deliveries_done, (void *)stage);
}

/* stage, from the first subscription on */
static void
prune_deliveries(const struct deliveries_stage *stage)
{
	pruned_rows = 0;
	snprintf(deliveries_from, sizeof(deliveries_from), "00000000-0000-0000-0000-000000000000");
	deliveries_batch(stage);
}

void
sse_prune_start(void)
{
	if (pruning)
		return;
	pruning = 1;
	pruned_rows = 0;
	prune_events();
}
