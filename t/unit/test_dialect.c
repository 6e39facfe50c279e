/* test_dialect.c — the compatibility dialects as data (DESIGN §8): their
 * routes and id forms, the api_v1 mount, their field names and words on the
 * way in, their JSON on the way out, and their list parameters. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define A24 "/compat/alert24/api/v1/incidents"
#define STATLY "/compat/statly/api/v1/incidents"
#define UUID_LOWER "550e8400-e29b-41d4-a716-446655440000"

static enum route_result
match(const char *method, const char *path, const struct dialect *api_v1,
      const struct route **r, struct route_params *p, char *allow, size_t allowlen)
{
	*r = NULL;
	memset(p, 0, sizeof(*p));
	return route_match(method, path, api_v1, r, p, allow, allowlen);
}

/* method path is found, answered by handler in dialect d. */
static void
found(const char *method, const char *path, const struct dialect *api_v1, handler_fn handler,
      const struct dialect *d, int64_t id, const char *uuid)
{
	const struct route *r;
	struct route_params p;
	char allow[64];

	if (!is_int(match(method, path, api_v1, &r, &p, allow, sizeof(allow)), ROUTE_FOUND,
	            "%s %s found", method, path))
		return;
	ok(r->handler == handler, "%s %s: handler", method, path);
	is_str(r->dialect->name, d->name, "%s %s: dialect", method, path);
	is_int(p.id, id, "%s %s: number", method, path);
	is_str(p.uuid, uuid, "%s %s: uuid", method, path);
}

static void
not_found(const char *method, const char *path, const struct dialect *api_v1)
{
	const struct route *r;
	struct route_params p;
	char allow[64];

	is_int(match(method, path, api_v1, &r, &p, allow, sizeof(allow)), ROUTE_NOT_FOUND,
	       "%s %s: 404", method, path);
}

static void
allowed(const char *method, const char *path, const char *expected)
{
	const struct route *r;
	struct route_params p;
	char allow[64];

	is_int(match(method, path, &dialect_alert24, &r, &p, allow, sizeof(allow)),
	       ROUTE_METHOD_NOT_ALLOWED, "%s %s: 405", method, path);
	is_str(allow, expected, "%s %s: Allow", method, path);
}

