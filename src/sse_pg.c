/* sse_pg.c — PostgreSQL for the stream process without ever blocking its
 * loop: one non-blocking libpq connection (PQconnectStart/PQconnectPoll), a
 * FIFO of parameterised queries sent one at a time, reconnects on failure.
 * A finished query moves to a list of completions that a loop event runs, so
 * a callback never runs inside sse_pg_query or inside another callback's
 * call into this file, where its caller would be half-way through an update. */
#include "sse.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_SEC 1

struct pg_query {
	const char *sql;
	const char *name; /* a prepared statement's, or NULL: sent unnamed */
	int prepare;      /* this entry prepares name for the query after it */
	int nparams;
	char **params;
	int *lengths; /* with formats: each param's length and format (1: binary) */
	int *formats; /* NULL: every param is text */
	sse_pg_cb cb;
	void *arg;
	PGresult *res; /* once done: the result, NULL on failure */
	struct pg_query *next;
};

enum pg_state { PG_DOWN, PG_RESOLVING, PG_CONNECTING, PG_IDLE, PG_BUSY };

/* The conninfo's `host` list, when it names hosts libpq would resolve with a
 * blocking getaddrinfo (and no `hostaddr` is given): those names are
 * resolved on the loop before each connection and passed as `hostaddr`. */
struct pg_hosts {
	size_t n;
	char **names;    /* each element of host=a,b,c */
	char **addrs;    /* resolved; NULL for paths and numeric elements */
	size_t next;     /* the element being resolved */
	struct sse_dns_lookup *lookup;
};

struct sse_pg {
	struct event_base *base;
	char *conninfo;
	PGconn *conn;
	enum pg_state state;
	struct pg_hosts *hosts; /* NULL: nothing to resolve */
	/* non-persistent and re-armed after each callback: re-targeting them
	 * (event_assign) is then always legal, even from their own callback */
	struct event *ev_read;
	struct event *ev_write;
	struct event *retry;
	int flush_pending;
	struct pg_query *head, *tail;
	size_t queued;
	const char **prepared; /* the names prepared on this connection */
	size_t nprepared;
	struct pg_query *done_head, *done_tail; /* completions the loop runs */
	struct event *ev_done;
	PGresult *result; /* of the query in flight */
	/* sse_pg_listen: the LISTEN sent first on every connection */
	const char *listen_sql;
	sse_pg_notify_cb on_notify;
	void *notify_arg;
};

static void pg_io(evutil_socket_t fd, short what, void *arg);
static void pg_connect(struct sse_pg *pg);
static void pg_next(struct sse_pg *pg);

/* Notifications libpq has read: each is handed on (the callback only
 * schedules work; it must not query). */
static void
pg_drain_notifies(struct sse_pg *pg)
{
	PGnotify *n;

	while (pg->conn != NULL && (n = PQnotifies(pg->conn)) != NULL) {
		if (pg->on_notify != NULL)
			pg->on_notify(pg->notify_arg, n->relname);
		PQfreemem(n);
	}
}

/* The callback of what this file sends for itself (LISTEN, PREPARE). */
static void
pg_ignored(void *arg, struct pg_result *res)
{
	(void)arg;
	(void)res;
}

static void
pg_unwatch(struct sse_pg *pg)
{
	event_del(pg->ev_read);
	event_del(pg->ev_write);
}

static void
pg_watch(struct sse_pg *pg, short what)
{
	int fd = PQsocket(pg->conn);

	pg_unwatch(pg);
	if ((what & EV_READ) && (event_assign(pg->ev_read, pg->base, fd, EV_READ, pg_io, pg) != 0 ||
	                         event_add(pg->ev_read, NULL) != 0))
		fatal("cannot watch the PostgreSQL socket");
	if ((what & EV_WRITE) && (event_assign(pg->ev_write, pg->base, fd, EV_WRITE, pg_io, pg) != 0 ||
	                          event_add(pg->ev_write, NULL) != 0))
		fatal("cannot watch the PostgreSQL socket");
}

static void
query_free(struct pg_query *q)
{
	int i;

	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->lengths);
	free(q->formats);
	free(q);
}

