/* sse_org.c — ordering and catch-up, per organisation.  An org is synced
 * once its current seq is read (after its Redis subscription is confirmed, so
 * nothing published in between is missed).  Events are applied strictly in
 * seq order: the next one is applied at once, anything after a gap (or after a
 * Redis reconnect) is read from the events table.  Recent events stay in a
 * ring so a reconnecting client usually replays without a query. */
#include "sse.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_SIZE 256 /* per org; events are ~1-2 KiB, at most ~70 KiB */
#define CATCH_UP_ROWS 1000
#define STRINGIFY(x) #x
#define TEXT(x) STRINGIFY(x)
#define NBUCKETS 1024

struct sse_org {
	int64_t id;
	struct sse_org *next; /* hash chain */
	TAILQ_HEAD(, sse_client) clients;
	size_t nclients;
	int synced;
	int64_t last_seq;     /* every event up to here was applied */
	int64_t seen_seq;     /* highest seq known to exist (Redis or the probe) */
	int64_t redis_seq;    /* highest seq announced on Redis */
	int64_t probe_seq;    /* highest seq the probe found before Redis announced it */
	int64_t judged_seq;   /* the probe's finds up to here were judged */
	int catching_up;
	int again;            /* another catch-up was asked for meanwhile */
	int refs;             /* queries in flight and callers mid-walk */
	struct sse_event *ring[RING_SIZE];
};

static struct sse_org *buckets[NBUCKETS];

static const char sql_current_seq[] = "SELECT event_seq FROM orgs WHERE id = $1";
static const char sql_events_after[] =
    "SELECT seq, type, payload::text, extract(epoch from at)::bigint FROM events "
    "WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT " TEXT(CATCH_UP_ROWS);

static void org_catch_up(struct sse_org *org);

