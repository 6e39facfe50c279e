/* sse_main.c — incidentd-sse [-c FILE]: the stream process.  One libevent
 * loop holds every stream; timers send heartbeats, close the streams of
 * revoked keys and prune the event log past event_retention_days.  Signals
 * arrive through libevent, so their work happens in the loop. */
#include "sse.h"
#include "loop_child.h"

#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STATUS_SEC 1
#define REVOCATION_CHECK_SEC 2
#define PROBE_SEC 2
#define PRUNE_EVERY_SEC 3600
#define SHUTDOWN_FLUSH_MS 200
#define LISTEN_BACKLOG 1024

static const char sql_revoked[] =
    "SELECT coalesce(string_agg(id::text, ','), ''), now()::text FROM api_keys "
    "WHERE revoked_at > $1::timestamptz - interval '5 seconds'";

static struct event *heartbeat_ev, *revocation_ev, *prune_ev, *probe_ev, *status_ev;
static char revoked_since[64] = "-infinity";
static int revocation_pending;
static char *unix_path; /* sse_listen's socket file, removed on the way out */

static void
add_timer(struct event **ev, int seconds, event_callback_fn cb)
{
	struct timeval tv = {seconds, 0};

	if (*ev != NULL)
		event_free(*ev);
	*ev = event_new(sse.base, -1, EV_PERSIST, cb, NULL);
	if (*ev == NULL || event_add(*ev, &tv) != 0)
		fatal("cannot add a timer");
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sse_clients_heartbeat();
}

static void
revoked_checked(void *arg, PGresult *res)
{
	int64_t *ids = NULL;
	size_t n = 0;
	char *list, *tok, *save = NULL;

	(void)arg;
	revocation_pending = 0;
	if (res == NULL || PQntuples(res) != 1)
		return;
	list = xstrdup(PQgetvalue(res, 0, 0));
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		if (parse_int64(tok, 1, INT64_MAX, &ids[n]) == 0)
			n++;
	}
	if (n > 0)
		sse_clients_close_revoked(ids, n);
	/* the database's clock, so no revocation falls between two checks */
	snprintf(revoked_since, sizeof(revoked_since), "%s", PQgetvalue(res, 0, 1));
	free(ids);
	free(list);
}

static void
on_revocation_check(evutil_socket_t fd, short what, void *arg)
{
	const char *params[1] = {revoked_since};

	(void)fd;
	(void)what;
	(void)arg;
	if (revocation_pending || sse.nclients == 0)
		return;
	revocation_pending = 1;
	sse_pg_query(sse.pg, sql_revoked, 1, params, revoked_checked, NULL);
}

/* For /healthz (stream_status.c): at most STATUS_SEC old. */
static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	stream_status_report((int64_t)time(NULL), sse.nclients, sse_redis_connected(sse.redis),
	                     sse.probe_deliveries);
}

static void
on_probe(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sse_org_probe();
}

static void
on_prune(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sse_prune_start();
}

static void
on_stop_flushed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(sse.base, NULL);
}

static void
on_terminate(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = {0, SHUTDOWN_FLUSH_MS * 1000};

	(void)what;
	(void)arg;
	if (sse.stopping)
		return;
	log_info(NULL, "msg=\"sse: stopping\" signal=%d streams=%zu", (int)sig, sse.nclients);
	sse.stopping = 1;
	sse_clients_close_all();
	/* give the terminating chunks a moment to leave */
	event_base_once(sse.base, -1, EV_TIMEOUT, on_stop_flushed, NULL, &tv);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	/* config_reload kept the running listen, database and redis */
	if (loop_config_reload(&sse.cfg, sse.config_path, "sse") == 0)
		add_timer(&heartbeat_ev, sse.cfg->heartbeat, on_heartbeat);
}

/* A unix socket for nginx on this host: a stale file from a crashed run is
 * replaced, and the file is never wider than socket_mode (as the FastCGI
 * socket of `listen`), so nginx's group reaches it and nobody else. */
