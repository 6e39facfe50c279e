/* test_sse_url.c — sse_url_last_event_id (header, else query; -1 absent,
 * -2 malformed) and sse_url_public_token. */
#include "tap.h"

#include <string.h>

static void
last_event_id_is(const char *header, const char *query, int64_t expected)
{
	is_int(sse_url_last_event_id(header, query), expected, "Last-Event-ID %s%s%s, ?%s",
	       header != NULL ? "\"" : "", header != NULL ? header : "absent",
	       header != NULL ? "\"" : "", query != NULL ? query : "(none)");
}

static void
test_last_event_id(void)
{
	last_event_id_is(NULL, NULL, -1);
	last_event_id_is(NULL, "", -1);
	last_event_id_is(NULL, "foo=1", -1);
	last_event_id_is("0", NULL, 0);
	last_event_id_is("42", NULL, 42);
	last_event_id_is("9999999999999999", NULL, 9999999999999999LL);
	last_event_id_is(NULL, "last_event_id=7", 7);
	last_event_id_is(NULL, "a=1&last_event_id=%34%32&b=2", 42);
	last_event_id_is("5", "last_event_id=7", 5);
	last_event_id_is("5", "last_event_id=x", 5);

	last_event_id_is("", NULL, -2);
	last_event_id_is("-1", NULL, -2);
	last_event_id_is("+1", NULL, -2);
	last_event_id_is(" 1", NULL, -2);
	last_event_id_is("1 ", NULL, -2);
	last_event_id_is("1a", NULL, -2);
	last_event_id_is("0x10", NULL, -2);
	last_event_id_is("10000000000000000", NULL, -2);
	last_event_id_is("99999999999999999999", NULL, -2);
	last_event_id_is("x", "last_event_id=7", -2);
	last_event_id_is(NULL, "last_event_id=", -2);
	last_event_id_is(NULL, "last_event_id=-3", -2);
	last_event_id_is(NULL, "last_event_id=%FF", -2);
	last_event_id_is(NULL, "last_event_id=4%005", -2);
	last_event_id_is(NULL, "last_event_id=%00", -2);
	last_event_id_is(NULL, "x=%00&last_event_id=5", -2);
	last_event_id_is("5", "last_event_id=%00", 5);
}

static void
token_is(const char *path, size_t outlen, const char *expected)
{
	char out[128];
	int rc;

	memset(out, 'X', sizeof(out));
	rc = sse_url_public_token(path, out, outlen);
	if (expected == NULL) {
		is_int(rc, 0, "%s: not a public stream (outlen %zu)", path, outlen);
		is_int(out[0], 'X', "%s: out untouched", path);
	} else {
		is_int(rc, 1, "%s: a public stream", path);
		is_str(rc == 1 ? out : NULL, expected, "%s: its token", path);
	}
}

static void
test_public_token(void)
{
	token_is("/incidents/status/abcDEF123-_/stream", 80, "abcDEF123-_");
	token_is("/incidents/status/x/stream", 80, "x");
	token_is("/incidents/status/abcd/stream", 5, "abcd");

	token_is("/incidents/status/abcde/stream", 5, NULL);
	token_is("/incidents/status//stream", 80, NULL);
	token_is("/incidents/status/stream", 80, NULL);
	token_is("/incidents/status/", 80, NULL);
	token_is("", 80, NULL);
	token_is("/incidents/status/abc", 80, NULL);
	token_is("/incidents/status/abc/stream/", 80, NULL);
	token_is("/incidents/status/a/b/stream", 80, NULL);
	token_is("/incidents/status/a%2Fb/stream", 80, NULL);
	token_is("/incidents/status/a.b/stream", 80, NULL);
	token_is("/incidents/status/ab\xc3\xa9/stream", 80, NULL);
	token_is("/v1/incidents/status/abc/stream", 80, NULL);
	token_is("/Incidents/status/abc/stream", 80, NULL);
	token_is("/incidents/status/abc/Stream", 80, NULL);
}

void
test_sse_url(void)
{
	test_last_event_id();
	test_public_token();
}
