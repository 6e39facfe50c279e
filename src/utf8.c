/* utf8.c — strict UTF-8 validation (yajl lets overlong forms, surrogates and
 * code points past U+10FFFF through) and lengths in code points. */
#include "core.h"

size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

const char *
text_trim(const char *s, size_t len, size_t *outlen)
{
	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	*outlen = len;
	return s;
}

/* RFC 3629: shortest form only, no surrogates, nothing above U+10FFFF. */
size_t
utf8_next(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t more, i;

	if (len == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		more = 1;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		more = 2;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		more = 3;
	else
		return 0;
	if (p[0] == 0xE0)
		lo = 0xA0; /* overlong */
	else if (p[0] == 0xED)
		hi = 0x9F; /* surrogates */
	else if (p[0] == 0xF0)
		lo = 0x90; /* overlong */
	else if (p[0] == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (len - 1 < more || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= more; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return more + 1;
}

int
utf8_valid(const char *s, size_t len)
{
	while (len > 0) {
		size_t n = utf8_next(s, len);

		if (n == 0)
			return 0;
		s += n;
		len -= n;
	}
	return 1;
}

/* Bytes of s (valid UTF-8) that fit in max bytes without splitting a
 * character: for echoing user text in bounded error messages. */
size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
