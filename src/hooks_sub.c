/* hooks_sub.c — one held subscription: its read-ahead of the org's event
 * log, the one request in flight, the retry schedule and the writes of its
 * cursor and delivery rows.  Order before throughput: the event at the head
 * is sent until it is delivered (or the subscription given up), and what
 * follows waits.  The cursor moves in memory as events are delivered and is
 * written behind them, one write in flight per subscription, compare-and-set
 * on the stored cursor and the lease: a replay, a PATCH or another holder
 * wins, and this process reads the row again (hooks_lease.c). */
#include "hooks.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct hook_sub *hook_subs;
static struct event *write_ev; /* writes what waits, HOOKS_WRITE_DELAY_MS after it came */

/* The retry schedule after attempt n (DESIGN §9): 5 s, 30 s, 2 min, 10 min,
 * 1 h, then every 4 h, until HOOKS_RETRY_WINDOW from the first attempt. */
static const int64_t retry_delays[] = {5, 30, 120, 600, 3600, 14400};
#define NDELAYS (sizeof(retry_delays) / sizeof(retry_delays[0]))

static const char sql_events_after[] =
    "SELECT e.seq, e.type, e.payload::text, extract(epoch from e.at)::bigint, "
    "coalesce(d.attempts, 0), coalesce(extract(epoch from d.first_attempt_at)::bigint, 0), "
    "coalesce(extract(epoch from d.next_attempt_at)::bigint, 0) "
    "FROM events e LEFT JOIN webhook_deliveries d "
    "ON d.webhook_id = $3::uuid AND d.seq = e.seq AND d.delivered_at IS NULL "
    "WHERE e.org_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT 100";

/* The cursor (compare-and-set), the delivery rows of the attempts since the
 * last write, and, when $5 is set, the subscription given up: one statement,
 * so nothing is written unless the row is still as this holder left it. */
static const char sql_write[] =
    "WITH moved AS (UPDATE webhooks SET cursor_seq = $3::bigint, "
    "enabled = $5::text IS NULL, "
    "disabled_reason = coalesce($5::text, disabled_reason), "
    "disabled_at = CASE WHEN $5::text IS NULL THEN disabled_at ELSE to_timestamp($6::bigint) END, "
    "lease_owner = CASE WHEN $5::text IS NULL THEN lease_owner END, "
    "lease_until = CASE WHEN $5::text IS NULL THEN lease_until END, "
    "updated_at = CASE WHEN $5::text IS NULL THEN updated_at ELSE now() END "
    "WHERE id = $1::uuid AND cursor_seq = $2::bigint AND lease_owner = $4 AND enabled "
    "AND lease_until > now() RETURNING id), "
    "d AS (SELECT * FROM unnest($7::bigint[], $8::text[], $9::int[], $10::bigint[], $11::int[], "
    "$12::text[], $13::bigint[], $14::bigint[], $15::int[]) "
    "AS d(seq, event, attempts, first_at, status, error, next_at, delivered_at, duration_ms)), "
    "up AS (INSERT INTO webhook_deliveries AS w (webhook_id, seq, event, attempts, "
    "first_attempt_at, last_status, last_error, next_attempt_at, delivered_at, duration_ms) "
    "SELECT m.id, d.seq, d.event, d.attempts, to_timestamp(d.first_at), d.status, d.error, "
    "to_timestamp(d.next_at), to_timestamp(d.delivered_at), d.duration_ms FROM moved m, d "
    "ON CONFLICT (webhook_id, seq) DO UPDATE SET attempts = EXCLUDED.attempts, "
    "first_attempt_at = coalesce(w.first_attempt_at, EXCLUDED.first_attempt_at), "
    "last_status = EXCLUDED.last_status, last_error = EXCLUDED.last_error, "
    "next_attempt_at = EXCLUDED.next_attempt_at, delivered_at = EXCLUDED.delivered_at, "
    "duration_ms = EXCLUDED.duration_ms RETURNING 1) "
    "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM up)";

int64_t
hook_retry_delay(int attempts)
{
	size_t i = attempts < 1 ? 0 : (size_t)attempts - 1;

	return retry_delays[i < NDELAYS ? i : NDELAYS - 1];
}

/* ±10 %, so subscriptions failing together do not retry together. */
static int64_t
jittered(int64_t delay)
{
	int64_t spread = delay / 5;

	return spread > 0 ? delay - spread / 2 + random() % (spread + 1) : delay;
}

size_t
hook_subs_count(void)
{
	size_t n = 0;
	struct hook_sub *s;

	for (s = hook_subs; s != NULL; s = s->next)
		n++;
	return n;
}