static void
test_routes(void)
{
	found("GET", A24, NULL, incident_list, &dialect_alert24, 0, "");
	found("POST", A24, NULL, incident_create, &dialect_alert24, 0, "");
	found("GET", A24 "/" UUID_LOWER, NULL, incident_get, &dialect_alert24, 0, UUID_LOWER);
	found("PUT", A24 "/550E8400-E29B-41D4-A716-446655440000", NULL, incident_update,
	      &dialect_alert24, 0, UUID_LOWER);
	found("PATCH", A24 "/43", NULL, incident_update, &dialect_alert24, 43, "");
	found("DELETE", A24 "/43", NULL, incident_delete, &dialect_alert24, 43, "");
	found("GET", STATLY, NULL, incident_list, &dialect_statly, 0, "");
	found("GET", STATLY "/inc_12", NULL, incident_get, &dialect_statly, 12, "");
	found("PATCH", STATLY "/12", NULL, incident_update, &dialect_statly, 12, "");
	found("DELETE", STATLY "/inc_12", NULL, incident_delete, &dialect_statly, 12, "");
	found("POST", STATLY "/inc_12/updates", NULL, incident_add_update, &dialect_statly, 12, "");

	/* ids not in the dialect's form are no incident */
	not_found("GET", A24 "/550e8400e29b41d4a716446655440000", NULL);
	not_found("GET", A24 "/550e8400-e29b-41d4-a716-44665544000g", NULL);
	not_found("GET", A24 "/{550e8400-e29b-41d4-a716-446655440000}", NULL);
	not_found("GET", A24 "/inc_12", NULL);
	not_found("GET", A24 "/042", NULL);
	not_found("GET", STATLY "/inc_abc123", NULL);
	not_found("GET", STATLY "/" UUID_LOWER, NULL);
	not_found("GET", STATLY "/inc_", NULL);
	not_found("GET", STATLY "/inc_0", NULL);
	not_found("GET", STATLY "/INC_12", NULL);
	not_found("GET", STATLY "/inc_9007199254740993", NULL);
	not_found("GET", "/v1/tickets/" UUID_LOWER, NULL);
	not_found("GET", "/v1/tickets/inc_12", NULL);
	not_found("POST", A24 "/12/updates", NULL);

	/* /api/v1 is the configured dialect's, or nobody's */
	found("GET", "/api/v1/incidents/" UUID_LOWER, &dialect_alert24, incident_get,
	      &dialect_alert24, 0, UUID_LOWER);
	found("PUT", "/api/v1/incidents/7", &dialect_alert24, incident_update, &dialect_alert24, 7,
	      "");
	found("GET", "/api/v1/incidents/inc_7", &dialect_statly, incident_get, &dialect_statly, 7,
	      "");
	found("POST", "/api/v1/incidents/7/updates", &dialect_statly, incident_add_update,
	      &dialect_statly, 7, "");
	not_found("GET", "/api/v1/incidents/inc_7", &dialect_alert24);
	not_found("GET", "/api/v1/incidents/" UUID_LOWER, &dialect_statly);
	not_found("GET", "/api/v1/incidents", NULL);
	not_found("POST", "/api/v1/incidents", NULL);
	not_found("GET", "/api/v1/incidents/7", NULL);

	allowed("POST", A24 "/7", "GET, HEAD, PUT, PATCH, DELETE");
	allowed("PUT", STATLY "/inc_7", "GET, HEAD, PATCH, DELETE");
	allowed("GET", STATLY "/inc_7/updates", "POST");
	allowed("DELETE", A24, "GET, HEAD, POST");
}

static void
collection(const char *method, const char *path, const struct dialect *api_v1, size_t expected)
{
	const struct route *r;
	struct route_params p;
	char allow[64];

	if (match(method, path, api_v1, &r, &p, allow, sizeof(allow)) != ROUTE_FOUND) {
		ok(0, "%s %s found", method, path);
		return;
	}
	is_int(route_collection_len(r, path), expected, "%s %s: collection is %.*s", method, path,
	       (int)expected, path);
}

static void
test_collection(void)
{
	collection("GET", "/v1/tickets", NULL, strlen("/v1/tickets"));
	collection("GET", "/v1/incidents/5/replies", NULL, strlen("/v1/incidents"));
	collection("POST", A24, NULL, strlen(A24));
	collection("GET", A24 "/" UUID_LOWER, NULL, strlen(A24));
	collection("POST", STATLY "/inc_3/updates", NULL, strlen(STATLY));
	collection("POST", "/api/v1/incidents/inc_3/updates", &dialect_statly,
	           strlen("/api/v1/incidents"));
}

static void
test_ref(void)
{
	struct incident inc;
	char *ref;

	memset(&inc, 0, sizeof(inc));
	inc.id = 42;
	strcpy(inc.uuid, UUID_LOWER);
	ref = dialect_ref(&dialect_v1, &inc);
	is_str(ref, "42", "/v1 writes the number");
	free(ref);
	ref = dialect_ref(&dialect_alert24, &inc);
	is_str(ref, UUID_LOWER, "Alert24 writes the UUID");
	free(ref);
	ref = dialect_ref(&dialect_statly, &inc);
	is_str(ref, "inc_42", "Statly writes inc_<n>");
	free(ref);
	ok(dialect_named("alert24") == &dialect_alert24 && dialect_named("statly") == &dialect_statly,
	   "api_v1 names a dialect");
	ok(dialect_named("none") == NULL && dialect_named("") == NULL, "none names no dialect");
}

