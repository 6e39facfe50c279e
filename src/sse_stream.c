/* sse_stream.c — one client's stream: its frames, its cursor (the last seq
 * it was sent or skipped, so it never sees a duplicate), its output cap, and
 * the process-wide list used for heartbeats, revocations and shutdown. */
#include "sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sse sse;

static TAILQ_HEAD(, sse_client) all_clients = TAILQ_HEAD_INITIALIZER(all_clients);

static void client_closed_by_peer(struct evhttp_connection *conn, void *arg);
static void client_begin(struct sse_client *c, struct evkeyvalq *h, int64_t from,
                         int64_t current);

struct sse_client *
sse_client_new(struct evhttp_request *req, const char *request_id, int64_t last_event_id)
{
	struct sse_client *c = xcalloc(1, sizeof(*c));

	c->req = req;
	c->conn = evhttp_request_get_connection(req);
	c->request_id = xstrdup(request_id);
	c->last_event_id = last_event_id;
	c->cursor = -1;
	c->refs = 1; /* the connection's */
	TAILQ_INSERT_TAIL(&all_clients, c, all_link);
	sse.nclients++;
	evhttp_connection_set_closecb(c->conn, client_closed_by_peer, c);
	return c;
}

int
sse_client_unref(struct sse_client *c)
{
	if (--c->refs > 0)
		return 0;
	free(c->request_id);
	free(c);
	return 1;
}

static size_t
client_pending(const struct sse_client *c)
{
	struct bufferevent *bev = c->conn != NULL ? evhttp_connection_get_bufferevent(c->conn) : NULL;

	return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

int
sse_client_backlogged(const struct sse_client *c)
{
	return (int64_t)client_pending(c) * 2 > sse.cfg->client_buffer_cap;
}

/* libevent runs this whenever the connection's output has been written; it
 * stays set after a pause ends (only evhttp's own writes replace it), so it
 * does nothing unless a pause waits. The connection holds the client, and
 * every release replaces the callback or frees the connection. */
static void
client_drained(struct evhttp_connection *conn, void *arg)
{
	struct sse_client *c = arg;

	(void)conn;
	if (!c->paused)
		return;
	c->paused = 0;
	if (!c->closed)
		c->resume(c);
	sse_client_unref(c); /* the pause's */
}

/* A comment line carries the callback: libevent runs it once everything
 * queued on the connection has been written. */
void
sse_client_pause(struct sse_client *c, void (*resume)(struct sse_client *c))
{
	struct evbuffer *b;

	if (c->closed || c->req == NULL || c->paused)
		return;
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory allocating a buffer");
	c->resume = resume;
	c->paused = 1;
	c->refs++;
	evbuffer_add(b, ":\n", 2);
	evhttp_send_reply_chunk_with_cb(c->req, b, client_drained, c);
	evbuffer_free(b);
}

/* Leaves every list and lets go of the connection; the struct lives on
 * while queries still point at it. */
static void
client_release(struct sse_client *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = 1;
	sse_org_detach(c);
	TAILQ_REMOVE(&all_clients, c, all_link);
	sse.nclients--;
	if (c->key_id != 0)
		sse_keys_add(c->key_id, -1);
	if (c->conn != NULL)
		evhttp_connection_set_closecb(c->conn, NULL, NULL);
	if (c->paused) {
		/* every way a client is released either frees its connection or
		 * ends the reply (which replaces the drain callback): it never runs */
		c->paused = 0;
		c->refs--;
	}
	log_info(c->request_id, "msg=\"sse stream closed\" stream=%s:%lld cursor=%lld reason=\"%s\"",
	         c->key_id ? "org" : "public", (long long)(c->key_id ? c->key_id : c->incident_id),
	         (long long)c->cursor, why);
}

static void
client_closed_by_peer(struct evhttp_connection *conn, void *arg)
{
	struct sse_client *c = arg;

	(void)conn;
	/* A reply the peer abandoned is detached from its connection and left
	 * to us (libevent's rule for unfinished replies): ending it frees it.
	 * One still attached is freed with the connection. */
	if (c->req != NULL && evhttp_request_get_connection(c->req) == NULL)
		evhttp_send_reply_end(c->req);
	c->req = NULL;
	c->conn = NULL;
	client_release(c, "client went away");
	sse_client_unref(c);
}

void
sse_client_close(struct sse_client *c, const char *why)
{
	struct evhttp_request *req = c->req;
	int started = c->started;

	if (c->closed)
		return;
	client_release(c, why);
	if (req != NULL && started)
		evhttp_send_reply_end(req); /* the terminating chunk: a clean end */
	else if (req != NULL)
		sse_send_error(req, c->request_id, 503, "service_unavailable", NULL,
		               "The stream was closed");
	sse_client_unref(c);
}

/* A client over its output cap cannot be ended politely: drop the
 * connection (it resumes with Last-Event-ID). */
static void
client_drop(struct sse_client *c)
{
	struct evhttp_connection *conn = c->conn;

	stream_status_count(STREAM_DROPPED_BUFFER_CAP);
	client_release(c, "output over client_buffer_cap");
	c->req = NULL;
	c->conn = NULL;
	if (conn != NULL)
		evhttp_connection_free(conn);
	sse_client_unref(c);
}

void
sse_client_fail(struct sse_client *c, int status, const char *code, const char *message)
{
	struct evhttp_request *req = c->req;

	if (c->closed)
		return;
	client_release(c, code);
	if (req != NULL)
		sse_send_error(req, c->request_id, status, code, NULL, message);
	sse_client_unref(c);
}

static void
frame_released(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	sse_event_unref(arg);
}

/* Writes len bytes at p to the stream: straight to its socket when it is
 * live, not paused by a replay and has nothing queued (what waits goes
 * first), else - and whatever the socket did not take - queued on the
 * connection: by reference when owner holds the bytes (an event's shared
 * frame), else copied.  0, or -1 when the client is gone or was dropped. */
static int
client_write(struct sse_client *c, const char *p, size_t len, struct sse_event *owner)
{
	struct evbuffer *out = c->out;
	ssize_t n = 0;

	if (c->closed || c->req == NULL || c->conn == NULL || out == NULL)
		return -1;
	if (c->live && !c->paused && evbuffer_get_length(out) == 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0) /* full (EAGAIN), or an error the bufferevent reports */
			n = 0;
	}
	if (owner != NULL) {
		sse_event_ref(owner);
		if (evbuffer_add_reference(out, p + n, len - (size_t)n, frame_released, owner) != 0)
			fatal("out of memory queueing a frame");
	} else if (evbuffer_add(out, p + n, len - (size_t)n) != 0) {
		fatal("out of memory queueing a frame");
	}
	/* evhttp's write callback, as for its own writes */
	bufferevent_enable(evhttp_connection_get_bufferevent(c->conn), EV_WRITE);
	if ((int64_t)client_pending(c) > sse.cfg->client_buffer_cap) {
		client_drop(c);
		return -1;
	}
	return 0;
}

