/*
 * incidentd.h — every module's interface, one section per source file.
 *
 * Ownership rule used throughout: a function that returns a pointer says who
 * frees it.  Functions returning int use 0 for success and -1 for failure
 * unless the comment says otherwise.
 */
#ifndef INCIDENTD_H
#define INCIDENTD_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>

struct request;

/* ---- util.c: allocation that dies on OOM (start-up style), small helpers ---- */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* base64url without padding of random bytes; caller frees. NULL if no entropy. */
char *random_token(size_t nbytes);
/* lowercase hex SHA-256 of s into out[65]. */
int sha256_hex(const char *s, size_t len, char out[65]);
/* "host:port", "[v6]:port", "host" (default_port) or "unix:/path".  Exactly
 * one of host and unix_path is set on success; free with net_address_free. */
struct net_address {
	char *unix_path;
	char *host; /* a name or a numeric address, without brackets */
	int port;
};
int net_address_parse(const char *s, int default_port, struct net_address *out);
void net_address_free(struct net_address *a);

/* ---- buf.c: growable byte buffer; rebind idiom b = buf_append(b, ...) ---- */
struct buf {
	size_t len;
	size_t cap;
	char data[]; /* always NUL-terminated */
};
struct buf *buf_new(size_t hint);
struct buf *buf_append(struct buf *b, const void *p, size_t n);
struct buf *buf_puts(struct buf *b, const char *s);
struct buf *buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct buf *buf_html_escape(struct buf *b, const char *s);
void buf_free(struct buf *b);

/* ---- log.c: one line per event, key=value, prefixed with the request id ---- */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern enum log_level log_threshold;
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_error(rid, ...) log_msg(LOG_ERROR, rid, __VA_ARGS__)
#define log_warn(rid, ...) log_msg(LOG_WARN, rid, __VA_ARGS__)
#define log_info(rid, ...) log_msg(LOG_INFO, rid, __VA_ARGS__)
#define log_debug(rid, ...) log_msg(LOG_DEBUG, rid, __VA_ARGS__)

/* ---- config.c: key = value file, INCIDENTD_* environment overrides ---- */
enum priority { PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT, PRIORITY_COUNT };
struct config {
	char *listen;
	int socket_mode;
	int workers;
	int max_requests;
	char *database;
	char *redis;
	char *public_base_url;
	int64_t sla_target[PRIORITY_COUNT]; /* seconds, indexed by enum priority */
	char *sql_dir;
	enum log_level log_level;
	int shutdown_timeout;
	/* incidentd-sse (stream process) */
	char *sse_listen;
	int heartbeat;
	int max_connections;
	int64_t client_buffer_cap;
	int event_retention_days;
};
void config_defaults(struct config *cfg);
/* Loads path (NULL: defaults only) then the environment.  On error returns -1
 * with a message in err.  cfg must hold defaults (or an earlier load). */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* The file format's one parser: text (len bytes, need not be NUL-terminated)
 * onto cfg, without the environment.  On error returns -1 with
 * "LINE: detail" in err (config_load prefixes the path). */
int config_load_text(struct config *cfg, const char *text, size_t len, char *err, size_t errlen);
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);
void config_free(struct config *cfg);
/* "90", "90s", "30m", "4h", "3d" → seconds; -1 if malformed. */
int64_t config_parse_duration(const char *s);

/* ---- clock.c: timestamps are int64 unix seconds; TIME_NONE means null ---- */
#define TIME_NONE INT64_MIN
#define TIME_TEXT_LEN 21 /* "2026-03-15T07:00:00Z" + NUL */
int64_t clock_now(const struct request *req);
void time_format(int64_t t, char out[TIME_TEXT_LEN]);
/* Strict RFC 3339: date, 'T' or ' ', time, optional fraction, Z or ±hh:mm. */
int time_parse(const char *s, size_t len, int64_t *out);

