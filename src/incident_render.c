/* incident_render.c — an incident between its forms: a database row
 * (INCIDENT_COLUMNS order), the C struct, and its change sets.  Its JSON in
 * every dialect is dialect.c's. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int64_t
col_time(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? TIME_NONE : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static struct optnum
col_number(const PGresult *res, int row, int col)
{
	struct optnum n = {0, 0};

	if (!PQgetisnull(res, row, col)) {
		n.set = 1;
		n.v = strtod(PQgetvalue(res, row, col), NULL);
	}
	return n;
}

int
incident_from_row(struct incident *inc, const PGresult *res, int row)
{
	memset(inc, 0, sizeof(*inc));
	inc->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	inc->org_id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	inc->title = col_text(res, row, 2);
	inc->description = col_text(res, row, 3);
	inc->status = col_text(res, row, 4);
	inc->priority = col_text(res, row, 5);
	inc->severity = col_text(res, row, 6);
	inc->source = col_text(res, row, 7);
	inc->source_ref = col_text(res, row, 8);
	inc->lat = col_number(res, row, 9);
	inc->lng = col_number(res, row, 10);
	inc->location_name = col_text(res, row, 11);
	inc->impact_description = col_text(res, row, 12);
	inc->assigned_to = col_text(res, row, 13);
	inc->sla_due_at = col_time(res, row, 16);
	inc->customer_token = col_text(res, row, 17);
	inc->started_at = col_time(res, row, 18);
	inc->acknowledged_at = col_time(res, row, 19);
	inc->resolved_at = col_time(res, row, 20);
	inc->created_by = col_text(res, row, 21);
	inc->created_at = col_time(res, row, 22);
	inc->updated_at = col_time(res, row, 23);
	if (!PQgetisnull(res, row, 24))
		snprintf(inc->uuid, sizeof(inc->uuid), "%s", PQgetvalue(res, row, 24));
	inc->version = strtoll(PQgetvalue(res, row, 25), NULL, 10);
	if (strlist_from_json(&inc->tags, PQgetvalue(res, row, 14)) != 0 ||
	    strlist_from_json(&inc->affected_services, PQgetvalue(res, row, 15)) != 0 ||
	    inc->title == NULL || inc->status == NULL || inc->priority == NULL) {
		incident_free(inc);
		return -1;
	}
	return 0;
}

void
strlist_render(yajl_gen g, const struct strlist *l)
{
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; i < l->n; i++)
		jgen_str(g, l->items[i]);
	yajl_gen_array_close(g);
}

void
optnum_render(yajl_gen g, struct optnum n)
{
	if (n.set)
		jgen_double(g, n.v);
	else
		jgen_null(g);
}

char *
strlist_json(const struct strlist *l)
{
	yajl_gen g = json_gen_new();
	char *out;

	strlist_render(g, l);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

/* jsonb's text of an array of strings none of which needed an escape:
 * ["a", "b"], every '"' a delimiter.  0, or -1 (l untouched) for any other
 * text, which the parser then reads. */
static int
strlist_from_plain_jsonb(struct strlist *l, const char *text)
{
	const char *p = text + 1, *end;
	size_t cap = 0, n = 0;
	char **items;

	if (text[0] != '[' || strchr(text, '\\') != NULL)
		return -1;
	for (end = text; (end = strchr(end, '"')) != NULL; end++)
		cap++;
	items = xcalloc(cap / 2 + 1, sizeof(char *));
	while (*p == '"' && (end = strchr(p + 1, '"')) != NULL) {
		items[n++] = xstrndup(p + 1, (size_t)(end - p - 1));
		p = end + 1;
		if (strcmp(p, "]") == 0) {
			l->n = n;
			l->items = items;
			return 0;
		}
		if (strncmp(p, ", ", 2) != 0)
			break;
		p += 2;
	}
	while (n > 0)
		free(items[--n]);
	free(items);
	return -1;
}

int
strlist_from_json(struct strlist *l, const char *text)
{
	char err[128];
	struct jval *v;
	size_t i;

	l->n = 0;
	l->items = NULL;
	/* jsonb writes an empty array as "[]": most rows' tags and services,
	 * and a parser is not needed to read nothing; nor, most of the time,
	 * to read names that needed no escape (0.75 µs a list with yajl) */
	if (strcmp(text, "[]") == 0 || strlist_from_plain_jsonb(l, text) == 0)
		return 0;
	v = json_parse(text, strlen(text), err, sizeof(err));
	if (v == NULL || v->type != J_ARRAY) {
		json_free(v);
		return -1;
	}
	l->items = xcalloc(v->u.arr.n, sizeof(char *));
	for (i = 0; i < v->u.arr.n; i++)
		if (v->u.arr.items[i]->type == J_STRING)
			l->items[l->n++] = xstrdup(v->u.arr.items[i]->u.str.s);
	json_free(v);
	return 0;
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int
num_differs(struct optnum a, struct optnum b)
{
	return a.set != b.set || (a.set && a.v != b.v);
}

static int
list_differs(const struct strlist *a, const struct strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return 1;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return 1;
	return 0;
}

/* One change entry: "field": [old, new]. */
#define CHANGE(name, differs, render_a, render_b)                                              \
	do {                                                                                   \
		if (differs) {                                                                 \
			n++;                                                                   \
			if (g != NULL) {                                                       \
				jgen_key(g, name);                                             \
				yajl_gen_array_open(g);                                        \
				render_a;                                                      \
				render_b;                                                      \
				yajl_gen_array_close(g);                                       \
			}                                                                      \
		}                                                                              \
	} while (0)
#define CHANGE_STR(f) CHANGE(#f, str_differs(a->f, b->f), jgen_str(g, a->f), jgen_str(g, b->f))
#define CHANGE_TIME(f) CHANGE(#f, a->f != b->f, jgen_time(g, a->f), jgen_time(g, b->f))
#define CHANGE_NUM(f) \
	CHANGE(#f, num_differs(a->f, b->f), optnum_render(g, a->f), optnum_render(g, b->f))
#define CHANGE_LIST(f) \
	CHANGE(#f, list_differs(&a->f, &b->f), strlist_render(g, &a->f), strlist_render(g, &b->f))

/* Emits the members of a changes object (g may be NULL to only count). */
static int
incident_changes(yajl_gen g, const struct incident *a, const struct incident *b)
{
	int n = 0;

	CHANGE_STR(title);
	CHANGE_STR(description);
	CHANGE_STR(status);
	CHANGE_STR(priority);
	CHANGE_STR(severity);
	CHANGE_STR(source);
	CHANGE_STR(source_ref);
	CHANGE_NUM(lat);
	CHANGE_NUM(lng);
	CHANGE_STR(location_name);
	CHANGE_STR(impact_description);
	CHANGE_STR(assigned_to);
	CHANGE_LIST(tags);
	CHANGE_LIST(affected_services);
	CHANGE_TIME(sla_due_at);
	CHANGE_TIME(started_at);
	CHANGE_TIME(acknowledged_at);
	CHANGE_TIME(resolved_at);
	return n;
}

int
incident_render_changes(yajl_gen g, const struct incident *a, const struct incident *b)
{
	int n;

	yajl_gen_map_open(g);
	n = incident_changes(g, a, b);
	yajl_gen_map_close(g);
	return n;
}

int
incident_differs(const struct incident *a, const struct incident *b)
{
	return incident_changes(NULL, a, b) > 0;
}
