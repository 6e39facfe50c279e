/* list_query.c — the query string of every list (GET /v1/tickets, the
 * compatibility mounts, the replies): parameters a dialect knows, their
 * values canonicalised, every error with its source.parameter.  libevent
 * does the decoding. */
#include "api.h"

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* page and offset have no cap of their own (a client paging through
 * everything keeps working): the bound only keeps (page - 1) * limit and
 * offset + rows exact, and offsets exact as JSON numbers. */
#define OFFSET_MAX ((int64_t)1 << 53)
#define TAG_MAX_CHARS 64
#define Q_MAX_CHARS 500
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
	if (list_cursor_decode_at(value, &q->after, &q->after_pos) != 0)
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
