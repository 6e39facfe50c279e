/* hooks_write.c — writing behind the deliveries: the cursors and delivery
 * rows of every held subscription with something to write go to PostgreSQL
 * in one statement, at once when a subscription has HOOKS_WRITE_BATCH
 * results waiting (or is given up, or the process stops), else
 * HOOKS_WRITE_DELAY_MS after the first result came.  One statement for all
 * of them, not one per subscription: bench/hooks measured PostgreSQL's
 * cost per statement above its cost per row.
 *
 * Events delivered at the first try, nearly all of them, go into one run
 * row per subscription (webhook_delivery_runs, sql/014), the rest one row
 * each into webhook_deliveries: bench/hooks measured a row per event as
 * most of PostgreSQL's cost per delivery.
 *
 * Each subscription's part is compare-and-set on its stored cursor and its
 * lease: a replay, a PATCH or another holder wins, and that subscription
 * reads its row again (hooks_lease.c) while the others' parts are written.
 * A subscription is in at most one statement at a time. */
#include "hooks.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* A set of delivery rows for the statement below, from ten arrays: each
 * row names its subscription by its ordinal in $3, and is inserted only if
 * that subscription's part was written. */
#define DELIVERY_ROWS(part, seq, event, attempts, first, status, error, next, delivered,    \
                      duration)                                                               \
	"INSERT INTO webhook_deliveries AS x (webhook_id, seq, event, attempts, "             \
	"first_attempt_at, last_status, last_error, next_attempt_at, delivered_at, "          \
	"duration_ms) SELECT m.id, d.seq, d.event, d.attempts, to_timestamp(d.first_at), "   \
	"d.status, d.error, to_timestamp(d.next_at), to_timestamp(d.delivered_at), "          \
	"d.duration_ms FROM moved m JOIN unnest(" part "::int[], " seq "::bigint[], " event   \
	"::text[], " attempts "::int[], " first "::bigint[], " status "::int[], " error        \
	"::text[], " next "::bigint[], " delivered "::bigint[], " duration "::int[]) "         \
	"AS d(part, seq, event, attempts, first_at, status, error, next_at, delivered_at, "   \
	"duration_ms) ON d.part = m.i"

/* $1 owner, $2 now; then binary arrays (pg_array.c): per subscription $3
 * id (as text), $4 stored cursor, $5 new cursor, $6 why it is given up
 * (NULL: it is not), $7..$8 where its run is in $9..$14 (from, to, 1-based;
 * none when to < from); runs: $9 seq, $10 event, $11 first attempt,
 * $12 delivered, $13 status, $14 duration; delivery rows that are new in
 * $15..$24 (a plain INSERT: the upsert's conflict check was a fifth of the
 * statement's time), rows that may be there already (a retried event's, see
 * rows_upto) in $25..$34.  Returns the ordinal of each subscription
 * written. */
static const char sql_write[] =
    "WITH w AS (SELECT * FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[], "
    "$7::int[], $8::int[]) WITH ORDINALITY AS w(id, was, cursor_seq, disable, run_from, "
    "run_to, i)), "
    "moved AS (UPDATE webhooks h SET cursor_seq = w.cursor_seq, "
    "enabled = w.disable IS NULL, "
    "disabled_reason = coalesce(w.disable, h.disabled_reason), "
    "disabled_at = CASE WHEN w.disable IS NULL THEN h.disabled_at "
    "ELSE to_timestamp($2::bigint) END, "
    "lease_owner = CASE WHEN w.disable IS NULL THEN h.lease_owner END, "
    "lease_until = CASE WHEN w.disable IS NULL THEN h.lease_until END, "
    "updated_at = CASE WHEN w.disable IS NULL THEN h.updated_at ELSE now() END "
    "FROM w WHERE h.id = w.id::uuid AND h.cursor_seq = w.was AND h.lease_owner = $1 "
    "AND h.enabled AND h.lease_until > now() RETURNING h.id, w.i, w.run_from AS a, "
    "w.run_to AS b), "
    "runs AS (INSERT INTO webhook_delivery_runs (webhook_id, first_seq, last_seq, seqs, "
    "events, first_at, delivered_at, statuses, durations_ms) SELECT m.id, "
    "($9::bigint[])[m.a], ($9::bigint[])[m.b], ($9::bigint[])[m.a:m.b], "
    "($10::text[])[m.a:m.b], ($11::bigint[])[m.a:m.b], ($12::bigint[])[m.a:m.b], "
    "($13::int[])[m.a:m.b], ($14::int[])[m.a:m.b] FROM moved m WHERE m.b >= m.a), "
    "fresh AS (" DELIVERY_ROWS("$15", "$16", "$17", "$18", "$19", "$20", "$21", "$22", "$23",
                               "$24") "), "
    "again AS (" DELIVERY_ROWS("$25", "$26", "$27", "$28", "$29", "$30", "$31", "$32", "$33",
                               "$34") " "
    "ON CONFLICT (webhook_id, seq) DO UPDATE SET attempts = EXCLUDED.attempts, "
    "first_attempt_at = coalesce(x.first_attempt_at, EXCLUDED.first_attempt_at), "
    "last_status = EXCLUDED.last_status, last_error = EXCLUDED.last_error, "
    "next_attempt_at = EXCLUDED.next_attempt_at, delivered_at = EXCLUDED.delivered_at, "
    "duration_ms = EXCLUDED.duration_ms) "
    "SELECT i FROM moved";

