/* test_route.c — route_match over the whole table, ids, tokens, HEAD, 405
 * with its Allow list, unknown paths; role names. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct found_case {
	const char *method;
	const char *path;
	handler_fn handler;
	enum role role;
	const char *coll;
	int64_t id;
	const char *token;
};

static void
check_found(const struct found_case *c)
{
	const struct route *r = NULL;
	struct route_params p;
	char allow[64] = "junk";
	enum route_result res;

	memset(&p, 0, sizeof(p));
	res = route_match(c->method, c->path, &dialect_alert24, &r, &p, allow, sizeof(allow));
	if (!is_int(res, ROUTE_FOUND, "%s %s found", c->method, c->path))
		return;
	ok(r->handler == c->handler, "%s %s: handler", c->method, c->path);
	is_str(role_name(r->role), role_name(c->role), "%s %s: role", c->method, c->path);
	is_str(p.coll, c->coll, "%s %s: collection", c->method, c->path);
	is_int(p.id, c->id, "%s %s: id", c->method, c->path);
	is_str(p.token, c->token, "%s %s: token", c->method, c->path);
}

static void
test_found(void)
{
	static const char *const colls[] = {"tickets", "incidents"};
	char path[128];
	size_t i, j;

	for (i = 0; i < 2; i++) {
		const char *c = colls[i];
		/* path here is what follows /v1/<coll> */
		const struct found_case cases[] = {
			{"GET", "", incident_list, ROLE_READ, c, 0, ""},
			{"HEAD", "", incident_list, ROLE_READ, c, 0, ""},
			{"POST", "", incident_create, ROLE_WRITE, c, 0, ""},
			{"GET", "/42", incident_get, ROLE_READ, c, 42, ""},
			{"HEAD", "/42", incident_get, ROLE_READ, c, 42, ""},
			{"PATCH", "/42", incident_update, ROLE_WRITE, c, 42, ""},
			{"PUT", "/42", incident_update, ROLE_WRITE, c, 42, ""},
			{"DELETE", "/42", incident_delete, ROLE_WRITE, c, 42, ""},
			{"GET", "/7/replies", reply_list, ROLE_READ, c, 7, ""},
			{"POST", "/7/replies", reply_create, ROLE_WRITE, c, 7, ""},
			{"GET", "/1", incident_get, ROLE_READ, c, 1, ""},
			{"GET", "/9007199254740992", incident_get, ROLE_READ, c, 9007199254740992LL,
			 ""},
		};

		for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			struct found_case fc = cases[j];

			snprintf(path, sizeof(path), "/v1/%s%s", c, cases[j].path);
			fc.path = path;
			check_found(&fc);
		}
	}
}

static void
test_found_other(void)
{
	static const struct found_case cases[] = {
		{"GET", "/healthz", health_check, ROLE_NONE, NULL, 0, ""},
		{"HEAD", "/healthz", health_check, ROLE_NONE, NULL, 0, ""},
		{"GET", "/incidents/status.css", status_page_css, ROLE_NONE, NULL, 0, ""},
		{"GET", "/incidents/favicon.svg", status_page_favicon, ROLE_NONE, NULL, 0, ""},
		{"GET", "/incidents/status/AbC-12_xyz", status_page, ROLE_NONE, NULL, 0, "AbC-12_xyz"},
		{"HEAD", "/incidents/status/t", status_page, ROLE_NONE, NULL, 0, "t"},
	};
	struct found_case fc;
	char *tok79 = str_repeat("a", 79), *path;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_found(&cases[i]);
	path = xprintf("/incidents/status/%s", tok79);
	fc = (struct found_case){"GET", path, status_page, ROLE_NONE, NULL, 0, tok79};
	check_found(&fc);
	free(path);
	free(tok79);
}

static void
not_found(const char *method, const char *path)
{
	const struct route *r = NULL;
	struct route_params p;
	char allow[64] = "junk";

	is_int(route_match(method, path, &dialect_alert24, &r, &p, allow, sizeof(allow)), ROUTE_NOT_FOUND,
	       "%s \"%s\" not found", method, path);
	ok(r == NULL && allow[0] == '\0', "%s \"%s\": no route, empty Allow", method, path);
}

