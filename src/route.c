/* route.c — the route table: every URL incidentd answers, the role it needs,
 * the handler that answers it and the dialect it speaks.  /v1/tickets and
 * /v1/incidents are one resource (":coll"); the compatibility mounts are the
 * same handlers in other dialects. */
#include "api.h"

#include <stdio.h>
#include <string.h>

/* A dialect's incident routes under one prefix (DESIGN §8). */
#define ALERT24_ROUTES(prefix, mount)                                                   \
	{"GET", prefix, ROLE_READ, incident_list, &dialect_alert24, mount},              \
	    {"POST", prefix, ROLE_WRITE, incident_create, &dialect_alert24, mount},      \
	    {"GET", prefix "/:ref", ROLE_READ, incident_get, &dialect_alert24, mount},   \
	    {"PUT", prefix "/:ref", ROLE_WRITE, incident_update, &dialect_alert24, mount}, \
	    {"PATCH", prefix "/:ref", ROLE_WRITE, incident_update, &dialect_alert24, mount}, \
	    {"DELETE", prefix "/:ref", ROLE_WRITE, incident_delete, &dialect_alert24, mount}
#define STATLY_ROUTES(prefix, mount)                                                    \
	{"GET", prefix, ROLE_READ, incident_list, &dialect_statly, mount},               \
	    {"POST", prefix, ROLE_WRITE, incident_create, &dialect_statly, mount},       \
	    {"GET", prefix "/:ref", ROLE_READ, incident_get, &dialect_statly, mount},    \
	    {"PATCH", prefix "/:ref", ROLE_WRITE, incident_update, &dialect_statly, mount}, \
	    {"DELETE", prefix "/:ref", ROLE_WRITE, incident_delete, &dialect_statly, mount}, \
	    {"POST", prefix "/:ref/updates", ROLE_WRITE, incident_add_update, &dialect_statly, mount}