/* Queues q's completion with res (owned by q from here on) for the loop. */
static void
pg_defer(struct sse_pg *pg, struct pg_query *q, PGresult *res)
{
	q->res = res;
	q->next = NULL;
	if (pg->done_tail != NULL)
		pg->done_tail->next = q;
	else
		pg->done_head = q;
	pg->done_tail = q;
	event_active(pg->ev_done, EV_TIMEOUT, 1);
}

/* The query at the head of the queue is finished with res. */
static void
pg_complete(struct sse_pg *pg, PGresult *res)
{
	struct pg_query *q = pg->head;

	if (q == NULL) {
		PQclear(res);
		return;
	}
	pg->head = q->next;
	if (pg->head == NULL)
		pg->tail = NULL;
	pg->queued--;
	pg_defer(pg, q, res);
}

/* Runs the completions queued so far; ones a callback causes run on the
 * loop's next pass. */
static void
pg_run_done(struct sse_pg *pg)
{
	struct pg_query *q = pg->done_head, *next;

	pg->done_head = pg->done_tail = NULL;
	for (; q != NULL; q = next) {
		next = q->next;
		q->cb(q->arg, q->res);
		PQclear(q->res);
		query_free(q);
	}
}

static void
pg_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pg_run_done(arg);
}

static void
pg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pg_connect(arg);
}

/* The connection is gone: the query in flight fails, the rest wait. */
static void
pg_lost(struct sse_pg *pg, const char *why)
{
	struct timeval tv = {RECONNECT_SEC, 0};
	int was_busy = pg->state == PG_BUSY;

	log_warn(NULL, "msg=\"sse: PostgreSQL unavailable\" error=%s", LOG_QUOTE(why));
	pg_unwatch(pg);
	PQclear(pg->result);
	pg->result = NULL;
	PQfinish(pg->conn);
	pg->conn = NULL;
	pg->state = PG_DOWN;
	pg->nprepared = 0; /* statements live and die with their connection */
	if (was_busy)
		pg_complete(pg, NULL);
	event_add(pg->retry, &tv);
}

static void
pg_poll_connect(struct sse_pg *pg)
{
	switch (PQconnectPoll(pg->conn)) {
	case PGRES_POLLING_READING:
		pg_watch(pg, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		pg_watch(pg, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		/* libpq's sends are blocking until told otherwise: a long query
		 * (incidentd-hooks writes thousands of rows in one) would hold the
		 * loop while PostgreSQL reads it; now pg_flush waits for the socket */
		if (PQsetnonblocking(pg->conn, 1) != 0) {
			pg_lost(pg, PQerrorMessage(pg->conn));
			return;
		}
		pg->state = PG_IDLE;
		pg_watch(pg, EV_READ);
		log_info(NULL, "msg=\"sse: PostgreSQL connected\"");
		if (pg->listen_sql != NULL) {
			/* first on the new connection; what was missed meanwhile is
			 * for the listener to re-read (a NULL channel says so) */
			struct pg_query *q = xcalloc(1, sizeof(*q));

			q->sql = pg->listen_sql;
			q->params = xcalloc(1, sizeof(char *));
			q->cb = pg_ignored;
			q->next = pg->head;
			pg->head = q;
			if (pg->tail == NULL)
				pg->tail = q;
			pg->queued++;
			pg->on_notify(pg->notify_arg, NULL);
		}
		pg_next(pg);
		return;
	default:
		pg_lost(pg, PQerrorMessage(pg->conn));
	}
}

/* Starts the connection; hostaddr (may be NULL) overrides the conninfo's. */
static void
pg_connect_to(struct sse_pg *pg, const char *hostaddr)
{
	const char *keys[] = {"connect_timeout", "application_name", "dbname", "hostaddr", NULL};
	const char *vals[] = {"3", "incidentd-sse", pg->conninfo, hostaddr, NULL};

	if (hostaddr == NULL)
		keys[3] = NULL;
	pg->conn = PQconnectStartParams(keys, vals, 1);
	if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
		pg_lost(pg, pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		return;
	}
	pg->state = PG_CONNECTING;
	pg_poll_connect(pg);
}

static int
host_needs_lookup(const char *host)
{
	return host[0] != '\0' && host[0] != '/' && host[0] != '@' && !sse_dns_is_numeric(host);
}

/* host=a,b,c of the conninfo, or NULL when no element needs a lookup. */
static struct pg_hosts *
pg_hosts_parse(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL), *o;
	const char *host = NULL, *hostaddr = NULL;
	struct pg_hosts *h = NULL;
	char *list, *tok, *save = NULL;
	size_t i, lookups = 0;

	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	if (host != NULL && *host != '\0' && (hostaddr == NULL || *hostaddr == '\0')) {
		h = xcalloc(1, sizeof(*h));
		list = xstrdup(host);
		for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			h->names = xrealloc(h->names, (h->n + 1) * sizeof(*h->names));
			h->names[h->n++] = xstrdup(tok);
			lookups += (size_t)host_needs_lookup(tok);
		}
		free(list);
		h->addrs = xcalloc(h->n, sizeof(*h->addrs));
	}
	PQconninfoFree(opts);
	if (h != NULL && lookups == 0) {
		for (i = 0; i < h->n; i++)
			free(h->names[i]);
		free(h->names);
		free(h->addrs);
		free(h);
		h = NULL;
	}
	return h;
}

