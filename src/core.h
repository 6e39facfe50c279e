/*
 * core.h — what every process shares: allocation, buffers, logs, the
 * configuration, time, UTF-8, JSON, the error envelope, API keys and roles,
 * the published form of an event, and the stream status page.  Nothing here
 * touches a request, a database connection or a process; the FastCGI side
 * (api.h), incidentd-sse (sse.h) and incidentctl (cli.h) build on it.
 *
 * Ownership rule used throughout: a function that returns a pointer says who
 * frees it.  Functions returning int use 0 for success and -1 for failure
 * unless the comment says otherwise.
 */
#ifndef INCIDENTD_CORE_H
#define INCIDENTD_CORE_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>

/* Request bodies (nginx enforces it too; incidentd-sse reads and refuses). */
#define BODY_MAX (64 * 1024)

/* ---- util.c: allocation that dies on OOM (start-up style), small helpers ---- */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* v in decimal into out (INT64_TEXT_MAX bytes, NUL-terminated); returns the
 * length.  Without printf, for paths that run once per delivery. */
#define INT64_TEXT_MAX 21
size_t int64_text(char *out, int64_t v);
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
/* s as XML 1.0 text (or an attribute value without tab or LF, which a parser
 * would read as spaces there): & < > " ' as entities, CR as &#13; (a parser
 * reads a literal CR as LF), and what XML 1.0 cannot carry (C0 controls but
 * tab and LF, U+FFFE, U+FFFF, bytes that are not UTF-8) as U+FFFD, so the
 * document always parses and its text reads back as s. */
struct buf *buf_xml_escape(struct buf *b, const char *s);
void buf_free(struct buf *b);
/* A whole file, NUL-terminated (caller frees); NULL with errno set. */
struct buf *buf_read_file(const char *path);

/* ---- log.c: one line per event, key=value, prefixed with the request id ---- */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern enum log_level log_threshold;
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An untrusted string (library error text, request input) as one quoted
 * value: between double quotes, with " and \ escaped, control characters as
 * \n, \r, \t or \xNN, cut with "..." to fit outlen.  Returns out.  log_msg
 * escapes control characters in the whole line; only a quoted value keeps a
 * string from ending its value early. */
#define LOG_QUOTE_MAX 512
const char *log_quote(char *out, size_t outlen, const char *s);
/* log_quote into a temporary that lives to the end of the enclosing block:
 *     log_warn(rid, "msg=\"redis error\" error=%s", LOG_QUOTE(reply->str)); */
#define LOG_QUOTE(s) log_quote((char[LOG_QUOTE_MAX]){0}, LOG_QUOTE_MAX, (s))
/* Like log_quote, but a token ([A-Za-z0-9_.:/-]+) stays bare: method=GET. */
const char *log_value(char *out, size_t outlen, const char *s);
#define LOG_VALUE(s) log_value((char[LOG_QUOTE_MAX]){0}, LOG_QUOTE_MAX, (s))
int log_is_token(const char *s, size_t max);
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
	int max_streams_per_key;
	char *resolv_conf; /* incidentd-sse resolves host names itself (evdns) */
	int64_t client_buffer_cap;
	int event_retention_days;
	int64_t list_count_cap; /* a tag or q list counts at most this many for total */
	char *api_v1; /* the dialect at /api/v1/incidents: alert24, statly or none */
	int webhook_allow_private; /* webhooks may go to private addresses (yes/no) */
	int webhook_delivery;      /* the master runs incidentd-hooks */
	int hooks_processes;       /* how many, 1..HOOKS_PROCESSES_MAX */
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
/* SIGHUP: loads path (and the environment) into next, which it initialises,
 * then gives next old's value of every key that needs a restart (database,
 * redis, listen, socket_mode, sse_listen, sql_dir), logging a warning for
 * each that changed.  -1 with a message in err; config_free(next) either way. */
int config_reload(const struct config *old, struct config *next, const char *path, char *err,
                  size_t errlen);
/* For a helper the master starts (incidentd-sse, incidentd-hooks), in the
 * forked child before exec: the running value of every key that needs a
 * restart goes into the environment as INCIDENTD_<KEY>, which overrides
 * the file, so a helper started after the file changed (a respawn, or one
 * a reload adds) runs on the master's database and Redis, not on values
 * meant for the next restart.  -1 if setenv failed (or a key's type has
 * no text form here). */
int config_pin_restart_keys(const struct config *cfg);
void config_free(struct config *cfg);
/* "90", "90s", "30m", "4h", "3d" → seconds; -1 if malformed. */
int64_t config_parse_duration(const char *s);