#define NSUBCOLS 6  /* $3..$8 */
#define NRUNCOLS 6  /* $9..$14 */
#define NROWCOLS 10 /* $15..$24, and again $25..$34 */
#define RUNS (2 + NSUBCOLS) /* the index of $9 in params */
#define FRESH (RUNS + NRUNCOLS)
#define AGAIN (FRESH + NROWCOLS)
#define NPARAMS (AGAIN + NROWCOLS)

/* One subscription's part of a statement. */
struct part {
	struct hook_sub *s;
	size_t ordinal; /* 1-based, in the statement's $3 */
	int64_t epoch;
	int64_t cursor;
	struct hook_result *results;
	size_t nresults;
	int disables;
};

struct batch {
	struct part *parts;
	size_t nparts;
};

static struct event *due_ev; /* the next statement, when nothing forces one sooner */

void
hook_results_free(struct hook_result *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].event);
		free(r[i].error);
	}
	free(r);
}

/* ---- the statement's arrays: binary (pg_array.c) ---- */

/* The element types of $3..$8, $9..$14, and of $15..$24 (and $25..$34),
 * as the statement casts them. */
static const uint32_t sub_types[NSUBCOLS] = {PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8,
                                             PG_OID_TEXT, PG_OID_INT4, PG_OID_INT4};
static const uint32_t run_types[NRUNCOLS] = {PG_OID_INT8, PG_OID_TEXT, PG_OID_INT8,
                                             PG_OID_INT8, PG_OID_INT4, PG_OID_INT4};
static const uint32_t row_types[NROWCOLS] = {PG_OID_INT4, PG_OID_INT8, PG_OID_TEXT,
                                             PG_OID_INT4, PG_OID_INT8, PG_OID_INT4,
                                             PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8,
                                             PG_OID_INT4};

/* TIME_NONE is NULL. */
static void
row_time(struct pg_array *a, int64_t t)
{
	if (t == TIME_NONE)
		pg_array_null(a);
	else
		pg_array_int8(a, t);
}

/* ordinal: the subscription's, 1-based, in the statement's $3 */
static void
add_row(struct pg_array *c, size_t ordinal, const struct hook_result *r)
{
	pg_array_int4(&c[0], (int32_t)ordinal);
	pg_array_int8(&c[1], r->seq);
	pg_array_text(&c[2], r->event);
	pg_array_int4(&c[3], r->attempts);
	row_time(&c[4], r->first_attempt_at);
	if (r->status == 0) /* no HTTP answer */
		pg_array_null(&c[5]);
	else
		pg_array_int4(&c[5], r->status);
	pg_array_text(&c[6], r->error);
	row_time(&c[7], r->next_attempt_at);
	row_time(&c[8], r->delivered_at);
	pg_array_int4(&c[9], r->duration_ms);
}

/* ---- taking and giving back a subscription's part ---- */

int
hook_writes_pending(const struct hook_sub *s)
{
	return s->cursor != s->persisted || s->nresults > 0 || s->disable_reason != NULL;
}

/* One row per event: an attempt's result replaces an earlier one of the
 * same event (it carries the attempts so far), and a statement may not
 * upsert one row twice. Results come in seq order. */
static void
results_compact(struct hook_result *r, size_t *n)
{
	size_t i, out = 0;

	for (i = 0; i < *n; i++) {
		if (out > 0 && r[out - 1].seq == r[i].seq) {
			free(r[out - 1].event);
			free(r[out - 1].error);
			r[out - 1] = r[i];
			continue;
		}
		r[out++] = r[i];
	}
	*n = out;
}

