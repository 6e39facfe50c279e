/* hooks_read.c — reading the event log ahead of the subscriptions.  Every
 * subscription of an organisation reads the same log, most of them at the
 * same place: a read serves every subscription waiting after the same seq
 * (it joins one under way), and the last full reads are kept a moment for
 * those that come for them a little later.  One read per batch of events
 * per organisation, not one per subscription: with 100 subscriptions the
 * reads queued on the one connection starved three in four of them.
 *
 * A read of HOOKS_FETCH_ROWS events after a seq never changes (the log is
 * only appended to), so such reads are what is kept; a shorter one reached
 * the end of the log and is not.
 *
 * The earlier attempts at the next event of a subscription (another
 * process's, before a restart or a lease moved) are read once, when it
 * starts from its stored cursor: with one request in flight and the cursor
 * written with the rows, only that event can have some. */
#include "hooks.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define KEPT_READS 8 /* full reads kept, over all organisations */

static const char sql_events_after[] =
    "SELECT seq, type, payload::text, extract(epoch from at)::bigint FROM events "
    "WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT " HOOKS_FETCH_ROWS_TEXT;

/* For each subscription in $1 (its id, as text) starting from the cursor
 * in $2: its last seq written, in a row or a run (after it, a row or run is
 * new), and its first undelivered row after the cursor (runs hold only
 * delivered events), all by the primary keys. */
static const char sql_prior_attempts[] =
    "SELECT w.i, greatest((SELECT max(seq) FROM webhook_deliveries "
    "WHERE webhook_id = w.id::uuid), (SELECT last_seq FROM webhook_delivery_runs "
    "WHERE webhook_id = w.id::uuid ORDER BY first_seq DESC LIMIT 1)), "
    "p.seq, p.attempts, p.first_at, p.next_at "
    "FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS w(id, after, i) "
    "LEFT JOIN LATERAL (SELECT seq, attempts, "
    "coalesce(extract(epoch from first_attempt_at)::bigint, 0) AS first_at, "
    "coalesce(extract(epoch from next_attempt_at)::bigint, 0) AS next_at FROM webhook_deliveries "
    "WHERE webhook_id = w.id::uuid AND seq > w.after AND delivered_at IS NULL "
    "ORDER BY seq LIMIT 1) "
    "AS p ON true";
static const uint32_t prior_types[2] = {PG_OID_TEXT, PG_OID_INT8}; /* $1, $2 */

/* A subscription waiting for a read (as it was then: a reset since makes
 * the answer stale). */
struct waiter {
	struct hook_sub *s;
	int64_t epoch;
};

struct org_read {
	struct org_read *next;
	int64_t org_id;
	int64_t after;
	struct hook_event **events; /* once read */
	size_t nevents;
	struct waiter *waiters; /* while under way */
	size_t nwaiters;
};

static struct org_read *under_way;
static struct org_read *kept; /* newest first */

/* Subscriptions whose earlier attempts are to be read: together, in one
 * statement made once the callbacks under way have run, so that all those
 * starting in one pass of the loop (a process taking its share over, a
 * replay of every subscription) share it.  One statement each, queued one
 * behind another on the connection, started the 50th subscription a third
 * of a second after the first (bench/hooks, 100 subscriptions over two
 * processes). */
struct prior_batch {
	struct waiter *subs;
	size_t n;
};
static struct prior_batch prior_wanted;
static struct event *prior_ev;

static int64_t
col_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Row i of a read.  Its standard body is made later, once for every
 * subscription (hook_event_body): made here, the 500 of a read held the
 * loop for 2.5 ms, while a request's answer waited. */
static struct hook_event *
event_from_row(const PGresult *res, int i)
{
	struct hook_event *ev = xcalloc(1, sizeof(*ev));

	ev->refs = 1;
	ev->seq = col_int(res, i, 0);
	ev->type = xstrdup(PQgetvalue(res, i, 1));
	ev->payload = xstrdup(PQgetvalue(res, i, 2));
	ev->at = col_int(res, i, 3);
	return ev;
}

