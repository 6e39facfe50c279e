/* clock.c — "now", and RFC 3339 timestamps in and out. */
#include "core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
clock_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
clock_monotonic_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n decimal digits of v, zero-padded, at p */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
time_format(int64_t t, char out[TIME_TEXT_LEN])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t < TIME_MIN || t > TIME_MAX || gmtime_r(&tt, &tm) == NULL) {
		memset(&tm, 0, sizeof(tm)); /* 1970-01-01T00:00:00Z */
		tm.tm_year = 70;
		tm.tm_mday = 1;
	}
	/* by hand, not snprintf: a list page formats some 300 of these, and
	 * printf's format parsing was the largest share of rendering one */
	memcpy(out, "0000-00-00T00:00:00Z", TIME_TEXT_LEN);
	put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
	put_digits(out + 5, (unsigned)(tm.tm_mon + 1), 2);
	put_digits(out + 8, (unsigned)tm.tm_mday, 2);
	put_digits(out + 11, (unsigned)tm.tm_hour, 2);
	put_digits(out + 14, (unsigned)tm.tm_min, 2);
	put_digits(out + 17, (unsigned)tm.tm_sec, 2);
}

/* Seconds with a millisecond part, as the Alert24 dialect writes times:
 * times are kept to the second, so it is always ".000". */
void
time_format_millis(int64_t t, char out[TIME_MILLIS_TEXT_LEN])
{
	char seconds[TIME_TEXT_LEN];

	time_format(t, seconds);
	snprintf(out, TIME_MILLIS_TEXT_LEN, "%.19s.000Z", seconds);
}

/* Reads exactly n digits at *p. */
static int
digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return -1;
	while (n-- > 0) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return 0;
}

static int
expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static int
parse_offset(const char **p, const char *end, int64_t *offset)
{
	int sign, hh, mm;

	if (*p < end && (**p == 'Z' || **p == 'z')) {
		(*p)++;
		*offset = 0;
		return 0;
	}
	if (*p >= end || (**p != '+' && **p != '-'))
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (digits(p, end, 2, &hh) || expect(p, end, ':') || digits(p, end, 2, &mm) ||
	    hh > 23 || mm > 59)
		return -1;
	*offset = sign * (hh * 3600 + mm * 60);
	return 0;
}

int
time_parse(const char *s, size_t len, int64_t *out)
{
	const char *p = s, *end = s + len;
	int year, mon, day, hh, mm, ss;
	int64_t offset, t;
	struct tm tm;

	if (digits(&p, end, 4, &year) || expect(&p, end, '-') || digits(&p, end, 2, &mon) ||
	    expect(&p, end, '-') || digits(&p, end, 2, &day))
		return -1;
	if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, end, 2, &hh) || expect(&p, end, ':') || digits(&p, end, 2, &mm) ||
	    expect(&p, end, ':') || digits(&p, end, 2, &ss))
		return -1;
	if (p < end && *p == '.') {
		const char *frac = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == frac || p - frac > 9)
			return -1;
	}
	if (parse_offset(&p, end, &offset) || p != end)
		return -1;
	if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hh > 23 || mm > 59 || ss > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss == 60 ? 59 : ss; /* a leap second is held at :59 */
	t = (int64_t)timegm(&tm) - offset;
	/* an offset may carry the instant out of the years it can be written in */
	if (t < TIME_MIN || t > TIME_MAX)
		return -1;
	*out = t;
	return 0;
}
