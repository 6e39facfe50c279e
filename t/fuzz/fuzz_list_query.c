/* fuzz_list_query.c — a query string as GET /v1/tickets (filters on) and
 * GET .../replies (filters off) parse it, and the 422 envelope its errors
 * make.  What reaches PostgreSQL must be in range and valid UTF-8. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The query string is at most what nginx passes in a request line. */
#define FUZZ_QUERY_MAX 8192

static void
fuzz_check_text(const char *s)
{
	if (s != NULL && !utf8_valid(s, strlen(s)))
		abort();
}

static void
fuzz_check_envelope(const struct errors *e)
{
	char err[160];
	size_t len;
	char *out = errors_render(e, 422, "fuzz", NULL, &len);
	struct jval *v = json_parse(out, len, err, sizeof(err));

	if (v == NULL)
		abort(); /* an echoed parameter broke the envelope */
	json_free(v);
	free(out);
}

static void
fuzz_parse(const char *query, int with_filters, int64_t def, int64_t max)
{
	struct list_query q;
	struct errors e;

	memset(&e, 0, sizeof(e));
	list_query_parse(&q, query, with_filters ? dialect_v1.list_params : LP_PAGE | LP_OFFSET, NULL,
	                 def, max, &e);
	if (e.n == 0) {
		if (q.limit < 1 || q.limit > max || q.offset < 0)
			abort();
		if (!with_filters && (q.status || q.priority || q.severity || q.source || q.tag))
			abort();
		fuzz_check_text(q.status);
		fuzz_check_text(q.priority);
		fuzz_check_text(q.severity);
		fuzz_check_text(q.source);
		fuzz_check_text(q.tag);
	}
	fuzz_check_envelope(&e);
	errors_clear(&e);
	list_query_free(&q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query;

	if (size > FUZZ_QUERY_MAX)
		return 0;
	/* a C string, as FastCGI's QUERY_STRING is: a NUL byte ends it */
	query = xstrndup((const char *)data, size);
	fuzz_parse(query, 1, 50, 100);
	fuzz_parse(query, 0, 100, 1000);
	free(query);
	return 0;
}