static struct sse_org *
org_find(int64_t id)
{
	struct sse_org *o;

	for (o = buckets[(uint64_t)id % NBUCKETS]; o != NULL; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

static void
org_free_if_unused(struct sse_org *org)
{
	struct sse_org **pp = &buckets[(uint64_t)org->id % NBUCKETS];
	int i;

	if (org->nclients > 0 || org->refs > 0)
		return;
	while (*pp != org)
		pp = &(*pp)->next;
	*pp = org->next;
	sse_redis_unsubscribe(sse.redis, org->id);
	for (i = 0; i < RING_SIZE; i++)
		sse_event_unref(org->ring[i]);
	free(org);
}

/* Anything that may outlive a call which can close clients (a query, a walk
 * over the clients, a replay) holds the org: closing its last client frees
 * an org only once nothing holds it. */
static void
org_hold(struct sse_org *org)
{
	org->refs++;
}

static void
org_release(struct sse_org *org)
{
	org->refs--;
	org_free_if_unused(org);
}

/* The event with this seq if the ring still holds it. */
static struct sse_event *
ring_get(struct sse_org *org, int64_t seq)
{
	struct sse_event *ev = org->ring[seq % RING_SIZE];

	return ev != NULL && ev->seq == seq ? ev : NULL;
}

static void
org_apply(struct sse_org *org, struct sse_event *ev)
{
	struct sse_client *c, *next;
	size_t slot = (size_t)(ev->seq % RING_SIZE);

	sse_event_unref(org->ring[slot]);
	org->ring[slot] = ev;
	org->last_seq = ev->seq;
	/* delivering may close a client (over its cap), even the last one: the
	 * org outlives the walk; callers free it if unused */
	org_hold(org);
	for (c = TAILQ_FIRST(&org->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, org_link);
		if (c->live)
			sse_client_deliver(c, ev);
	}
	org->refs--;
}

/* An event row (seq, type, payload, at) in the published JSON form. */
static struct sse_event *
event_from_row(const PGresult *res, int row)
{
	struct event e;
	struct sse_event *ev;
	char *json;
	size_t len;

	e.seq = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	e.type = PQgetvalue(res, row, 1);
	e.payload = PQgetvalue(res, row, 2);
	e.at = strtoll(PQgetvalue(res, row, 3), NULL, 10);
	json = event_message(&e, &len);
	ev = sse_event_from_json(json, len);
	free(json);
	return ev;
}

static void
caught_up(void *arg, PGresult *res)
{
	struct sse_org *org = arg;
	int i, n = res != NULL ? PQntuples(res) : 0;

	org->catching_up = 0;
	for (i = 0; i < n; i++) {
		struct sse_event *ev = event_from_row(res, i);

		if (ev == NULL || ev->seq <= org->last_seq) {
			sse_event_unref(ev);
			continue;
		}
		org_apply(org, ev);
	}
	if (res == NULL)
		org->again = 1; /* the database failed: try again on the next nudge */
	else if (n > 0 && (n == CATCH_UP_ROWS || org->again || org->seen_seq > org->last_seq)) {
		/* a full page, or more was announced meanwhile: keep reading */
		org->again = 0;
		org_catch_up(org);
	}
	org_release(org); /* the query's */
}

static void
org_catch_up(struct sse_org *org)
{
	char id[24], after[24];
	const char *params[2] = {id, after};

	if (org->catching_up) {
		org->again = 1;
		return;
	}
	org->catching_up = 1;
	stream_status_count(STREAM_CATCHUPS);
	org_hold(org);
	snprintf(id, sizeof(id), "%lld", (long long)org->id);
	snprintf(after, sizeof(after), "%lld", (long long)org->last_seq);
	sse_pg_query(sse.pg, sql_events_after, 2, params, caught_up, org);
}

static void
synced(void *arg, PGresult *res)
{
	struct sse_org *org = arg;
	struct sse_client *c, *next;

	if (res == NULL || PQntuples(res) != 1) {
		/* no database (or the org is gone): these clients cannot start */
		for (c = TAILQ_FIRST(&org->clients); c != NULL; c = next) {
			next = TAILQ_NEXT(c, org_link);
			stream_status_count(STREAM_DROPPED_DATABASE);
			sse_client_fail(c, 503, "database_unavailable", "The database is unavailable");
		}
		org_release(org); /* the query's */
		return;
	}
	org->synced = 1;
	org->last_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	org->judged_seq = org->last_seq; /* what was logged before is no delivery */
	for (c = TAILQ_FIRST(&org->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, org_link);
		sse_client_begin(c, org->last_seq);
	}
	if (org->again || org->seen_seq > org->last_seq) {
		org->again = 0;
		org_catch_up(org);
	}
	org_release(org); /* the query's */
}

static void
org_sync(struct sse_org *org)
{
	char id[24];
	const char *params[1] = {id};

	org_hold(org);
	snprintf(id, sizeof(id), "%lld", (long long)org->id);
	sse_pg_query(sse.pg, sql_current_seq, 1, params, synced, org);
}

void
sse_org_attach(int64_t org_id, struct sse_client *c)
{
	struct sse_org *org = org_find(org_id);

	if (org == NULL) {
		org = xcalloc(1, sizeof(*org));
		org->id = org_id;
		TAILQ_INIT(&org->clients);
		org->next = buckets[(uint64_t)org_id % NBUCKETS];
		buckets[(uint64_t)org_id % NBUCKETS] = org;
		sse_redis_subscribe(sse.redis, org_id);
		/* without Redis, sync now; with it, once the subscription is confirmed */
		if (!sse_redis_connected(sse.redis))
			org_sync(org);
	}
	c->org = org;
	TAILQ_INSERT_TAIL(&org->clients, c, org_link);
	org->nclients++;
	stream_status_open(c->key_id != 0 ? STREAM_ORG : STREAM_PUBLIC, 1);
	if (org->synced)
		sse_client_begin(c, org->last_seq);
}

void
sse_org_detach(struct sse_client *c)
{
	struct sse_org *org = c->org;

	if (org == NULL)
		return;
	TAILQ_REMOVE(&org->clients, c, org_link);
	org->nclients--;
	stream_status_open(c->key_id != 0 ? STREAM_ORG : STREAM_PUBLIC, -1);
	c->org = NULL;
	org_free_if_unused(org);
}

void
sse_org_on_subscribed(int64_t org_id)
{
	struct sse_org *org = org_find(org_id);

	if (org == NULL)
		return;
	if (!org->synced && org->refs == 0)
		org_sync(org);
	else if (!org->synced)
		org->again = 1; /* a sync without Redis is running: catch up after it */
	else
		org_catch_up(org); /* published while we were not subscribed */
}

static const char sql_probe[] =
    "SELECT id, event_seq FROM orgs WHERE id = ANY (string_to_array($1, ',')::bigint[])";
static int probe_pending;

/* Events the last probe found ahead of Redis are judged one probe later,
 * so a PUBLISH that is merely in flight is not taken for a lost one: those
 * Redis still has not announced reached this host by the probe alone, 2 s
 * late.  A host subscribed to a wrong or dead Redis works that way without
 * failing anything, so it is said loudly (log, /healthz). */
static void
probe_judge(struct sse_org *org)
{
	int64_t from = org->redis_seq > org->judged_seq ? org->redis_seq : org->judged_seq;

	if (org->probe_seq <= from)
		return;
	sse.probe_deliveries += org->probe_seq - from;
	log_warn(NULL,
	         "msg=\"sse: events reached this host by the probe, not Redis\" org=%lld "
	         "events=%lld total=%lld redis=%s",
	         (long long)org->id, (long long)(org->probe_seq - from),
	         (long long)sse.probe_deliveries,
	         sse_redis_connected(sse.redis) ? "connected" : "unavailable");
	org->judged_seq = org->probe_seq;
}

static void
probed(void *arg, PGresult *res)
{
	int i, n = res != NULL ? PQntuples(res) : 0;

	(void)arg;
	probe_pending = 0;
	for (i = 0; i < n; i++) {
		struct sse_org *org = org_find(strtoll(PQgetvalue(res, i, 0), NULL, 10));
		int64_t seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);

		if (org == NULL || !org->synced)
			continue;
		probe_judge(org);
		if (seq > org->last_seq && seq > org->redis_seq && seq > org->probe_seq)
			org->probe_seq = seq;
		if (seq <= org->last_seq)
			continue;
		if (seq > org->seen_seq)
			org->seen_seq = seq;
		org_catch_up(org);
	}
}

/* The safety net under Redis: every organisation's current seq, read from
 * PostgreSQL now and then.  An event whose PUBLISH was lost (Redis down or
 * restarting, a publisher backing off) with no later event to reveal the gap
 * is still delivered, a couple of seconds late instead of never. */
void
sse_org_probe(void)
{
	struct buf *ids;
	struct sse_org *org;
	const char *params[1];
	size_t i;

	if (probe_pending)
		return;
	ids = buf_new(256);
	for (i = 0; i < NBUCKETS; i++)
		for (org = buckets[i]; org != NULL; org = org->next)
			if (org->synced)
				ids = buf_printf(ids, "%s%lld", ids->len ? "," : "", (long long)org->id);
	if (ids->len > 0) {
		params[0] = ids->data;
		probe_pending = 1;
		sse_pg_query(sse.pg, sql_probe, 1, params, probed, NULL);
	}
	buf_free(ids);
}

/* Redis went away: orgs still waiting for a subscription confirmation sync
 * from PostgreSQL now instead of waiting for Redis to return. */
void
sse_org_on_redis_down(void)
{
	struct sse_org *org;
	size_t i;

	for (i = 0; i < NBUCKETS; i++)
		for (org = buckets[i]; org != NULL; org = org->next)
			if (!org->synced && org->refs == 0)
				org_sync(org);
}

void
sse_org_on_message(int64_t org_id, const char *msg, size_t len)
{
	struct sse_org *org = org_find(org_id);
	struct sse_event *ev;

	if (org == NULL || (ev = sse_event_from_json(msg, len)) == NULL)
		return;
	if (ev->seq > org->seen_seq)
		org->seen_seq = ev->seq;
	if (ev->seq > org->redis_seq)
		org->redis_seq = ev->seq;
	if (!org->synced || ev->seq <= org->last_seq) {
		sse_event_unref(ev);
		return;
	}
	if (ev->seq == org->last_seq + 1 && !org->catching_up) {
		org_apply(org, ev);
		org_free_if_unused(org);
		return;
	}
	sse_event_unref(ev);
	org_catch_up(org); /* a gap: 43 after 41 */
}

/* Replay for one client from its cursor: from the ring when it still holds
 * every event needed, else one page from the events table, up to the seq the
 * org had reached when the page was asked for (every event up to there is
 * committed, so the page misses none).  A public stream reads only its
 * incident's events: a stranger's ?last_event_id=0 must not make this loop
 * parse a whole org's log.  Each row carries the oldest seq still logged, so
 * a replay from before it is told apart from a page with no rows. */
#define REPLAY_FROM \
	"FROM (SELECT min(seq) AS oldest FROM events WHERE org_id = $1) o LEFT JOIN LATERAL " \
	"(SELECT seq, type, payload, at FROM events WHERE org_id = $1 AND seq > $2 AND seq <= $3 "
#define REPLAY_PAGE \
	"ORDER BY seq LIMIT " TEXT(CATCH_UP_ROWS) ") e ON true ORDER BY e.seq"
static const char sql_replay_org[] =
    "SELECT e.seq, e.type, e.payload::text, extract(epoch from e.at)::bigint, o.oldest "
    REPLAY_FROM REPLAY_PAGE;
static const char sql_replay_incident[] =
    "SELECT e.seq, e.type, e.payload::text, extract(epoch from e.at)::bigint, o.oldest "
    REPLAY_FROM "AND incident_id = $4 " REPLAY_PAGE;

struct replay {
	struct sse_client *client;
	struct sse_org *org;
	int64_t upto;
};

/* The rows' events after the cursor, while the client keeps up; returns 1
 * when every row was sent. */
static int
replay_rows(struct sse_client *c, const PGresult *res, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct sse_event *ev;

		if (c->org == NULL || sse_client_backlogged(c))
			return 0; /* the next page starts at the cursor */
		ev = event_from_row(res, i);
		sse_client_deliver(c, ev);
		sse_event_unref(ev);
	}
	return c->org != NULL;
}

