/* cursor.c — the keyset cursors of the /v1 lists (after=, next_cursor):
 * opaque to clients, checked so an edited one is a 422, never a 500. */
#include "api.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cursor is 30 bytes, 40 base64url characters without padding: the kind,
 * the position (created_at and id, big-endian), the rows before the page
 * that follows it when it was made (its offset, so that page needs no
 * count: see list.c), and a check.  The check is no secret: it makes an
 * edited or truncated cursor a 422, and a forged one could only show a
 * position in the caller's own list, which paging reaches anyway.
 * Cursors of the first format (21 bytes, 28 characters, no offset) are
 * still read: they do not expire. */
struct cursor_format {
	const char *label; /* hashed into the check: a new format changes it */
	size_t bytes, chars, check;
	int has_pos;
};

static const struct cursor_format formats[] = {
    {"incidentd cursor 2", 30, 40, 5, 1},
    {"incidentd cursor 1", 21, 28, 4, 0},
};

#define CURSOR_MAX_BYTES 30
#define CURSOR_MAX_CHARS 40
#define LABEL_MAX 32

static void
put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The first f->check bytes of SHA-256(label, kind and position). */
static int
cursor_check(const struct cursor_format *f, const unsigned char *raw, unsigned char *check)
{
	unsigned char in[LABEL_MAX + CURSOR_MAX_BYTES], md[EVP_MAX_MD_SIZE];
	size_t label = strlen(f->label) + 1, body = f->bytes - f->check;
	unsigned int mdlen = 0;

	memcpy(in, f->label, label);
	memcpy(in + label, raw, body);
	if (EVP_Digest(in, label + body, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < f->check)
		return -1;
	memcpy(check, md, f->check);
	return 0;
}

/* base64 (OpenSSL's) with the URL alphabet's two characters swapped. */
static void
swap_alphabet(char *s, const char *from, const char *to)
{
	for (; *s != '\0'; s++) {
		const char *c = strchr(from, *s);

		if (c != NULL)
			*s = to[c - from];
	}
}

char *
list_cursor_encode(const struct list_cursor *c)
{
	return list_cursor_encode_at(c, 0);
}

char *
list_cursor_encode_at(const struct list_cursor *c, int64_t pos)
{
	const struct cursor_format *f = &formats[0];
	unsigned char raw[CURSOR_MAX_BYTES];
	char *out = xmalloc(CURSOR_MAX_CHARS + 1);

	raw[0] = (unsigned char)c->kind;
	put_u64(raw + 1, (uint64_t)c->at_us);
	put_u64(raw + 9, (uint64_t)c->id);
	put_u64(raw + 17, (uint64_t)(pos < 0 ? 0 : pos > CURSOR_POS_MAX ? CURSOR_POS_MAX : pos));
	if (cursor_check(f, raw, raw + f->bytes - f->check) != 0 ||
	    EVP_EncodeBlock((unsigned char *)out, raw, (int)f->bytes) != (int)f->chars) {
		free(out);
		return NULL;
	}
	swap_alphabet(out, "+/", "-_");
	return out;
}

/* A position the statements can take: a known kind, an id, a time within
 * CURSOR_AT_MAX (only incidents have one). */
static int
cursor_in_range(const struct list_cursor *c)
{
	if (c->id < 1)
		return 0;
	if (c->kind == CURSOR_INCIDENTS)
		return c->at_us >= -CURSOR_AT_MAX && c->at_us <= CURSOR_AT_MAX;
	return c->kind > CURSOR_NONE && c->kind <= CURSOR_DELIVERIES && c->at_us == 0;
}

/* The format a text of this length would be. */
static const struct cursor_format *
cursor_format_of(size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].chars == len)
			return &formats[i];
	return NULL;
}

int
list_cursor_decode(const char *s, struct list_cursor *c)
{
	return list_cursor_decode_at(s, c, NULL);
}

int
list_cursor_decode_at(const char *s, struct list_cursor *c, int64_t *pos)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const struct cursor_format *f = cursor_format_of(strlen(s));
	unsigned char raw[CURSOR_MAX_BYTES + 3], check[CURSOR_MAX_BYTES];
	char text[CURSOR_MAX_CHARS + 1];
	struct list_cursor got;
	int64_t at_pos;

	memset(c, 0, sizeof(*c));
	/* a multiple of 4 characters decodes to exactly f->bytes: no padding, no
	 * spare bits */
	if (f == NULL || strspn(s, alphabet) != f->chars)
		return -1;
	memcpy(text, s, f->chars + 1);
	swap_alphabet(text, "-_", "+/");
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, (int)f->chars) != (int)f->bytes ||
	    cursor_check(f, raw, check) != 0 ||
	    memcmp(check, raw + f->bytes - f->check, f->check) != 0)
		return -1;
	got.kind = (enum cursor_kind)raw[0];
	got.at_us = (int64_t)get_u64(raw + 1);
	got.id = (int64_t)get_u64(raw + 9);
	at_pos = f->has_pos ? (int64_t)get_u64(raw + 17) : -1;
	if (raw[0] > CURSOR_DELIVERIES || !cursor_in_range(&got) || at_pos > CURSOR_POS_MAX ||
	    at_pos < -1)
		return -1;
	*c = got;
	if (pos != NULL)
		*pos = at_pos;
	return 0;
}
