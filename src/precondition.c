/* precondition.c — If-Match and If-None-Match against an incident's ETag
 * (RFC 9110 §13): a stale If-Match on a write is 412, a matching
 * If-None-Match on a read is 304. */
#include "api.h"

#include <string.h>

/* Whether the header's list names etag ("*" names any).  If-Match compares
 * strongly (a weak tag W/"…" never matches); If-None-Match weakly. */
int
etag_listed(const char *header, const char *etag, int weak)
{
	const char *p = header;
	size_t etag_len = strlen(etag);

	while (*p != '\0') {
		int is_weak = 0;
		const char *end;

		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/') {
			is_weak = 1;
			p += 2;
		}
		if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
			return 0; /* not a list of entity tags: matches nothing */
		if ((weak || !is_weak) && (size_t)(end + 1 - p) == etag_len &&
		    memcmp(p, etag, etag_len) == 0)
			return 1;
		p = end + 1;
	}
	return 0;
}

int
precondition_if_match(struct request *req, const char *etag)
{
	const char *want = request_param(req, "HTTP_IF_MATCH");

	if (want == NULL || etag_listed(want, etag, 0))
		return 0;
	db_rollback(req->worker->db);
	request_header(req, "ETag: %s", etag);
	request_fail(req, 412, "etag_mismatch",
	             "The incident changed since the If-Match ETag; fetch it again and retry");
	return -1;
}

int
precondition_not_modified(struct request *req, const char *etag)
{
	const char *have = request_param(req, "HTTP_IF_NONE_MATCH");

	if (have == NULL || !etag_listed(have, etag, 1))
		return 0;
	request_header(req, "ETag: %s", etag);
	request_respond(req, 304, NULL, NULL, 0);
	return 1;
}