/* ---- clock.c: timestamps are int64 unix seconds; TIME_NONE means null ---- */
#define TIME_NONE INT64_MIN
#define TIME_TEXT_LEN 21 /* "2026-03-15T07:00:00Z" + NUL */
int64_t clock_now(void);
/* Milliseconds on the monotonic clock: for intervals, never for dates. */
int64_t clock_monotonic_ms(void);
/* The instants RFC 3339 can write: years 0001..9999 in UTC. */
#define TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */
void time_format(int64_t t, char out[TIME_TEXT_LEN]);
#define TIME_MILLIS_TEXT_LEN 25 /* "2026-03-15T07:00:00.000Z" + NUL */
void time_format_millis(int64_t t, char out[TIME_MILLIS_TEXT_LEN]);
/* Strict RFC 3339: date, 'T' or ' ', time, optional fraction, Z or ±hh:mm. */
int time_parse(const char *s, size_t len, int64_t *out);

/* ---- utf8.c ---- */
size_t utf8_chars(const char *s, size_t len);
int utf8_valid(const char *s, size_t len);
/* Bytes of the character s starts with (RFC 3629, as utf8_valid), 0 when
 * its first len bytes start none. */
size_t utf8_next(const char *s, size_t len);
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
/* Whether member i of object obj is named name: all of its keylens[i] bytes
 * (a key may hold NUL bytes; "body\u0000x" is not "body"). */
int json_key_is(const struct jval *obj, size_t i, const char *name);
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
/* Whether an error naming this field or parameter is already collected. */
int errors_about(const struct errors *e, const char *name);
void errors_clear(struct errors *e);
const char *error_type_for_status(int status);
/* Envelope JSON for status, plus extra string members given as a
 * NULL-terminated key, value, ... list (may be NULL); caller frees. */
char *errors_render(const struct errors *e, int status, const char *request_id,
                    const char *const *extra, size_t *len);

/* ---- auth_key.c: API keys as every process sees them ---- */
enum role { ROLE_NONE, ROLE_READ, ROLE_WRITE, ROLE_ADMIN };
int role_parse(const char *s, enum role *out);
const char *role_name(enum role r);
/* The key a request presents: x-api-key, else Authorization: Bearer; NULL
 * when it carries none. */
const char *auth_presented_key(const char *x_api_key, const char *authorization);
/* $1 = the key's SHA-256 (hex) → id, org_id, role, name of a live key.  A
 * literal, so db.c's statement table (and bench/pgbench/check-sql) sees it. */
#define AUTH_KEY_SQL \
	"SELECT id, org_id, role, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"

/* ---- net_private.c: addresses a webhook may not be sent to ---- */
struct sockaddr;
/* 1: loopback, private, link-local, CGNAT, multicast, reserved or unspecified
 * (IPv4 inside IPv6 judged as IPv4); 0: a public address. */
int sockaddr_is_private(const struct sockaddr *sa);
/* The same for an IP literal ("10.1.2.3", "::1"); -1 if text is not one. */
int ip_text_is_private(const char *text);

/* ---- webhook_rules.c, webhook_secret.c: what a webhook subscription may
 * hold, for the API and incidentctl alike (errors name the API's fields) ---- */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_DESCRIPTION_MAX 500
#define WEBHOOK_EVENTS_MAX 4
/* An organisation's subscriptions at most: each costs incidentd-hooks a
 * cursor and a lease to keep. */
#define WEBHOOKS_PER_ORG_MAX 1000
/* NULL-terminated; a mask's bit i is webhook_event_types[i]. */
extern const char *const webhook_event_types[];
extern const char *const webhook_formats[];
struct webhook_text {
	const char *s;
	size_t len; /* may hold NUL bytes: the rules refuse them */
};
/* An absolute http(s) URL with a host, without userinfo or fragment, port
 * 1-65535, at most WEBHOOK_URL_MAX characters, and (unless allow_private)
 * no IP literal in a private range (code private_destination).  Host names
 * are judged where they are resolved, by incidentd-hooks. */
void webhook_url_check(const char *url, size_t len, int allow_private, struct errors *e);
/* n items: distinct known types, or exactly "*"; *mask 0 means every type.
 * 0, or -1 with errors on field "events" (*mask unchanged). */
int webhook_events_parse(const struct webhook_text *items, size_t n, unsigned *mask,
                         struct errors *e);
/* The types of mask as a comma list ("" for every type); caller frees. */
char *webhook_events_text(unsigned mask);
/* The mask of a stored comma list (unknown types ignored). */
unsigned webhook_events_mask(const char *list);
/* The format's static name, NULL if s (len bytes) is none. */
const char *webhook_format_lookup(const char *s, size_t len);
void webhook_format_check(const char *s, size_t len, struct errors *e);
void webhook_description_check(const char *s, size_t len, struct errors *e);
/* "whsec_" + base64 of 32 random bytes; caller frees.  NULL without entropy. */
char *webhook_secret_new(void);
/* An UPDATE of webhook_delivery_runs r (sql/014) that leaves of each run
 * its seqs from lo to hi (SQL expressions): what a replay and the pruning
 * keep of a run they cut through. */