static void
part_take(struct part *p, struct hook_sub *s)
{
	p->s = s;
	p->epoch = s->epoch;
	p->cursor = s->cursor;
	p->results = s->results;
	p->nresults = s->nresults;
	p->disables = s->disable_reason != NULL;
	results_compact(p->results, &p->nresults);
	s->results = NULL;
	s->nresults = 0;
	s->writing = 1;
	s->refs++;
}

/* PostgreSQL failed the statement: the rows go again with the next one,
 * ahead of what came since. */
static void
part_give_back(struct part *p)
{
	struct hook_sub *s = p->s;

	s->results = xrealloc(s->results, (s->nresults + p->nresults) * sizeof(*s->results));
	memmove(s->results + p->nresults, s->results, s->nresults * sizeof(*s->results));
	memcpy(s->results, p->results, p->nresults * sizeof(*s->results));
	s->nresults += p->nresults;
	free(p->results);
	p->results = NULL;
	p->nresults = 0;
}

static void
part_done(struct part *p, int written)
{
	struct hook_sub *s = p->s;

	s->writing = 0;
	if (!s->gone && p->epoch == s->epoch) {
		if (written < 0) {
			part_give_back(p);
		} else if (written) {
			s->persisted = p->cursor;
			if (p->disables) {
				log_warn(NULL, "msg=\"hooks: subscription disabled\" webhook=%s", s->id);
				hook_sub_drop(s);
			}
		} else {
			/* the row moved under us (replay, PATCH, lease lost): read it again */
			log_info(NULL, "msg=\"hooks: subscription changed; reading it again\" webhook=%s",
			         s->id);
			hook_sub_reread(s, s->persisted);
			s->stale = 1;
		}
	}
	hook_results_free(p->results, p->nresults);
	hook_sub_done(s);
}

/* ---- the statement ---- */

static void schedule(void);
static void arm(int now);

static void
on_written(void *arg, PGresult *res)
{
	struct batch *b = arg;
	char *written = xcalloc(b->nparts + 1, 1);
	size_t i;

	for (i = 0; res != NULL && i < (size_t)PQntuples(res); i++) {
		long long ord = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);

		if (ord >= 1 && (size_t)ord <= b->nparts)
			written[ord - 1] = 1;
	}
	for (i = 0; i < b->nparts; i++)
		part_done(&b->parts[i], res == NULL ? -1 : written[i]);
	free(written);
	free(b->parts);
	free(b);
	if (!hooks.closed)
		schedule();
}

/* The statement's arrays. */
struct cols {
	struct pg_array sub[NSUBCOLS], run[NRUNCOLS], fresh[NROWCOLS], again[NROWCOLS];
	size_t nrun; /* elements in run[] so far */
};

/* Delivered at the first try: an element of the subscription's run, whose
 * arrays hold no NULL. */
static int
in_run(const struct hook_result *r)
{
	return r->attempts == 1 && r->error == NULL && r->delivered_at != TIME_NONE &&
	       r->first_attempt_at != TIME_NONE && r->next_attempt_at == TIME_NONE;
}

static void
add_run_element(struct cols *c, const struct hook_result *r)
{
	pg_array_int8(&c->run[0], r->seq);
	pg_array_text(&c->run[1], r->event);
	pg_array_int8(&c->run[2], r->first_attempt_at);
	pg_array_int8(&c->run[3], r->delivered_at);
	pg_array_int4(&c->run[4], r->status);
	pg_array_int4(&c->run[5], r->duration_ms);
	c->nrun++;
}

/* p's results: new ones (above rows_upto) delivered at the first try into
 * its run, the other new ones into the new rows, the rest into the rows
 * that may be there already.  Then its $3..$8. */
static void
part_add(struct part *p, struct cols *c)
{
	struct hook_sub *s = p->s;
	size_t r, run_from = c->nrun + 1;

	for (r = 0; r < p->nresults; r++) {
		const struct hook_result *res = &p->results[r];

		if (res->seq <= s->rows_upto) {
			add_row(c->again, p->ordinal, res);
			continue;
		}
		if (in_run(res))
			add_run_element(c, res);
		else
			add_row(c->fresh, p->ordinal, res);
		s->rows_upto = res->seq; /* results are in seq order */
	}
	pg_array_text(&c->sub[0], s->id);
	pg_array_int8(&c->sub[1], s->persisted);
	pg_array_int8(&c->sub[2], p->cursor);
	pg_array_text(&c->sub[3], s->disable_reason);
	pg_array_int4(&c->sub[4], (int32_t)run_from);
	pg_array_int4(&c->sub[5], (int32_t)c->nrun);
}