static const struct route routes[] = {
	{"GET", "/healthz", ROLE_NONE, health_check, NULL, MOUNT_ALWAYS},
	/* nginx passes /metrics from loopback addresses only */
	{"GET", "/metrics", ROLE_NONE, metrics_scrape, NULL, MOUNT_ALWAYS},
	{"GET", "/incidents/status.css", ROLE_NONE, status_page_css, NULL, MOUNT_ALWAYS},
	{"GET", "/incidents/status.js", ROLE_NONE, status_page_js, NULL, MOUNT_ALWAYS},
	{"GET", "/incidents/favicon.svg", ROLE_NONE, status_page_favicon, NULL, MOUNT_ALWAYS},
	{"GET", "/incidents/status/:token", ROLE_NONE, status_page, NULL, MOUNT_ALWAYS},
	{"GET", "/incidents/status/:token/feed.atom", ROLE_NONE, status_feed, NULL, MOUNT_ALWAYS},
	{"GET", "/v1/openapi.json", ROLE_NONE, openapi_document, NULL, MOUNT_ALWAYS},
	{"GET", "/v1/:coll", ROLE_READ, incident_list, &dialect_v1, MOUNT_ALWAYS},
	{"POST", "/v1/:coll", ROLE_WRITE, incident_create, &dialect_v1, MOUNT_ALWAYS},
	{"GET", "/v1/:coll/:ref", ROLE_READ, incident_get, &dialect_v1, MOUNT_ALWAYS},
	{"PATCH", "/v1/:coll/:ref", ROLE_WRITE, incident_update, &dialect_v1, MOUNT_ALWAYS},
	{"PUT", "/v1/:coll/:ref", ROLE_WRITE, incident_update, &dialect_v1, MOUNT_ALWAYS},
	{"DELETE", "/v1/:coll/:ref", ROLE_WRITE, incident_delete, &dialect_v1, MOUNT_ALWAYS},
	{"GET", "/v1/:coll/:ref/replies", ROLE_READ, reply_list, &dialect_v1, MOUNT_ALWAYS},
	{"POST", "/v1/:coll/:ref/replies", ROLE_WRITE, reply_create, &dialect_v1, MOUNT_ALWAYS},
	/* webhook subscriptions: admin only, like the keys they resemble */
	{"GET", "/v1/webhooks", ROLE_ADMIN, webhook_list, NULL, MOUNT_ALWAYS},
	{"POST", "/v1/webhooks", ROLE_ADMIN, webhook_create, NULL, MOUNT_ALWAYS},
	{"GET", "/v1/webhooks/:uuid", ROLE_ADMIN, webhook_get, NULL, MOUNT_ALWAYS},
	{"PATCH", "/v1/webhooks/:uuid", ROLE_ADMIN, webhook_update, NULL, MOUNT_ALWAYS},
	{"DELETE", "/v1/webhooks/:uuid", ROLE_ADMIN, webhook_delete, NULL, MOUNT_ALWAYS},
	{"POST", "/v1/webhooks/:uuid/rotate-secret", ROLE_ADMIN, webhook_rotate_secret, NULL,
	 MOUNT_ALWAYS},
	{"GET", "/v1/webhooks/:uuid/deliveries", ROLE_ADMIN, webhook_deliveries, NULL, MOUNT_ALWAYS},
	{"POST", "/v1/webhooks/:uuid/replay", ROLE_ADMIN, webhook_replay, NULL, MOUNT_ALWAYS},
	ALERT24_ROUTES("/compat/alert24/api/v1/incidents", MOUNT_ALWAYS),
	STATLY_ROUTES("/compat/statly/api/v1/incidents", MOUNT_ALWAYS),
	/* /api/v1: the dialect config api_v1 names answers there */
	ALERT24_ROUTES("/api/v1/incidents", MOUNT_API_V1),
	STATLY_ROUTES("/api/v1/incidents", MOUNT_API_V1),
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

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
match_segment(const struct route *r, const char *pat, size_t plen, const char *seg, size_t slen,
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
	/* an id not in the dialect's form is no incident: 404, like a missing one */
	if (plen == 4 && memcmp(pat, ":ref", 4) == 0)
		return dialect_parse_ref(r->dialect, seg, slen, params);
	if (plen == 6 && memcmp(pat, ":token", 6) == 0)
		return match_token(seg, slen, params->token, sizeof(params->token));
	/* a webhook subscription: anything but a UUID is no subscription (404) */
	if (plen == 5 && memcmp(pat, ":uuid", 5) == 0)
		return dialect_parse_uuid(seg, slen, params->uuid);
	return plen == slen && memcmp(pat, seg, plen) == 0;
}

/* Walks pattern and path segment by segment. */
static int
match_path(const struct route *r, const char *path, struct route_params *params)
{
	const char *p = r->pattern, *s = path;

	while (*p == '/' && *s == '/') {
		size_t plen = strcspn(++p, "/"), slen = strcspn(++s, "/");

		if (!match_segment(r, p, plen, s, slen, params))
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
route_match(const char *method, const char *path, const struct dialect *api_v1,
            const struct route **out, struct route_params *params, char *allow, size_t allowlen)
{
	/* HEAD is answered as GET without the body. */
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int path_matched = 0;
	size_t i;

	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		struct route_params tmp;

		if (routes[i].mount == MOUNT_API_V1 && routes[i].dialect != api_v1)
			continue;
		memset(&tmp, 0, sizeof(tmp));
		if (!match_path(&routes[i], path, &tmp))
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


size_t
route_collection_len(const struct route *r, const char *path)
{
	const char *p = r->pattern, *s = path;

	while (*p == '/' && *s == '/' && strncmp(p + 1, ":ref", 4) != 0) {
		p += 1 + strcspn(p + 1, "/");
		s += 1 + strcspn(s + 1, "/");
	}
	return (size_t)(s - path);
}

size_t
route_count(void)
{
	return NROUTES;
}

const struct route *
route_at(size_t i)
{
	return i < NROUTES ? &routes[i] : NULL;
}

size_t
route_index(const struct route *r)
{
	return (size_t)(r - routes);
}