static void
replayed(void *arg, PGresult *res)
{
	struct replay *rp = arg;
	struct sse_client *c = rp->client;
	struct sse_org *org = rp->org;
	int64_t upto = rp->upto;
	int n = res != NULL && !PQgetisnull(res, 0, 0) ? PQntuples(res) : 0;

	free(rp);
	if (c->org == NULL) {
		/* the client left while we waited */
	} else if (res == NULL) {
		stream_status_count(STREAM_DROPPED_DATABASE);
		sse_client_close(c, "replay failed");
	} else if (PQntuples(res) < 1 || PQgetisnull(res, 0, 4) ||
	           strtoll(PQgetvalue(res, 0, 4), NULL, 10) > c->cursor + 1) {
		/* the event after the cursor is gone: the log was pruned past it */
		sse_client_reset(c, org->last_seq, "expired");
	} else if (replay_rows(c, res, n)) {
		/* a short page holds everything up to upto: the rest were other
		 * incidents' events */
		if (n < CATCH_UP_ROWS && c->cursor < upto)
			c->cursor = upto;
		sse_org_replay(c);
	} else if (c->org != NULL) {
		sse_org_replay(c);
	}
	sse_client_unref(c); /* the query's reference, held until here */
	org_release(org);    /* the query's */
}

/* Sends the ring's events after the cursor; 1 when the client is live. */
static int
replay_from_ring(struct sse_client *c, struct sse_org *org)
{
	int64_t seq;

	for (seq = c->cursor + 1; seq <= org->last_seq; seq++)
		if (ring_get(org, seq) == NULL)
			return 0;
	for (seq = c->cursor + 1; seq <= org->last_seq; seq++) {
		if (c->org == NULL)
			return 1; /* dropped: nothing more to do */
		if (sse_client_backlogged(c)) {
			sse_client_pause(c, sse_org_replay);
			return 1;
		}
		sse_client_deliver(c, ring_get(org, seq));
	}
	if (c->org != NULL)
		c->live = 1;
	return 1;
}