static void
cols_open(struct cols *c)
{
	c->nrun = 0;
	pg_arrays_open(c->sub, sub_types, NSUBCOLS, 256);
	pg_arrays_open(c->run, run_types, NRUNCOLS, 1024);
	pg_arrays_open(c->fresh, row_types, NROWCOLS, 64);
	pg_arrays_open(c->again, row_types, NROWCOLS, 64);
}

static void
cols_close(struct cols *c, const char **params, int *lengths, int *formats)
{
	pg_arrays_close(c->sub, NSUBCOLS, params + 2, lengths + 2, formats + 2);
	pg_arrays_close(c->run, NRUNCOLS, params + RUNS, lengths + RUNS, formats + RUNS);
	pg_arrays_close(c->fresh, NROWCOLS, params + FRESH, lengths + FRESH, formats + FRESH);
	pg_arrays_close(c->again, NROWCOLS, params + AGAIN, lengths + AGAIN, formats + AGAIN);
}

static void
cols_free(struct cols *c)
{
	pg_arrays_free(c->sub, NSUBCOLS);
	pg_arrays_free(c->run, NRUNCOLS);
	pg_arrays_free(c->fresh, NROWCOLS);
	pg_arrays_free(c->again, NROWCOLS);
}

/* Every subscription with something to write and no statement in flight,
 * up to HOOKS_WRITE_ROWS results; returns whether some were left for the
 * next. */
static int
write_batch(void)
{
	struct cols c;
	const char *params[NPARAMS];
	int lengths[NPARAMS] = {0}, formats[NPARAMS] = {0}; /* $1, $2: text */
	struct batch *b = xcalloc(1, sizeof(*b));
	struct hook_sub *s;
	size_t rows = 0, nsubs = hook_subs_count();
	char now[24];
	int left = 0;

	b->parts = xcalloc(nsubs > 0 ? nsubs : 1, sizeof(*b->parts));
	cols_open(&c);
	for (s = hook_subs; s != NULL; s = s->next) {
		struct part *p;

		if (s->writing || s->gone || s->stale || !hook_writes_pending(s))
			continue;
		if (rows > 0 && rows + s->nresults > HOOKS_WRITE_ROWS) {
			left = 1;
			continue;
		}
		p = &b->parts[b->nparts++];
		part_take(p, s);
		p->ordinal = b->nparts;
		part_add(p, &c);
		rows += p->nresults;
	}
	snprintf(now, sizeof(now), "%lld", (long long)hooks_now());
	params[0] = hooks.owner;
	params[1] = now;
	cols_close(&c, params, lengths, formats);
	if (b->nparts > 0) {
		sse_pg_query_binary(hooks.pg, "hooks_write", sql_write, NPARAMS, params, lengths,
		                    formats, on_written, b);
	} else {
		free(b->parts);
		free(b);
	}
	cols_free(&c);
	return left;
}

static void
on_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!hooks.closed && write_batch())
		arm(1); /* the rows past HOOKS_WRITE_ROWS */
}

static void
arm(int now)
{
	struct timeval soon = {0, 0}, later = {0, HOOKS_WRITE_DELAY_MS * 1000};

	if (due_ev == NULL && (due_ev = evtimer_new(hooks.base, on_due, NULL)) == NULL)
		fatal("out of memory creating a timer");
	if (now)
		evtimer_add(due_ev, &soon);
	else if (!evtimer_pending(due_ev, NULL))
		evtimer_add(due_ev, &later); /* the delay counts from the first result waiting */
}

static int
write_now(const struct hook_sub *s)
{
	return s->nresults >= HOOKS_WRITE_BATCH || s->disable_reason != NULL;
}

/* After a statement: the next one, as soon as one is due. */
static void
schedule(void)
{
	struct hook_sub *s;
	int any = 0;

	for (s = hook_subs; s != NULL; s = s->next) {
		if (s->writing || s->gone || s->stale || !hook_writes_pending(s))
			continue;
		if (write_now(s)) {
			arm(1);
			return;
		}
		any = 1;
	}
	if (any)
		arm(0);
}

void
hook_writes_due(struct hook_sub *s)
{
	if (s->writing || s->gone || s->stale || !hook_writes_pending(s))
		return;
	if (hooks.stopping) {
		/* now, in a statement queued ahead of the leases' release */
		while (write_batch())
			;
		return;
	}
	arm(write_now(s));
}

void
hook_writes_free(void)
{
	if (due_ev != NULL)
		event_free(due_ev);
	due_ev = NULL;
}
