/* sse_redis.c — the stream process's Redis side: hiredis async on the
 * libevent loop, SUBSCRIBE incidentd:org:<id> for every organisation that has
 * streams here, and a reconnect (with re-subscribe) whenever Redis goes away.
 * Messages are handed to sse_org; a confirmed subscription is reported too,
 * since events published while we were not subscribed must be caught up. */
#include "sse.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MS 500

struct sse_redis {
	struct event_base *base;
	char *host;
	int port;
	char *unix_path;
	redisAsyncContext *ac;
	int connected;
	int lost; /* connected once and lost it since: the next connect is a reconnect */
	struct sse_dns_lookup *lookup; /* of host, while in flight */
	struct event *retry;
	sse_message_cb on_message;
	sse_subscribed_cb on_subscribed;
	void (*on_down)(void);
	int64_t *orgs; /* wanted subscriptions */
	size_t norgs;
};

/* hiredis callbacks carry no user pointer for connect/disconnect: one
 * process has one subscriber. */
static struct sse_redis *the_redis;

static void redis_connect(struct sse_redis *r);

static int64_t
channel_org(const redisReply *channel)
{
	int64_t id;
	char tmp[40];
	size_t plen = strlen(EVENT_CHANNEL_PREFIX);

	if (channel == NULL || channel->type != REDIS_REPLY_STRING || channel->len <= plen ||
	    channel->len - plen >= sizeof(tmp) || memcmp(channel->str, EVENT_CHANNEL_PREFIX, plen) != 0)
		return -1;
	memcpy(tmp, channel->str + plen, channel->len - plen);
	tmp[channel->len - plen] = '\0';
	return parse_int64(tmp, 1, INT64_MAX, &id) == 0 ? id : -1;
}

/* Every reply on a subscribed channel: "subscribe" confirmations and "message"s. */
static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	redisReply *r = reply;
	int64_t org;

	(void)ac;
	(void)privdata;
	if (the_redis == NULL || r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	org = channel_org(r->element[1]);
	if (org < 0)
		return;
	if (strcmp(r->element[0]->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING)
		the_redis->on_message(org, r->element[2]->str, r->element[2]->len);
	else if (strcmp(r->element[0]->str, "subscribe") == 0)
		the_redis->on_subscribed(org);
}

static void
redis_send_subscribe(struct sse_redis *r, int64_t org_id)
{
	if (r->connected &&
	    redisAsyncCommand(r->ac, on_reply, NULL, "SUBSCRIBE " EVENT_CHANNEL_PREFIX "%lld",
	                      (long long)org_id) != REDIS_OK)
		log_warn(NULL, "msg=\"sse: SUBSCRIBE not sent\" org=%lld", (long long)org_id);
}

static void
redis_schedule_reconnect(struct sse_redis *r)
{
	struct timeval tv = {0, RECONNECT_MS * 1000};

	r->lost = r->lost || r->connected;
	r->connected = 0;
	r->ac = NULL;
	evtimer_add(r->retry, &tv);
	r->on_down();
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct sse_redis *r = the_redis;
	size_t i;

	if (r == NULL)
		return;
	if (status != REDIS_OK) {
		log_warn(NULL, "msg=\"sse: Redis unavailable\" error=%s", LOG_QUOTE(ac->errstr));
		redis_schedule_reconnect(r); /* hiredis frees ac after this callback */
		return;
	}
	log_info(NULL, "msg=\"sse: Redis connected\"");
	if (r->lost)
		stream_status_count(STREAM_REDIS_RECONNECTS);
	r->lost = 0;
	r->connected = 1;
	for (i = 0; i < r->norgs; i++)
		redis_send_subscribe(r, r->orgs[i]);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	if (the_redis == NULL)
		return; /* sse_redis_free */
	if (status != REDIS_OK)
		log_warn(NULL, "msg=\"sse: Redis connection lost\" error=%s", LOG_QUOTE(ac->errstr));
	redis_schedule_reconnect(the_redis);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	redis_connect(arg);
}

static void
redis_connect_to(struct sse_redis *r, const char *numeric_host)
{
	redisAsyncContext *ac = r->unix_path != NULL ? redisAsyncConnectUnix(r->unix_path)
	                                             : redisAsyncConnect(numeric_host, r->port);

	if (ac == NULL || ac->err) {
		log_warn(NULL, "msg=\"sse: Redis unavailable\" error=%s",
		         LOG_QUOTE(ac ? ac->errstr : "out of memory"));
		if (ac != NULL)
			redisAsyncFree(ac);
		redis_schedule_reconnect(r);
		return;
	}
	r->ac = ac;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK ||
	    redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK)
		fatal("cannot attach hiredis to libevent");
}

