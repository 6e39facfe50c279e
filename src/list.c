/* list.c — the incident lists of every dialect (GET /v1/tickets and the
 * compatibility mounts): query-string parsing (libevent does the decoding),
 * the keyset cursors of /v1's lists, and the newest-first page with its
 * total, in the dialect's envelope. */
#include "api.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX_LIMIT 100
/* page and offset have no cap of their own (a client paging through
 * everything keeps working): the bound only keeps (page - 1) * limit and
 * offset + rows exact, and offsets exact as JSON numbers. */
#define OFFSET_MAX ((int64_t)1 << 53)
#define TAG_MAX_CHARS 64
#define Q_MAX_CHARS 500
/* Columns of the list statements after INCIDENT_COLUMNS (src/db.c). */
#define COL_POSITION INCIDENT_NCOLUMNS
#define COL_TOTAL (INCIDENT_NCOLUMNS + 1)
#define COL_REMAINING (INCIDENT_NCOLUMNS + 2) /* STMT_INCIDENT_LIST_AFTER */
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

/* Any text: websearch_to_tsquery never fails on syntax.  Blank is refused
 * as empty is; text PostgreSQL reduces to nothing ("the") matches nothing. */
static void
parse_q(struct list_query *q, const char *value, struct errors *e)
{
	size_t len = strlen(value), trimmed;

	text_trim(value, len, &trimmed);
	if (trimmed == 0 || utf8_chars(value, len) > Q_MAX_CHARS) {
		param_error(e, "invalid_value", "q", "q must be 1 to %d characters, not only spaces",
		            Q_MAX_CHARS);
		return;
	}
	free(q->q);
	q->q = xstrdup(value);
}

static void
parse_after(struct list_query *q, const char *value, struct errors *e)
{
	if (list_cursor_decode(value, &q->after) != 0)
		param_error(e, "invalid_value", "after",
		            "after must be a next_cursor this list returned, unchanged");
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
	int64_t page = -1, offset = -1, page_max = OFFSET_MAX / max_limit + 1;

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
		else if ((known & LP_Q) && strcmp(it->key, "q") == 0)
			parse_q(q, it->value, e);
		else if ((known & LP_AFTER) && strcmp(it->key, "after") == 0)
			parse_after(q, it->value, e);
		else if (strcmp(it->key, "limit") == 0)
			q->limit = parse_bounded("limit", it->value, 1, max_limit, e);
		else if ((known & LP_PAGE) && strcmp(it->key, "page") == 0)
			page = parse_bounded("page", it->value, 1, page_max, e);
		else if ((known & LP_OFFSET) && strcmp(it->key, "offset") == 0)
			offset = parse_bounded("offset", it->value, 0, OFFSET_MAX, e);
		else
			param_error(e, "unknown_field", it->key, "unknown query parameter \"%.*s\"",
			            NAME_SHOWN(it->key));
	}
	evhttp_clear_headers(&kv);
	if (q->after.kind != CURSOR_NONE && (page > 0 || offset >= 0))
		param_error(e, "invalid_value", "after", "give after or page/offset, not both");
	else if (page > 0 && offset >= 0)
		param_error(e, "invalid_value", "offset", "give page or offset, not both");
	else if (page > 0 && q->limit > 0)
		q->offset = (page - 1) * q->limit;
	else if (offset >= 0)
		q->offset = offset;
}

void
list_cursor_expect(const struct list_query *q, enum cursor_kind kind, struct errors *e)
{
	if (q->after.kind != CURSOR_NONE && q->after.kind != kind)
		param_error(e, "invalid_value", "after", "after is a cursor of another list");
}

void
list_query_free(struct list_query *q)
{
	free(q->status);
	free(q->priority);
	free(q->severity);
	free(q->source);
	free(q->tag);
	free(q->q);
	memset(q, 0, sizeof(*q));
}

/* ---- cursors ----
 * 21 bytes, 28 base64url characters without padding: the kind, the
 * position (big-endian) and a check.  The check is no secret: it makes an
 * edited or truncated cursor a 422, and a forged one could only show a
 * position in the caller's own list, which paging reaches anyway. */
#define CURSOR_LABEL "incidentd cursor 1" /* a new format changes it */
#define CURSOR_BYTES 21
#define CURSOR_CHECK 4
#define CURSOR_CHARS 28

