/* json.c — request bodies become a small tree built on yajl's callback parser
 * (so nesting depth is bounded and string lengths survive embedded NULs);
 * responses are written with yajl_gen through the jgen_* helpers. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

struct builder {
	struct jval *root;
	struct jval *stack[JSON_MAX_DEPTH];
	size_t cap[JSON_MAX_DEPTH]; /* members stack[i] has room for */
	int depth;
	char *key;      /* pending object key, owned until attached */
	size_t keylen;
	int too_deep;
	int bad_number;
	int bad_utf8;
};

static struct jval *
jval_new(enum jtype t)
{
	struct jval *v = xcalloc(1, sizeof(*v));

	v->type = t;
	return v;
}

/* Room for one more member in the container being built at depth d: the
 * capacity doubles, so n members cost O(log n) reallocations, not n. */
static void
reserve(struct builder *b, int d)
{
	struct jval *top = b->stack[d];
	size_t n = top->type == J_ARRAY ? top->u.arr.n : top->u.obj.n;
	size_t cap;

	if (n < b->cap[d])
		return;
	cap = b->cap[d] == 0 ? 4 : b->cap[d] * 2;
	if (top->type == J_ARRAY) {
		top->u.arr.items = xrealloc(top->u.arr.items, cap * sizeof(*top->u.arr.items));
	} else {
		top->u.obj.keys = xrealloc(top->u.obj.keys, cap * sizeof(*top->u.obj.keys));
		top->u.obj.keylens = xrealloc(top->u.obj.keylens, cap * sizeof(*top->u.obj.keylens));
		top->u.obj.vals = xrealloc(top->u.obj.vals, cap * sizeof(*top->u.obj.vals));
	}
	b->cap[d] = cap;
}

/* Attaches v to the current container (or makes it the root); takes ownership. */
static int
attach(struct builder *b, struct jval *v)
{
	struct jval *top;

	if (b->depth == 0) {
		b->root = v;
		return 1;
	}
	top = b->stack[b->depth - 1];
	reserve(b, b->depth - 1);
	if (top->type == J_ARRAY) {
		top->u.arr.items[top->u.arr.n++] = v;
		return 1;
	}
	top->u.obj.keys[top->u.obj.n] = b->key;
	top->u.obj.keylens[top->u.obj.n] = b->keylen;
	top->u.obj.vals[top->u.obj.n++] = v;
	b->key = NULL;
	return 1;
}

static int
on_null(void *ctx)
{
	return attach(ctx, jval_new(J_NULL));
}

static int
on_boolean(void *ctx, int boolean)
{
	struct jval *v = jval_new(J_BOOL);

	v->u.boolean = boolean != 0;
	return attach(ctx, v);
}

static int
on_number(void *ctx, const char *s, size_t len)
{
	struct builder *b = ctx;
	char tmp[64];
	struct jval *v;
	double d;

	if (len >= sizeof(tmp)) {
		b->bad_number = 1;
		return 0;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	d = strtod(tmp, NULL);
	if (!isfinite(d)) {
		b->bad_number = 1;
		return 0;
	}
	v = jval_new(J_NUMBER);
	v->u.number = d;
	return attach(b, v);
}

static int
on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct builder *b = ctx;
	struct jval *v;

	if (!utf8_valid((const char *)s, len)) {
		b->bad_utf8 = 1;
		return 0;
	}
	v = jval_new(J_STRING);

	v->u.str.s = xstrndup((const char *)s, len);
	v->u.str.len = len;
	return attach(ctx, v);
}

static int
open_container(struct builder *b, enum jtype t)
{
	struct jval *v;

	if (b->depth >= JSON_MAX_DEPTH) {
		b->too_deep = 1;
		return 0;
	}
	v = jval_new(t);
	attach(b, v);
	b->cap[b->depth] = 0;
	b->stack[b->depth++] = v;
	return 1;
}

static int
on_start_map(void *ctx)
{
	return open_container(ctx, J_OBJECT);
}

static int
on_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct builder *b = ctx;

	if (!utf8_valid((const char *)key, len)) {
		b->bad_utf8 = 1;
		return 0;
	}
	free(b->key);
	b->key = xstrndup((const char *)key, len);
	b->keylen = len;
	return 1;
}

static int
on_end(void *ctx)
{
	struct builder *b = ctx;

	b->depth--;
	return 1;
}

static int
on_start_array(void *ctx)
{
	return open_container(ctx, J_ARRAY);
}

static const yajl_callbacks tree_callbacks = {
	on_null, on_boolean, NULL, NULL, on_number, on_string,
	on_start_map, on_map_key, on_end, on_start_array, on_end,
};

static int
hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* yajl turns an unpaired \uD800-\uDFFF escape into '?' silently; refuse
 * those instead.  Backslashes only occur inside strings in valid JSON, and
 * each escape is skipped whole, so "\\ud800" is not mistaken for one. */