/* ---- utf8.c ---- */
size_t utf8_chars(const char *s, size_t len);
int utf8_valid(const char *s, size_t len);
size_t utf8_cut(const char *s, size_t len, size_t max);
/* Returns the span of s without leading/trailing ASCII whitespace. */
const char *text_trim(const char *s, size_t len, size_t *outlen);

/* ---- json.c: bounded parse tree on yajl callbacks; yajl_gen helpers ---- */
enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };
struct jval {
	enum jtype type;
	union {
		int boolean;
		double number;
		struct {
			char *s;
			size_t len; /* may contain NUL bytes: callers check */
		} str;
		struct {
			struct jval **items;
			size_t n;
		} arr;
		struct {
			char **keys;
			size_t *keylens;
			struct jval **vals;
			size_t n;
		} obj;
	} u;
};
#define JSON_MAX_DEPTH 32
/* Returns the tree (free with json_free) or NULL with a message in err. */
struct jval *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct jval *v);
const char *json_type_name(enum jtype t);
yajl_gen json_gen_new(void);
void jgen_key(yajl_gen g, const char *k);
void jgen_str(yajl_gen g, const char *s); /* NULL → null */
void jgen_int(yajl_gen g, int64_t n);
void jgen_bool(yajl_gen g, int b);
void jgen_null(yajl_gen g);
void jgen_time(yajl_gen g, int64_t t); /* TIME_NONE → null */
void jgen_double(yajl_gen g, double d);
/* Copies the generated text; caller frees. */
char *jgen_finish(yajl_gen g, size_t *len);

/* ---- errors.c: collected request errors and the one envelope renderer ---- */
#define ERRORS_MAX 64
struct error_item {
	const char *code;
	char *message;
	const char *source_kind; /* "field", "parameter" or NULL */
	char *source_name;
};
struct errors {
	size_t n;
	size_t dropped;
	struct error_item items[ERRORS_MAX];
};
void errors_add(struct errors *e, const char *code, const char *source_kind,
                const char *source_name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define field_error(e, code, field, ...) errors_add(e, code, "field", field, __VA_ARGS__)
#define param_error(e, code, param, ...) errors_add(e, code, "parameter", param, __VA_ARGS__)
void errors_clear(struct errors *e);
const char *error_type_for_status(int status);
/* Envelope JSON for status, plus extra string members given as a
 * NULL-terminated key, value, ... list (may be NULL); caller frees. */
char *errors_render(const struct errors *e, int status, const char *request_id,
                    const char *const *extra, size_t *len);

/* ---- sla.c: SLA maths and status phases ---- */
enum sla_state { SLA_OK, SLA_WARNING, SLA_BREACHED };
int64_t sla_due_at(int64_t created_at, enum priority p, const struct config *cfg);
/* State at time `at` (now while active; resolved_at once resolved). */
enum sla_state sla_state_at(int64_t created_at, int64_t due_at, int64_t at);
const char *sla_state_name(enum sla_state s);
int status_is_resolved(const char *status);
int status_is_acknowledging(const char *status);
int priority_parse(const char *s, enum priority *out);

/* ---- route.c: the route table ---- */
enum role { ROLE_NONE, ROLE_READ, ROLE_WRITE, ROLE_ADMIN };
typedef void (*handler_fn)(struct request *req);
struct route {
	const char *method;
	const char *pattern; /* segments; ":coll" tickets|incidents, ":id" integer, ":token" */
	enum role role;
	handler_fn handler;
};
struct route_params {
	const char *coll; /* "tickets" or "incidents" (static string) */
	int64_t id;
	char token[80];
};
enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED };
/* On ROUTE_METHOD_NOT_ALLOWED, allow (size allowlen) lists the methods. */
enum route_result route_match(const char *method, const char *path, const struct route **out,
                              struct route_params *params, char *allow, size_t allowlen);
int role_parse(const char *s, enum role *out);
const char *role_name(enum role r);