static void
redis_resolved(void *arg, const char *addr)
{
	struct sse_redis *r = arg;

	r->lookup = NULL;
	if (addr == NULL) {
		log_warn(NULL, "msg=\"sse: Redis unavailable\" error=\"cannot resolve its host name\" host=%s",
		         LOG_VALUE(r->host));
		redis_schedule_reconnect(r);
		return;
	}
	redis_connect_to(r, addr);
}

/* hiredis would resolve a name with a blocking getaddrinfo: resolve it on
 * the loop first, every time (a failover may move the name). */
static void
redis_connect(struct sse_redis *r)
{
	if (r->unix_path != NULL || sse_dns_is_numeric(r->host)) {
		redis_connect_to(r, r->host);
		return;
	}
	r->lookup = sse_dns_resolve(r->host, redis_resolved, r);
}

struct sse_redis *
sse_redis_new(struct event_base *base, const char *address, sse_message_cb on_message,
              sse_subscribed_cb on_subscribed, void (*on_down)(void))
{
	struct sse_redis *r = xcalloc(1, sizeof(*r));
	struct net_address a;

	r->base = base;
	r->on_message = on_message;
	r->on_subscribed = on_subscribed;
	r->on_down = on_down;
	if (net_address_parse(address, 6379, &a) != 0)
		fatal("redis must be host[:port] or unix:/path, not \"%s\"", address);
	r->unix_path = a.unix_path;
	r->host = a.host;
	r->port = a.port;
	r->retry = evtimer_new(base, retry_cb, r);
	if (r->retry == NULL)
		fatal("out of memory creating a timer");
	the_redis = r;
	redis_connect(r);
	return r;
}

void
sse_redis_subscribe(struct sse_redis *r, int64_t org_id)
{
	r->orgs = xrealloc(r->orgs, (r->norgs + 1) * sizeof(*r->orgs));
	r->orgs[r->norgs++] = org_id;
	redis_send_subscribe(r, org_id);
}

void
sse_redis_unsubscribe(struct sse_redis *r, int64_t org_id)
{
	size_t i;

	for (i = 0; i < r->norgs; i++) {
		if (r->orgs[i] == org_id) {
			r->orgs[i] = r->orgs[--r->norgs];
			break;
		}
	}
	if (r->connected &&
	    redisAsyncCommand(r->ac, NULL, NULL, "UNSUBSCRIBE " EVENT_CHANNEL_PREFIX "%lld",
	                      (long long)org_id) != REDIS_OK)
		log_warn(NULL, "msg=\"sse: UNSUBSCRIBE not sent\" org=%lld", (long long)org_id);
}

int
sse_redis_connected(const struct sse_redis *r)
{
	return r->connected;
}

void
sse_redis_free(struct sse_redis *r)
{
	if (r == NULL)
		return;
	the_redis = NULL; /* the callbacks redisAsyncFree runs see it and return */
	if (r->lookup != NULL)
		sse_dns_cancel(r->lookup);
	if (r->ac != NULL)
		redisAsyncFree(r->ac);
	event_free(r->retry);
	free(r->orgs);
	free(r->host);
	free(r->unix_path);
	free(r);
}