/* inc rendered by d, without timeline rows. */
static char *
render(const struct dialect *d, const struct incident *inc)
{
	struct config cfg;
	yajl_gen g = json_gen_new();
	char *out;

	memset(&cfg, 0, sizeof(cfg));
	cfg.public_base_url = "https://status.test";
	dialect_render(g, d, inc, NULL, inc->created_at, &cfg);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

static void
sample_incident(struct incident *inc, const char *status, const char *severity)
{
	incident_init_defaults(inc);
	inc->id = 43;
	strcpy(inc->uuid, UUID_LOWER);
	inc->title = xstrdup("API latency spike");
	free(inc->status);
	inc->status = xstrdup(status);
	free(inc->severity);
	inc->severity = xstrdup(severity);
	inc->created_by = xstrdup("ci");
	inc->customer_token = xstrdup("tok");
	inc->affected_services.n = 1;
	inc->affected_services.items = xcalloc(1, sizeof(char *));
	inc->affected_services.items[0] = xstrdup("svc-api");
	inc->created_at = inc->updated_at = inc->started_at = 1773932400; /* 2026-03-19T15:00:00Z */
	inc->sla_due_at = inc->created_at + 86400;
}

static void
test_render(void)
{
	struct incident inc;
	char *out;

	sample_incident(&inc, "in_progress", "critical");
	out = render(&dialect_alert24, &inc);
	is_str(out,
	       "{\"id\":\"" UUID_LOWER "\",\"incident_number\":43,\"title\":\"API latency spike\","
	       "\"description\":null,\"severity\":\"critical\",\"status\":\"in_progress\","
	       "\"affected_services\":[\"svc-api\"],\"impact_description\":null,"
	       "\"assigned_to\":null,\"created_by\":\"ci\",\"source\":\"api\",\"tags\":[],"
	       "\"started_at\":\"2026-03-19T15:00:00.000Z\",\"acknowledged_at\":null,"
	       "\"resolved_at\":null,\"created_at\":\"2026-03-19T15:00:00.000Z\","
	       "\"updated_at\":\"2026-03-19T15:00:00.000Z\"}",
	       "Alert24: seed 001's members in its order, times with milliseconds");
	free(out);
	out = render(&dialect_statly, &inc);
	is_str(out,
	       "{\"id\":\"inc_43\",\"title\":\"API latency spike\",\"description\":null,"
	       "\"status\":\"investigating\",\"severity\":\"major\","
	       "\"affectedMonitors\":[\"svc-api\"],\"createdAt\":\"2026-03-19T15:00:00Z\","
	       "\"updatedAt\":\"2026-03-19T15:00:00Z\",\"updates\":[]}",
	       "Statly: camelCase, mapped words, no resolvedAt while unresolved");
	free(out);
	free(inc.status);
	inc.status = xstrdup("postmortem");
	inc.resolved_at = inc.created_at + 60;
	out = render(&dialect_statly, &inc);
	ok(strstr(out, "\"status\":\"resolved\"") != NULL &&
	       strstr(out, "\"resolvedAt\":\"2026-03-19T15:01:00Z\",\"updates\"") != NULL,
	   "Statly: postmortem is resolved, with resolvedAt (%s)", out);
	free(out);
	incident_free(&inc);
}

static void
test_words(void)
{
	static const char *const statuses[][2] = {
	    {"new", "investigating"},      {"open", "investigating"},
	    {"acknowledged", "investigating"}, {"in_progress", "investigating"},
	    {"investigating", "investigating"}, {"identified", "identified"},
	    {"monitoring", "monitoring"},  {"resolved", "resolved"},
	    {"postmortem", "resolved"},    {"closed", "resolved"},
	};
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		is_str(dialect_status_word(&dialect_statly, statuses[i][0]), statuses[i][1],
		       "Statly shows %s as %s", statuses[i][0], statuses[i][1]);
		is_str(dialect_status_word(&dialect_alert24, statuses[i][0]), statuses[i][0],
		       "Alert24 shows %s as it is", statuses[i][0]);
	}
}