static void
pg_hosts_free(struct pg_hosts *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->lookup != NULL)
		sse_dns_cancel(h->lookup);
	for (i = 0; i < h->n; i++) {
		free(h->names[i]);
		free(h->addrs[i]);
	}
	free(h->names);
	free(h->addrs);
	free(h);
}

/* hostaddr for libpq: one element per host, empty where libpq needs none. */
static char *
pg_hosts_hostaddr(const struct pg_hosts *h)
{
	struct buf *b = buf_new(64);
	char *out;
	size_t i;

	for (i = 0; i < h->n; i++) {
		const char *addr = h->addrs[i] != NULL ? h->addrs[i]
		                   : sse_dns_is_numeric(h->names[i]) ? h->names[i] : "";

		b = buf_printf(b, "%s%s", i > 0 ? "," : "", addr);
	}
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

static void pg_resolve_next(struct sse_pg *pg);

static void
pg_resolved(void *arg, const char *addr)
{
	struct sse_pg *pg = arg;
	struct pg_hosts *h = pg->hosts;

	h->lookup = NULL;
	if (addr == NULL) {
		pg_lost(pg, "cannot resolve the database host name");
		return;
	}
	free(h->addrs[h->next]);
	h->addrs[h->next++] = xstrdup(addr);
	pg_resolve_next(pg);
}

static void
pg_resolve_next(struct sse_pg *pg)
{
	struct pg_hosts *h = pg->hosts;
	char *hostaddr;

	while (h->next < h->n && !host_needs_lookup(h->names[h->next]))
		h->next++;
	if (h->next < h->n) {
		h->lookup = sse_dns_resolve(h->names[h->next], pg_resolved, pg);
		return;
	}
	hostaddr = pg_hosts_hostaddr(h);
	pg_connect_to(pg, hostaddr);
	free(hostaddr);
}

/* Names are looked up again for every connection: a failover may move them. */
static void
pg_connect(struct sse_pg *pg)
{
	if (pg->hosts == NULL) {
		pg_connect_to(pg, NULL);
		return;
	}
	pg->state = PG_RESOLVING;
	pg->hosts->next = 0;
	pg_resolve_next(pg);
}

/* Flushes what libpq buffered; waits for the socket if it could not. */
static void
pg_flush(struct sse_pg *pg)
{
	int rc = PQflush(pg->conn);

	pg->flush_pending = rc == 1;
	if (rc < 0)
		pg_lost(pg, PQerrorMessage(pg->conn));
	else
		pg_watch(pg, rc == 1 ? (EV_READ | EV_WRITE) : EV_READ);
}

static int
pg_is_prepared(const struct sse_pg *pg, const char *name)
{
	size_t i;

	for (i = 0; i < pg->nprepared; i++)
		if (strcmp(pg->prepared[i], name) == 0)
			return 1;
	return 0;
}

/* A named query on a connection that has not prepared it yet: the PREPARE
 * goes first, at the head of the queue. */
static struct pg_query *
pg_prepare_first(struct sse_pg *pg, const struct pg_query *q)
{
	struct pg_query *p = xcalloc(1, sizeof(*p));

	p->sql = q->sql;
	p->name = q->name;
	p->prepare = 1;
	p->params = xcalloc(1, sizeof(char *));
	p->cb = pg_ignored;
	p->next = pg->head;
	pg->head = p;
	pg->queued++;
	return p;
}

static int
pg_send(struct sse_pg *pg, const struct pg_query *q)
{
	const char *const *params = (const char *const *)q->params;

	if (q->prepare) /* the server infers the parameters' types, as unnamed */
		return PQsendPrepare(pg->conn, q->name, q->sql, 0, NULL);
	if (q->name != NULL)
		return PQsendQueryPrepared(pg->conn, q->name, q->nparams, params, q->lengths, q->formats,
		                           0);
	return PQsendQueryParams(pg->conn, q->sql, q->nparams, NULL, params, q->lengths, q->formats,
	                         0);
}

static void
pg_next(struct sse_pg *pg)
{
	struct pg_query *q = pg->head;

	if (pg->state != PG_IDLE || q == NULL)
		return;
	if (q->name != NULL && !q->prepare && !pg_is_prepared(pg, q->name))
		q = pg_prepare_first(pg, q);
	if (!pg_send(pg, q)) {
		pg->state = PG_BUSY;
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	pg->state = PG_BUSY;
	pg_flush(pg);
}

/* The query in flight is over with res (NULL: it failed).  A PREPARE that
 * failed fails the query it was for too, rather than being tried again for
 * it for ever. */
static void
pg_finished(struct sse_pg *pg, PGresult *res)
{
	const struct pg_query *q = pg->head;

	if (q == NULL || !q->prepare) {
		pg_complete(pg, res);
		return;
	}
	if (res != NULL) {
		pg->prepared = xrealloc(pg->prepared, (pg->nprepared + 1) * sizeof(*pg->prepared));
		pg->prepared[pg->nprepared++] = q->name;
	}
	pg_complete(pg, res);
	if (res == NULL)
		pg_complete(pg, NULL);
}

/* Reads results; the query is done when PQgetResult returns NULL. */
static void
pg_read(struct sse_pg *pg)
{
	PGresult *res;

	if (!PQconsumeInput(pg->conn)) {
		pg_lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	while (pg->state == PG_BUSY && !PQisBusy(pg->conn)) {
		res = PQgetResult(pg->conn);
		if (res != NULL) {
			PQclear(pg->result);
			pg->result = res;
			continue;
		}
		res = pg->result;
		pg->result = NULL;
		pg->state = PG_IDLE;
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_warn(NULL, "msg=\"sse: query failed\" error=%s",
			         LOG_QUOTE(res ? PQresultErrorMessage(res) : "no result"));
			PQclear(res);
			res = NULL;
		}
		pg_finished(pg, res);
		pg_next(pg);
	}
}

static void
pg_io(evutil_socket_t fd, short what, void *arg)
{
	struct sse_pg *pg = arg;

	(void)fd;
	if (pg->state == PG_CONNECTING) {
		pg_poll_connect(pg);
		return;
	}
	if ((what & EV_WRITE) && pg->state == PG_BUSY) {
		pg_flush(pg); /* re-arms the events */
		return;
	}
	if (pg->state == PG_IDLE) {
		/* an idle connection that turns readable was closed, or sent a
		 * notice or a notification */
		if (!PQconsumeInput(pg->conn) || PQstatus(pg->conn) != CONNECTION_OK) {
			pg_lost(pg, PQerrorMessage(pg->conn));
		} else {
			pg_drain_notifies(pg);
			pg_watch(pg, EV_READ);
		}
		return;
	}
	if (pg->state == PG_BUSY) {
		pg_read(pg);
		pg_drain_notifies(pg);
		if (pg->state == PG_BUSY || pg->state == PG_IDLE)
			pg_watch(pg, EV_READ | (pg->flush_pending ? EV_WRITE : 0));
	}
}

struct sse_pg *
sse_pg_new(struct event_base *base, const char *conninfo)
{
	struct sse_pg *pg = xcalloc(1, sizeof(*pg));

	pg->base = base;
	pg->conninfo = xstrdup(conninfo);
	pg->hosts = pg_hosts_parse(conninfo);
	pg->retry = evtimer_new(base, pg_retry_cb, pg);
	pg->ev_read = event_new(base, -1, 0, pg_io, pg);
	pg->ev_write = event_new(base, -1, 0, pg_io, pg);
	pg->ev_done = event_new(base, -1, 0, pg_done_cb, pg);
	if (pg->retry == NULL || pg->ev_read == NULL || pg->ev_write == NULL || pg->ev_done == NULL)
		fatal("out of memory creating events");
	pg_connect(pg);
	return pg;
}

void
sse_pg_query(struct sse_pg *pg, const char *sql, int nparams, const char *const *params,
             sse_pg_cb cb, void *arg)
{
	sse_pg_query_prepared(pg, NULL, sql, nparams, params, cb, arg);
}

void
sse_pg_query_prepared(struct sse_pg *pg, const char *name, const char *sql, int nparams,
                      const char *const *params, sse_pg_cb cb, void *arg)
{
	sse_pg_query_binary(pg, name, sql, nparams, params, NULL, NULL, cb, arg);
}

/* A copy of each param: text up to its NUL, binary by its length. */
static void
query_params(struct pg_query *q, const char *const *params, const int *lengths,
             const int *formats)
{
	int i;

	q->params = xcalloc((size_t)q->nparams + 1, sizeof(char *));
	if (formats != NULL) {
		q->lengths = xcalloc((size_t)q->nparams + 1, sizeof(int));
		q->formats = xcalloc((size_t)q->nparams + 1, sizeof(int));
	}
	for (i = 0; i < q->nparams; i++) {
		if (params[i] == NULL)
			continue;
		if (formats != NULL && formats[i] == 1) {
			size_t n = lengths[i] > 0 ? (size_t)lengths[i] : 0;

			q->params[i] = xmalloc(n + 1);
			memcpy(q->params[i], params[i], n);
			q->lengths[i] = (int)n;
			q->formats[i] = 1;
		} else {
			q->params[i] = xstrdup(params[i]);
		}
	}
}

void
sse_pg_query_binary(struct sse_pg *pg, const char *name, const char *sql, int nparams,
                    const char *const *params, const int *lengths, const int *formats,
                    sse_pg_cb cb, void *arg)
{
	struct pg_query *q = xcalloc(1, sizeof(*q));

	q->sql = sql;
	q->name = name;
	q->nparams = nparams;
	query_params(q, params, lengths, formats);
	q->cb = cb;
	q->arg = arg;
	if (pg->queued >= SSE_PG_QUEUE_MAX) {
		log_warn(NULL, "msg=\"sse: query queue full\"");
		pg_defer(pg, q, NULL);
		return;
	}
	if (pg->tail != NULL)
		pg->tail->next = q;
	else
		pg->head = q;
	pg->tail = q;
	pg->queued++;
	pg_next(pg);
}

void
sse_pg_listen(struct sse_pg *pg, const char *listen_sql, sse_pg_notify_cb cb, void *arg)
{
	pg->listen_sql = listen_sql;
	pg->on_notify = cb;
	pg->notify_arg = arg;
	if (pg->state == PG_IDLE || pg->state == PG_BUSY)
		sse_pg_query(pg, listen_sql, 0, NULL, pg_ignored, NULL);
}

void
sse_pg_free(struct sse_pg *pg)
{
	if (pg == NULL)
		return;
	/* the loop has stopped: what is left fails now */
	while (pg->head != NULL)
		pg_complete(pg, NULL);
	pg_run_done(pg);
	event_free(pg->ev_done);
	event_free(pg->ev_read);
	event_free(pg->ev_write);
	event_free(pg->retry);
	PQclear(pg->result);
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg_hosts_free(pg->hosts);
	free(pg->prepared);
	free(pg->conninfo);
	free(pg);
}