static evutil_socket_t
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	mode_t old_umask;
	evutil_socket_t fd;
	int rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("sse_listen: the socket path %s is too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	if (unlink(path) != 0 && errno != ENOENT)
		fatal("cannot remove stale socket %s: %s", path, strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("cannot create a socket for %s: %s", path, strerror(errno));
	old_umask = umask((mode_t)~sse.cfg->socket_mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc != 0)
		fatal("cannot listen on %s: %s", path, strerror(errno));
	if (chmod(path, (mode_t)sse.cfg->socket_mode) != 0)
		fatal("cannot chmod %s: %s", path, strerror(errno));
	if (listen(fd, LISTEN_BACKLOG) != 0)
		fatal("cannot listen on %s: %s", path, strerror(errno));
	return fd;
}

static struct evhttp *
listen_http(void)
{
	struct evhttp *http = evhttp_new(sse.base);
	struct net_address a;
	int bound;

	if (http == NULL)
		fatal("out of memory creating the HTTP server");
	/* config.c checked it: host:port, or unix:/path */
	if (net_address_parse(sse.cfg->sse_listen, 0, &a) != 0)
		fatal("sse_listen must be host:port or unix:/path, not \"%s\"", sse.cfg->sse_listen);
	if (a.unix_path != NULL) {
		unix_path = xstrdup(a.unix_path);
		bound = evhttp_accept_socket_with_handle(http, listen_unix(a.unix_path)) != NULL;
	} else {
		bound = a.port != 0 &&
		        evhttp_bind_socket_with_handle(http, a.host, (ev_uint16_t)a.port) != NULL;
	}
	if (!bound)
		fatal("cannot listen on %s", sse.cfg->sse_listen);
	net_address_free(&a);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(http, 16 * 1024);
	evhttp_set_max_body_size(http, BODY_MAX); /* read it, then answer 405 */
	evhttp_set_gencb(http, sse_http_request, NULL);
	return http;
}

int
main(int argc, char **argv)
{
	struct loop_signals sigs;
	struct evhttp *http;
	int64_t status_fd = -1;

	loop_child_args(argc, argv, "incidentd-sse", &sse.config_path, &status_fd, NULL);
	sse.cfg = loop_child_config(sse.config_path);
	if (status_fd >= 0 && stream_status_attach((int)status_fd) != 0)
		fatal("cannot map the stream status page (descriptor %lld)", (long long)status_fd);
	signal(SIGPIPE, SIG_IGN);
	sse.base = loop_base_new();
	http = listen_http();
	sse_dns_init(sse.base, sse.cfg->resolv_conf);
	sse.pg = sse_pg_new(sse.base, sse.cfg->database);
	sse.redis = sse_redis_new(sse.base, sse.cfg->redis, sse_org_on_message, sse_org_on_subscribed,
	                          sse_org_on_redis_down);
	loop_signals_start(&sigs, sse.base, on_terminate, on_reload);
	add_timer(&heartbeat_ev, sse.cfg->heartbeat, on_heartbeat);
	add_timer(&revocation_ev, REVOCATION_CHECK_SEC, on_revocation_check);
	add_timer(&prune_ev, PRUNE_EVERY_SEC, on_prune);
	add_timer(&probe_ev, PROBE_SEC, on_probe);
	add_timer(&status_ev, STATUS_SEC, on_status);
	on_prune(-1, 0, NULL);
	on_status(-1, 0, NULL);
	log_info(NULL, "msg=\"incidentd-sse started\" listen=%s", sse.cfg->sse_listen);

	event_base_dispatch(sse.base);

	loop_signals_end(&sigs);
	evhttp_free(http);
	if (unix_path != NULL && unlink(unix_path) != 0 && errno != ENOENT)
		log_warn(NULL, "msg=\"sse: cannot remove the socket\" path=%s error=\"%s\"",
		         LOG_QUOTE(unix_path), strerror(errno));
	free(unix_path);
	sse_redis_free(sse.redis);
	sse_pg_free(sse.pg);
	sse_dns_free();
	event_free(heartbeat_ev);
	event_free(revocation_ev);
	event_free(prune_ev);
	event_free(probe_ev);
	event_free(status_ev);
	event_base_free(sse.base);
	config_free(sse.cfg);
	free(sse.cfg);
	log_info(NULL, "msg=\"incidentd-sse stopped\"");
	return 0;
}
