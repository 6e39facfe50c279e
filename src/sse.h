/*
 * sse.h — incidentd-sse, the stream process: one libevent loop that holds
 * every stream and never blocks.  Builds on core.h only; it never includes
 * api.h (the build refuses), so no FastCGI code is linked into it.
 */
#ifndef INCIDENTD_SSE_H
#define INCIDENTD_SSE_H

#include "core.h"

/* ---- sse_main.c (timers, signals), sse_http.c + sse_url.c (the routes),
 *      sse_stream.c (one client), sse_org.c (ordering, catch-up, replay),
 *      sse_keys.c, sse_event.c, sse_pg.c, sse_dns.c, sse_redis.c,
 *      sse_prune.c ---- */
struct event_base;
struct pg_result;
struct evhttp_request;
struct sse_pg;
struct sse_redis;
struct sse_org;
struct sse_client;

/* sse_pg.c: libpq in non-blocking mode, one connection, a FIFO of queries.
 * The callback gets the result (NULL on failure) and must not PQclear it.
 * It always runs from the loop, never inside sse_pg_query. */
typedef void (*sse_pg_cb)(void *arg, struct pg_result *res);
#define SSE_PG_QUEUE_MAX 100000 /* queries waiting; more fail at once */
struct sse_pg *sse_pg_new(struct event_base *base, const char *conninfo);
void sse_pg_free(struct sse_pg *pg);
/* sql must outlive the query (a literal); params are copied. */
void sse_pg_query(struct sse_pg *pg, const char *sql, int nparams, const char *const *params,
                  sse_pg_cb cb, void *arg);
/* The same as a prepared statement named name (a literal), prepared once
 * per connection: for the statements run hundreds of times a second, whose
 * planning PostgreSQL would otherwise repeat every time. */
void sse_pg_query_prepared(struct sse_pg *pg, const char *name, const char *sql, int nparams,
                           const char *const *params, sse_pg_cb cb, void *arg);
/* The same with some params binary (formats[i] 1: lengths[i] bytes in
 * PostgreSQL's send format), which PostgreSQL reads without parsing text;
 * formats NULL: all text. */
void sse_pg_query_binary(struct sse_pg *pg, const char *name, const char *sql, int nparams,
                         const char *const *params, const int *lengths, const int *formats,
                         sse_pg_cb cb, void *arg);
/* LISTEN: listen_sql (a literal) is sent first on every connection; cb gets
 * each notification's channel, and NULL after a (re)connect, when some may
 * have been missed.  It runs inside this file's calls: it may only schedule. */
typedef void (*sse_pg_notify_cb)(void *arg, const char *channel);
void sse_pg_listen(struct sse_pg *pg, const char *listen_sql, sse_pg_notify_cb cb, void *arg);

/* pg_array.c: a one-dimensional array in PostgreSQL's binary format, for a
 * binary parameter (sse_pg_query_binary): open, add each element, close
 * (its bytes and length), free.  Element types by OID. */
#define PG_OID_INT8 20
#define PG_OID_INT4 23
#define PG_OID_TEXT 25
struct pg_array {
	struct buf *b;
	uint32_t element_oid;
	uint32_t n;
	int has_null;
};
void pg_array_open(struct pg_array *a, uint32_t element_oid, size_t hint);
void pg_array_null(struct pg_array *a);
void pg_array_int4(struct pg_array *a, int32_t v);
void pg_array_int8(struct pg_array *a, int64_t v);
void pg_array_text(struct pg_array *a, const char *v); /* NULL: a NULL element */
const char *pg_array_close(struct pg_array *a, int *len);
void pg_array_free(struct pg_array *a);
/* n arrays at once, a statement's columns: opened with their element
 * types, closed into a query's params, lengths and formats (binary), freed. */
void pg_arrays_open(struct pg_array *a, const uint32_t *element_oids, size_t n, size_t hint);
void pg_arrays_close(struct pg_array *a, size_t n, const char **params, int *lengths,
                     int *formats);
void pg_arrays_free(struct pg_array *a, size_t n);

/* sse_dns.c: host names resolved on the loop (evdns), never by a blocking
 * getaddrinfo.  The callback gets a numeric address, or NULL on failure, and
 * always runs from the loop. */
typedef void (*sse_resolved_cb)(void *arg, const char *addr);
struct sse_dns_lookup;
void sse_dns_init(struct event_base *base, const char *resolv_conf);
/* Fails the lookups still in flight (their callbacks run unless cancelled). */
void sse_dns_free(void);
int sse_dns_is_numeric(const char *host);
/* The lookup is valid until its callback runs, or until cancelled. */
struct sse_dns_lookup *sse_dns_resolve(const char *name, sse_resolved_cb cb, void *arg);
void sse_dns_cancel(struct sse_dns_lookup *l);

/* sse_redis.c: hiredis async SUBSCRIBE with reconnects. */
typedef void (*sse_message_cb)(int64_t org_id, const char *msg, size_t len);
typedef void (*sse_subscribed_cb)(int64_t org_id);
/* on_down runs whenever the connection is lost or cannot be made. */
struct sse_redis *sse_redis_new(struct event_base *base, const char *address,
                                sse_message_cb on_message, sse_subscribed_cb on_subscribed,
                                void (*on_down)(void));
void sse_redis_free(struct sse_redis *r);
void sse_redis_subscribe(struct sse_redis *r, int64_t org_id);
void sse_redis_unsubscribe(struct sse_redis *r, int64_t org_id);
int sse_redis_connected(const struct sse_redis *r);

