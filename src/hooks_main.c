/* hooks_main.c — incidentd-hooks [-c FILE] [-s status-fd]: the webhook
 * delivery process, started and restarted by the master like incidentd-sse.
 * A tick takes and renews leases and sends due retries; Redis messages wake
 * the subscriptions of their organisation at once.  SIGTERM gives the leases
 * up (another host takes them at its next tick), SIGHUP reloads the
 * settings that may change. */
#include "hooks.h"
#include "loop_child.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct hooks hooks;

static struct event *tick_ev, *notify_ev;
static int64_t clock_offset; /* the test clock's, in test builds */

#ifdef INCIDENTD_TEST_CLOCK
/* Test builds: <config>.clock holds seconds to add to the clock, so a test
 * can move the retry schedule along without waiting for it. */
static void
read_test_clock(void)
{
	char *path;
	struct buf *b;
	int64_t v;

	if (hooks.config_path == NULL)
		return;
	path = xprintf("%s.clock", hooks.config_path);
	b = buf_read_file(path);
	free(path);
	if (b == NULL)
		return;
	{
		size_t len;
		const char *t = text_trim(b->data, b->len, &len);
		char *text = xstrndup(t, len);

		if (parse_int64(text, -TIME_MAX, TIME_MAX, &v) == 0)
			clock_offset = v;
		free(text);
	}
	buf_free(b);
}
#else
static void
read_test_clock(void)
{
}
#endif

int64_t
hooks_now(void)
{
	return clock_now() + clock_offset;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	read_test_clock();
	hook_leases_refresh();
	hook_subs_tick();
}

/* NOTIFY incidentd_webhooks: the API changed a subscription (made, PATCHed,
 * deleted, rotated, replayed): read the leases and rows now, not at the
 * next tick.  Also after a reconnect, when notifications may have been
 * missed.  From inside sse_pg: only schedule. */
static void
on_notify(void *arg, const char *channel)
{
	(void)arg;
	(void)channel;
	event_active(notify_ev, EV_TIMEOUT, 1);
}

static void
on_notified(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	hook_leases_refresh();
}

static void
on_redis_message(int64_t org_id, const char *msg, size_t len)
{
	(void)msg;
	(void)len;
	hook_subs_wake_org(org_id);
}

/* Events published before the subscription took may have been missed. */
static void
on_redis_subscribed(int64_t org_id)
{
	hook_subs_wake_org(org_id);
}

static void
on_redis_down(void)
{
	/* the tick's look at the organisations' event_seq stands in for it */
}

static void
on_released(void)
{
	event_base_loopexit(hooks.base, NULL);
}

/* How long a stop waits for the last writes and the leases' release. */
static const struct timeval stop_grace = {3, 0};

static void
on_terminate(evutil_socket_t sig, short what, void *arg)
{
	struct hook_sub *s;

	(void)what;
	(void)arg;
	if (hooks.stopping)
		return;
	log_info(NULL, "msg=\"hooks: stopping\" signal=%d subscriptions=%zu", (int)sig,
	         hook_subs_count());
	hooks.stopping = 1;
	/* what was delivered is written before the leases are given up; with
	 * PostgreSQL away that never completes, so the stop is bounded: leases
	 * not given up expire, and anything unwritten is sent again */
	for (s = hook_subs; s != NULL; s = s->next)
		hook_sub_kick(s);
	hook_leases_release(on_released);
	if (event_base_loopexit(hooks.base, &stop_grace) != 0)
		fatal("cannot schedule the stop");
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	loop_config_reload(&hooks.cfg, hooks.config_path, "hooks");
}

/* host:pid:start — unique across hosts and restarts, readable in the table. */
static char *
owner_name(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	return xprintf("%s:%ld:%lld", host, (long)getpid(), (long long)clock_now());
}

int
main(int argc, char **argv)
{
	struct loop_signals sigs;
	struct timeval tick = {HOOKS_TICK_SEC, 0};
	int64_t status_fd = -1, slot = 0;

	loop_child_args(argc, argv, "incidentd-hooks", &hooks.config_path, &status_fd, &slot);
	hooks.cfg = loop_child_config(hooks.config_path);
	if (status_fd >= 0 && hooks_status_attach((int)status_fd, (int)slot) != 0)
		fatal("cannot map the webhook status page (descriptor %lld)", (long long)status_fd);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(getpid() ^ time(NULL)));
	read_test_clock();
	hooks.owner = owner_name();
	hooks.base = loop_base_new();
	sse_dns_init(hooks.base, hooks.cfg->resolv_conf);
	hooks_http_init(hooks.base);
	/* The cursor and delivery rows are written behind the deliveries, and
	 * losing the last of them to a PostgreSQL crash only sends those events
	 * again (at least once, same webhook-id): the writes need not wait for
	 * the WAL flush, which would hold up the read-ahead queued behind them.
	 * (A conninfo with options= of its own keeps them.) */
	if (setenv("PGOPTIONS", "-c synchronous_commit=off", 0) != 0)
		fatal("cannot set PGOPTIONS");
	hooks.pg = sse_pg_new(hooks.base, hooks.cfg->database);
	hooks.pg_read = sse_pg_new(hooks.base, hooks.cfg->database);
	notify_ev = event_new(hooks.base, -1, 0, on_notified, NULL);
	if (notify_ev == NULL)
		fatal("out of memory creating an event");
	sse_pg_listen(hooks.pg, "LISTEN incidentd_webhooks", on_notify, NULL);
	hooks.redis = sse_redis_new(hooks.base, hooks.cfg->redis, on_redis_message,
	                            on_redis_subscribed, on_redis_down);
	loop_signals_start(&sigs, hooks.base, on_terminate, on_reload);
	tick_ev = event_new(hooks.base, -1, EV_PERSIST, on_tick, NULL);
	if (tick_ev == NULL || event_add(tick_ev, &tick) != 0)
		fatal("cannot add a timer");
	log_info(NULL, "msg=\"incidentd-hooks started\" owner=%s allow_private=%s",
	         LOG_VALUE(hooks.owner), hooks.cfg->webhook_allow_private ? "yes" : "no");
	hook_leases_refresh();

	event_base_dispatch(hooks.base);

	loop_signals_end(&sigs);
	hooks.closed = 1;
	hooks_http_free();
	sse_redis_free(hooks.redis);
	sse_pg_free(hooks.pg);
	sse_pg_free(hooks.pg_read);
	hook_subs_free_all();
	sse_dns_free();
	event_free(tick_ev);
	event_free(notify_ev);
	event_base_free(hooks.base);
	free(hooks.owner);
	config_free(hooks.cfg);
	free(hooks.cfg);
	log_info(NULL, "msg=\"incidentd-hooks stopped\"");
	return 0;
}
