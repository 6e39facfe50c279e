/* test_xml.c — buf_xml_escape: markup as entities, CR as &#13;, and what
 * XML 1.0 cannot carry as U+FFFD, the rest byte for byte (the Atom feed's
 * text, src/status_feed.c). */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define FFFD "\xef\xbf\xbd"

/* Escapes s after a prefix, to show it appends rather than overwrites. */
static void
escape_is(const char *s, const char *expected, const char *desc)
{
	struct buf *b = buf_puts(buf_new(0), "<p>");

	b = buf_xml_escape(b, s);
	ok(strncmp(b->data, "<p>", 3) == 0, "%s: appended after what the buffer held", desc);
	is_str(b->data + 3, expected, "%s", desc);
	is_int(b->len, strlen(b->data), "%s: len counts every byte written", desc);
	buf_free(b);
}

static void
test_markup(void)
{
	escape_is("", "", "empty text writes nothing");
	escape_is("plain text", "plain text", "text without markup is copied");
	escape_is("a & b", "a &amp; b", "& is &amp;");
	escape_is("&amp;", "&amp;amp;", "an entity in the text is text: its & is escaped");
	escape_is("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;",
	          "< and > are &lt; and &gt;");
	escape_is("]]>", "]]&gt;", "]]> cannot end a section it is not in");
	escape_is("\"q\" 'a'", "&quot;q&quot; &apos;a&apos;", "both quotes, for attributes");
	escape_is("<<&&>>", "&lt;&lt;&amp;&amp;&gt;&gt;", "runs of markup, one entity each");
}

static void
test_whitespace(void)
{
	escape_is("a\tb\nc", "a\tb\nc", "tab and LF are XML characters: kept");
	escape_is("a\r\nb", "a&#13;\nb", "CR is &#13; (a parser reads a literal one as LF)");
	escape_is("\r", "&#13;", "a lone CR");
}

static void
test_forbidden(void)
{
	escape_is("a\x01z", "a" FFFD "z", "U+0001 is no XML 1.0 character: U+FFFD");
	escape_is("\x08\x0b\x0c\x1f", FFFD FFFD FFFD FFFD,
	          "backspace, VT, FF, U+001F: one U+FFFD each");
	escape_is("\x7f", "\x7f", "DEL is an XML 1.0 character: kept");
	escape_is("\xc2\x85", "\xc2\x85", "U+0085 (C1) is an XML 1.0 character: kept");
	escape_is("x\xef\xbf\xbey", "x" FFFD "y", "U+FFFE is no XML character: U+FFFD");
	escape_is("\xef\xbf\xbf", FFFD, "U+FFFF is no XML character: U+FFFD");
	escape_is(FFFD, FFFD, "U+FFFD itself is kept");
	escape_is("\xef\xbf\xbc", "\xef\xbf\xbc", "U+FFFC, next to them, is kept");
}

static void
test_encodings(void)
{
	escape_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5",
	          "2-, 3- and 4-byte characters are copied");
	escape_is("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "U+10FFFF, the last code point, is kept");
	escape_is("a\xffz", "a" FFFD "z", "a byte that starts no character: U+FFFD");
	escape_is("a\x80z", "a" FFFD "z", "a stray continuation byte: U+FFFD");
	escape_is("\xe2\x82", FFFD FFFD, "a character cut short at the end: U+FFFD per byte");
	escape_is("\xc0\xbc", FFFD FFFD, "an overlong '<' is no '<' and no character");
	escape_is("\xed\xa0\x80", FFFD FFFD FFFD, "a surrogate (U+D800) is no character");
}

/* The step buf_xml_escape (and utf8_valid) takes through the text. */
static void
test_next(void)
{
	is_int(utf8_next("", 0), 0, "utf8_next: nothing at the end");
	is_int(utf8_next("ab", 2), 1, "utf8_next: ASCII is one byte");
	is_int(utf8_next("\xc3\xa9x", 3), 2, "utf8_next: a 2-byte character");
	is_int(utf8_next("\xe2\x82\xacx", 4), 3, "utf8_next: a 3-byte character");
	is_int(utf8_next("\xf0\x9f\x94\xa5", 4), 4, "utf8_next: a 4-byte character");
	is_int(utf8_next("\xf0\x9f\x94\xa5", 3), 0, "utf8_next: only len bytes are read");
	is_int(utf8_next("\xe2\x82" "a", 3), 0, "utf8_next: a cut character starts none");
	is_int(utf8_next("\xf4\x90\x80\x80", 4), 0, "utf8_next: above U+10FFFF is none");
}

static void
test_long(void)
{
	char *in = str_repeat("<\x01\xc3\xa9", 5000), *want = str_repeat("&lt;" FFFD "\xc3\xa9", 5000);
	struct buf *b = buf_xml_escape(buf_new(0), in);

	ok(strcmp(b->data, want) == 0, "20,000 bytes of mixed text escape in one call");
	is_int(b->len, strlen(want), "... to 45,000 bytes");
	buf_free(b);
	free(in);
	free(want);
}

void
test_xml(void)
{
	test_markup();
	test_whitespace();
	test_forbidden();
	test_encodings();
	test_next();
	test_long();
}
