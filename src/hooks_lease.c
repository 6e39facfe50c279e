/* hooks_lease.c — which subscriptions this process delivers.  Each tick one
 * statement says this process is alive (webhook_workers), takes free and
 * expired leases up to its share (FOR UPDATE SKIP LOCKED: two hosts never
 * take the same row) and renews the held ones that have less than
 * HOOKS_LEASE_SEC - HOOKS_RENEW_SEC left; a second reads every row held,
 * which is how a PATCH, a rotated secret, a replay, a disable or a delete
 * reaches the subscription here (within a tick), how a lost lease is
 * noticed, and what the share is now: held subscriptions over it are given
 * up for a newcomer.  A third finds the organisations with events past a
 * held subscription's cursor, for when Redis said nothing (it is down, or a
 * message was lost). */
#include "hooks.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define TEXT(x) TEXT_(x)
#define TEXT_(x) #x

/* This process's share: the enabled subscriptions over the live processes
 * (itself counted even before its first beat is in), rounded up.  A beat
 * counts for HOOKS_LEASE_SEC - HOOKS_RENEW_SEC, no longer than the leases
 * renewed with it: a dead process's share is free when its leases are. */
#define SHARE                                                                              \
	"(SELECT ceil(count(*)::numeric / ((SELECT count(*) FROM webhook_workers "          \
	"WHERE seen_until > now() AND owner <> $1) + 1))::bigint FROM webhooks WHERE enabled)"
#define HELD "enabled AND lease_owner = $1 AND lease_until > now()"
/* Free and expired leases are taken up to the share, and half of them at a
 * time (at least one) per tick, so hosts that start together share the
 * subscriptions between them rather than the first to tick taking all;
 * held ones are renewed when less than HOOKS_LEASE_SEC - HOOKS_RENEW_SEC is
 * left. */
#define FREE_LEASE "enabled AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < now())"
static const char sql_take[] =
    "WITH beat AS (INSERT INTO webhook_workers (owner, seen_until) VALUES ($1, now() + interval '"
    TEXT(HOOKS_LEASE_SEC) " seconds' - interval '" TEXT(HOOKS_RENEW_SEC) " seconds') "
    "ON CONFLICT (owner) DO UPDATE SET seen_until = EXCLUDED.seen_until), "
    "stale AS (DELETE FROM webhook_workers WHERE owner <> $1 AND seen_until < now() - interval "
    "'60 seconds') "
    "UPDATE webhooks SET lease_owner = $1, lease_until = now() + interval '" TEXT(HOOKS_LEASE_SEC)
    " seconds' WHERE id IN (SELECT id FROM webhooks WHERE enabled AND lease_owner = $1 AND "
    "lease_until < now() + interval '" TEXT(HOOKS_LEASE_SEC) " seconds' - interval '"
    TEXT(HOOKS_RENEW_SEC) " seconds' FOR UPDATE SKIP LOCKED) "
    "OR id IN (SELECT id FROM webhooks WHERE " FREE_LEASE " ORDER BY created_at "
    "LIMIT least(greatest(1, (SELECT count(*) FROM webhooks WHERE " FREE_LEASE ") / 2), "
    "greatest(0, " SHARE " - (SELECT count(*) FROM webhooks WHERE " HELD "))) "
    "FOR UPDATE SKIP LOCKED)";
static const char sql_held[] =
    "SELECT id, org_id, url, array_to_string(events, ' '), format, secret, cursor_seq, "
    "updated_at::text, " SHARE ", CASE WHEN previous_secret_until > now() THEN previous_secret END, "
    "coalesce(extract(epoch from previous_secret_until)::bigint, 0) FROM webhooks WHERE " HELD;
static const char sql_give_up[] =
    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
static const char sql_release[] =
    "WITH gone AS (DELETE FROM webhook_workers WHERE owner = $1) "
    "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1";
static const char sql_org_seqs[] = "SELECT id, event_seq FROM orgs WHERE id = ANY($1::bigint[])";