static void
event_clear(struct hook_event *ev)
{
	free(ev->type);
	free(ev->payload);
}

static void
queue_clear(struct hook_sub *s)
{
	size_t i;

	for (i = s->qhead; i < s->nqueue; i++)
		event_clear(&s->queue[i]);
	free(s->queue);
	s->queue = NULL;
	s->nqueue = s->qhead = 0;
}

static void
results_free(struct hook_result *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].event);
		free(r[i].error);
	}
	free(r);
}

static void
sub_free(struct hook_sub *s)
{
	size_t i;

	queue_clear(s);
	results_free(s->results, s->nresults);
	for (i = 0; i < s->nevents; i++)
		free(s->events[i]);
	free(s->events);
	free(s->id);
	free(s->url);
	free(s->secret);
	free(s->updated_at);
	free(s->disable_reason);
	free(s);
}

void
hook_sub_unref(struct hook_sub *s)
{
	if (--s->refs == 0 && s->gone)
		sub_free(s);
}

/* No longer held: out of the list now, freed once no answer is awaited. */
void
hook_sub_drop(struct hook_sub *s)
{
	struct hook_sub **pp;

	for (pp = &hook_subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->gone = 1;
	s->epoch++;
	if (s->refs == 0)
		sub_free(s);
}

void
hook_subs_free_all(void)
{
	if (write_ev != NULL)
		event_free(write_ev);
	write_ev = NULL;
	while (hook_subs != NULL) {
		struct hook_sub *s = hook_subs;

		hook_subs = s->next;
		sub_free(s); /* the loop has stopped: nothing will answer */
	}
}

static int
wants(const struct hook_sub *s, const char *type)
{
	size_t i;

	if (s->nevents == 0)
		return 1;
	for (i = 0; i < s->nevents; i++)
		if (strcmp(s->events[i], type) == 0)
			return 1;
	return 0;
}

static void
queue_pop(struct hook_sub *s)
{
	event_clear(&s->queue[s->qhead++]);
	s->attempts = 0;
	s->first_attempt_at = 0;
	s->next_attempt_at = TIME_NONE;
}

/* A query or request of s is over: drop its reference, and go on unless s
 * is no longer held (then the reference may have been the last). */
static void
sub_done(struct hook_sub *s)
{
	if (s->gone) {
		hook_sub_unref(s);
		return;
	}
	hook_sub_unref(s);
	hook_sub_kick(s);
}

/* ---- reading ahead ---- */

struct sub_call {
	struct hook_sub *s;
	int64_t epoch;
	int64_t cursor;            /* a write: the cursor it stores */
	struct hook_result *results; /* a write: the rows it stores */
	size_t nresults;
	int disables;
};

static struct sub_call *
call_new(struct hook_sub *s)
{
	struct sub_call *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->epoch = s->epoch;
	s->refs++;
	return c;
}

static int64_t
col_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void
on_events(void *arg, PGresult *res)
{
	struct sub_call *c = arg;
	struct hook_sub *s = c->s;
	int i, n;

	s->fetching = 0;
	if (res == NULL) {
		/* PostgreSQL failed it: the next tick reads again */
		s->more = 1;
		free(c);
		hook_sub_unref(s);
		return;
	}
	if (s->gone || c->epoch != s->epoch) {
		/* reset meanwhile: read from the new cursor */
		free(c);
		sub_done(s);
		return;
	}
	n = PQntuples(res);
	/* appended behind what is still queued (a read-ahead), which moves to
	 * the front */
	if (s->qhead > 0)
		memmove(s->queue, s->queue + s->qhead, (s->nqueue - s->qhead) * sizeof(*s->queue));
	s->nqueue -= s->qhead;
	s->qhead = 0;
	s->queue = xrealloc(s->queue, (s->nqueue + (size_t)n + 1) * sizeof(*s->queue));
	for (i = 0; i < n; i++) {
		struct hook_event *ev = &s->queue[s->nqueue++];

		ev->seq = col_int(res, i, 0);
		ev->type = xstrdup(PQgetvalue(res, i, 1));
		ev->payload = xstrdup(PQgetvalue(res, i, 2));
		ev->at = col_int(res, i, 3);
		ev->attempts = (int)col_int(res, i, 4);
		ev->first_attempt_at = col_int(res, i, 5);
		ev->next_attempt_at = col_int(res, i, 6);
	}
	s->more = s->more || n == HOOKS_FETCH_ROWS;
	free(c);
	sub_done(s);
}

static void
sub_fetch(struct hook_sub *s)
{
	char org[24], after[24];
	const char *params[3] = {org, after, s->id};

	snprintf(org, sizeof(org), "%lld", (long long)s->org_id);
	snprintf(after, sizeof(after), "%lld",
	         (long long)(s->qhead < s->nqueue ? s->queue[s->nqueue - 1].seq : s->cursor));
	s->fetching = 1;
	s->more = 0;
	sse_pg_query(hooks.pg_read, sql_events_after, 3, params, on_events, call_new(s));
}

/* ---- writing behind ---- */

/* A PostgreSQL array literal of n elements, each from fmt(i) (NULL: NULL). */
static char *
array_literal(const struct hook_result *r, size_t n, char *(*fmt)(const struct hook_result *))
{
	struct buf *b = buf_puts(buf_new(64), "{");
	char *out;
	size_t i;

	for (i = 0; i < n; i++) {
		char *v = fmt(&r[i]);
		const char *p;

		if (i > 0)
			b = buf_puts(b, ",");
		if (v == NULL) {
			b = buf_puts(b, "NULL");
			continue;
		}
		b = buf_puts(b, "\"");
		for (p = v; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				b = buf_puts(b, "\\");
			b = buf_append(b, p, 1);
		}
		b = buf_puts(b, "\"");
		free(v);
	}
	b = buf_puts(b, "}");
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

static char *
opt_time(int64_t t)
{
	return t == TIME_NONE ? NULL : xprintf("%lld", (long long)t);
}

static char *f_seq(const struct hook_result *r) { return xprintf("%lld", (long long)r->seq); }
static char *f_event(const struct hook_result *r) { return xstrdup(r->event); }
static char *f_attempts(const struct hook_result *r) { return xprintf("%d", r->attempts); }
static char *f_first(const struct hook_result *r) { return opt_time(r->first_attempt_at); }
static char *f_status(const struct hook_result *r)
{
	return r->status > 0 ? xprintf("%d", r->status) : NULL;
}
static char *f_error(const struct hook_result *r) { return r->error ? xstrdup(r->error) : NULL; }
static char *f_next(const struct hook_result *r) { return opt_time(r->next_attempt_at); }
static char *f_delivered(const struct hook_result *r) { return opt_time(r->delivered_at); }
static char *f_duration(const struct hook_result *r) { return xprintf("%d", r->duration_ms); }

/* The delivery row columns, in sql_write's $7..$15 order. */
static char *(*const result_columns[])(const struct hook_result *) = {
    f_seq, f_event, f_attempts, f_first, f_status, f_error, f_next, f_delivered, f_duration,
};
#define NCOLUMNS (sizeof(result_columns) / sizeof(result_columns[0]))

static void sub_reset(struct hook_sub *s, int64_t cursor);
static void sub_write(struct hook_sub *s);

static void
on_written(void *arg, PGresult *res)
{
	struct sub_call *c = arg;
	struct hook_sub *s = c->s;

	s->writing = 0;
	if (!s->gone && c->epoch == s->epoch) {
		if (res == NULL) {
			/* PostgreSQL failed it: the rows go again with the next write */
			s->results = xrealloc(s->results, (s->nresults + c->nresults) * sizeof(*s->results));
			memmove(s->results + c->nresults, s->results, s->nresults * sizeof(*s->results));
			memcpy(s->results, c->results, c->nresults * sizeof(*s->results));
			s->nresults += c->nresults;
			c->nresults = 0;
		} else if (col_int(res, 0, 0) == 1) {
			s->persisted = c->cursor;
			if (c->disables) {
				log_warn(NULL, "msg=\"hooks: subscription disabled\" webhook=%s", s->id);
				hook_sub_drop(s);
			}
		} else {
			/* the row moved under us (replay, PATCH, lease lost): read it again */
			log_info(NULL, "msg=\"hooks: subscription changed; reading it again\" webhook=%s",
			         s->id);
			sub_reset(s, s->persisted);
			s->stale = 1;
		}
	}
	results_free(c->results, c->nresults);
	free(c);
	sub_done(s);
}

static void
on_write_due(evutil_socket_t fd, short what, void *arg)
{
	struct hook_sub *s, *next;

	(void)fd;
	(void)what;
	(void)arg;
	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		sub_write(s);
	}
}

/* Writes are batched: at once when HOOKS_WRITE_BATCH results wait (or the
 * subscription is given up, or the process stops), else within
 * HOOKS_WRITE_DELAY_MS, so PostgreSQL sees a statement per batch of
 * deliveries, not per delivery. */
static void
sub_flush(struct hook_sub *s)
{
	struct timeval tv = {0, HOOKS_WRITE_DELAY_MS * 1000};

	if (s->nresults >= HOOKS_WRITE_BATCH || s->disable_reason != NULL || hooks.stopping) {
		sub_write(s);
		return;
	}
	if (s->cursor == s->persisted && s->nresults == 0)
		return;
	if (write_ev == NULL && (write_ev = evtimer_new(hooks.base, on_write_due, NULL)) == NULL)
		fatal("out of memory creating a timer");
	if (!evtimer_pending(write_ev, NULL))
		evtimer_add(write_ev, &tv);
}

static void
sub_write(struct hook_sub *s)
{
	char *params[15];
	struct sub_call *c;
	size_t i;

	if (s->writing || s->gone || s->stale ||
	    (s->cursor == s->persisted && s->nresults == 0 && s->disable_reason == NULL))
		return;
	c = call_new(s);
	c->cursor = s->cursor;
	c->results = s->results;
	c->nresults = s->nresults;
	c->disables = s->disable_reason != NULL;
	s->results = NULL;
	s->nresults = 0;
	params[0] = xstrdup(s->id);
	params[1] = xprintf("%lld", (long long)s->persisted);
	params[2] = xprintf("%lld", (long long)s->cursor);
	params[3] = xstrdup(hooks.owner);
	params[4] = s->disable_reason != NULL ? xstrdup(s->disable_reason) : NULL;
	params[5] = xprintf("%lld", (long long)hooks_now());
	for (i = 0; i < NCOLUMNS; i++)
		params[6 + i] = array_literal(c->results, c->nresults, result_columns[i]);
	s->writing = 1;
	sse_pg_query(hooks.pg, sql_write, 15, (const char *const *)params, on_written, c);
	for (i = 0; i < 15; i++)
		free(params[i]);
}

/* ---- sending ---- */

/* last_error: at most HOOKS_ERROR_MAX bytes of printable ASCII (library
 * messages may hold anything; the column takes only valid UTF-8). */
static char *
error_text(const char *e)
{
	size_t i, n = strnlen(e, HOOKS_ERROR_MAX);
	char *out = xstrndup(e, n);

	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return out;
}

static void
result_add(struct hook_sub *s, const struct hook_event *ev, const struct hook_answer *a,
           int64_t next_attempt_at)
{
	struct hook_result *r;

	s->results = xrealloc(s->results, (s->nresults + 1) * sizeof(*s->results));
	r = &s->results[s->nresults++];
	r->seq = ev->seq;
	r->event = xstrdup(ev->type);
	r->attempts = s->attempts;
	r->first_attempt_at = s->first_attempt_at;
	r->status = a->status;
	r->error = a->error != NULL ? error_text(a->error) : NULL;
	r->next_attempt_at = next_attempt_at;
	r->delivered_at = a->error == NULL ? hooks_now() : TIME_NONE;
	r->duration_ms = a->duration_ms;
}

/* An attempt failed: the next one is scheduled, or the subscription given
 * up once the window from the first attempt has passed. */
static void
sub_failed(struct hook_sub *s, const struct hook_event *ev, const struct hook_answer *a)
{
	int64_t now = hooks_now();

	log_warn(NULL, "msg=\"hooks: delivery failed\" webhook=%s seq=%lld attempt=%d status=%d error=%s",
	         s->id, (long long)ev->seq, s->attempts, a->status, LOG_QUOTE(a->error));
	if (now - s->first_attempt_at >= HOOKS_RETRY_WINDOW) {
		char *why = error_text(a->error);

		s->disable_reason = xprintf("event %lld not delivered after %d attempts over 3 days: %s",
		                            (long long)ev->seq, s->attempts, why);
		free(why);
		result_add(s, ev, a, TIME_NONE);
		hooks_status_count(HOOKS_FAILED);
		hooks_status_count(HOOKS_DISABLED);
		return;
	}
	s->next_attempt_at = now + jittered(hook_retry_delay(s->attempts));
	result_add(s, ev, a, s->next_attempt_at);
	hooks_status_count(HOOKS_FAILED);
}

static void
on_answer(void *arg, const struct hook_answer *a)
{
	struct sub_call *c = arg;
	struct hook_sub *s = c->s;
	const struct hook_event *ev;

	s->sending = 0;
	if (s->gone || c->epoch != s->epoch || s->qhead == s->nqueue ||
	    s->queue[s->qhead].seq != c->cursor) {
		free(c);
		sub_done(s);
		return;
	}
	ev = &s->queue[s->qhead];
	s->attempts++;
	if (a->error == NULL) {
		result_add(s, ev, a, TIME_NONE);
		hooks_status_count(HOOKS_DELIVERED);
		s->cursor = ev->seq;
		queue_pop(s);
	} else {
		sub_failed(s, ev, a);
	}
	free(c);
	sub_done(s);
}

static void
sub_send(struct hook_sub *s, const struct hook_event *ev)
{
	int64_t ts = hooks_now();
	size_t len;
	char *body = hook_body(s, ev, &len);
	char *id = xprintf("%lld-%lld", (long long)s->org_id, (long long)ev->seq);
	char *sig = hook_signature(s->secret, id, ts, body, len);
	char *h_id = xprintf("webhook-id: %s", id);
	char *h_ts = xprintf("webhook-timestamp: %lld", (long long)ts);
	char *h_sig = xprintf("webhook-signature: %s", sig != NULL ? sig : "");
	/* Expect: empty — no 100-continue round trip before the body */
	const char *headers[] = {"Content-Type: application/json", "User-Agent: incidentd/" VERSION,
	                         h_id, h_ts, h_sig, "Expect:", NULL};
	struct sub_call *c = call_new(s);

	c->cursor = ev->seq;
	if (s->attempts == 0)
		s->first_attempt_at = ts;
	s->next_attempt_at = TIME_NONE;
	s->sending = 1;
	if (sig == NULL || hooks_http_post(s->url, headers, body, len, on_answer, c) != 0) {
		struct hook_answer a = {0, sig == NULL ? "the signing secret is malformed"
		                                       : "the request could not be made", 0};

		/* as an answer from the loop would: the attempt failed */
		s->sending = 0;
		s->attempts++;
		sub_failed(s, ev, &a);
		free(c);
		s->refs--;
	}
	free(body);
	free(id);
	free(sig);
	free(h_id);
	free(h_ts);
	free(h_sig);
}

/* Drops what was read ahead and written behind: the row says where to go on. */
static void
sub_reset(struct hook_sub *s, int64_t cursor)
{
	s->epoch++;
	queue_clear(s);
	results_free(s->results, s->nresults);
	s->results = NULL;
	s->nresults = 0;
	s->cursor = s->persisted = cursor;
	s->attempts = 0;
	s->next_attempt_at = TIME_NONE;
	s->more = 1;
	s->stale = 0;
}

void
hook_sub_reread(struct hook_sub *s, int64_t cursor)
{
	sub_reset(s, cursor);
}

/* Whatever is next: skip, send, wait for a retry, read ahead, write behind. */
void
hook_sub_kick(struct hook_sub *s)
{
	const struct hook_event *ev;

	if (s->gone || s->stale || hooks.closed)
		return;
	while (!s->sending && s->qhead < s->nqueue && !wants(s, s->queue[s->qhead].type)) {
		s->cursor = s->queue[s->qhead].seq; /* not this subscription's type */
		queue_pop(s);
	}
	if (!s->fetching && s->more && s->nqueue - s->qhead <= HOOKS_READ_AHEAD_LOW &&
	    s->disable_reason == NULL && !hooks.stopping)
		sub_fetch(s); /* before the queue runs dry: no wait between batches */
	/* an empty queue: a read is under way, or there is nothing to send */
	if (!s->sending && s->disable_reason == NULL && !hooks.stopping && s->qhead < s->nqueue) {
		{
			ev = &s->queue[s->qhead];
			if (s->attempts == 0 && ev->attempts > 0) {
				/* an earlier process's attempts at this event go on */
				s->attempts = ev->attempts;
				s->first_attempt_at = ev->first_attempt_at;
				s->next_attempt_at = ev->next_attempt_at > 0 ? ev->next_attempt_at : TIME_NONE;
			}
			if (s->next_attempt_at == TIME_NONE || hooks_now() >= s->next_attempt_at)
				sub_send(s, ev);
		}
	}
	sub_flush(s);
}

void
hook_subs_wake_org(int64_t org_id)
{
	struct hook_sub *s, *next;

	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		if (s->org_id == org_id) {
			s->more = 1;
			hook_sub_kick(s);
		}
	}
}

void
hook_subs_tick(void)
{
	struct hook_sub *s, *next;

	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		hook_sub_kick(s);
	}
}

int64_t
hook_subs_oldest_pending(int64_t now)
{
	int64_t oldest = 0;
	struct hook_sub *s;

	for (s = hook_subs; s != NULL; s = s->next) {
		size_t i;

		for (i = s->qhead; i < s->nqueue; i++) {
			if (!wants(s, s->queue[i].type))
				continue;
			if (now - s->queue[i].at > oldest)
				oldest = now - s->queue[i].at;
			break;
		}
	}
	return oldest;
}
