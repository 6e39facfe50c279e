/* buf.c — growable, always NUL-terminated byte buffer (rebind idiom). */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf *
buf_new(size_t hint)
{
	struct buf *b = xmalloc(sizeof(*b) + hint + 1);

	b->len = 0;
	b->cap = hint;
	b->data[0] = '\0';
	return b;
}

static struct buf *
buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra;

	if (need <= b->cap)
		return b;
	while (b->cap < need)
		b->cap = b->cap ? b->cap * 2 : 64;
	return xrealloc(b, sizeof(*b) + b->cap + 1);
}

struct buf *
buf_append(struct buf *b, const void *p, size_t n)
{
	b = buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return b;
}

struct buf *
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

struct buf *
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return b;
	b = buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return b;
}

/* Escapes the five characters that matter in HTML text and attributes. */
struct buf *
buf_html_escape(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		b = buf_append(b, run, (size_t)(s - run));
		b = buf_puts(b, rep);
		run = s + 1;
	}
	return buf_append(b, run, (size_t)(s - run));
}

#define XML_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* What stands for an ASCII character in XML text; NULL: the character. */
static const char *
xml_ascii(unsigned char c)
{
	static const char *const markup[128] = {
	    ['&'] = "&amp;",  ['<'] = "&lt;",   ['>'] = "&gt;",
	    ['"'] = "&quot;", ['\''] = "&apos;", ['\r'] = "&#13;",
	};

	if (markup[c] != NULL)
		return markup[c];
	if (c < 0x20 && c != '\t' && c != '\n')
		return XML_REPLACEMENT; /* XML 1.0 has no way to write it */
	return NULL;
}

/* U+FFFE and U+FFFF are valid UTF-8 but no XML 1.0 characters. */
static int
xml_nonchar(const unsigned char *p, size_t n)
{
	return n == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF);
}

struct buf *
buf_xml_escape(struct buf *b, const char *s)
{
	size_t len = strlen(s), i = 0, run = 0;

	while (i < len) {
		const unsigned char *p = (const unsigned char *)s + i;
		const char *rep = NULL;
		size_t n = 1;

		if (*p < 0x80)
			rep = xml_ascii(*p);
		else if ((n = utf8_next(s + i, len - i)) == 0 || xml_nonchar(p, n)) {
			rep = XML_REPLACEMENT;
			n = n == 0 ? 1 : n; /* a stray byte: one U+FFFD each */
		}
		if (rep != NULL) {
			b = buf_append(b, s + run, i - run);
			b = buf_puts(b, rep);
			run = i + n;
		}
		i += n;
	}
	return buf_append(b, s + run, i - run);
}

void
buf_free(struct buf *b)
{
	free(b);
}

struct buf *
buf_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf *b;
	char chunk[4096];
	size_t n;
	int failed;

	if (f == NULL)
		return NULL;
	b = buf_new(sizeof(chunk));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		b = buf_append(b, chunk, n);
	failed = ferror(f);
	fclose(f);
	if (failed) {
		buf_free(b);
		errno = EIO;
		return NULL;
	}
	return b;
}
