/*
 * api.h — the FastCGI side: incidentd's master and workers, one request at a
 * time, from route to validation, storage, event and response.  One section
 * per source file.  incidentd-sse and incidentctl never include it (the build
 * refuses), so neither links a request handler.
 */
#ifndef INCIDENTD_API_H
#define INCIDENTD_API_H

#if defined(INCIDENTD_SSE_PROCESS) || defined(INCIDENTD_CLI)
#error "api.h is the FastCGI side: incidentd-sse and incidentctl build on core.h only"
#endif

#include "core.h"

struct request;
struct pg_result;

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
struct dialect;
typedef void (*handler_fn)(struct request *req);
/* Where a route answers: always, or only while config api_v1 names its dialect. */
enum mount { MOUNT_ALWAYS, MOUNT_API_V1 };
struct route {
	const char *method;
	const char *pattern; /* segments; ":coll" tickets|incidents, ":ref" an incident
	                      * in the form its dialect writes ids, ":token", ":uuid" */
	enum role role;
	handler_fn handler;
	const struct dialect *dialect; /* NULL: not an incident route */
	enum mount mount;
};
struct route_params {
	const char *coll; /* "tickets" or "incidents" (static string) */
	int64_t id;       /* :ref by number; 0 when by uuid */
	char uuid[40];    /* :ref by UUID or :uuid, lower case; "" when by number */
	char ref[80];     /* :ref as given (for messages) */
	char token[80];
};
enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED };
/* api_v1: the dialect config api_v1 names (NULL: none).  On
 * ROUTE_METHOD_NOT_ALLOWED, allow (size allowlen) lists the methods. */
enum route_result route_match(const char *method, const char *path, const struct dialect *api_v1,
                              const struct route **out, struct route_params *params, char *allow,
                              size_t allowlen);
/* Bytes of path that name the collection of a route's incidents
 * ("/v1/tickets", "/compat/statly/api/v1/incidents"). */
size_t route_collection_len(const struct route *r, const char *path);
/* The table itself, for metrics: route_at(i) for i < route_count() (NULL
 * past the end); route_index(r) for a route route_match returned. */
size_t route_count(void);
const struct route *route_at(size_t i);
size_t route_index(const struct route *r);