/* A body applied through write w of dialect d onto the defaults. */
struct applied {
	struct incident inc;
	struct incident_input in;
	struct errors e;
	char errs[1024]; /* "code@field ..." */
};

static int
apply_write(struct applied *r, const struct dialect *d, const struct dialect_write *w,
            const char *json)
{
	char err[256];
	struct jval *body = json_parse(json, strlen(json), err, sizeof(err));

	memset(r, 0, sizeof(*r));
	incident_init_defaults(&r->inc);
	if (body == NULL) {
		ok(0, "test body %s parses (%s)", json, err);
		incident_free(&r->inc);
		return -1;
	}
	incident_apply_body(&r->inc, &r->in, body, d, w, &r->e);
	errors_summary(&r->e, r->errs, sizeof(r->errs));
	json_free(body);
	return 0;
}

static void
applied_free(struct applied *r)
{
	incident_free(&r->inc);
	free(r->in.message);
	errors_clear(&r->e);
}

static void
body_errors(const struct dialect *d, const struct dialect_write *w, const char *json,
            const char *expected, const char *desc)
{
	struct applied r;

	if (apply_write(&r, d, w, json) != 0)
		return;
	is_str(r.errs, expected, "%s", desc);
	applied_free(&r);
}

/* The stored status and severity after an accepted body. */
static void
body_values(const struct dialect *d, const struct dialect_write *w, const char *json,
            const char *status, const char *severity)
{
	struct applied r;

	if (apply_write(&r, d, w, json) != 0)
		return;
	is_str(r.errs, "", "%s %s: accepted", d->name, json);
	is_str(r.inc.status, status, "%s %s: status stored as %s", d->name, json, status);
	is_str(r.inc.severity, severity, "%s %s: severity stored as %s", d->name, json, severity);
	applied_free(&r);
}

static void
test_bodies(void)
{
	const struct dialect *s = &dialect_statly, *a = &dialect_alert24;

	body_values(s, &s->create, "{\"severity\":\"major\",\"status\":\"identified\"}",
	            "identified", "high");
	body_values(s, &s->create, "{\"severity\":\"minor\"}", "open", "low");
	body_values(s, &s->update, "{\"status\":\"resolved\",\"severity\":\"maintenance\"}",
	            "resolved", "maintenance");
	body_values(a, &a->create, "{\"status\":\"postmortem\",\"severity\":\"major\"}", "postmortem",
	            "high");
	body_errors(s, &s->create, "{\"status\":\"resolved\",\"severity\":\"critical\"}",
	            "invalid_value@status invalid_value@severity",
	            "Statly create: resolved and critical are not its words");
	body_errors(s, &s->update, "{\"status\":\"in_progress\"}", "invalid_value@status",
	            "Statly PATCH: a /v1 status is not its word");
	body_errors(s, &s->update, "{\"affectedMonitors\":[1]}", "invalid_value@affectedMonitors",
	            "errors name the dialect's member");
	body_errors(s, &s->create,
	            "{\"id\":\"inc_1\",\"updates\":[],\"createdAt\":\"x\",\"affected_services\":[]}",
	            "invalid_value@id invalid_value@updates invalid_value@createdAt "
	            "unknown_field@affected_services",
	            "Statly: its own read-only members, and /v1's names are unknown");
	body_errors(s, &s->add_update, "{\"message\":\"m\",\"title\":\"t\",\"id\":\"upd_1\"}",
	            "unknown_field@title invalid_value@id",
	            "Statly timeline update: an update's body, with its own read-only id");
	body_errors(a, &a->create, "{\"resolved_at\":\"2026-03-19T15:30:00Z\",\"priority\":\"high\"}",
	            "invalid_value@resolved_at unknown_field@priority",
	            "Alert24 create: resolved_at read-only, priority unknown");
	body_errors(a, &a->update,
	            "{\"resolved_at\":\"2026-03-19T15:30:00.123Z\",\"acknowledged_at\":null,"
	            "\"incident_number\":4,\"message\":\"m\"}",
	            "invalid_value@incident_number unknown_field@message",
	            "Alert24 PUT: timestamps with milliseconds or null, no message");
}