static void
test_not_found(void)
{
	char *tok80 = str_repeat("a", 80), *path = xprintf("/incidents/status/%s", tok80);

	not_found("GET", "/v1/tickets/0");
	not_found("GET", "/v1/tickets/007");
	not_found("GET", "/v1/incidents/9007199254740993");
	not_found("GET", "/v1/tickets/99999999999999999999");
	not_found("GET", "/v1/tickets/12a");
	not_found("GET", "/v1/tickets/-1");
	not_found("GET", "/v1/tickets/+1");
	not_found("GET", "/v1/tickets/1.0");
	not_found("GET", "/v1/tickets/1e3");
	not_found("DELETE", "/v1/tickets/abc");
	not_found("GET", "/v1/tickets/abc/replies");
	not_found("GET", path);
	not_found("GET", "/incidents/status/a.b");
	not_found("GET", "/incidents/status/a%2Fb");
	not_found("GET", "/incidents/status/");
	not_found("GET", "/incidents/status");
	not_found("GET", "/incidents/status/tok/stream");
	not_found("GET", "");
	not_found("GET", "/");
	not_found("GET", "/v1");
	not_found("GET", "/v1/");
	not_found("GET", "/v2/tickets");
	not_found("GET", "/v1/ticket");
	not_found("GET", "/v1/Tickets");
	not_found("POST", "/v1/widgets");
	not_found("GET", "/v1/tickets/");
	not_found("GET", "/v1/tickets/1/");
	not_found("GET", "/v1/tickets/1/replies/");
	not_found("GET", "/v1/tickets/1/replies/2");
	not_found("GET", "/v1/tickets/1/comments");
	not_found("GET", "/v1//tickets");
	not_found("GET", "//v1/tickets");
	not_found("GET", "/healthz/");
	not_found("GET", "/healthzz");
	not_found("GET", "v1/tickets");
	free(path);
	free(tok80);
}

static void
not_allowed(const char *method, const char *path, const char *expected_allow)
{
	const struct route *r = NULL;
	struct route_params p;
	char allow[64] = "junk";

	is_int(route_match(method, path, &dialect_alert24, &r, &p, allow, sizeof(allow)), ROUTE_METHOD_NOT_ALLOWED,
	       "%s %s is 405", method, path);
	is_str(allow, expected_allow, "%s %s: Allow", method, path);
}

static void
test_not_allowed(void)
{
	const struct route *r = NULL;
	struct route_params p;
	char allow[16];

	not_allowed("DELETE", "/v1/tickets", "GET, HEAD, POST");
	not_allowed("PATCH", "/v1/incidents", "GET, HEAD, POST");
	not_allowed("OPTIONS", "/v1/tickets", "GET, HEAD, POST");
	not_allowed("POST", "/v1/tickets/5", "GET, HEAD, PATCH, PUT, DELETE");
	not_allowed("OPTIONS", "/v1/incidents/9007199254740992", "GET, HEAD, PATCH, PUT, DELETE");
	not_allowed("PUT", "/v1/incidents/5/replies", "GET, HEAD, POST");
	not_allowed("DELETE", "/v1/tickets/5/replies", "GET, HEAD, POST");
	not_allowed("POST", "/healthz", "GET, HEAD");
	not_allowed("POST", "/incidents/status.css", "GET, HEAD");
	not_allowed("DELETE", "/incidents/status/tok", "GET, HEAD");
	not_allowed("get", "/healthz", "GET, HEAD");

	memset(allow, '#', sizeof(allow));
	is_int(route_match("DELETE", "/v1/tickets", &dialect_alert24, &r, &p, allow, 10), ROUTE_METHOD_NOT_ALLOWED,
	       "405 with a short Allow buffer");
	is_str(allow, "GET, HEAD", "Allow truncated inside its buffer");
	ok(allow[10] == '#' && allow[15] == '#', "nothing written past allowlen");
}

static void
test_roles(void)
{
	static const struct {
		const char *name;
		enum role role;
	} roles[] = {{"read", ROLE_READ}, {"write", ROLE_WRITE}, {"admin", ROLE_ADMIN}};
	enum role r;
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		r = ROLE_NONE;
		ok(role_parse(roles[i].name, &r) == 0 && r == roles[i].role, "role_parse(%s)",
		   roles[i].name);
		is_str(role_name(roles[i].role), roles[i].name, "role_name of %s", roles[i].name);
	}
	is_str(role_name(ROLE_NONE), "none", "role_name(ROLE_NONE)");
	r = ROLE_READ;
	ok(role_parse("none", &r) == -1 && r == ROLE_READ, "none is not a role a key can have");
	ok(role_parse("Admin", &r) == -1, "roles are case-sensitive");
	ok(role_parse("", &r) == -1, "empty role");
	ok(role_parse("superuser", &r) == -1, "unknown role");
	ok(ROLE_READ < ROLE_WRITE && ROLE_WRITE < ROLE_ADMIN, "roles are ordered read < write < admin");
}

void
test_route(void)
{
	test_found();
	test_found_other();
	test_not_found();
	test_not_allowed();
	test_roles();
}