/* ---- request.c: one FastCGI request, its response and its error list ---- */
struct auth {
	int64_t org_id;
	int64_t key_id;
	enum role role;
	char *key_name;
	char key_hash[65]; /* SHA-256 hex of the key presented */
	enum role needed;  /* the route's role, for the re-check */
	int unchecked;     /* from the cache, not yet re-checked */
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
	int idempotent; /* holds its Idempotency-Key's record (idempotency.c) */
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
/* Drops the headers added so far (an answer replaced by an error). */
void request_clear_headers(struct request *req);
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
/* Fails req from the db's last failure (logs internals, shows none). */
void request_fail_db(struct request *req);
/* The request's "now": the clock, or X-Test-Now in test builds. */
int64_t request_now(const struct request *req);
struct jval *request_json_object(struct request *req);

/* ---- db.c: one libpq connection per process with prepared statements ---- */
enum stmt_id {
	STMT_AUTH_KEY,
	STMT_INCIDENT_INSERT,
	STMT_INCIDENT_ACTIVE_BY_SOURCE_REF,
	STMT_INCIDENT_GET,
	STMT_INCIDENT_GET_BY_UUID,
	STMT_INCIDENT_EXISTS,
	STMT_INCIDENT_GET_FOR_UPDATE,
	STMT_INCIDENT_GET_FOR_UPDATE_BY_UUID,
	STMT_INCIDENT_UPDATE,
	STMT_INCIDENT_TOUCH,
	STMT_INCIDENT_DELETE,
	STMT_INCIDENT_DELETE_BY_UUID,
	STMT_INCIDENT_LIST, /* db_list_sql(LIST_SQL_PAGE, 0), bench/pgbench's */
	STMT_REPLY_INSERT,
	STMT_REPLY_LIST,
	STMT_REPLY_LIST_AFTER,
	STMT_REPLY_COUNT,
	STMT_UPDATES_OF,
	STMT_EVENT_APPEND,
	STMT_STATUS_BY_TOKEN,
	STMT_STATUS_REPLIES,
	STMT_STATUS_PUBLIC_COUNT,
	STMT_PING,
	STMT_LOCK_TIMEOUT,
	STMT_IDEMPOTENCY_CLAIM,
	STMT_IDEMPOTENCY_GET,
	STMT_IDEMPOTENCY_RECORD,
	STMT_IDEMPOTENCY_PRUNE,
	STMT_WEBHOOK_ORG_LOCK,
	STMT_WEBHOOK_INSERT,
	STMT_WEBHOOK_GET,
	STMT_WEBHOOK_GET_FOR_UPDATE,
	STMT_WEBHOOK_UPDATE,
	STMT_WEBHOOK_DELETE,
	STMT_WEBHOOK_ROTATE,
	STMT_WEBHOOK_LIST,
	STMT_WEBHOOK_LIST_AFTER,
	STMT_WEBHOOK_LOG_BOUNDS,
	STMT_WEBHOOK_REPLAY,
	STMT_DELIVERY_LIST,
	STMT_DELIVERY_LIST_AFTER,
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
/* The last failure's SQLSTATE and violated constraint ("" when none). */
const char *db_last_sqlstate(struct db *db);
const char *db_last_constraint(struct db *db);
const char *db_statement_sql(enum stmt_id id);
/* LISTENs on channel on this and every later connection. */
void db_listen(struct db *db, const char *channel);
/* 1 when a notification came ahead of the last result read, or the
 * connection was made anew or is down (so one may have been missed), since
 * the last call; then 0.  Costs no syscall. */
int db_take_notified(struct db *db);
/* Runs hook(arg) once, right after the next statement that succeeds; when
 * it returns -1 (having called db_fail) that statement fails instead.
 * NULL disarms it. */
void db_after_next_result(struct db *db, int (*hook)(void *), void *arg);
/* Fails the current statement with an HTTP status of the caller's. */
void db_fail(struct db *db, int status, const char *message);
/* The incident list statements, one per shape: built from the filters
 * present and prepared on first use per connection (db_list_sql).  A shape
 * holds, for each enum filter (status, priority, severity, source, in that
 * order), none / one value / several (a base-3 digit), then LIST_SHAPE_TAG
 * and LIST_SHAPE_Q.  Parameters: $1 the org, the present filters in that
 * order, the count cap when tag or q is present, then the kind's own:
 * PAGE limit, offset; AFTER at_us, id, limit; BEFORE at_us, id; TOTAL none.
 * Each row of PAGE and AFTER carries the list's total after the position. */
enum list_sql {
	LIST_SQL_PAGE,   /* rows at an offset */
	LIST_SQL_AFTER,  /* rows after a keyset position */
	LIST_SQL_TOTAL,  /* the total alone (a page past the end has no row to carry it) */
	LIST_SQL_BEFORE, /* rows at or before a position (a cursor without its offset) */
	LIST_SQL_KINDS
};
enum { LIST_FILTER_NONE, LIST_FILTER_ONE, LIST_FILTER_MANY };
#define LIST_ENUM_FILTERS 4
#define LIST_SHAPE_TAG 81u  /* 3^4 */
#define LIST_SHAPE_Q 162u
#define LIST_SHAPES 324u
#define LIST_SHAPE_HAS_TAG(s) ((s) / LIST_SHAPE_TAG % 2)
#define LIST_SHAPE_HAS_Q(s) ((s) / LIST_SHAPE_Q % 2)
#define LIST_SQL_SLOTS ((int)LIST_SQL_KINDS * (int)LIST_SHAPES)
/* How enum filter i (0 status .. 3 source) appears in shape. */
static inline unsigned
list_shape_enum(unsigned shape, int i)
{
	static const unsigned pow3[LIST_ENUM_FILTERS] = {1, 3, 9, 27};

	return shape / pow3[i] % 3;
}
/* The SQL of a list statement; caller frees. */
char *db_list_sql(enum list_sql kind, unsigned shape);
/* Runs it (preparing it on this connection first if need be): db_exec's contract. */
struct pg_result *db_exec_list(struct db *db, enum list_sql kind, unsigned shape, int nparams,
                               const char *const *params);
/* A page's total: its window-count column, or count_id run with the same
 * params when the page is past the end; -1 when that query failed. */
int db_page_total(struct db *db, const struct pg_result *page, int column, enum stmt_id count_id,
                  int nparams, const char *const *params, int64_t *total);

/* ---- auth.c ---- */
/* 0 and req->auth filled; or responds 401/403/503 itself and returns -1. */
int auth_authenticate(struct request *req, enum role needed);
/* The 401 or 403 of a key revoked or demoted while its request ran (the
 * first statement's re-check failed with that db status). */
void auth_fail_rechecked(struct request *req, int status);
/* After the handler: a request answered from a remembered key that ran no
 * statement (a validation error, say) has its key checked now. */
void auth_settle(struct request *req);
/* The worker's connection LISTENs for key changes from now on. */
void auth_listen(struct worker *w);
void auth_clear(struct auth *a);

/* ---- auth_cache.c: the keys a worker has seen ---- */
#define AUTH_CACHE_BUCKETS 256
#define AUTH_CACHE_MAX 4096
struct cached_key;
struct auth_cache {
	struct cached_key *buckets[AUTH_CACHE_BUCKETS];
	size_t count;
};
/* 0 and *out filled (key_name allocated) when hash (SHA-256 hex) is cached. */
int auth_cache_find(const struct auth_cache *c, const char *hash, struct auth *out);
void auth_cache_put(struct auth_cache *c, const char *hash, const struct auth *a);
void auth_cache_flush(struct auth_cache *c);

/* ---- publish.c: Redis PUBLISH after COMMIT; failures logged, never fatal ---- */
struct publisher;
struct publisher *publisher_new(const char *address);
void publisher_free(struct publisher *p);
int publisher_publish(struct publisher *p, const char *channel, const char *msg, size_t len,
                      const char *request_id);
int publisher_ping(struct publisher *p);

/* ---- event.c: the event log, written in the transaction, published after ---- */
/* Appends the event row and bumps orgs.event_seq; call as the last statement of
 * the transaction.  Takes ownership of payload. */
int event_append(struct request *req, const char *type, int64_t incident_id, char *payload,
                 struct event *ev);
/* PUBLISH after COMMIT; frees the payload. */
void event_publish(struct request *req, struct event *ev);
/* Ends a write whose answer is ready: records it under the Idempotency-Key,
 * COMMITs, publishes ev (its payload may be NULL: nothing to publish).  -1
 * when the commit failed (the answer is then the error). */
int event_commit(struct request *req, struct event *ev);
void event_discard(struct event *ev);

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
	char uuid[40]; /* assigned by PostgreSQL: the Alert24 dialect's id */
	int64_t version; /* bumped by every change, the timeline's too: the ETag */
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
	char *message; /* the timeline message, where a write takes one; NULL if absent or null */
	int has_message;
};
extern const char *const incident_statuses[];
extern const char *const incident_priorities[];
extern const char *const incident_severities[];
extern const char *const incident_sources[];
const char *enum_lookup(const char *const *values, const char *s, size_t len);
const char *severity_canonical(const char *s, size_t len);
struct dialect;
struct dialect_write;
/* Applies a JSON body onto inc (a copy of the current one or the defaults)
 * by the members write w of dialect d accepts, collecting errors into e. */
void incident_apply_body(struct incident *inc, struct incident_input *in,
                         const struct jval *body, const struct dialect *d,
                         const struct dialect_write *w, struct errors *e);
/* After apply: derived fields (acknowledged_at, resolved_at, sla_due_at) and the
 * checks that span fields.  old is NULL on create. */
void incident_apply_lifecycle(struct incident *inc, const struct incident *old,
                              const struct incident_input *in, int64_t now,
                              const struct config *cfg, struct errors *e);
/* unknown_field for member key (keylen bytes): the name is echoed back,
 * cut to 64 bytes, a NUL in it shown as U+FFFD. */
void field_error_unknown(struct errors *e, const char *key, size_t keylen);
void incident_init_defaults(struct incident *inc);
void incident_copy(struct incident *dst, const struct incident *src);
void incident_free(struct incident *inc);
void strlist_free(struct strlist *l);

/* ---- dialect.c, dialect_*.c: one incident, several surfaces (DESIGN §8) ----
 * A dialect is data: the names it gives the incident's fields, the words it
 * maps their values to, the form of its ids, envelopes and lists.  The
 * handlers (incident.c, list.c) read the route's dialect and stay one
 * implementation; dialect_v1.c, dialect_alert24.c and dialect_statly.c hold
 * the tables. */
struct enum_map {
	const char *word;  /* as the dialect writes it */
	const char *value; /* as stored */
};
/* Input tables name the timeline message with this pseudo field. */
#define FIELD_MESSAGE F_COUNT
struct dialect_field {
	const char *name; /* the member, as the dialect spells it */
	int field;        /* enum field_index, or FIELD_MESSAGE */
	const struct enum_map *in; /* an enum's words (NULL: the field's own values) */
};
enum message_rule { MESSAGE_OPTIONAL, MESSAGE_ON_STATUS_CHANGE, MESSAGE_REQUIRED };
/* One kind of write: create, update, or a timeline update (Statly). */
struct dialect_write {
	const struct dialect_field *fields; /* ends with {NULL} */
	enum message_rule message;
	int status; /* HTTP status of success */
	int location; /* answer with Location: the incident's URL */
	/* members named read-only (422 invalid_value rather than unknown_field);
	 * NULL: every member of the dialect's incident the write does not take */
	const char *const *read_only;
};
enum out_kind {
	OUT_ID,          /* the number */
	OUT_ID_PREFIXED, /* ref_prefix + the number */
	OUT_UUID,
	OUT_TEXT,        /* char * at offset, through map when set */
	OUT_NUMBER,      /* struct optnum at offset */
	OUT_LIST,        /* struct strlist at offset */
	OUT_TIME,        /* int64_t at offset; null when unset */
	OUT_TIME_IF_SET, /* the same, but the member is left out when unset */
	OUT_SLA_BREACHED,
	OUT_SLA_STATUS,
	OUT_STATUS_URL,
	OUT_UPDATES /* the public timeline (dialect's render_update) */
};
struct dialect_out {
	const char *name;
	enum out_kind kind;
	size_t offset; /* into struct incident */
	const struct enum_map *map; /* OUT_TEXT: stored value → word */
};
enum ref_form { REF_NUMBER, REF_UUID_OR_NUMBER, REF_PREFIXED_OR_NUMBER };
enum list_form { LIST_V1, LIST_ALERT24, LIST_STATLY };
enum time_form { TIME_SECONDS, TIME_MILLIS };
/* Query parameters a dialect's list knows. */
#define LP_STATUS 0x01u
#define LP_PRIORITY 0x02u
#define LP_SEVERITY 0x04u
#define LP_SOURCE 0x08u
#define LP_TAG 0x10u
#define LP_PAGE 0x20u
#define LP_OFFSET 0x40u
#define LP_Q 0x80u     /* full-text search (/v1 only) */
#define LP_AFTER 0x100u /* a keyset cursor (/v1 and the replies list) */
/* A page of public timeline rows (STMT_UPDATES_OF: id, incident_id, body,
 * incident_status, created_at), sorted by incident, then oldest first. */
struct updates_page {
	struct pg_result *res; /* NULL: the dialect shows no timeline */
};
struct dialect {
	const char *name;
	enum ref_form ref;
	const char *ref_prefix; /* REF_PREFIXED_OR_NUMBER: "inc_" */
	struct dialect_write create, update, add_update;
	const char *default_status;   /* NULL: /v1's */
	const char *default_severity; /* NULL: /v1's */
	int first_update_on_create;   /* create appends the first timeline entry */
	const struct enum_map *status_words; /* NULL: statuses as stored */
	const struct dialect_out *out;       /* ends with {NULL} */
	enum time_form times;
	const char *data_member; /* responses wrapped in {"data": ...}; NULL: bare */
	int delete_status;       /* 204, or 200 with {"data":null} */
	enum list_form list;
	unsigned list_params;
	int64_t list_default_limit;
	int updates_per_incident; /* timeline entries shown with one incident (0: none) */
	int updates_per_listed;   /* ... with each incident of a list */
	void (*render_update)(yajl_gen g, const struct dialect *d, const struct pg_result *res,
	                      int row);
};
extern const struct dialect dialect_v1, dialect_alert24, dialect_statly;
/* The dialect config api_v1 names; NULL for "none". */
const struct dialect *dialect_named(const char *name);
/* Parses an id segment in d's forms into params; 0 if it is one. */
/* A UUID in the 8-4-4-4-12 form, any case, into out lower case; 0 if not one. */
int dialect_parse_uuid(const char *seg, size_t len, char out[40]);
int dialect_parse_ref(const struct dialect *d, const char *seg, size_t len,
                      struct route_params *params);
/* The incident's id as d writes it in URLs; caller frees. */
char *dialect_ref(const struct dialect *d, const struct incident *inc);
/* The word d shows for a stored status (itself when d maps none). */
const char *dialect_status_word(const struct dialect *d, const char *status);
/* Writes value's word in map (NULL map or no entry: value itself). */
const char *enum_map_word(const struct enum_map *map, const char *value);
/* The strong ETag of inc as d shows it at now (quoted); caller frees. */
char *dialect_etag(const struct dialect *d, const struct incident *inc, int64_t now);
/* inc as d shows it; updates holds its timeline rows (or res NULL). */
void dialect_render(yajl_gen g, const struct dialect *d, const struct incident *inc,
                    const struct updates_page *updates, int64_t now, const struct config *cfg);

/* ---- precondition.c: If-Match / If-None-Match against an ETag ---- */
/* Whether an If-Match (weak 0) or If-None-Match (weak 1) value names etag. */
int etag_listed(const char *header, const char *etag, int weak);
/* 0 when If-Match is absent or names etag; else rolls back, answers 412
 * etag_mismatch and returns -1. */
int precondition_if_match(struct request *req, const char *etag);
/* 1 after answering 304 when If-None-Match names etag; else 0. */
int precondition_not_modified(struct request *req, const char *etag);

/* ---- idempotency.c: Idempotency-Key records, in the write's transaction ---- */
enum idempotency_claim {
	IDEMPOTENCY_NONE,    /* the request carries no key: go on */
	IDEMPOTENCY_OWNED,   /* the key is this request's: go on, then record */
	IDEMPOTENCY_ANSWERED /* replayed, refused or failed: the request is answered */
};
/* Call first in the write's transaction (after db_begin). */
enum idempotency_claim idempotency_claim(struct request *req);
/* Before COMMIT: stores the response the request holds under its key. 0, or
 * -1 on a db error. */
int idempotency_record(struct request *req);
/* Deletes one batch of records expired at now; how many, or -1. */
int idempotency_prune(struct db *db, int64_t now);

/* ---- incident_render.c: rows ↔ struct, JSON out, change sets ---- */
#define INCIDENT_COLUMNS \
	"id, org_id, title, description, status, priority, severity, source, source_ref, " \
	"lat, lng, location_name, impact_description, assigned_to, tags::text, " \
	"affected_services::text, extract(epoch from sla_due_at)::bigint, customer_token, " \
	"extract(epoch from started_at)::bigint, extract(epoch from acknowledged_at)::bigint, " \
	"extract(epoch from resolved_at)::bigint, created_by, " \
	"extract(epoch from created_at)::bigint, extract(epoch from updated_at)::bigint, uuid::text, " \
	"version"
#define INCIDENT_NCOLUMNS 26
int incident_from_row(struct incident *inc, const struct pg_result *res, int row);
/* The /v1 form (responses and every event's payload). */
void incident_render(yajl_gen g, const struct incident *inc, int64_t now, const struct config *cfg);
/* Emits the changes object; returns how many fields differ. */
int incident_render_changes(yajl_gen g, const struct incident *a, const struct incident *b);
int incident_differs(const struct incident *a, const struct incident *b);
char *strlist_json(const struct strlist *l);
void strlist_render(yajl_gen g, const struct strlist *l);
void optnum_render(yajl_gen g, struct optnum n); /* unset: null */
int strlist_from_json(struct strlist *l, const char *text);

/* ---- handlers: incident.c, reply.c, list.c, status_page.c, health.c, openapi.c ---- */
void incident_create(struct request *req);
void incident_get(struct request *req);
void incident_update(struct request *req);
void incident_delete(struct request *req);
/* A dialect's timeline update (Statly's POST .../updates). */
void incident_add_update(struct request *req);
/* In a write's transaction: 0 when If-Match is absent or names the
 * request's incident (now locked); else answered (404, 412) and -1. */
int incident_precondition(struct request *req);
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
/* status_word.c: "in_progress" → "In progress", as customers read it */
const char *status_word(const char *status);
/* The rows the page, its JSON and its feed are made of, read in one snapshot
 * (status_page.c).  STATUS_REPLIES_MAX is STMT_STATUS_REPLIES's LIMIT. */
#define STATUS_REPLIES_MAX 1000
struct status_rows {
	struct pg_result *inc;     /* STMT_STATUS_BY_TOKEN: id, title, status, updated_at,
	                            * seq, org */
	struct pg_result *entries; /* STMT_STATUS_REPLIES, newest first: body, status,
	                            * created_at, incident_status */
	int64_t total;             /* public entries, the ones past STATUS_REPLIES_MAX too */
};
/* 0 with the rows; else the request is answered (404, 5xx) and -1. */
int status_rows_load(struct request *req, struct status_rows *rows);
void status_rows_free(struct status_rows *rows);
/* status_html.c: the page as HTML */
void status_page_html(struct request *req, const struct status_rows *rows);
/* status_feed.c: the page as an Atom feed */
void status_feed(struct request *req);
void status_page_css(struct request *req);
void status_page_js(struct request *req);
void status_page_favicon(struct request *req);
void health_check(struct request *req);
/* openapi.c: the OpenAPI document the binary was built with */
void openapi_document(struct request *req);

/* ---- list_query.c, cursor.c: the query string and cursors of the list routes ---- */
/* A keyset position, opaque to clients: the last row a page showed. */
enum cursor_kind { CURSOR_NONE, CURSOR_INCIDENTS, CURSOR_REPLIES, CURSOR_WEBHOOKS,
	           CURSOR_DELIVERIES };
struct list_cursor {
	enum cursor_kind kind;
	int64_t at_us; /* incidents: created_at, microseconds since the epoch; others: 0 */
	int64_t id;    /* webhooks: the ordinal; deliveries: the seq */
};
/* The largest offset a cursor carries: exact as a JSON number. */
#define CURSOR_POS_MAX ((int64_t)1 << 53)
/* Microseconds a cursor may hold: exact in a double (SQL multiplies an
 * interval by it), years 1685 to 2255. */
#define CURSOR_AT_MAX ((int64_t)1 << 53)
struct list_query {
	char *status;   /* canonical comma lists, NULL = no filter */
	char *priority;
	char *severity;
	char *source;
	char *tag;
	char *q;        /* websearch_to_tsquery text, NULL = no search */
	struct list_cursor after; /* kind CURSOR_NONE: no after */
	int64_t after_pos;        /* the offset after carries; -1 if it carries none */
	int64_t limit;
	int64_t offset;
};
/* Parses a list query; errors (with source.parameter) go to e.  limit and
 * the parameters in known (LP_*) are known; a status filter is in
 * status_words' words when given (NULL: stored statuses).  An after cursor
 * of any kind is accepted here: see list_cursor_expect. */
void list_query_parse(struct list_query *q, const char *query, unsigned known,
                      const struct enum_map *status_words, int64_t default_limit,
                      int64_t max_limit, struct errors *e);
/* An after cursor of another list is an error on parameter after. */
void list_cursor_expect(const struct list_query *q, enum cursor_kind kind, struct errors *e);
void list_query_free(struct list_query *q);
/* Where a page stands in its list. */
struct list_page {
	int64_t total;     /* rows matching the filters */
	int64_t offset;    /* rows before the page */
	int has_more;
	char *next_cursor; /* the page's last row; NULL on the last page */
};
/* /v1's page members: total, limit, (page,) offset, has_more, next_cursor. */
void list_page_render(yajl_gen g, const struct list_page *page, int64_t limit, int with_page);
/* base64url of the position with a check; caller frees (NULL on failure). */
char *list_cursor_encode(const struct list_cursor *c);
/* ... carrying pos, the rows before the page that follows it (0..CURSOR_POS_MAX). */
char *list_cursor_encode_at(const struct list_cursor *c, int64_t pos);
/* 0 and *c filled when s is a cursor list_cursor_encode made (any kind). */
int list_cursor_decode(const char *s, struct list_cursor *c);
/* ... and *pos (when pos is not NULL) the offset it carries, -1 for a cursor
 * of the first format, which carries none. */
int list_cursor_decode_at(const char *s, struct list_cursor *c, int64_t *pos);

/* ---- webhook*.c: outbound webhook subscriptions (DESIGN §9) ----
 * The API side of webhooks: subscriptions and what was sent to them.
 * incidentd-hooks delivers; it owns cursor_seq's advance, the lease and the
 * delivery rows, the API reads them (and moves the cursor back on replay). */
/* The writable state of a subscription; owns its strings. */
struct webhook_fields {
	char *url;           /* NULL until given */
	unsigned events;     /* a mask of webhook_event_types; 0: every type */
	char *description;   /* NULL: none */
	const char *format;  /* static: webhook_formats */
	int enabled;
};
/* webhook_validate.c: a JSON body onto w (the defaults on create, the stored
 * subscription on PATCH), every error into e with its source.field. */
void webhook_fields_defaults(struct webhook_fields *w);
void webhook_apply_body(struct webhook_fields *w, const struct jval *obj, int creating,
                        int allow_private, struct errors *e);
int webhook_fields_equal(const struct webhook_fields *a, const struct webhook_fields *b);
void webhook_fields_free(struct webhook_fields *w);
/* webhook_render.c: rows of WEBHOOK_COLUMNS (then the secret, when shown)
 * and of DELIVERY_COLUMNS. */
#define WEBHOOK_COLUMNS \
	"id::text, url, array_to_string(events, ','), description, format, enabled, " \
	"disabled_reason, extract(epoch from disabled_at)::bigint, cursor_seq, " \
	"extract(epoch from created_at)::bigint, extract(epoch from updated_at)::bigint, " \
	"extract(epoch from CASE WHEN previous_secret_until > now() " \
	"THEN previous_secret_until END)::bigint, ordinal"
#define WEBHOOK_NCOLUMNS 13
#define WEBHOOK_COL_ORDINAL 12
/* How long a rotated secret still signs, beside the new one (an interval). */
#define WEBHOOK_PREVIOUS_SECRET "24 hours"
#define DELIVERY_COLUMNS \
	"seq, event, attempts, last_status, last_error, " \
	"extract(epoch from next_attempt_at)::bigint, extract(epoch from delivered_at)::bigint, " \
	"duration_ms"
/* The subscription of row; its secret (column WEBHOOK_NCOLUMNS) too when with_secret. */
void webhook_render(yajl_gen g, const struct pg_result *res, int row, int with_secret);
void webhook_fields_from_row(struct webhook_fields *w, const struct pg_result *res, int row);
void webhook_delivery_render(yajl_gen g, const struct pg_result *res, int row);
/* A page of a keyset list, newest first: the rows a page shows (a
 * statement asks for one more, so it knows whether more follow). */
void webhook_page_render(yajl_gen g, const char *member, const struct pg_result *res, int shown,
                         void (*row_fn)(yajl_gen, const struct pg_result *, int), int64_t limit,
                         const char *next_cursor);
/* webhook.c, webhook_deliveries.c: the handlers (admin role) */
void webhook_create(struct request *req);
void webhook_list(struct request *req);
void webhook_get(struct request *req);
void webhook_update(struct request *req);
void webhook_delete(struct request *req);
void webhook_rotate_secret(struct request *req);
void webhook_deliveries(struct request *req);
void webhook_replay(struct request *req);
/* webhook.c: the keyset lists (subscriptions, deliveries), newest first.
 * A statement pair takes the prefix parameters, then (after only) the
 * cursor's position, then the page's limit + 1. */
struct webhook_list {
	enum stmt_id first, after;
	enum cursor_kind kind;
	int position_column; /* each row's position, as its cursor carries it */
	const char *member;
	void (*render)(yajl_gen g, const struct pg_result *res, int row);
};
/* limit (1..100, default 50) and after= of kind; -1 after answering 422. */
int webhook_list_query(struct request *req, enum cursor_kind kind, struct list_query *q);
/* Answers 200 {member: [...], limit, has_more, next_cursor}, or the failure. */
void webhook_list_page(struct request *req, const struct webhook_list *l, const struct list_query *q,
                       const char *const *prefix, int nprefix);
/* webhook.c: a failed statement on webhooks answered, its text withheld
 * from the log where PostgreSQL would quote the row (and so the secret). */
void webhook_fail_db(struct request *req);
/* 404 for the request's :uuid. */
void webhook_not_found(struct request *req);
/* Runs statement id on (the request's :uuid, its org[, extra]): its one
 * row, or NULL after answering (404 rolling back, or the db's failure). */
struct pg_result *webhook_row(struct request *req, enum stmt_id id, const char *extra);
/* status with the subscription of res's first row (and its secret). */
void webhook_respond(struct request *req, int status, const struct pg_result *res,
                     int with_secret);
/* The request's org id as text, a statement's parameter. */
void webhook_org_text(const struct request *req, char out[24]);
/* Statement id on the request's org ($1): its one row, or NULL after a db
 * failure (answer it with webhook_fail_db). */
struct pg_result *webhook_org_row(struct request *req, enum stmt_id id);
/* A transaction, the request's Idempotency-Key claimed in it, and the
 * request's subscription locked (a PATCH or a replay waits for another):
 * its row, or NULL after answering (a retry: from the key's record). */
struct pg_result *webhook_lock(struct request *req);
/* res, the locked subscription's row as a write returned it (NULL: the
 * write failed): answers 200 with it and commits, or the failure.  Clears res. */
void webhook_commit_respond(struct request *req, struct pg_result *res);
/* The answer the request holds recorded under its Idempotency-Key (if it
 * has one), then COMMIT; a failure replaces the answer. */
void webhook_record_commit(struct request *req);

/* ---- metrics.c: GET /metrics, the host's counters in Prometheus text ----
 * A table the master maps (shared) before it forks: a head the master writes
 * and one slot per worker, written by that worker alone and kept when it
 * dies, so its replacement adds on and every counter only grows. */
enum metric_counter { METRIC_DB_ERRORS, METRIC_REDIS_ERRORS, METRIC_PUBLISH_FAILURES,
	              METRIC_COUNTERS };
enum restart_reason { RESTART_DIED, RESTART_MAX_REQUESTS, RESTART_REASONS };
#define METRICS_NSTATUS 17  /* the statuses incidentd answers, then "other" */
#define METRICS_NBUCKETS 14 /* duration bounds 1 ms .. 10 s, then +Inf */
/* The master, before its first fork (fatal when the memory cannot be had);
 * metrics_free when it stops. */
void metrics_create(void);
void metrics_free(void);
size_t metrics_slots(void);
/* The master before it forks the worker for slot i; that worker after. */
void metrics_slot_reserve(size_t i);
void metrics_slot_use(size_t i);
void metrics_set_workers(size_t live);
void metrics_restart(enum restart_reason why);
/* A worker's counts: no-ops in a process without a slot. */
void metrics_count(enum metric_counter c);
/* route NULL: none matched. */
void metrics_request(const struct route *r, int status, int64_t duration_ns);
void metrics_scrape(struct request *req);
/* The pure parts. */
int metrics_status_index(int status);
int metrics_bucket_index(int64_t ns);
struct metrics_totals {
	size_t nroutes;
	const char *const *route;  /* nroutes labels */
	const uint64_t *requests;  /* [route][METRICS_NSTATUS] */
	const uint64_t *buckets;   /* [route][METRICS_NBUCKETS], each bucket its own count */
	const uint64_t *sum_ns;    /* [route] */
	uint64_t counters[METRIC_COUNTERS];
	uint64_t workers;
	uint64_t restarts[RESTART_REASONS];
};
/* Appends the exposition of t and (when not NULL) incidentd-sse's view. */
struct buf *metrics_render(struct buf *b, const struct metrics_totals *t,
                           const struct stream_status_view *streams);

/* ---- worker.c / master.c ---- */
/* health.c: the last slow check of one dependency, reused for a second. */
struct health_check {
	int slow; /* 0: nothing to reuse */
	int ok;
	int64_t at_ms; /* CLOCK_MONOTONIC, when it ended */
};
struct worker {
	const struct config *cfg;
	const struct dialect *api_v1; /* the dialect config api_v1 names; NULL: none */
	struct db *db;
	struct publisher *pub;
	struct health_check pg_health;
	struct health_check redis_health;
	int64_t idempotency_pruned_ms; /* CLOCK_MONOTONIC of the last prune; 0: never */
	struct auth_cache keys;
};
int worker_run(const struct config *cfg, int listen_fd);
/* Takes ownership of cfg (malloc'd); returns the exit status. */
int master_run(struct config *cfg, const char *config_path);

#endif
