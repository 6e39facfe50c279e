/* incident_render.c — an incident between its three forms: a database row
 * (INCIDENT_COLUMNS order), the C struct, and its JSON (and change sets). */
#include "api.h"

#include <libpq-fe.h>
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
	if (strlist_from_json(&inc->tags, PQgetvalue(res, row, 14)) != 0 ||
	    strlist_from_json(&inc->affected_services, PQgetvalue(res, row, 15)) != 0 ||
	    inc->title == NULL || inc->status == NULL || inc->priority == NULL) {
		incident_free(inc);
		return -1;
	}
	return 0;
}

char *
strlist_json(const struct strlist *l)
{
	yajl_gen g = json_gen_new();
	char *out;
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; i < l->n; i++)
		jgen_str(g, l->items[i]);
	yajl_gen_array_close(g);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

int
strlist_from_json(struct strlist *l, const char *text)
{
	char err[128];
	struct jval *v = json_parse(text, strlen(text), err, sizeof(err));
	size_t i;

	l->n = 0;
	l->items = NULL;
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

static void
render_list(yajl_gen g, const struct strlist *l)
{
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; i < l->n; i++)
		jgen_str(g, l->items[i]);
	yajl_gen_array_close(g);
}

static void
render_number(yajl_gen g, struct optnum n)
{
	if (n.set)
		jgen_double(g, n.v);
	else
		jgen_null(g);
}

static void
kv_str(yajl_gen g, const char *k, const char *v)
{
	jgen_key(g, k);
	jgen_str(g, v);
}

static void
kv_time(yajl_gen g, const char *k, int64_t t)
{
	jgen_key(g, k);
	jgen_time(g, t);
}

/* sla_status is live while active and frozen at resolved_at once resolved. */
static enum sla_state
incident_sla(const struct incident *inc, int64_t now)
{
	int64_t at = status_is_resolved(inc->status) && inc->resolved_at != TIME_NONE
	                 ? inc->resolved_at
	                 : now;

	return sla_state_at(inc->created_at, inc->sla_due_at, at);
}

void
incident_render(yajl_gen g, const struct incident *inc, int64_t now, const struct config *cfg)
{
	enum sla_state sla = incident_sla(inc, now);
	char *url = xprintf("%s/incidents/status/%s", cfg->public_base_url, inc->customer_token);

	yajl_gen_map_open(g);
	jgen_key(g, "id");
	jgen_int(g, inc->id);
	jgen_key(g, "Id"); /* seed 000 prints the id as "Id" */
	jgen_int(g, inc->id);
	kv_str(g, "title", inc->title);
	kv_str(g, "description", inc->description);
	kv_str(g, "status", inc->status);
	kv_str(g, "priority", inc->priority);
	kv_str(g, "severity", inc->severity);
	kv_str(g, "source", inc->source);
	kv_str(g, "source_ref", inc->source_ref);
	jgen_key(g, "lat");
	render_number(g, inc->lat);
	jgen_key(g, "lng");
	render_number(g, inc->lng);
	kv_str(g, "location_name", inc->location_name);
	kv_str(g, "impact_description", inc->impact_description);
	kv_str(g, "assigned_to", inc->assigned_to);
	jgen_key(g, "tags");
	render_list(g, &inc->tags);
	jgen_key(g, "affected_services");
	render_list(g, &inc->affected_services);
	kv_time(g, "sla_due_at", inc->sla_due_at);
	jgen_key(g, "sla_breached");
	jgen_bool(g, sla == SLA_BREACHED);
	kv_str(g, "sla_status", sla_state_name(sla));
	kv_str(g, "customer_token", inc->customer_token);
	kv_str(g, "customer_status_url", url);
	kv_time(g, "started_at", inc->started_at);
	kv_time(g, "acknowledged_at", inc->acknowledged_at);
	kv_time(g, "resolved_at", inc->resolved_at);
	kv_str(g, "created_by", inc->created_by);
	kv_time(g, "created_at", inc->created_at);
	kv_time(g, "updated_at", inc->updated_at);
	yajl_gen_map_close(g);
	free(url);
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
	CHANGE(#f, num_differs(a->f, b->f), render_number(g, a->f), render_number(g, b->f))
#define CHANGE_LIST(f) \
	CHANGE(#f, list_differs(&a->f, &b->f), render_list(g, &a->f), render_list(g, &b->f))

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
