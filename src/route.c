/* route.c — the route table: every URL incidentd answers, the role it needs
 * and the handler that answers it.  /v1/tickets and /v1/incidents are one
 * resource (":coll"). */
#include "api.h"

#include <stdio.h>
#include <string.h>

static const struct route routes[] = {
	{"GET", "/healthz", ROLE_NONE, health_check},
	{"GET", "/incidents/status.css", ROLE_NONE, status_page_css},
	{"GET", "/incidents/status.js", ROLE_NONE, status_page_js},
	{"GET", "/incidents/status/:token", ROLE_NONE, status_page},
	{"GET", "/v1/:coll", ROLE_READ, incident_list},
	{"POST", "/v1/:coll", ROLE_WRITE, incident_create},
	{"GET", "/v1/:coll/:id", ROLE_READ, incident_get},
	{"PATCH", "/v1/:coll/:id", ROLE_WRITE, incident_update},
	{"PUT", "/v1/:coll/:id", ROLE_WRITE, incident_update},
	{"DELETE", "/v1/:coll/:id", ROLE_WRITE, incident_delete},
	{"GET", "/v1/:coll/:id/replies", ROLE_READ, reply_list},
	{"POST", "/v1/:coll/:id/replies", ROLE_WRITE, reply_create},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Ids are positive and fit a JSON number exactly (≤ 2^53). */
static int
match_id(const char *seg, size_t len, int64_t *out)
{
	char tmp[24];

	if (len == 0 || len >= 17 || seg[0] == '0')
		return 0;
	memcpy(tmp, seg, len);
	tmp[len] = '\0';
	if (strspn(tmp, "0123456789") != len)
		return 0;
	return parse_int64(tmp, 1, (int64_t)1 << 53, out) == 0;
}

static int
match_token(const char *seg, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (len == 0 || len >= outlen)
		return 0;
	for (i = 0; i < len; i++) {
		char c = seg[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	memcpy(out, seg, len);
	out[len] = '\0';
	return 1;
}

static int
match_segment(const char *pat, size_t plen, const char *seg, size_t slen,
              struct route_params *params)
{
	if (plen == 5 && memcmp(pat, ":coll", 5) == 0) {
		if (slen == 7 && memcmp(seg, "tickets", 7) == 0)
			params->coll = "tickets";
		else if (slen == 9 && memcmp(seg, "incidents", 9) == 0)
			params->coll = "incidents";
		else
			return 0;
		return 1;
	}
	if (plen == 3 && memcmp(pat, ":id", 3) == 0)
		return match_id(seg, slen, &params->id);
	if (plen == 6 && memcmp(pat, ":token", 6) == 0)
		return match_token(seg, slen, params->token, sizeof(params->token));
	return plen == slen && memcmp(pat, seg, plen) == 0;
}

/* Walks pattern and path segment by segment. */
static int
match_path(const char *pattern, const char *path, struct route_params *params)
{
	const char *p = pattern, *s = path;

	while (*p == '/' && *s == '/') {
		size_t plen = strcspn(++p, "/"), slen = strcspn(++s, "/");

		if (!match_segment(p, plen, s, slen, params))
			return 0;
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

static void
allow_add(char *allow, size_t allowlen, const char *method)
{
	size_t used = strlen(allow);

	if (strstr(allow, method) != NULL)
		return;
	snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", method);
}

enum route_result
route_match(const char *method, const char *path, const struct route **out,
            struct route_params *params, char *allow, size_t allowlen)
{
	/* HEAD is answered as GET without the body. */
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int path_matched = 0;
	size_t i;

	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		struct route_params tmp;

		memset(&tmp, 0, sizeof(tmp));
		if (!match_path(routes[i].pattern, path, &tmp))
			continue;
		if (strcmp(routes[i].method, m) == 0) {
			*out = &routes[i];
			*params = tmp;
			return ROUTE_FOUND;
		}
		path_matched = 1;
		allow_add(allow, allowlen, routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			allow_add(allow, allowlen, "HEAD");
	}
	return path_matched ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}

