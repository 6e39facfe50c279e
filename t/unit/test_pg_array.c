/* test_pg_array.c — the binary arrays incidentd-hooks sends as parameters,
 * byte for byte as PostgreSQL's array_recv reads them (the API and stream
 * tests check that PostgreSQL takes them: every delivery row goes in so). */
#include "tap.h"

#include <string.h>

static int
same_bytes(const char *got, int len, const unsigned char *want, size_t want_len)
{
	return len >= 0 && (size_t)len == want_len && memcmp(got, want, want_len) == 0;
}

static void
test_elements(void)
{
	static const unsigned char want[] = {
	    0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 3, 0, 0, 0, 1, /* header */
	    0, 0, 0, 2, 'o', 'k',                                      /* "ok" */
	    0xff, 0xff, 0xff, 0xff,                                    /* NULL */
	    0, 0, 0, 0,                                                /* "" */
	};
	struct pg_array a;
	const char *got;
	int len;

	pg_array_open(&a, PG_OID_TEXT, 0);
	pg_array_text(&a, "ok");
	pg_array_text(&a, NULL);
	pg_array_text(&a, "");
	got = pg_array_close(&a, &len);
	ok(same_bytes(got, len, want, sizeof(want)),
	   "text[]: the header says one dimension of 3 with a NULL; lengths before bytes");
	pg_array_free(&a);
}

static void
test_integers(void)
{
	static const unsigned char want8[] = {
	    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1,
	    0, 0, 0, 8, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	    0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* -2 */
	};
	static const unsigned char want4[] = {
	    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1,
	    0, 0, 0, 4, 0x80, 0, 0, 0, /* INT32_MIN */
	    0, 0, 0, 4, 0, 0, 0x01, 0xf4, /* 500 */
	};
	struct pg_array a;
	const char *got;
	int len;

	pg_array_open(&a, PG_OID_INT8, 0);
	pg_array_int8(&a, INT64_C(0x0123456789abcdef));
	pg_array_int8(&a, -2);
	got = pg_array_close(&a, &len);
	ok(same_bytes(got, len, want8, sizeof(want8)), "int8[]: big-endian, negatives in two's complement");
	pg_array_free(&a);
	pg_array_open(&a, PG_OID_INT4, 0);
	pg_array_int4(&a, INT32_MIN);
	pg_array_int4(&a, 500);
	got = pg_array_close(&a, &len);
	ok(same_bytes(got, len, want4, sizeof(want4)), "int4[]: four bytes each");
	pg_array_free(&a);
}

static void
test_empty(void)
{
	static const unsigned char want[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23};
	struct pg_array a;
	const char *got;
	int len;

	pg_array_open(&a, PG_OID_INT4, 0);
	got = pg_array_close(&a, &len);
	ok(same_bytes(got, len, want, sizeof(want)), "an empty array has no dimension");
	pg_array_free(&a);
}

void
test_pg_array(void)
{
	test_elements();
	test_integers();
	test_empty();
}