const char *
hook_event_body(struct hook_event *ev, size_t *len)
{
	if (ev->body == NULL) {
		struct event e;

		e.type = ev->type;
		e.seq = ev->seq;
		e.at = ev->at;
		e.payload = ev->payload;
		ev->body = event_message(&e, &ev->body_len);
	}
	*len = ev->body_len;
	return ev->body;
}

void
hook_event_unref(struct hook_event *ev)
{
	if (--ev->refs > 0)
		return;
	free(ev->type);
	free(ev->payload);
	free(ev->body);
	free(ev);
}

static void
read_free(struct org_read *r)
{
	size_t i;

	for (i = 0; i < r->nevents; i++)
		hook_event_unref(r->events[i]);
	free(r->events);
	free(r->waiters);
	free(r);
}

static struct org_read *
find(struct org_read *list, int64_t org_id, int64_t after)
{
	for (; list != NULL; list = list->next)
		if (list->org_id == org_id && list->after == after)
			return list;
	return NULL;
}

static void
unlink_read(struct org_read **list, struct org_read *r)
{
	struct org_read **pp;

	for (pp = list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

/* Kept newest first; the oldest past KEPT_READS goes. */
static void
keep(struct org_read *r)
{
	struct org_read **pp = &kept;
	size_t n = 0;

	free(r->waiters);
	r->waiters = NULL;
	r->nwaiters = 0;
	r->next = kept;
	kept = r;
	while (*pp != NULL && ++n <= KEPT_READS)
		pp = &(*pp)->next;
	while (*pp != NULL) {
		struct org_read *old = *pp;

		*pp = old->next;
		read_free(old);
	}
}

static void
on_events(void *arg, PGresult *res)
{
	struct org_read *r = arg;
	size_t i;
	int n = res != NULL ? PQntuples(res) : 0;

	unlink_read(&under_way, r);
	r->events = xcalloc((size_t)n + 1, sizeof(*r->events));
	for (i = 0; i < (size_t)n; i++)
		r->events[r->nevents++] = event_from_row(res, (int)i);
	for (i = 0; i < r->nwaiters; i++) {
		struct hook_sub *s = r->waiters[i].s;

		s->fetching = 0;
		if (res == NULL) {
			s->more = 1; /* PostgreSQL failed it: the next tick reads again */
			hook_sub_unref(s);
			continue;
		}
		/* a subscription reset meanwhile reads from its new cursor */
		if (!s->gone && r->waiters[i].epoch == s->epoch)
			hook_sub_append(s, r->events, r->nevents, r->nevents == HOOKS_FETCH_ROWS);
		hook_sub_done(s);
	}
	if (res != NULL && r->nevents == HOOKS_FETCH_ROWS && !hooks.closed)
		keep(r);
	else
		read_free(r);
}

/* The seq s has read up to: its last queued event, or its cursor. */
static int64_t
read_up_to(const struct hook_sub *s)
{
	return s->qhead < s->nqueue ? s->queue[s->nqueue - 1]->seq : s->cursor;
}

void
hook_read_ahead(struct hook_sub *s)
{
	int64_t after = read_up_to(s);
	struct org_read *r;
	char org[24], from[24];
	const char *params[2] = {org, from};

	if ((r = find(kept, s->org_id, after)) != NULL) {
		s->more = 0;
		hook_sub_append(s, r->events, r->nevents, 1);
		return;
	}
	s->fetching = 1;
	s->more = 0;
	s->refs++;
	if ((r = find(under_way, s->org_id, after)) == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->org_id = s->org_id;
		r->after = after;
		r->next = under_way;
		under_way = r;
		snprintf(org, sizeof(org), "%lld", (long long)s->org_id);
		snprintf(from, sizeof(from), "%lld", (long long)after);
		sse_pg_query_prepared(hooks.pg_read, "hooks_events_after", sql_events_after, 2,
		                      params, on_events, r);
	}
	r->waiters = xrealloc(r->waiters, (r->nwaiters + 1) * sizeof(*r->waiters));
	r->waiters[r->nwaiters].s = s;
	r->waiters[r->nwaiters].epoch = s->epoch;
	r->nwaiters++;
}

/* Row i of the answer, for the subscription it names. */
static void
prior_row(struct prior_batch *b, const PGresult *res, int i)
{
	int64_t at = col_int(res, i, 0);
	struct hook_sub *s;

	if (at < 1 || (size_t)at > b->n)
		return;
	s = b->subs[at - 1].s;
	if (s->gone || b->subs[at - 1].epoch != s->epoch)
		return; /* reset since: it reads from its new cursor */
	s->prior = PRIOR_READ;
	s->prior_seq = 0; /* none */
	if (!PQgetisnull(res, i, 1) && col_int(res, i, 1) > s->rows_upto)
		s->rows_upto = col_int(res, i, 1);
	if (!PQgetisnull(res, i, 2)) {
		s->prior_seq = col_int(res, i, 2);
		s->prior_attempts = (int)col_int(res, i, 3);
		s->prior_first_attempt_at = col_int(res, i, 4);
		s->prior_next_attempt_at = col_int(res, i, 5);
	}
}

static void
on_prior(void *arg, PGresult *res)
{
	struct prior_batch *b = arg;
	size_t i;
	int row;

	for (row = 0; res != NULL && row < PQntuples(res); row++)
		prior_row(b, res, row);
	for (i = 0; i < b->n; i++) {
		struct hook_sub *s = b->subs[i].s;

		if (!s->gone && b->subs[i].epoch == s->epoch && s->prior == PRIOR_READING)
			s->prior = PRIOR_UNREAD; /* PostgreSQL failed it: read again */
		if (res == NULL)
			hook_sub_unref(s); /* the next tick reads again */
		else
			hook_sub_done(s);
	}
	free(b->subs);
	free(b);
}

static void
on_prior_due(evutil_socket_t fd, short what, void *arg)
{
	struct prior_batch *b = xcalloc(1, sizeof(*b));
	struct pg_array cols[2];
	const char *params[2];
	int lengths[2], formats[2];
	size_t i;

	(void)fd;
	(void)what;
	(void)arg;
	*b = prior_wanted;
	prior_wanted.subs = NULL;
	prior_wanted.n = 0;
	pg_arrays_open(cols, prior_types, 2, b->n * 40);
	for (i = 0; i < b->n; i++) {
		pg_array_text(&cols[0], b->subs[i].s->id);
		pg_array_int8(&cols[1], b->subs[i].s->cursor);
	}
	pg_arrays_close(cols, 2, params, lengths, formats);
	sse_pg_query_binary(hooks.pg_read, NULL, sql_prior_attempts, 2, params, lengths, formats,
	                    on_prior, b);
	pg_arrays_free(cols, 2);
}

void
hook_read_prior(struct hook_sub *s)
{
	if (prior_ev == NULL &&
	    (prior_ev = event_new(hooks.base, -1, 0, on_prior_due, NULL)) == NULL)
		return; /* read at a later kick */
	prior_wanted.subs =
	    xrealloc(prior_wanted.subs, (prior_wanted.n + 1) * sizeof(*prior_wanted.subs));
	prior_wanted.subs[prior_wanted.n].s = s;
	prior_wanted.subs[prior_wanted.n].epoch = s->epoch;
	if (prior_wanted.n++ == 0)
		event_active(prior_ev, EV_TIMEOUT, 1);
	s->refs++;
	s->prior = PRIOR_READING;
}

/* After the loop: nothing waits any more. */
void
hook_reads_free(void)
{
	size_t i;

	/* the loop has stopped: the held subscriptions waiting are freed by the
	 * caller, and one no longer held with its last reference here */
	for (i = 0; i < prior_wanted.n; i++)
		if (prior_wanted.subs[i].s->gone)
			hook_sub_unref(prior_wanted.subs[i].s);
	free(prior_wanted.subs);
	prior_wanted.subs = NULL;
	prior_wanted.n = 0;
	if (prior_ev != NULL)
		event_free(prior_ev);
	prior_ev = NULL;
	while (kept != NULL) {
		struct org_read *r = kept;

		kept = r->next;
		read_free(r);
	}
}
