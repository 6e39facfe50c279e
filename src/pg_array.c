/* pg_array.c — one-dimensional arrays in PostgreSQL's binary format (what
 * array_recv reads), for a statement's binary parameters.  PostgreSQL
 * parses text array literals element by element through each type's input
 * function: for incidentd-hooks's delivery rows, ten arrays of them were
 * half of the write statement's time per row.
 *
 * The format: the number of dimensions (0 for an empty array, else 1),
 * whether any element is NULL, the element type's OID, the dimension's
 * length and lower bound (1); then each element as its length (-1: NULL)
 * and bytes.  Every integer is big-endian. */
#include "sse.h"

#include <string.h>

#define HEADER_LEN 20      /* dimensions, flags, type, length, lower bound */
#define EMPTY_HEADER_LEN 12 /* no dimension */

static void
put32(struct pg_array *a, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};

	a->b = buf_append(a->b, x, sizeof(x));
}

static void
set32(char *at, uint32_t v)
{
	at[0] = (char)(v >> 24);
	at[1] = (char)(v >> 16);
	at[2] = (char)(v >> 8);
	at[3] = (char)v;
}

void
pg_array_open(struct pg_array *a, uint32_t element_oid, size_t hint)
{
	static const char header[HEADER_LEN]; /* written by pg_array_close */

	a->b = buf_append(buf_new(hint + HEADER_LEN), header, HEADER_LEN);
	a->element_oid = element_oid;
	a->n = 0;
	a->has_null = 0;
}

void
pg_array_null(struct pg_array *a)
{
	put32(a, UINT32_MAX); /* length -1 */
	a->has_null = 1;
	a->n++;
}

void
pg_array_int4(struct pg_array *a, int32_t v)
{
	put32(a, 4);
	put32(a, (uint32_t)v);
	a->n++;
}

void
pg_array_int8(struct pg_array *a, int64_t v)
{
	put32(a, 8);
	put32(a, (uint32_t)((uint64_t)v >> 32));
	put32(a, (uint32_t)v);
	a->n++;
}

void
pg_array_text(struct pg_array *a, const char *v)
{
	size_t len;

	if (v == NULL) {
		pg_array_null(a);
		return;
	}
	len = strlen(v);
	put32(a, (uint32_t)len);
	a->b = buf_append(a->b, v, len);
	a->n++;
}

/* The header goes in front of the elements; the array is a->b->data, len
 * bytes, until pg_array_free. */
const char *
pg_array_close(struct pg_array *a, int *len)
{
	char *h = a->b->data;

	set32(h, a->n > 0 ? 1 : 0);
	set32(h + 4, (uint32_t)a->has_null);
	set32(h + 8, a->element_oid);
	set32(h + 12, a->n);
	set32(h + 16, 1);
	*len = a->n > 0 ? (int)a->b->len : EMPTY_HEADER_LEN;
	return h;
}

void
pg_array_free(struct pg_array *a)
{
	buf_free(a->b);
	a->b = NULL;
}

void
pg_arrays_open(struct pg_array *a, const uint32_t *element_oids, size_t n, size_t hint)
{
	size_t i;

	for (i = 0; i < n; i++)
		pg_array_open(&a[i], element_oids[i], hint);
}

void
pg_arrays_close(struct pg_array *a, size_t n, const char **params, int *lengths, int *formats)
{
	size_t i;

	for (i = 0; i < n; i++) {
		params[i] = pg_array_close(&a[i], &lengths[i]);
		formats[i] = 1;
	}
}

void
pg_arrays_free(struct pg_array *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		pg_array_free(&a[i]);
}