#define WEBHOOK_RUN_CUT(lo, hi)                                                             \
	"(first_seq, last_seq, seqs, events, first_at, delivered_at, statuses, durations_ms) = " \
	"(SELECT c.first_seq, c.last_seq, c.seqs, c.events, c.first_at, c.delivered_at, "      \
	"c.statuses, c.durations_ms FROM webhook_run_cut(r, " lo ", " hi ") c) "

/* ---- event_form.c: an event as published, logged and streamed ---- */
#define EVENT_CHANNEL_PREFIX "incidentd:org:"
struct event {
	const char *type;
	int64_t seq;
	int64_t at;
	char *payload; /* JSON object without type/seq/at */
};
/* {"type":..,"seq":..,"at":..,<payload members>}; caller frees. */
char *event_message(const struct event *ev, size_t *len);
/* EVENT_CHANNEL_PREFIX<org_id>; caller frees. */
char *event_channel(int64_t org_id);

/* ---- stream_status.c: incidentd-sse's state and counters, shared with its host ---- */
/* Counted by incidentd-sse as things happen, into the page, so they survive
 * its restarts (the master holds the page): each only grows. */
enum stream_counter {
	STREAM_EVENTS_DELIVERED, /* an event written to one stream */
	STREAM_CATCHUPS,         /* a catch-up query of an org's event log */
	STREAM_REPLAYS,          /* a stream resumed from its Last-Event-ID */
	STREAM_REDIS_RECONNECTS, /* the subscriber connected again after a loss */
	/* streams dropped or refused, by reason */
	STREAM_DROPPED_BUFFER_CAP, /* output over client_buffer_cap: a slow client */
	STREAM_DROPPED_LIMIT,      /* refused: max_streams_per_key or max_connections */
	STREAM_DROPPED_REVOKED,    /* its API key was revoked */
	STREAM_DROPPED_DATABASE,   /* PostgreSQL failed it (start, replay) */
	STREAM_DROPPED_SHUTDOWN,   /* incidentd-sse stopped */
	STREAM_COUNTERS
};
enum stream_kind { STREAM_ORG, STREAM_PUBLIC, STREAM_KINDS };
struct stream_status_view {
	int64_t updated_at; /* 0: incidentd-sse has not reported yet */
	int64_t pid;
	int64_t streams;
	int64_t redis_connected;
	int64_t probe_deliveries; /* events that reached this host by the probe, not Redis */
	int64_t open[STREAM_KINDS]; /* streams attached to their org, by kind */
	uint64_t counters[STREAM_COUNTERS];
};
/* The master: creates the page and returns its descriptor (kept across exec). */
int stream_status_create(void);
/* incidentd-sse: maps the descriptor it was given. */
int stream_status_attach(int fd);
void stream_status_report(int64_t now, size_t streams, int redis_connected,
                          int64_t probe_deliveries);
/* incidentd-sse, as it happens. */
void stream_status_count(enum stream_counter c);
void stream_status_open(enum stream_kind k, int delta);
/* The master, once incidentd-sse died: its streams went with it. */
void stream_status_lost(void);
/* -1 when this process has no page (incidentd-sse not configured). */
int stream_status_read(struct stream_status_view *v);

/* ---- hooks_status.c: incidentd-hooks's counters, shared with its host ---- */
enum hooks_counter {
	HOOKS_DELIVERED, /* an event answered 2xx */
	HOOKS_FAILED,    /* an attempt that was not */
	HOOKS_DISABLED,  /* a subscription given up after its retry window */
	HOOKS_COUNTERS
};
#define HOOKS_PROCESSES_MAX 16
/* The host's incidentd-hooks processes summed: counters added, the oldest
 * pending the oldest of any. */
struct hooks_status_view {
	int64_t oldest_pending; /* seconds: the oldest event a held subscription waits to send */
	uint64_t counters[HOOKS_COUNTERS];
};
/* The master: creates the page (a slot per process), returns its
 * descriptor (kept across exec). */
int hooks_status_create(void);
/* incidentd-hooks: maps the descriptor it was given, to write slot. */
int hooks_status_attach(int fd, int slot);
void hooks_status_report(int64_t oldest_pending);
void hooks_status_count(enum hooks_counter c);
/* The master, once the incidentd-hooks of slot died. */
void hooks_status_lost(int slot);
/* -1 when this process has no page. */
int hooks_status_read(struct hooks_status_view *v);

#endif