static int
surrogates_paired(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	unsigned u, lo;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL && end - p >= 2) {
		if (p[1] != 'u' || hex4(p + 2, end, &u) != 0) {
			p += 2;
			continue;
		}
		p += 6;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return 0;
		if (u < 0xD800 || u > 0xDBFF)
			continue;
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 ||
		    lo < 0xDC00 || lo > 0xDFFF)
			return 0;
		p += 6;
	}
	return 1;
}

struct jval *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct builder b;
	yajl_handle h;
	yajl_status st;

	if (!surrogates_paired(text, len)) {
		snprintf(err, errlen, "unpaired UTF-16 surrogate escape in a string");
		return NULL;
	}
	memset(&b, 0, sizeof(b));
	h = yajl_alloc(&tree_callbacks, NULL, &b);
	if (h == NULL)
		fatal("out of memory allocating a JSON parser");
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		if (b.too_deep)
			snprintf(err, errlen, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
		else if (b.bad_number)
			snprintf(err, errlen, "number out of range");
		else if (b.bad_utf8)
			snprintf(err, errlen, "string is not valid UTF-8");
		else {
			unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
			size_t n;

			snprintf(err, errlen, "%s", msg ? (const char *)msg : "malformed JSON");
			yajl_free_error(h, msg);
			n = strlen(err); /* yajl ends its messages with a newline */
			while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
				err[--n] = '\0';
		}
		json_free(b.root);
		free(b.key);
		yajl_free(h);
		return NULL;
	}
	yajl_free(h);
	free(b.key);
	if (b.root == NULL)
		snprintf(err, errlen, "empty body");
	return b.root;
}

void
json_free(struct jval *v)
{
	size_t i;

	if (v == NULL)
		return;
	switch (v->type) {
	case J_STRING:
		free(v->u.str.s);
		break;
	case J_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			json_free(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case J_OBJECT:
		for (i = 0; i < v->u.obj.n; i++) {
			free(v->u.obj.keys[i]);
			json_free(v->u.obj.vals[i]);
		}
		free(v->u.obj.keys);
		free(v->u.obj.keylens);
		free(v->u.obj.vals);
		break;
	default:
		break;
	}
	free(v);
}

int
json_key_is(const struct jval *obj, size_t i, const char *name)
{
	size_t len = strlen(name);

	return obj->u.obj.keylens[i] == len && memcmp(obj->u.obj.keys[i], name, len) == 0;
}

const char *
json_type_name(enum jtype t)
{
	static const char *const names[] = {"null", "boolean", "number", "string", "array",
	                                    "object"};
	return names[t];
}

yajl_gen
json_gen_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		fatal("out of memory allocating a JSON generator");
	return g;
}

void
jgen_key(yajl_gen g, const char *k)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

void
jgen_str(yajl_gen g, const char *s)
{
	if (s == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void
jgen_int(yajl_gen g, int64_t n)
{
	/* yajl_gen_integer goes through sprintf; ids and counts are most of a
	 * page's numbers */
	char text[INT64_TEXT_MAX];
	size_t len = int64_text(text, n);

	yajl_gen_number(g, text, len);
}

void
jgen_bool(yajl_gen g, int b)
{
	yajl_gen_bool(g, b);
}

void
jgen_null(yajl_gen g)
{
	yajl_gen_null(g);
}

void
jgen_time(yajl_gen g, int64_t t)
{
	char text[TIME_TEXT_LEN];

	if (t == TIME_NONE) {
		yajl_gen_null(g);
		return;
	}
	time_format(t, text);
	jgen_str(g, text);
}

/* Shortest text that reads back as the same double ("35.4676", not
 * yajl's "%.20g" digits). */
void
jgen_double(yajl_gen g, double d)
{
	char text[32];
	int prec;

	if (d == trunc(d) && fabs(d) < 1e15) {
		/* whole numbers as integers: 90, not %g's 9e+01 */
		snprintf(text, sizeof(text), "%.0f", d);
	} else {
		/* %g drops trailing zeros, so 15 digits (DBL_DIG) print short values
		 * as short as they are; only a few need 16 or 17 */
		for (prec = 15; prec <= 17; prec++) {
			snprintf(text, sizeof(text), "%.*g", prec, d);
			if (strtod(text, NULL) == d)
				break;
		}
	}
	yajl_gen_number(g, text, strlen(text));
}

char *
jgen_finish(yajl_gen g, size_t *len)
{
	const unsigned char *out;
	size_t n;
	char *copy;

	if (yajl_gen_get_buf(g, &out, &n) != yajl_gen_status_ok) {
		out = (const unsigned char *)"";
		n = 0;
	}
	copy = xstrndup((const char *)out, n);
	if (len != NULL)
		*len = n;
	return copy;
}
