/* fuzz_stream_url.c — what incidentd-sse reads from a stream request's URL
 * and headers: the Last-Event-ID header, the ?last_event_id= query and the
 * public stream path /incidents/status/<token>/stream. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_URL_MAX 8192
#define FUZZ_PREFIX "/incidents/status/"
#define FUZZ_SUFFIX "/stream"
#define TOKEN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* -1 absent, -2 malformed, else an id of at most 16 digits. */
static void
fuzz_check_id(int64_t id)
{
	if (id < -2 || id > 9999999999999999LL)
		abort();
}

static void
fuzz_token(const char *path, size_t outlen)
{
	char *out = xmalloc(outlen);

	/* out holds exactly outlen bytes: ASan sees any write past them */
	if (sse_url_public_token(path, out, outlen)) {
		size_t n = strlen(out);
		if (n == 0 || n >= outlen || strspn(out, TOKEN_CHARS) != n ||
		    strlen(path) != strlen(FUZZ_PREFIX) + n + strlen(FUZZ_SUFFIX) ||
		    memcmp(path + strlen(FUZZ_PREFIX), out, n) != 0)
			abort();
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *nl;

	if (size > FUZZ_URL_MAX)
		return 0;
	s = xstrndup((const char *)data, size);
	fuzz_check_id(sse_url_last_event_id(s, NULL));
	fuzz_check_id(sse_url_last_event_id(NULL, s));
	/* "header\nquery": the header, when there is one, wins */
	nl = strchr(s, '\n');
	if (nl != NULL) {
		*nl = '\0';
		if (sse_url_last_event_id(s, nl + 1) != sse_url_last_event_id(s, NULL))
			abort();
		*nl = '\n';
	}
	fuzz_token(s, 80);
	fuzz_token(s, 1 + size % 32);
	free(s);
	return 0;
}
