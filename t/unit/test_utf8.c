/* test_utf8.c — utf8_chars counts code points; text_trim strips ASCII space;
 * utf8_valid is strict RFC 3629. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define E_ACUTE "\xc3\xa9"          /* U+00E9, 2 bytes */
#define EURO "\xe2\x82\xac"         /* U+20AC, 3 bytes */
#define FIRE "\xf0\x9f\x94\xa5"     /* U+1F525, 4 bytes */
#define NBSP "\xc2\xa0"             /* U+00A0: not ASCII whitespace */

static void
test_chars(void)
{
	char *many;

	is_int(utf8_chars("", 0), 0, "empty string has no characters");
	is_int(utf8_chars("hello", 5), 5, "ASCII: one character per byte");
	is_int(utf8_chars(E_ACUTE, 2), 1, "2-byte sequence is one character");
	is_int(utf8_chars(EURO, 3), 1, "3-byte sequence is one character");
	is_int(utf8_chars(FIRE, 4), 1, "4-byte sequence is one character");
	is_int(utf8_chars("a" E_ACUTE EURO FIRE "z", 11), 5, "mixed widths count 5");
	is_int(utf8_chars("abcdef", 3), 3, "only len bytes are read");
	is_int(utf8_chars("a\0b", 3), 3, "an embedded NUL is a character");

	many = str_repeat(E_ACUTE, 200);
	is_int(utf8_chars(many, strlen(many)), 200, "200 two-byte characters count 200");
	free(many);
	many = str_repeat(FIRE, 200);
	is_int(strlen(many), 800, "200 four-byte characters are 800 bytes");
	is_int(utf8_chars(many, strlen(many)), 200, "200 four-byte characters count 200");
	free(many);
}

/* Trims s (all of it) and compares the span with expected. */
static void
trim_is(const char *s, const char *expected, const char *desc)
{
	size_t len = 99;
	const char *t = text_trim(s, strlen(s), &len);

	is_int(len, strlen(expected), "%s: length", desc);
	ok(len == strlen(expected) && memcmp(t, expected, len) == 0, "%s: span is '%s'", desc,
	   expected);
}

static void
test_trim(void)
{
	const char *s = "  x  ";
	size_t len;

	trim_is("hello", "hello", "nothing to trim");
	trim_is("  hello", "hello", "leading spaces");
	trim_is("hello \t\r\n", "hello", "trailing tab, CR, LF");
	trim_is(" \t\v\f a b \n", "a b", "both ends, inner space kept");
	trim_is("", "", "empty string");
	trim_is(" \t\n ", "", "blank string trims to nothing");
	trim_is(NBSP "x" NBSP, NBSP "x" NBSP, "no-break space is not ASCII whitespace");
	trim_is(" " E_ACUTE " ", E_ACUTE, "multibyte content kept whole");
	ok(text_trim(s, 5, &len) == s + 2, "returns a pointer into the input");
	text_trim(s, 3, &len);
	is_int(len, 1, "only len bytes are considered");
}

static void
valid_is(const char *s, size_t len, int expected, const char *desc)
{
	is_int(utf8_valid(s, len), expected, "utf8_valid: %s", desc);
}

static void
test_valid(void)
{
	valid_is("", 0, 1, "empty");
	valid_is("plain ASCII", 11, 1, "ASCII");
	valid_is("a\0b", 3, 1, "NUL is valid UTF-8 (callers reject it)");
	valid_is(E_ACUTE EURO FIRE, 9, 1, "2, 3 and 4-byte sequences");
	valid_is("\xc2\x80", 2, 1, "U+0080, smallest 2-byte");
	valid_is("\xe0\xa0\x80", 3, 1, "U+0800, smallest 3-byte");
	valid_is("\xed\x9f\xbf", 3, 1, "U+D7FF, just below the surrogates");
	valid_is("\xee\x80\x80", 3, 1, "U+E000, just above the surrogates");
	valid_is("\xef\xbf\xbf", 3, 1, "U+FFFF");
	valid_is("\xf0\x90\x80\x80", 4, 1, "U+10000, smallest 4-byte");
	valid_is("\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF, the last code point");
	valid_is("\x80", 1, 0, "lone continuation byte");
	valid_is("\xc3", 1, 0, "truncated 2-byte sequence");
	valid_is(EURO, 2, 0, "3-byte sequence cut by len");
	valid_is("\xc3\x28", 2, 0, "bad continuation byte");
	valid_is("\xc0\xaf", 2, 0, "overlong 2-byte (C0)");
	valid_is("\xc1\xbf", 2, 0, "overlong 2-byte (C1)");
	valid_is("\xe0\x9f\xbf", 3, 0, "overlong 3-byte");
	valid_is("\xed\xa0\x80", 3, 0, "surrogate U+D800");
	valid_is("\xed\xbf\xbf", 3, 0, "surrogate U+DFFF");
	valid_is("\xf0\x8f\xbf\xbf", 4, 0, "overlong 4-byte");
	valid_is("\xf4\x90\x80\x80", 4, 0, "U+110000, past the last code point");
	valid_is("\xf5\x80\x80\x80", 4, 0, "lead byte F5");
	valid_is("\xff", 1, 0, "byte FF");
	valid_is("ok" FIRE "\xe2\x82", 8, 0, "valid prefix, truncated tail");
}

void
test_utf8(void)
{
	test_chars();
	test_trim();
	test_valid();
}