static void
put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The first CURSOR_CHECK bytes of SHA-256(label, kind and position). */
static int
cursor_check(const unsigned char *raw, unsigned char check[CURSOR_CHECK])
{
	unsigned char in[sizeof(CURSOR_LABEL) + CURSOR_BYTES], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(in, CURSOR_LABEL, sizeof(CURSOR_LABEL));
	memcpy(in + sizeof(CURSOR_LABEL), raw, CURSOR_BYTES - CURSOR_CHECK);
	if (EVP_Digest(in, sizeof(CURSOR_LABEL) + CURSOR_BYTES - CURSOR_CHECK, md, &mdlen,
	               EVP_sha256(), NULL) != 1 || mdlen < CURSOR_CHECK)
		return -1;
	memcpy(check, md, CURSOR_CHECK);
	return 0;
}

/* base64 (OpenSSL's) with the URL alphabet's two characters swapped. */
static void
swap_alphabet(char *s, const char *from, const char *to)
{
	for (; *s != '\0'; s++) {
		const char *c = strchr(from, *s);

		if (c != NULL)
			*s = to[c - from];
	}
}

char *
list_cursor_encode(const struct list_cursor *c)
{
	unsigned char raw[CURSOR_BYTES];
	char *out = xmalloc(CURSOR_CHARS + 1);

	raw[0] = (unsigned char)c->kind;
	put_u64(raw + 1, (uint64_t)c->at_us);
	put_u64(raw + 9, (uint64_t)c->id);
	if (cursor_check(raw, raw + CURSOR_BYTES - CURSOR_CHECK) != 0 ||
	    EVP_EncodeBlock((unsigned char *)out, raw, CURSOR_BYTES) != CURSOR_CHARS) {
		free(out);
		return NULL;
	}
	swap_alphabet(out, "+/", "-_");
	return out;
}

/* A position the statements can take: a known kind, an id, a time within
 * CURSOR_AT_MAX (replies have none). */
static int
cursor_in_range(const struct list_cursor *c)
{
	if (c->id < 1)
		return 0;
	if (c->kind == CURSOR_REPLIES)
		return c->at_us == 0;
	return c->kind == CURSOR_INCIDENTS && c->at_us >= -CURSOR_AT_MAX && c->at_us <= CURSOR_AT_MAX;
}

int
list_cursor_decode(const char *s, struct list_cursor *c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[CURSOR_BYTES + 3], check[CURSOR_CHECK];
	char text[CURSOR_CHARS + 1];
	struct list_cursor got;

	memset(c, 0, sizeof(*c));
	/* 28 characters decode to exactly 21 bytes: no padding, no spare bits */
	if (strlen(s) != CURSOR_CHARS || strspn(s, alphabet) != CURSOR_CHARS)
		return -1;
	memcpy(text, s, sizeof(text));
	swap_alphabet(text, "-_", "+/");
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, CURSOR_CHARS) != CURSOR_BYTES ||
	    cursor_check(raw, check) != 0 ||
	    memcmp(check, raw + CURSOR_BYTES - CURSOR_CHECK, CURSOR_CHECK) != 0)
		return -1;
	got.kind = (enum cursor_kind)raw[0];
	got.at_us = (int64_t)get_u64(raw + 1);
	got.id = (int64_t)get_u64(raw + 9);
	if (raw[0] > CURSOR_REPLIES || !cursor_in_range(&got))
		return -1;
	*c = got;
	return 0;
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
list_meta(yajl_gen g, enum list_form form, const struct list_query *q,
          const struct list_page *page)
{
	switch (form) {
	case LIST_V1:
		jgen_key(g, "total");
		jgen_int(g, page->total);
		jgen_key(g, "limit");
		jgen_int(g, q->limit);
		jgen_key(g, "page");
		jgen_int(g, page->offset / q->limit + 1);
		jgen_key(g, "offset");
		jgen_int(g, page->offset);
		jgen_key(g, "has_more");
		jgen_bool(g, page->has_more);
		jgen_key(g, "next_cursor");
		jgen_str(g, page->next_cursor);
		break;
	case LIST_ALERT24:
		jgen_key(g, "meta");
		yajl_gen_map_open(g);
		jgen_key(g, "total");
		jgen_int(g, page->total);
		jgen_key(g, "limit");
		jgen_int(g, q->limit);
		jgen_key(g, "offset");
		jgen_int(g, page->offset);
		jgen_key(g, "has_more");
		jgen_bool(g, page->has_more);
		yajl_gen_map_close(g);
		break;
	case LIST_STATLY:
		jgen_key(g, "count");
		jgen_int(g, page->total);
		break;
	}
}