/* One SSE frame, "id: ..\nevent: ..\ndata: ..\n\n", stored inside the HTTP/1.1
 * chunk that carries it ("<hex length>\r\n" frame "\r\n"): every stream of
 * an event sends these very bytes, so they are built once per event. */
struct sse_frame {
	char *chunk;      /* NULL: no frame */
	size_t chunk_len;
	const char *text; /* the frame itself, inside chunk */
	size_t len;
};
/* One event as streams send it; shared by every stream (refs) and by the
 * output buffers still holding a reference to its frames. */
struct sse_event {
	int64_t seq;
	int64_t incident_id;
	int refs;
	struct sse_frame frame;        /* what an organisation stream sees */
	struct sse_frame public_frame; /* what a status-page stream sees, or none */
	int ends_public;               /* incident.deleted: the status-page stream ends */
};
/* Builds an event from its published JSON; NULL if it is not one. */
struct sse_event *sse_event_from_json(const char *json, size_t len);
struct sse_event *sse_event_ref(struct sse_event *ev);
void sse_event_unref(struct sse_event *ev);

/* sse_stream.c: the process-wide state every part shares. */
struct sse {
	struct event_base *base;
	struct config *cfg;
	const char *config_path;
	struct sse_pg *pg;
	struct sse_redis *redis;
	size_t nclients;
	int stopping;
	int64_t probe_deliveries; /* events the probe delivered that Redis had not */
};
extern struct sse sse;

/* sse_stream.c: one client stream. */
struct sse_client {
	TAILQ_ENTRY(sse_client) org_link;
	TAILQ_ENTRY(sse_client) all_link;
	struct evhttp_request *req; /* NULL once the connection is gone */
	struct evhttp_connection *conn;
	char *request_id;
	int64_t key_id;             /* 0: public status-page stream */
	int64_t incident_id;        /* the public stream's incident */
	int64_t last_event_id;      /* -1: the client sent none */
	int64_t cursor;             /* every event up to here was sent or skipped */
	int started;                /* 200 and headers sent */
	int live;                   /* receives events as they are applied */
	int paused;                 /* a replay waits for its output to drain */
	void (*resume)(struct sse_client *c); /* what runs once it has */
	int chunked;                /* the reply is HTTP/1.1 chunked (not 1.0) */
	struct evbuffer *out;       /* the connection's output, once started */
	int fd;                     /* and its socket */
	int closed;
	int refs;                   /* the connection + queries in flight */
	struct sse_org *org;
};
struct sse_client *sse_client_new(struct evhttp_request *req, const char *request_id,
                                  int64_t last_event_id);
/* Drops a reference; returns 1 when that freed the client. */
int sse_client_unref(struct sse_client *c);
/* The org is synced at current: headers, then the first id, a reset or a replay. */
void sse_client_begin(struct sse_client *c, int64_t current);
/* Sends the event's frame, straight to the socket when the stream is live,
 * not paused and has nothing queued (one send per stream, no copy, no loop
 * pass); otherwise queued behind what waits, by reference to the shared frame. */
void sse_client_deliver(struct sse_client *c, struct sse_event *ev);
/* A replay sends while less than half the cap waits; then it pauses and
 * resume runs once the output has drained (never if the client goes). */
int sse_client_backlogged(const struct sse_client *c);
void sse_client_pause(struct sse_client *c, void (*resume)(struct sse_client *c));
void sse_client_reset(struct sse_client *c, int64_t seq, const char *reason);
/* Ends a started stream cleanly, or answers an error to one not started. */
void sse_client_close(struct sse_client *c, const char *why);
void sse_client_fail(struct sse_client *c, int status, const char *code, const char *message);
void sse_clients_heartbeat(void);
void sse_clients_close_revoked(const int64_t *key_ids, size_t n);
void sse_clients_close_all(void);

/* sse_prune.c: the event log past event_retention_days, in batches. */
void sse_prune_start(void);

/* sse_keys.c: org streams held per API key (max_streams_per_key). */
int sse_keys_streams(int64_t key_id);
void sse_keys_add(int64_t key_id, int delta);

/* sse_org.c: per-organisation subscription, ordering and catch-up. */
void sse_org_attach(int64_t org_id, struct sse_client *c);
void sse_org_detach(struct sse_client *c);
void sse_org_replay(struct sse_client *c);
/* The client's Last-Event-ID is past this host's seq: resume or reset it
 * by what PostgreSQL holds. */
void sse_org_resume_ahead(struct sse_client *c, int64_t from);
void sse_org_on_message(int64_t org_id, const char *msg, size_t len);
void sse_org_on_subscribed(int64_t org_id);
void sse_org_on_redis_down(void);
void sse_org_probe(void);

/* sse_url.c: what a stream request's URL and headers say; pure functions.
 * The resume point from the Last-Event-ID header, else the query's
 * last_event_id (either may be NULL): -1 when absent, -2 if malformed. */
int64_t sse_url_last_event_id(const char *header, const char *query);
/* "/incidents/status/<token>/stream": 1 with the token in out, else 0. */
int sse_url_public_token(const char *path, char *out, size_t outlen);

/* sse_http.c: the three stream routes. */
void sse_http_request(struct evhttp_request *req, void *arg);
/* The error envelope; parameter names source.parameter (or NULL). */
void sse_send_error(struct evhttp_request *req, const char *request_id, int status,
                    const char *code, const char *parameter, const char *message);

#endif
