/* cursor.c — the keyset cursors of the /v1 lists (after=, next_cursor):
 * opaque to clients, checked so an edited one is a 422, never a 500. */
#include "api.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cursor is 21 bytes, 28 base64url characters without padding: the kind, the
 * position (big-endian) and a check.  The check is no secret: it makes an
 * edited or truncated cursor a 422, and a forged one could only show a
 * position in the caller's own list, which paging reaches anyway. */
#define CURSOR_LABEL "incidentd cursor 1" /* a new format changes it */
#define CURSOR_BYTES 21
#define CURSOR_CHECK 4
#define CURSOR_CHARS 28

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

/* The first CURSOR_CHECK bytes of SHA-256(label, kind and position). */
static int
cursor_check(const unsigned char *raw, unsigned char check[CURSOR_CHECK])
{
	unsigned char in[sizeof(CURSOR_LABEL) + CURSOR_BYTES], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(in, CURSOR_LABEL, sizeof(CURSOR_LABEL));
	memcpy(in + sizeof(CURSOR_LABEL), raw, CURSOR_BYTES - CURSOR_CHECK);
	if (EVP_Digest(in, sizeof(CURSOR_LABEL) + CURSOR_BYTES - CURSOR_CHECK, md, &mdlen,
	               EVP_sha256(), NULL) != 1 || mdlen < CURSOR_CHECK)
		return -1;
	memcpy(check, md, CURSOR_CHECK);
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
	unsigned char raw[CURSOR_BYTES];
	char *out = xmalloc(CURSOR_CHARS + 1);

	raw[0] = (unsigned char)c->kind;
	put_u64(raw + 1, (uint64_t)c->at_us);
	put_u64(raw + 9, (uint64_t)c->id);
	if (cursor_check(raw, raw + CURSOR_BYTES - CURSOR_CHECK) != 0 ||
	    EVP_EncodeBlock((unsigned char *)out, raw, CURSOR_BYTES) != CURSOR_CHARS) {
		free(out);
		return NULL;
	}
	swap_alphabet(out, "+/", "-_");
	return out;
}

/* A position the statements can take: a known kind, an id, a time within
 * CURSOR_AT_MAX (replies have none). */
static int
cursor_in_range(const struct list_cursor *c)
{
	if (c->id < 1)
		return 0;
	if (c->kind == CURSOR_REPLIES)
		return c->at_us == 0;
	return c->kind == CURSOR_INCIDENTS && c->at_us >= -CURSOR_AT_MAX && c->at_us <= CURSOR_AT_MAX;
}

int
list_cursor_decode(const char *s, struct list_cursor *c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[CURSOR_BYTES + 3], check[CURSOR_CHECK];
	char text[CURSOR_CHARS + 1];
	struct list_cursor got;

	memset(c, 0, sizeof(*c));
	/* 28 characters decode to exactly 21 bytes: no padding, no spare bits */
	if (strlen(s) != CURSOR_CHARS || strspn(s, alphabet) != CURSOR_CHARS)
		return -1;
	memcpy(text, s, sizeof(text));
	swap_alphabet(text, "-_", "+/");
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, CURSOR_CHARS) != CURSOR_BYTES ||
	    cursor_check(raw, check) != 0 ||
	    memcmp(check, raw + CURSOR_BYTES - CURSOR_CHECK, CURSOR_CHECK) != 0)
		return -1;
	got.kind = (enum cursor_kind)raw[0];
	got.at_us = (int64_t)get_u64(raw + 1);
	got.id = (int64_t)get_u64(raw + 9);
	if (raw[0] > CURSOR_REPLIES || !cursor_in_range(&got))
		return -1;
	*c = got;
	return 0;
}
