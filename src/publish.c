/* publish.c — a synchronous hiredis connection used only for PUBLISH after
 * COMMIT.  Redis being down must not slow requests down: after a failure we
 * wait a second before trying to reconnect, and every command has a short
 * timeout.  The event is in PostgreSQL either way; streams catch up. */
#include "api.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define RETRY_AFTER_MS 1000

struct publisher {
	char *host;
	int port;
	char *unix_path;
	redisContext *ctx;
	int down;              /* the last connect or command failed */
	int64_t down_since_ms; /* clock_monotonic_ms() of that failure */
};

/* NULL when address is not "host[:port]" or "unix:/path". */
struct publisher *
publisher_new(const char *address)
{
	struct publisher *p;
	struct net_address a;

	if (net_address_parse(address, 6379, &a) != 0)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->unix_path = a.unix_path;
	p->host = a.host;
	p->port = a.port;
	return p;
}

static void
publisher_drop(struct publisher *p)
{
	metrics_count(METRIC_REDIS_ERRORS);
	if (p->ctx != NULL)
		redisFree(p->ctx);
	p->ctx = NULL;
	p->down = 1;
	p->down_since_ms = clock_monotonic_ms();
}

static int
publisher_connect(struct publisher *p, const char *request_id)
{
	struct timeval tv = {0, 300 * 1000};

	if (p->ctx != NULL)
		return 0;
	if (p->down && clock_monotonic_ms() - p->down_since_ms < RETRY_AFTER_MS)
		return -1;
	if (p->unix_path != NULL)
		p->ctx = redisConnectUnixWithTimeout(p->unix_path, tv);
	else
		p->ctx = redisConnectWithTimeout(p->host, p->port, tv);
	if (p->ctx == NULL || p->ctx->err || redisSetTimeout(p->ctx, tv) != REDIS_OK) {
		log_warn(request_id, "msg=\"redis unavailable\" error=%s",
		         LOG_QUOTE(p->ctx ? p->ctx->errstr : "out of memory"));
		publisher_drop(p);
		return -1;
	}
	p->down = 0;
	return 0;
}

/* A connection Redis closed while we were not looking (it restarted, or
 * timed us out): no outage, just a stale socket, found by the first command
 * sent on it.  A hung Redis (a timeout) is not stale. */
static int
publisher_stale(const redisContext *ctx)
{
	return ctx->err == REDIS_ERR_EOF ||
	       (ctx->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
}

/* Runs one command; the reply is checked and freed here.  A command that
 * finds its reused connection stale is sent once more on a fresh one,
 * without the back-off: otherwise the first event after a Redis restart
 * would wait for the streams' probe, and /healthz would call Redis down. */
static int
publisher_command(struct publisher *p, const char *request_id, int argc, const char **argv,
                  const size_t *argvlen)
{
	redisReply *reply;
	int ok, reused = p->ctx != NULL;

	if (publisher_connect(p, request_id) != 0)
		return -1;
	reply = redisCommandArgv(p->ctx, argc, argv, argvlen);
	if (reply == NULL && reused && publisher_stale(p->ctx)) {
		log_info(request_id, "msg=\"redis connection was closed; reconnecting\"");
		redisFree(p->ctx);
		p->ctx = NULL;
		if (publisher_connect(p, request_id) != 0)
			return -1;
		reply = redisCommandArgv(p->ctx, argc, argv, argvlen);
	}
	if (reply == NULL) {
		log_warn(request_id, "msg=\"redis command failed\" error=%s", LOG_QUOTE(p->ctx->errstr));
		publisher_drop(p);
		return -1;
	}
	ok = reply->type != REDIS_REPLY_ERROR;
	if (!ok) {
		metrics_count(METRIC_REDIS_ERRORS);
		log_warn(request_id, "msg=\"redis error\" error=%s", LOG_QUOTE(reply->str));
	}
	freeReplyObject(reply);
	return ok ? 0 : -1;
}

int
publisher_publish(struct publisher *p, const char *channel, const char *msg, size_t len,
                  const char *request_id)
{
	const char *argv[3] = {"PUBLISH", channel, msg};
	size_t argvlen[3] = {7, strlen(channel), len};

	if (publisher_command(p, request_id, 3, argv, argvlen) != 0) {
		metrics_count(METRIC_PUBLISH_FAILURES);
		return -1;
	}
	return 0;
}

int
publisher_ping(struct publisher *p)
{
	const char *argv[1] = {"PING"};
	size_t argvlen[1] = {4};

	/* The back-off holds here too: /healthz needs no key, and clearing it
	 * let every call wait out a connect or PING timeout. */
	return publisher_command(p, NULL, 1, argv, argvlen);
}

void
publisher_free(struct publisher *p)
{
	if (p == NULL)
		return;
	if (p->ctx != NULL)
		redisFree(p->ctx);
	free(p->host);
	free(p->unix_path);
	free(p);
}
