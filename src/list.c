/* list.c — the incident lists of every dialect (GET /v1/tickets and the
 * compatibility mounts): query-string parsing (libevent does the decoding)
 * and the newest-first page with its total, in the dialect's envelope. */
#include "api.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 100
#define PAGE_MAX 10000000
#define TAG_MAX_CHARS 64
/* A parameter name (valid UTF-8) echoed in a message: "%.*s" arguments for
 * at most 64 bytes, never cut inside a character (the envelope is JSON). */
#define NAME_SHOWN(s) (int)utf8_cut((s), strlen(s), 64), (s)

struct enum_param {
	const char *name;
	unsigned bit; /* LP_* */
	size_t offset;
	const char *const *values;
};

static const struct enum_param enum_params[] = {
	{"status", LP_STATUS, offsetof(struct list_query, status), incident_statuses},
	{"priority", LP_PRIORITY, offsetof(struct list_query, priority), incident_priorities},
	{"severity", LP_SEVERITY, offsetof(struct list_query, severity), incident_severities},
	{"source", LP_SOURCE, offsetof(struct list_query, source), incident_sources},
};

#define NENUM_PARAMS (sizeof(enum_params) / sizeof(enum_params[0]))

/* Appends the stored values a word stands for: itself, or (through a
 * dialect's words) every value written with it; 0 if it is none. */
static int
append_enum_values(struct buf **b, const struct enum_param *p, const struct enum_map *words,
                   const char *s, size_t len)
{
	const char *v;
	int found = 0;
	size_t i;

	if (words != NULL) {
		for (i = 0; words[i].word != NULL; i++) {
			if (strlen(words[i].word) != len || memcmp(words[i].word, s, len) != 0)
				continue;
			*b = buf_printf(*b, "%s%s", (*b)->len ? "," : "", words[i].value);
			found = 1;
		}
		return found;
	}
	v = p->values == incident_severities ? severity_canonical(s, len)
	                                     : enum_lookup(p->values, s, len);
	if (v != NULL)
		*b = buf_printf(*b, "%s%s", (*b)->len ? "," : "", v);
	return v != NULL;
}