static int refreshing;
static int again; /* a NOTIFY came while a refresh was under way */
static int64_t *subscribed_orgs; /* orgs the Redis subscriber listens to */
static size_t nsubscribed;

static void
redis_listen(int64_t org_id)
{
	size_t i;

	for (i = 0; i < nsubscribed; i++)
		if (subscribed_orgs[i] == org_id)
			return;
	subscribed_orgs = xrealloc(subscribed_orgs, (nsubscribed + 1) * sizeof(*subscribed_orgs));
	subscribed_orgs[nsubscribed++] = org_id;
	sse_redis_subscribe(hooks.redis, org_id);
}

static struct hook_sub *
sub_find(const char *id)
{
	struct hook_sub *s;

	for (s = hook_subs; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

/* The settings an API change may have moved: url, secret, types, format. */
static void
sub_configure(struct hook_sub *s, const PGresult *res, int row)
{
	char *types = xstrdup(PQgetvalue(res, row, 3)), *tok, *save = NULL;
	size_t i;

	free(s->url);
	hook_sub_forget_signed(s);
	hook_signer_free(s->signer);
	hook_signer_free(s->previous_signer);
	free(s->updated_at);
	s->url = xstrdup(PQgetvalue(res, row, 2));
	s->signer = hook_signer_new(PQgetvalue(res, row, 5));
	/* a rotated secret signs beside the new one until previous_until */
	s->previous_signer = PQgetisnull(res, row, 9) ? NULL : hook_signer_new(PQgetvalue(res, row, 9));
	s->previous_until = strtoll(PQgetvalue(res, row, 10), NULL, 10);
	s->updated_at = xstrdup(PQgetvalue(res, row, 7));
	s->slack = strcmp(PQgetvalue(res, row, 4), "slack") == 0;
	for (i = 0; i < s->nevents; i++)
		free(s->events[i]);
	s->nevents = 0;
	for (tok = strtok_r(types, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		s->events = xrealloc(s->events, (s->nevents + 1) * sizeof(*s->events));
		s->events[s->nevents++] = xstrdup(tok);
	}
	free(types);
}

static struct hook_sub *
sub_new(const PGresult *res, int row)
{
	struct hook_sub *s = xcalloc(1, sizeof(*s));

	s->id = xstrdup(PQgetvalue(res, row, 0));
	s->org_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	sub_configure(s, res, row);
	hook_sub_reread(s, strtoll(PQgetvalue(res, row, 6), NULL, 10));
	s->next = hook_subs;
	hook_subs = s;
	redis_listen(s->org_id);
	log_info(NULL, "msg=\"hooks: lease taken\" webhook=%s", s->id);
	return s;
}

static void
on_org_seqs(void *arg, PGresult *res)
{
	int i;

	(void)arg;
	for (i = 0; res != NULL && i < PQntuples(res); i++) {
		int64_t org = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		int64_t seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		struct hook_sub *s;

		for (s = hook_subs; s != NULL; s = s->next)
			if (s->org_id == org && s->cursor < seq && s->qhead == s->nqueue)
				s->more = 1;
	}
	hook_subs_tick();
}

static void
check_orgs(void)
{
	struct buf *b;
	const char *params[1];
	struct hook_sub *s;

	if (hooks.closed)
		return;
	b = buf_puts(buf_new(64), "{");
	for (s = hook_subs; s != NULL; s = s->next)
		b = buf_printf(b, "%s%lld", b->len > 1 ? "," : "", (long long)s->org_id);
	b = buf_puts(b, "}");
	params[0] = b->data;
	sse_pg_query(hooks.pg, sql_org_seqs, 1, params, on_org_seqs, NULL);
	buf_free(b);
}

/* Held subscriptions over the share are released, idle ones first: each
 * finishes what is in flight and written behind, then gives its lease up
 * (hook_sub_kick), and a process under its share takes it at its tick. */
static void
rebalance(int64_t share)
{
	int64_t over = -share;
	struct hook_sub *s;
	int pass;

	for (s = hook_subs; s != NULL; s = s->next)
		over += !s->releasing;
	for (pass = 0; pass < 2 && over > 0; pass++) {
		for (s = hook_subs; s != NULL && over > 0; s = s->next) {
			if (s->releasing || (pass == 0 && (s->sending || s->qhead < s->nqueue)))
				continue;
			log_info(NULL, "msg=\"hooks: lease over this process's share (%lld), given up\" "
			         "webhook=%s", (long long)share, s->id);
			s->releasing = 1;
			over--;
		}
	}
}

static void
on_held(void *arg, PGresult *res)
{
	struct hook_sub *s, *next;
	int i;

	(void)arg;
	refreshing = 0;
	if (res == NULL)
		return; /* PostgreSQL is away: what is held is written conditionally anyway */
	if (again) {
		again = 0;
		hook_leases_refresh(); /* queued behind check_orgs below: reads what changed */
	}
	for (s = hook_subs; s != NULL; s = s->next)
		s->seen = 0;
	for (i = 0; i < PQntuples(res); i++) {
		int64_t cursor = strtoll(PQgetvalue(res, i, 6), NULL, 10);

		s = sub_find(PQgetvalue(res, i, 0));
		if (s == NULL) {
			sub_new(res, i)->seen = 1;
			continue;
		}
		s->seen = 1;
		if (strcmp(s->updated_at, PQgetvalue(res, i, 7)) != 0)
			sub_configure(s, res, i);
		/* moved by someone else (a replay), or a write of ours lost */
		if (!s->writing && (s->stale || cursor != s->persisted))
			hook_sub_reread(s, cursor);
	}
	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		if (!s->seen) {
			log_info(NULL, "msg=\"hooks: lease gone\" webhook=%s", s->id);
			hook_sub_drop(s);
		}
	}
	if (PQntuples(res) > 0)
		rebalance(strtoll(PQgetvalue(res, 0, 8), NULL, 10));
	hooks_status_report(hook_subs_oldest_pending(hooks_now()));
	check_orgs();
}

static void
on_taken(void *arg, PGresult *res)
{
	const char *params[1] = {hooks.owner};

	(void)arg;
	(void)res;
	if (hooks.closed) /* called back by the teardown: start nothing */
		return;
	sse_pg_query(hooks.pg, sql_held, 1, params, on_held, NULL);
}

void
hook_leases_refresh(void)
{
	const char *params[1] = {hooks.owner};

	if (hooks.stopping || hooks.closed)
		return;
	if (refreshing) {
		again = 1;
		return;
	}
	refreshing = 1;
	sse_pg_query(hooks.pg, sql_take, 1, params, on_taken, NULL);
}

static void
on_given_up(void *arg, PGresult *res)
{
	struct hook_sub *s = arg;

	s->giving_up = 0;
	if (res != NULL && !s->gone)
		hook_sub_drop(s);
	hook_sub_unref(s); /* failed: the next kick tries again */
}

void
hook_lease_give_up(struct hook_sub *s)
{
	const char *params[2] = {s->id, hooks.owner};

	s->giving_up = 1;
	s->refs++;
	sse_pg_query(hooks.pg, sql_give_up, 2, params, on_given_up, s);
}

static void (*release_done)(void);

static void
on_released(void *arg, PGresult *res)
{
	(void)arg;
	if (res == NULL)
		log_warn(NULL, "msg=\"hooks: leases not given up; they expire in %d s\"", HOOKS_LEASE_SEC);
	free(subscribed_orgs);
	subscribed_orgs = NULL;
	nsubscribed = 0;
	release_done();
}

void
hook_leases_release(void (*done)(void))
{
	const char *params[1] = {hooks.owner};

	release_done = done;
	sse_pg_query(hooks.pg, sql_release, 1, params, on_released, NULL);
}