static void
replay_query(struct sse_client *c, struct sse_org *org)
{
	char id[24], after[24], upto[24], incident[24];
	const char *params[4] = {id, after, upto, incident};
	struct replay *rp = xmalloc(sizeof(*rp));

	rp->client = c;
	rp->org = org;
	rp->upto = org->last_seq;
	org_hold(org);
	c->refs++;
	snprintf(id, sizeof(id), "%lld", (long long)org->id);
	snprintf(after, sizeof(after), "%lld", (long long)c->cursor);
	snprintf(upto, sizeof(upto), "%lld", (long long)rp->upto);
	snprintf(incident, sizeof(incident), "%lld", (long long)c->incident_id);
	if (c->key_id != 0)
		sse_pg_query(sse.pg, sql_replay_org, 3, params, replayed, rp);
	else
		sse_pg_query(sse.pg, sql_replay_incident, 4, params, replayed, rp);
}

void
sse_org_replay(struct sse_client *c)
{
	struct sse_org *org = c->org;

	if (org == NULL)
		return;
	/* a replay never outruns the client: it waits for the output to drain
	 * instead of tripping client_buffer_cap (which would make a reconnect
	 * with a long backlog fail forever) */
	if (sse_client_backlogged(c)) {
		sse_client_pause(c, sse_org_replay);
		return;
	}
	/* delivering may drop the client, even the org's last one */
	org_hold(org);
	if (!replay_from_ring(c, org))
		replay_query(c, org);
	org_release(org);
}