static const char *const list_members[] = {
	[LIST_V1] = "tickets", [LIST_ALERT24] = "data", [LIST_STATLY] = "incidents"};

static void
list_respond(struct request *req, const PGresult *res, const struct list_query *q,
             const struct list_page *page, const struct updates_page *updates)
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
	list_meta(g, form, q, page);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

/* The page at q's offset: its rows carry the total. */
static PGresult *
list_by_offset(struct request *req, const struct list_query *q, const char **params,
               struct list_page *page)
{
	char lim[24], off[24];
	PGresult *res;

	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit);
	snprintf(off, sizeof(off), "%lld", (long long)q->offset);
	params[7] = lim;
	params[8] = off;
	res = db_exec(req->worker->db, STMT_INCIDENT_LIST, 9, params);
	if (res == NULL || db_page_total(req->worker->db, res, COL_TOTAL, STMT_INCIDENT_COUNT, 7,
	                                 params, &page->total) != 0) {
		PQclear(res);
		return NULL;
	}
	page->offset = q->offset;
	page->has_more = q->offset + PQntuples(res) < page->total;
	return res;
}

/* The page after q's cursor: its rows carry the total and how many rows
 * follow the cursor, which place the page (offset) without counting the
 * rows before it. */
static PGresult *
list_by_cursor(struct request *req, const struct list_query *q, const char **params,
               struct list_page *page)
{
	char at[24], id[24], lim[24];
	int64_t remaining = 0;
	PGresult *res;

	snprintf(at, sizeof(at), "%lld", (long long)q->after.at_us);
	snprintf(id, sizeof(id), "%lld", (long long)q->after.id);
	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit);
	params[7] = at;
	params[8] = id;
	params[9] = lim;
	res = db_exec(req->worker->db, STMT_INCIDENT_LIST_AFTER, 10, params);
	if (res == NULL || db_page_total(req->worker->db, res, COL_TOTAL, STMT_INCIDENT_COUNT, 7,
	                                 params, &page->total) != 0) {
		PQclear(res);
		return NULL;
	}
	if (PQntuples(res) > 0)
		remaining = strtoll(PQgetvalue(res, 0, COL_REMAINING), NULL, 10);
	page->offset = page->total - remaining;
	page->has_more = remaining > PQntuples(res);
	return res;
}

/* next_cursor: the last row's position, while rows follow it; -1 if it
 * cannot be made. */
static int
list_next_cursor(const PGresult *res, struct list_page *page)
{
	int last = PQntuples(res) - 1;
	struct list_cursor c = {CURSOR_INCIDENTS, 0, 0};

	if (!page->has_more || last < 0)
		return 0;
	c.at_us = strtoll(PQgetvalue(res, last, COL_POSITION), NULL, 10);
	c.id = strtoll(PQgetvalue(res, last, 0), NULL, 10);
	page->next_cursor = list_cursor_encode(&c);
	return page->next_cursor != NULL ? 0 : -1;
}

void
incident_list(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	struct updates_page updates = {NULL};
	struct list_page page = {0, 0, 0, NULL};
	struct list_query q;
	char org[24];
	const char *params[10];
	PGresult *res;

	list_query_parse(&q, req->query, d->list_params, d->status_words, d->list_default_limit,
	                 LIST_MAX_LIMIT, &req->errors);
	list_cursor_expect(&q, CURSOR_INCIDENTS, &req->errors);
	if (req->errors.n > 0) {
		request_fail_validation(req);
		list_query_free(&q);
		return;
	}
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	params[0] = org;
	params[1] = q.status;
	params[2] = q.priority;
	params[3] = q.severity;
	params[4] = q.source;
	params[5] = q.tag;
	params[6] = q.q;
	res = q.after.kind != CURSOR_NONE ? list_by_cursor(req, &q, params, &page)
	                                  : list_by_offset(req, &q, params, &page);
	if (res == NULL || list_updates(req, res, &updates) != 0)
		request_fail_db(req);
	else if (list_next_cursor(res, &page) != 0)
		request_fail(req, 500, "internal_error", "Internal error");
	else
		list_respond(req, res, &q, &page, &updates);
	free(page.next_cursor);
	PQclear(updates.res);
	PQclear(res);
	list_query_free(&q);
}