static void
statly_filter(const char *query, const char *expected_status, const char *expected_errors)
{
	struct list_query q;
	struct errors e;
	char errs[512];

	memset(&e, 0, sizeof(e));
	list_query_parse(&q, query, dialect_statly.list_params, dialect_statly.status_words,
	                 dialect_statly.list_default_limit, 100, &e);
	errors_summary(&e, errs, sizeof(errs));
	is_str(errs, expected_errors, "Statly list ?%s: errors", query);
	if (expected_status != NULL)
		is_str(q.status, expected_status, "Statly list ?%s: stored statuses", query);
	list_query_free(&q);
	errors_clear(&e);
}

static void
test_list_params(void)
{
	statly_filter("status=investigating", "new,open,acknowledged,in_progress,investigating", "");
	statly_filter("status=resolved,identified", "resolved,postmortem,closed,identified", "");
	statly_filter("status=open", NULL, "invalid_value@status");
	statly_filter("offset=100&limit=100", NULL, "");
	statly_filter("page=2&severity=major&tag=x", NULL,
	              "unknown_field@page unknown_field@severity unknown_field@tag");
}

/* Rows hold tags and affected_services as jsonb text. */
static void
test_strlist_rows(void)
{
	struct strlist l;

	ok(strlist_from_json(&l, "[]") == 0 && l.n == 0 && l.items == NULL,
	   "an empty array reads as an empty list");
	ok(strlist_from_json(&l, "[\"db\", \"pg \\\"main\\\"\"]") == 0 && l.n == 2 &&
	       strcmp(l.items[1], "pg \"main\"") == 0,
	   "a non-empty one is parsed, escapes and all");
	strlist_free(&l);
	ok(strlist_from_json(&l, "[] ") == 0 && l.n == 0, "an empty array with a trailing space too");
	strlist_free(&l);
	ok(strlist_from_json(&l, "{}") != 0, "anything but an array is refused");
	/* jsonb's own form without escapes is read without the parser: the
	 * same lists as the parser gives, and anything else still reaches it */
	ok(strlist_from_json(&l, "[\"db\", \"eu west\", \"\xc3\xa4\"]") == 0 && l.n == 3 &&
	       strcmp(l.items[0], "db") == 0 && strcmp(l.items[1], "eu west") == 0 &&
	       strcmp(l.items[2], "\xc3\xa4") == 0,
	   "jsonb's text of plain names: every name, spaces and UTF-8 kept");
	strlist_free(&l);
	ok(strlist_from_json(&l, "[\"\"]") == 0 && l.n == 1 && l.items[0][0] == '\0',
	   "an empty name is a name");
	strlist_free(&l);
	ok(strlist_from_json(&l, "[\"a\",\"b\"]") == 0 && l.n == 2 && strcmp(l.items[1], "b") == 0,
	   "compact JSON (not jsonb's form) goes to the parser and reads the same");
	strlist_free(&l);
	ok(strlist_from_json(&l, "[\"a\", 1, \"b\"]") == 0 && l.n == 2 && strcmp(l.items[1], "b") == 0,
	   "a non-string member goes to the parser, which skips it");
	strlist_free(&l);
	ok(strlist_from_json(&l, "[\"a\", \"b\"") != 0, "an unclosed array is refused");
	ok(strlist_from_json(&l, "[\"a\"]x") != 0, "trailing text is refused");
}

void
test_dialect(void)
{
	test_strlist_rows();
	test_routes();
	test_collection();
	test_ref();
	test_render();
	test_words();
	test_bodies();
	test_list_params();
}