static int
client_send_frame(struct sse_client *c, struct sse_event *ev, const struct sse_frame *f)
{
	return c->chunked ? client_write(c, f->chunk, f->chunk_len, ev)
	                  : client_write(c, f->text, f->len, ev);
}

/* A short line of our own (at most SEND_MAX bytes), in a chunk of its own. */
#define SEND_MAX 256
static int
client_send(struct sse_client *c, const char *data, size_t len)
{
	char chunk[SEND_MAX + 16];
	int n;

	if (len > SEND_MAX)
		return -1;
	if (!c->chunked)
		return client_write(c, data, len, NULL);
	n = snprintf(chunk, sizeof(chunk), "%zx\r\n%.*s\r\n", len, (int)len, data);
	if (n < 0 || (size_t)n >= sizeof(chunk))
		return -1;
	return client_write(c, chunk, (size_t)n, NULL);
}

static int
client_sendf(struct sse_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
client_sendf(struct sse_client *c, const char *fmt, ...)
{
	char line[SEND_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return client_send(c, line, (size_t)n);
}

void
sse_client_reset(struct sse_client *c, int64_t seq, const char *reason)
{
	c->cursor = seq;
	if (client_sendf(c,
	                 "id: %lld\nevent: stream.reset\ndata: "
	                 "{\"type\":\"stream.reset\",\"seq\":%lld,\"reason\":\"%s\"}\n\n",
	                 (long long)seq, (long long)seq, reason) == 0)
		c->live = 1;
}

void
sse_client_begin(struct sse_client *c, int64_t current)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
	int64_t from = c->last_event_id;

	if (c->closed || c->started)
		return;
	c->refs++; /* sending may close the client; it must outlive this function */
	client_begin(c, h, from, current);
	sse_client_unref(c);
}

/* Once the head is out, evhttp reads one header again, Connection (does
 * the connection close when the reply ends?): the others, about 1 KiB a
 * stream in and out, go. */
static void
headers_trim(struct evkeyvalq *h)
{
	const char *v = evhttp_find_header(h, "Connection");
	char *keep = v != NULL ? xstrdup(v) : NULL;

	evhttp_clear_headers(h);
	if (keep != NULL && evhttp_add_header(h, "Connection", keep) != 0)
		fatal("out of memory keeping a header");
	free(keep);
}

static void
client_begin(struct sse_client *c, struct evkeyvalq *h, int64_t from, int64_t current)
{
	struct bufferevent *bev;

	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(c->req, 200, "OK");
	c->started = 1;
	/* libevent chunks an HTTP/1.1 reply (nginx's, proxy_http_version 1.1);
	 * the frames are written past it, so they carry the chunking themselves */
	c->chunked = evhttp_find_header(h, "Transfer-Encoding") != NULL;
	bev = evhttp_connection_get_bufferevent(c->conn);
	c->out = bufferevent_get_output(bev);
	c->fd = (int)bufferevent_getfd(bev);
	headers_trim(h);
	headers_trim(evhttp_request_get_input_headers(c->req));
	log_info(c->request_id,
	         "msg=\"sse stream opened\" status=200 stream=%s:%lld last_event_id=%lld seq=%lld",
	         c->key_id ? "org" : "public", (long long)(c->key_id ? c->key_id : c->incident_id),
	         (long long)from, (long long)current);
	if (client_send(c, "retry: 3000\n\n", 13) != 0)
		return;
	if (from < 0) {
		/* sets the browser's last event id without firing an event */
		c->cursor = current;
		if (client_sendf(c, "id: %lld\n\n", (long long)current) == 0)
			c->live = 1;
	} else if (from > current) {
		sse_org_resume_ahead(c, from);
	} else {
		c->cursor = from;
		if (from == current) {
			c->live = 1;
		} else {
			stream_status_count(STREAM_REPLAYS);
			sse_org_replay(c);
		}
	}
}

void
sse_client_deliver(struct sse_client *c, struct sse_event *ev)
{
	if (c->closed || ev == NULL || ev->seq <= c->cursor)
		return;
	c->cursor = ev->seq;
	if (c->key_id != 0) {
		if (client_send_frame(c, ev, &ev->frame) == 0)
			stream_status_count(STREAM_EVENTS_DELIVERED);
		return;
	}
	if (ev->incident_id != c->incident_id || ev->public_frame.chunk == NULL)
		return;
	if (client_send_frame(c, ev, &ev->public_frame) != 0)
		return;
	stream_status_count(STREAM_EVENTS_DELIVERED);
	if (ev->ends_public)
		sse_client_close(c, "incident deleted");
}

void
sse_clients_heartbeat(void)
{
	struct sse_client *c, *next;

	for (c = TAILQ_FIRST(&all_clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all_link);
		/* a paused replay is writing already, and another chunk would
		 * replace the callback that resumes it */
		if (c->started && !c->paused)
			client_send(c, ": heartbeat\n\n", 13);
	}
}

void
sse_clients_close_revoked(const int64_t *key_ids, size_t n)
{
	struct sse_client *c, *next;
	size_t i;

	for (c = TAILQ_FIRST(&all_clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, all_link);
		for (i = 0; i < n; i++) {
			if (c->key_id == key_ids[i]) {
				stream_status_count(STREAM_DROPPED_REVOKED);
				sse_client_close(c, "API key revoked");
				break;
			}
		}
	}
}

void
sse_clients_close_all(void)
{
	while (!TAILQ_EMPTY(&all_clients)) {
		stream_status_count(STREAM_DROPPED_SHUTDOWN);
		sse_client_close(TAILQ_FIRST(&all_clients), "shutting down");
	}
}