/* Appends each comma-separated value, canonicalised, to *slot. */
static void
parse_enum_list(char **slot, const struct enum_param *p, const struct enum_map *words,
                const char *value, struct errors *e)
{
	struct buf *b = buf_new(64);
	const char *s = value;

	if (*slot != NULL)
		b = buf_puts(b, *slot);
	for (;;) {
		size_t len = strcspn(s, ",");

		if (!append_enum_values(&b, p, words, s, len)) {
			param_error(e, "invalid_value", p->name, "%s has an unknown value \"%.*s\"", p->name,
			            (int)utf8_cut(s, len, 64), s);
			break;
		}
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	free(*slot);
	*slot = xstrdup(b->data);
	buf_free(b);
}

static int64_t
parse_bounded(const char *name, const char *value, int64_t min, int64_t max, struct errors *e)
{
	int64_t n;

	if (parse_int64(value, INT64_MIN, INT64_MAX, &n) != 0) {
		param_error(e, "invalid_value", name, "%s must be an integer", name);
		return -1;
	}
	if (n < min || n > max) {
		param_error(e, "out_of_range", name, "%s must be between %lld and %lld", name,
		            (long long)min, (long long)max);
		return -1;
	}
	return n;
}

static void
parse_tag(struct list_query *q, const char *value, struct errors *e)
{
	size_t len = strlen(value);

	if (len == 0 || utf8_chars(value, len) > TAG_MAX_CHARS) {
		param_error(e, "invalid_value", "tag", "tag must be 1 to %d characters", TAG_MAX_CHARS);
		return;
	}
	free(q->tag);
	q->tag = xstrdup(value);
}

/* A %00 decodes to a NUL that would silently cut its value short: report
 * each parameter holding one, by its decoded name. */
static void
report_nul_params(const char *query, struct errors *e)
{
	const char *seg = query;

	while (seg != NULL && *seg != '\0') {
		size_t len = strcspn(seg, "&");
		const char *nul = strstr(seg, "%00");

		if (nul != NULL && (size_t)(nul - seg) < len) {
			size_t keylen = strcspn(seg, "=&");
			char *raw = xstrndup(seg, keylen);
			char *key = evhttp_uridecode(raw, 1, NULL);

			if (key != NULL && strlen(key) > 0 && utf8_valid(key, strlen(key)))
				param_error(e, "invalid_value", key, "%.*s must not contain NUL",
				            NAME_SHOWN(key));
			else
				param_error(e, "invalid_value", "query", "the query must not contain NUL");
			free(key);
			free(raw);
		}
		seg = seg[len] == '&' ? seg + len + 1 : NULL;
	}
}

static const struct enum_param *
enum_param_find(const char *name, unsigned known)
{
	size_t i;

	for (i = 0; i < NENUM_PARAMS; i++)
		if ((known & enum_params[i].bit) && strcmp(enum_params[i].name, name) == 0)
			return &enum_params[i];
	return NULL;
}

void
list_query_parse(struct list_query *q, const char *query, unsigned known,
                 const struct enum_map *status_words, int64_t default_limit, int64_t max_limit,
                 struct errors *e)
{
	struct evkeyvalq kv;
	struct evkeyval *it;
	int64_t page = -1, offset = -1;

	memset(q, 0, sizeof(*q));
	q->limit = default_limit;
	TAILQ_INIT(&kv);
	if (query != NULL && *query != '\0' && evhttp_parse_query_str(query, &kv) != 0) {
		param_error(e, "invalid_value", "query", "the query string is malformed");
		return;
	}
	report_nul_params(query, e);
	TAILQ_FOREACH(it, &kv, next) {
		const struct enum_param *ep = enum_param_find(it->key, known);

		/* decoded text is echoed in errors and sent to PostgreSQL: UTF-8 only */
		if (!utf8_valid(it->key, strlen(it->key)))
			param_error(e, "invalid_value", "query", "query parameter names must be valid UTF-8");
		else if (!utf8_valid(it->value, strlen(it->value)))
			param_error(e, "invalid_value", it->key, "%.*s must be valid UTF-8",
			            NAME_SHOWN(it->key));
		else if (ep != NULL)
			parse_enum_list((char **)((char *)q + ep->offset), ep,
			                ep->bit == LP_STATUS ? status_words : NULL, it->value, e);
		else if ((known & LP_TAG) && strcmp(it->key, "tag") == 0)
			parse_tag(q, it->value, e);
		else if (strcmp(it->key, "limit") == 0)
			q->limit = parse_bounded("limit", it->value, 1, max_limit, e);
		else if ((known & LP_PAGE) && strcmp(it->key, "page") == 0)
			page = parse_bounded("page", it->value, 1, PAGE_MAX, e);
		else if ((known & LP_OFFSET) && strcmp(it->key, "offset") == 0)
			offset = parse_bounded("offset", it->value, 0, PAGE_MAX * LIST_MAX_LIMIT, e);
		else
			param_error(e, "unknown_field", it->key, "unknown query parameter \"%.*s\"",
			            NAME_SHOWN(it->key));
	}
	evhttp_clear_headers(&kv);
	if (page > 0 && offset >= 0)
		param_error(e, "invalid_value", "offset", "give page or offset, not both");
	else if (page > 0 && q->limit > 0)
		q->offset = (page - 1) * q->limit;
	else if (offset >= 0)
		q->offset = offset;
}

void
list_query_free(struct list_query *q)
{
	free(q->status);
	free(q->priority);
	free(q->severity);
	free(q->source);
	free(q->tag);
	memset(q, 0, sizeof(*q));
}

/* The public timeline of a page's incidents, for a dialect that lists
 * them: one query for the whole page.  0, or -1 on a db error. */
static int
list_updates(struct request *req, const PGresult *page, struct updates_page *u)
{
	const struct dialect *d = req->route->dialect;
	char org[24], limit[24];
	const char *params[3];
	struct buf *ids;
	int i;

	u->res = NULL;
	if (d->updates_per_listed == 0 || PQntuples(page) == 0)
		return 0;
	ids = buf_new(16 * (size_t)PQntuples(page) + 2);
	ids = buf_puts(ids, "{");
	for (i = 0; i < PQntuples(page); i++)
		ids = buf_printf(ids, "%s%s", i ? "," : "", PQgetvalue(page, i, 0));
	ids = buf_puts(ids, "}");
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(limit, sizeof(limit), "%d", d->updates_per_listed);
	params[0] = ids->data;
	params[1] = org;
	params[2] = limit;
	u->res = db_exec(req->worker->db, STMT_UPDATES_OF, 3, params);
	buf_free(ids);
	return u->res != NULL ? 0 : -1;
}

/* Renders every row; -1 (logged with the request id) when one cannot be
 * decoded: a page silently shorter than its rows would lie about the data. */
static int
list_render_rows(struct request *req, yajl_gen g, const PGresult *res,
                 const struct updates_page *updates)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		struct incident inc;

		if (incident_from_row(&inc, res, i) != 0) {
			log_error(req->request_id, "msg=\"unreadable incident row\" id=%s",
			          LOG_VALUE(PQgetvalue(res, i, 0)));
			return -1;
		}
		dialect_render(g, req->route->dialect, &inc, updates, req->now, req->worker->cfg);
		incident_free(&inc);
	}
	return 0;
}

