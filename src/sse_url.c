/* sse_url.c — the parts of a stream request that come from the URL and its
 * headers: the resume point (Last-Event-ID or ?last_event_id=) and the public
 * stream's token.  Pure functions of their strings, so they are unit tested
 * and fuzzed without a server (t/unit/test_sse_url.c, t/fuzz/). */
#include "sse.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#define LAST_EVENT_ID_MAX_DIGITS 16

/* The header wins over the query; -1 when neither names one, -2 if malformed. */
int64_t
sse_url_last_event_id(const char *header, const char *query)
{
	const char *v = header;
	struct evkeyvalq q;
	int64_t id = -1;

	TAILQ_INIT(&q);
	if (v == NULL && query != NULL && evhttp_parse_query_str(query, &q) == 0)
		v = evhttp_find_header(&q, "last_event_id");
	/* a %00 decodes to a NUL that cuts a value short ("4%005" is not 4);
	 * streams take no other parameter, so any NUL makes the query malformed */
	if (v != NULL && v != header && strstr(query, "%00") != NULL)
		id = -2;
	else if (v != NULL && (strlen(v) == 0 || strlen(v) > LAST_EVENT_ID_MAX_DIGITS ||
	                  strspn(v, "0123456789") != strlen(v) ||
	                  parse_int64(v, 0, INT64_MAX, &id) != 0))
		id = -2;
	evhttp_clear_headers(&q);
	return id;
}

/* "/incidents/status/<token>/stream" → token (URL-safe characters only). */
int
sse_url_public_token(const char *path, char *out, size_t outlen)
{
	static const char prefix[] = "/incidents/status/", suffix[] = "/stream";
	size_t plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1, len = strlen(path), tlen;

	if (len <= plen + slen || strncmp(path, prefix, plen) != 0 ||
	    strcmp(path + len - slen, suffix) != 0)
		return 0;
	tlen = len - plen - slen;
	if (tlen >= outlen || strspn(path + plen, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                          "0123456789-_") != tlen)
		return 0;
	memcpy(out, path + plen, tlen);
	out[tlen] = '\0';
	return 1;
}