/* A Last-Event-ID past what this host has applied is judged against the log
 * in PostgreSQL, never against memory: a client that resumes here after a
 * host whose Redis delivery ran ahead of ours is not ahead at all, and
 * resetting it would send it the same events twice. */
struct ahead {
	struct sse_client *client;
	struct sse_org *org;
	int64_t from;
};

static void
ahead_checked(void *arg, PGresult *res)
{
	struct ahead *a = arg;
	struct sse_client *c = a->client;
	struct sse_org *org = a->org;
	int64_t from = a->from, logged;

	free(a);
	if (c->org == NULL) {
		/* the client left while we waited */
	} else if (res == NULL || PQntuples(res) != 1) {
		stream_status_count(STREAM_DROPPED_DATABASE);
		sse_client_close(c, "database unavailable");
	} else if (from > (logged = strtoll(PQgetvalue(res, 0, 0), NULL, 10))) {
		sse_client_reset(c, org->last_seq, "ahead");
	} else {
		/* this host lags: catch up, and resume the client where it was */
		if (logged > org->seen_seq)
			org->seen_seq = logged;
		c->cursor = from;
		org_catch_up(org);
		stream_status_count(STREAM_REPLAYS);
		sse_org_replay(c);
	}
	sse_client_unref(c); /* the query's */
	org_release(org);    /* the query's */
}

void
sse_org_resume_ahead(struct sse_client *c, int64_t from)
{
	struct ahead *a = xmalloc(sizeof(*a));
	char id[24];
	const char *params[1] = {id};

	a->client = c;
	a->org = c->org;
	a->from = from;
	org_hold(c->org);
	c->refs++;
	snprintf(id, sizeof(id), "%lld", (long long)c->org->id);
	sse_pg_query(sse.pg, sql_current_seq, 1, params, ahead_checked, a);
}