/* The page's members after its incidents, in the dialect's form. */
static void
list_meta(yajl_gen g, enum list_form form, const struct list_query *q, int64_t total, int n)
{
	switch (form) {
	case LIST_V1:
		jgen_key(g, "total");
		jgen_int(g, total);
		jgen_key(g, "limit");
		jgen_int(g, q->limit);
		jgen_key(g, "page");
		jgen_int(g, q->offset / q->limit + 1);
		jgen_key(g, "offset");
		jgen_int(g, q->offset);
		jgen_key(g, "has_more");
		jgen_bool(g, q->offset + n < total);
		break;
	case LIST_ALERT24:
		jgen_key(g, "meta");
		yajl_gen_map_open(g);
		jgen_key(g, "total");
		jgen_int(g, total);
		jgen_key(g, "limit");
		jgen_int(g, q->limit);
		jgen_key(g, "offset");
		jgen_int(g, q->offset);
		jgen_key(g, "has_more");
		jgen_bool(g, q->offset + n < total);
		yajl_gen_map_close(g);
		break;
	case LIST_STATLY:
		jgen_key(g, "count");
		jgen_int(g, total);
		break;
	}
}

static const char *const list_members[] = {
	[LIST_V1] = "tickets", [LIST_ALERT24] = "data", [LIST_STATLY] = "incidents"};

static void
list_respond(struct request *req, const PGresult *res, const struct list_query *q,
             int64_t total, const struct updates_page *updates)
{
	enum list_form form = req->route->dialect->list;
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	jgen_key(g, list_members[form]);
	yajl_gen_array_open(g);
	if (list_render_rows(req, g, res, updates) != 0) {
		yajl_gen_free(g);
		request_fail(req, 500, "internal_error", "Internal error");
		return;
	}
	yajl_gen_array_close(g);
	list_meta(g, form, q, total, PQntuples(res));
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

void
incident_list(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	struct updates_page updates = {NULL};
	struct list_query q;
	char org[24], lim[24], off[24];
	const char *params[8];
	PGresult *res;
	int64_t total;

	list_query_parse(&q, req->query, d->list_params, d->status_words, d->list_default_limit,
	                 LIST_MAX_LIMIT, &req->errors);
	if (req->errors.n > 0) {
		request_fail_validation(req);
		list_query_free(&q);
		return;
	}
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(lim, sizeof(lim), "%lld", (long long)q.limit);
	snprintf(off, sizeof(off), "%lld", (long long)q.offset);
	params[0] = org;
	params[1] = q.status;
	params[2] = q.priority;
	params[3] = q.severity;
	params[4] = q.source;
	params[5] = q.tag;
	params[6] = lim;
	params[7] = off;
	res = db_exec(req->worker->db, STMT_INCIDENT_LIST, 8, params);
	if (res == NULL || db_page_total(req->worker->db, res, INCIDENT_NCOLUMNS, STMT_INCIDENT_COUNT,
	                                 6, params, &total) != 0 ||
	    list_updates(req, res, &updates) != 0)
		request_fail_db(req);
	else
		list_respond(req, res, &q, total, &updates);
	PQclear(updates.res);
	PQclear(res);
	list_query_free(&q);
}