/* ---- request.c: one FastCGI request, its response and its error list ---- */
#define BODY_MAX (64 * 1024)
struct auth {
	int64_t org_id;
	int64_t key_id;
	enum role role;
	char *key_name;
};
struct worker;
struct request {
	struct worker *worker;
	void *fcgi;          /* FCGX_Request *, NULL in unit tests */
	char **env;          /* FastCGI parameters */
	const char *method;
	const char *path;
	const char *query;
	char *request_id;
	char *body;
	size_t body_len;
	int64_t now;
	const struct route *route;
	struct route_params params;
	struct auth auth;
	struct errors errors;
	/* response */
	int status;
	struct buf *headers;
	char *content_type;
	char *out;
	size_t out_len;
};
const char *request_param(const struct request *req, const char *name);
void request_header(struct request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes ownership of body (malloc'd). */
void request_respond(struct request *req, int status, const char *content_type, char *body,
                     size_t len);
void request_respond_json(struct request *req, int status, yajl_gen g);
/* Renders req->errors (plus code/message when given) as the envelope. */
void request_fail(struct request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 422 with what handlers collected in req->errors. */
void request_fail_validation(struct request *req);
/* status with req->errors and extra members (see errors_render). */
void request_fail_extra(struct request *req, int status, const char *const *extra);
void request_reset(struct request *req);
struct jval *request_json_object(struct request *req);

/* ---- db.c: one libpq connection per process with prepared statements ---- */
enum stmt_id {
	STMT_AUTH_KEY,
	STMT_INCIDENT_INSERT,
	STMT_INCIDENT_GET,
	STMT_INCIDENT_EXISTS,
	STMT_INCIDENT_GET_FOR_UPDATE,
	STMT_INCIDENT_UPDATE,
	STMT_INCIDENT_TOUCH,
	STMT_INCIDENT_DELETE,
	STMT_INCIDENT_LIST,
	STMT_INCIDENT_COUNT,
	STMT_REPLY_INSERT,
	STMT_REPLY_LIST,
	STMT_EVENT_APPEND,
	STMT_STATUS_BY_TOKEN,
	STMT_STATUS_REPLIES,
	STMT_PING,
	STMT_COUNT
};
struct db;
struct db *db_open(const char *conninfo);
void db_close(struct db *db);
/* Reconnects if the connection is broken; 0 when usable. */
int db_ensure(struct db *db);
int db_ok(struct db *db);
/* Executes a prepared statement; returns the result or NULL (then the failure is
 * described by db_last_status()).  Caller PQclear()s a non-NULL result.  A
 * statement outside a transaction is retried once after a reconnect. */
struct pg_result *db_exec(struct db *db, enum stmt_id id, int nparams, const char *const *params);
int db_begin(struct db *db);
int db_begin_snapshot(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);
/* HTTP status for the last failure (503 connection, 409 conflict, 500 other). */
int db_last_status(struct db *db);
const char *db_last_error(struct db *db);
const char *db_statement_sql(enum stmt_id id);
/* Fails req from the db's last failure (logs internals, shows none). */
void request_fail_db(struct request *req);

/* ---- auth.c ---- */
/* 0 and req->auth filled; or responds 401/403/503 itself and returns -1. */
int auth_authenticate(struct request *req, enum role needed);
void auth_clear(struct auth *a);
const char *auth_presented_key(const char *x_api_key, const char *authorization);

/* ---- publish.c: Redis PUBLISH after COMMIT; failures logged, never fatal ---- */
struct publisher;
struct publisher *publisher_new(const char *address);
void publisher_free(struct publisher *p);
int publisher_publish(struct publisher *p, const char *channel, const char *msg, size_t len,
                      const char *request_id);
int publisher_ping(struct publisher *p);

/* ---- event.c: the event log and its published form ---- */
struct event {
	const char *type;
	int64_t seq;
	int64_t at;
	char *payload; /* JSON object without type/seq/at */
};
/* Appends the event row and bumps orgs.event_seq; call as the last statement of
 * the transaction.  Takes ownership of payload. */
int event_append(struct request *req, const char *type, int64_t incident_id, char *payload,
                 struct event *ev);
/* {"type":..,"seq":..,"at":..,<payload members>}; caller frees. */
char *event_message(const struct event *ev, size_t *len);
/* PUBLISH after COMMIT; frees the payload. */
void event_publish(struct request *req, struct event *ev);
void event_discard(struct event *ev);
char *event_channel(int64_t org_id);

/* ---- validate.c / incident.c: the incident and its field table ---- */
struct strlist {
	size_t n;
	char **items;
};
struct optnum {
	int set; /* 0: null */
	double v;
};
struct incident {
	int64_t id;
	int64_t org_id;
	char *title;
	char *description;
	char *status;
	char *priority;
	char *severity;
	char *source;
	char *source_ref;
	struct optnum lat;
	struct optnum lng;
	char *location_name;
	char *impact_description;
	char *assigned_to;
	struct strlist tags;
	struct strlist affected_services;
	int64_t sla_due_at;
	char *customer_token;
	int64_t started_at;
	int64_t acknowledged_at;
	int64_t resolved_at;
	char *created_by;
	int64_t created_at;
	int64_t updated_at;
};
/* Which writable fields a request body named (bit per field index). */
typedef uint32_t field_set;
enum field_index {
	F_TITLE,
	F_DESCRIPTION,
	F_STATUS,
	F_PRIORITY,
	F_SEVERITY,
	F_SOURCE,
	F_SOURCE_REF,
	F_LAT,
	F_LNG,
	F_LOCATION_NAME,
	F_IMPACT_DESCRIPTION,
	F_ASSIGNED_TO,
	F_TAGS,
	F_AFFECTED_SERVICES,
	F_STARTED_AT,
	F_ACKNOWLEDGED_AT,
	F_RESOLVED_AT,
	F_COUNT
};
#define FIELD_BIT(f) ((field_set)1 << (f))
struct incident_input {
	field_set given;
	char *message; /* PATCH only; NULL if absent or null */
	int has_message;
};
extern const char *const incident_statuses[];
extern const char *const incident_priorities[];
extern const char *const incident_severities[];
extern const char *const incident_sources[];
const char *enum_lookup(const char *const *values, const char *s, size_t len);
const char *severity_canonical(const char *s, size_t len);
/* Applies a JSON body onto inc (a copy of the current one or the defaults),
 * collecting errors into e.  allow_message: PATCH/PUT accept "message". */
void incident_apply_body(struct incident *inc, struct incident_input *in,
                         const struct jval *body, int allow_message, struct errors *e);
/* After apply: derived fields (acknowledged_at, resolved_at, sla_due_at) and the
 * checks that span fields.  old is NULL on create. */
void incident_apply_lifecycle(struct incident *inc, const struct incident *old,
                              const struct incident_input *in, int64_t now,
                              const struct config *cfg, struct errors *e);
void incident_init_defaults(struct incident *inc);
void incident_copy(struct incident *dst, const struct incident *src);
void incident_free(struct incident *inc);
void strlist_free(struct strlist *l);

/* ---- incident_render.c: rows ↔ struct, JSON out, change sets ---- */
struct pg_result;
#define INCIDENT_COLUMNS \
	"id, org_id, title, description, status, priority, severity, source, source_ref, " \
	"lat, lng, location_name, impact_description, assigned_to, tags::text, " \
	"affected_services::text, extract(epoch from sla_due_at)::bigint, customer_token, " \
	"extract(epoch from started_at)::bigint, extract(epoch from acknowledged_at)::bigint, " \
	"extract(epoch from resolved_at)::bigint, created_by, " \
	"extract(epoch from created_at)::bigint, extract(epoch from updated_at)::bigint"
#define INCIDENT_NCOLUMNS 24
int incident_from_row(struct incident *inc, const struct pg_result *res, int row);
void incident_render(yajl_gen g, const struct incident *inc, int64_t now, const struct config *cfg);
/* Emits the changes object; returns how many fields differ. */
int incident_render_changes(yajl_gen g, const struct incident *a, const struct incident *b);
int incident_differs(const struct incident *a, const struct incident *b);
char *strlist_json(const struct strlist *l);
int strlist_from_json(struct strlist *l, const char *text);

/* ---- handlers: incident.c, reply.c, list.c, status_page.c, health.c ---- */
void incident_create(struct request *req);
void incident_get(struct request *req);
void incident_update(struct request *req);
void incident_delete(struct request *req);
void incident_list(struct request *req);
void reply_create(struct request *req);
void reply_list(struct request *req);
void reply_render(yajl_gen g, const struct pg_result *res, int row);
/* A reply body's fields (pure: no request); body points into obj. */
struct reply_input {
	const struct jval *body;
	int internal;
};
void reply_validate(const struct jval *obj, struct reply_input *in, struct errors *e);
#define REPLY_COLUMNS \
	"id, incident_id, body, internal, status, author, extract(epoch from created_at)::bigint"
void status_page(struct request *req);
void status_page_css(struct request *req);
void status_page_js(struct request *req);
void health_check(struct request *req);

/* ---- list.c: query-string parsing shared by the list routes ---- */
struct list_query {
	char *status;   /* canonical comma lists, NULL = no filter */
	char *priority;
	char *severity;
	char *source;
	char *tag;
	int64_t limit;
	int64_t offset;
};
/* Parses a list query; errors (with source.parameter) go to e.  Without
 * with_filters only limit, page and offset are known parameters. */
void list_query_parse(struct list_query *q, const char *query, int with_filters,
                      int64_t default_limit, int64_t max_limit, struct errors *e);
void list_query_free(struct list_query *q);

/* ---- worker.c / master.c ---- */
struct worker {
	const struct config *cfg;
	struct db *db;
	struct publisher *pub;
};
int worker_run(const struct config *cfg, int listen_fd);
/* Takes ownership of cfg (malloc'd); returns the exit status. */
int master_run(struct config *cfg, const char *config_path);

/* ---- migrate.c ---- */
int migrate_run(const char *conninfo, const char *sql_dir, int verbose);

/* ---- incidentd-sse: sse_main.c, sse_http.c, sse_stream.c, sse_org.c,
 *      sse_pg.c, sse_redis.c — one libevent loop that never blocks ---- */
struct event_base;
struct evhttp_request;
struct sse_pg;
struct sse_redis;
struct sse_org;
struct sse_client;

/* sse_pg.c: libpq in non-blocking mode, one connection, a FIFO of queries.
 * The callback gets the result (NULL on failure) and must not PQclear it. */
typedef void (*sse_pg_cb)(void *arg, struct pg_result *res);
struct sse_pg *sse_pg_new(struct event_base *base, const char *conninfo);
void sse_pg_free(struct sse_pg *pg);
/* sql must outlive the query (a literal); params are copied. */
void sse_pg_query(struct sse_pg *pg, const char *sql, int nparams, const char *const *params,
                  sse_pg_cb cb, void *arg);

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

/* One event as streams send it. */
struct sse_event {
	int64_t seq;
	int64_t incident_id;
	int refs;
	char *frame;        /* "id: ..\nevent: ..\ndata: ..\n\n" */
	size_t frame_len;
	char *public_frame; /* what a status-page stream sees, or NULL */
	size_t public_len;
	int ends_public;    /* incident.deleted: the status-page stream ends */
};
/* Builds an event from its published JSON; NULL if it is not one. */
struct sse_event *sse_event_from_json(const char *json, size_t len);
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
void sse_client_deliver(struct sse_client *c, const struct sse_event *ev);
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

/* sse_org.c: per-organisation subscription, ordering and catch-up. */
void sse_org_attach(int64_t org_id, struct sse_client *c);
void sse_org_detach(struct sse_client *c);
void sse_org_replay(struct sse_client *c);
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
