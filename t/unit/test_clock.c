/* test_clock.c — RFC 3339 out (time_format) and in (time_parse), clock_now
 * and a request's now (request_now, with the test clock). */
#include "tap.h"

#include <string.h>
#include <time.h>

#define T0 1773558000 /* 2026-03-15T07:00:00Z */

static void
format_is(int64_t t, const char *expected)
{
	char out[TIME_TEXT_LEN];

	memset(out, 'x', sizeof(out));
	time_format(t, out);
	is_str(out, expected, "time_format(%lld)", (long long)t);
}

static void
test_format(void)
{
	format_is(0, "1970-01-01T00:00:00Z");
	format_is(T0, "2026-03-15T07:00:00Z");
	format_is(1709164800, "2024-02-29T00:00:00Z");
	format_is(946684799, "1999-12-31T23:59:59Z");
	format_is(253402300799LL, "9999-12-31T23:59:59Z");
	/* four-digit years all the way down (found by t/fuzz/fuzz-json-body) */
	format_is(-30610224001LL, "0999-12-31T23:59:59Z");
	format_is(-62135596800LL, "0001-01-01T00:00:00Z");
	is_int(strlen("2026-03-15T07:00:00Z") + 1, TIME_TEXT_LEN, "TIME_TEXT_LEN fits one stamp");
}

static void
parse_is(const char *s, int64_t expected)
{
	int64_t t = -1;

	if (ok(time_parse(s, strlen(s), &t) == 0, "accepts %s", s))
		is_int(t, expected, "%s", s);
}

static void
rejects(const char *s)
{
	int64_t t = 12345;

	ok(time_parse(s, strlen(s), &t) == -1 && t == 12345, "rejects \"%s\"", s);
}

static void
test_parse_valid(void)
{
	int64_t t = 0;

	parse_is("2026-03-15T07:00:00Z", T0);
	parse_is("2026-03-15t07:00:00z", T0);
	parse_is("2026-03-15 07:00:00Z", T0);
	parse_is("2026-03-15T09:00:00+02:00", T0);
	parse_is("2026-03-15T01:30:00-05:30", T0);
	parse_is("2026-03-15T07:00:00+00:00", T0);
	parse_is("2026-03-15T07:00:00-00:00", T0);
	parse_is("2026-03-16T06:59:00+23:59", T0);
	parse_is("2026-03-15T07:00:00.5Z", T0);
	parse_is("2026-03-15T07:00:00.999999999Z", T0);
	parse_is("2026-03-15T09:00:00.123+02:00", T0);
	parse_is("2026-03-14T23:00:00-08:00", T0);
	parse_is("2024-02-29T00:00:00Z", 1709164800);
	parse_is("2000-02-29T00:00:00Z", 951782400);
	parse_is("1970-01-01T00:00:00Z", 0);
	parse_is("1969-12-31T23:59:59Z", -1);
	parse_is("2026-12-31T23:59:59Z", 1798761599);
	parse_is("2016-12-31T23:59:60Z", 1483228799); /* a leap second is held at :59 */
	parse_is("0999-01-01T00:00:00Z", -30641760000LL);
	parse_is("0001-01-01T00:00:00Z", -62135596800LL);
	parse_is("0001-01-01T00:00:00-00:01", -62135596740LL);
	parse_is("9999-12-31T23:59:59Z", 253402300799LL);
	parse_is("9999-12-31T23:59:59+00:01", 253402300739LL);
	ok(time_parse("2026-03-15T07:00:00Zjunk", 20, &t) == 0 && t == T0,
	   "only len bytes are parsed");
}

static void
test_parse_invalid(void)
{
	int64_t t;

	rejects("");
	rejects("garbage");
	rejects("2026-03-15");
	rejects("2026-03-15T07:00Z");
	rejects("2026-03-15T07:00:00");
	rejects("2026-03-15T07:00:00Z ");
	rejects(" 2026-03-15T07:00:00Z");
	rejects("2026-03-15T07:00:00ZZ");
	rejects("2026-03-15T07:00:00UTC");
	rejects("2026-03-15T07:00:00+0200");
	rejects("2026-03-15T07:00:00+02");
	rejects("2026-03-15T07:00:00+24:00");
	rejects("2026-03-15T07:00:00+02:60");
	rejects("2026-03-15T07:00:00.Z");
	rejects("2026-03-15T07:00:00.1234567890Z");
	rejects("2026-03-15T07:00:00,5Z");
	rejects("2026-03-15X07:00:00Z");
	rejects("2026-3-15T07:00:00Z");
	rejects("26-03-15T07:00:00Z");
	rejects("+2026-03-15T07:00:00Z");
	rejects("2023-02-29T00:00:00Z");
	rejects("1900-02-29T00:00:00Z");
	rejects("2026-00-10T00:00:00Z");
	rejects("2026-13-10T00:00:00Z");
	rejects("2026-01-00T00:00:00Z");
	rejects("2026-01-32T00:00:00Z");
	rejects("2026-04-31T00:00:00Z");
	rejects("2026-03-15T24:00:00Z");
	rejects("2026-03-15T07:60:00Z");
	rejects("2026-03-15T07:00:61Z");
	rejects("0000-01-01T00:00:00Z");
	/* an offset must not carry the instant out of years 0001..9999 in UTC,
	 * where it would have no RFC 3339 form to be rendered in */
	rejects("0001-01-01T00:00:00+00:01");
	rejects("9999-12-31T23:59:59-00:01");
	rejects("9999-12-31T23:30:00-23:59");
	rejects("2026-03-15T0a:00:00Z");
	ok(time_parse("2026-03-15T07:00:00\0Z", 21, &t) == -1, "rejects an embedded NUL");
}

static void
test_now(void)
{
	int64_t before = (int64_t)time(NULL), now = clock_now(), after = (int64_t)time(NULL);

	ok(now >= before && now <= after, "clock_now() is time(NULL)");
#ifdef INCIDENTD_TEST_CLOCK
	{
		char forced[] = "HTTP_X_TEST_NOW=1773558000", bad[] = "HTTP_X_TEST_NOW=soon";
		char *env_forced[] = {forced, NULL}, *env_bad[] = {bad, NULL};
		struct request req;

		memset(&req, 0, sizeof(req));
		req.env = env_forced;
		is_int(request_now(&req), T0, "test clock: X-Test-Now is the request's now");
		req.env = env_bad;
		now = request_now(&req);
		ok(now >= before && now <= (int64_t)time(NULL), "test clock: a bad X-Test-Now is ignored");
	}
#endif
}

void
test_clock(void)
{
	test_format();
	test_parse_valid();
	test_parse_invalid();
	test_now();
}
