/* test_json.c — json_parse (the bounded tree), the jgen_* helpers and the
 * error envelope rendered by errors_render. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jval *
parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return json_parse(text, strlen(text), err, errlen);
}

/* Asserts that text is rejected, with a message. */
static void
rejected(const char *text, size_t len, const char *desc)
{
	char err[256] = "";
	struct jval *v = json_parse(text, len, err, sizeof(err));

	ok(v == NULL, "%s: rejected", desc);
	ok(err[0] != '\0' && err[strlen(err) - 1] != '\n', "%s: one-line message (%s)", desc, err);
	json_free(v);
}

static const struct jval *
member(const struct jval *obj, size_t i)
{
	return obj->type == J_OBJECT && i < obj->u.obj.n ? obj->u.obj.vals[i] : NULL;
}

static void
test_objects(void)
{
	char err[256];
	struct jval *v = parse("{\"a\":1,\"b\":\"x\",\"c\":[true,false,null],\"d\":{\"e\":-2.5}}",
	                       err, sizeof(err));
	const struct jval *c, *d;

	if (!ok(v != NULL && v->type == J_OBJECT, "object parses (%s)", err)) {
		json_free(v);
		return;
	}
	is_int(v->u.obj.n, 4, "four members");
	is_str(v->u.obj.keys[0], "a", "first key");
	is_str(v->u.obj.keys[3], "d", "last key");
	is_int(v->u.obj.keylens[1], 1, "key length recorded");
	ok(member(v, 0)->type == J_NUMBER && member(v, 0)->u.number == 1, "a is the number 1");
	ok(member(v, 1)->type == J_STRING && member(v, 1)->u.str.len == 1, "b is a string");
	is_str(member(v, 1)->u.str.s, "x", "b is \"x\"");
	c = member(v, 2);
	ok(c->type == J_ARRAY && c->u.arr.n == 3, "c is an array of three");
	ok(c->u.arr.items[0]->type == J_BOOL && c->u.arr.items[0]->u.boolean == 1, "c[0] is true");
	ok(c->u.arr.items[1]->type == J_BOOL && c->u.arr.items[1]->u.boolean == 0, "c[1] is false");
	ok(c->u.arr.items[2]->type == J_NULL, "c[2] is null");
	d = member(v, 3);
	ok(d->type == J_OBJECT && d->u.obj.n == 1 && member(d, 0)->u.number == -2.5,
	   "d is {\"e\":-2.5}");
	json_free(v);

	v = parse("{}", err, sizeof(err));
	ok(v != NULL && v->type == J_OBJECT && v->u.obj.n == 0, "empty object");
	json_free(v);
	v = parse(" [ ] ", err, sizeof(err));
	ok(v != NULL && v->type == J_ARRAY && v->u.arr.n == 0, "empty array with whitespace");
	json_free(v);
	v = parse("\"top\"", err, sizeof(err));
	ok(v != NULL && v->type == J_STRING, "a scalar root parses (callers check for objects)");
	json_free(v);

	v = parse("{\"a\":1,\"b\":2,\"a\":3}", err, sizeof(err));
	ok(v != NULL && v->u.obj.n == 3, "duplicate keys are all kept");
	if (v != NULL && v->u.obj.n == 3) {
		is_str(v->u.obj.keys[2], "a", "the duplicate stays in its place");
		ok(member(v, 0)->u.number == 1 && member(v, 2)->u.number == 3,
		   "duplicates keep their own values in order");
	}
	json_free(v);

	is_str(json_type_name(J_NULL), "null", "type name null");
	is_str(json_type_name(J_BOOL), "boolean", "type name boolean");
	is_str(json_type_name(J_NUMBER), "number", "type name number");
	is_str(json_type_name(J_STRING), "string", "type name string");
	is_str(json_type_name(J_ARRAY), "array", "type name array");
	is_str(json_type_name(J_OBJECT), "object", "type name object");
}

static void
number_is(const char *text, double expected)
{
	char err[256];
	struct jval *v = parse(text, err, sizeof(err));

	ok(v != NULL && v->type == J_NUMBER && v->u.number == expected, "number %s (%s)", text, err);
	json_free(v);
}

static void
test_numbers(void)
{
	number_is("0", 0);
	number_is("-0.5", -0.5);
	number_is("1e3", 1000);
	number_is("1.5E-2", 0.015);
	number_is("35.4676", 35.4676);
	number_is("9007199254740993", 9007199254740992.0);
	number_is("1e308", 1e308);
	rejected("[1e999]", 7, "huge exponent");
	rejected("{\"lat\":-1e400}", 14, "huge negative exponent");
	rejected("[01]", 4, "leading zero");
	rejected("[1.]", 4, "fraction without digits");
	rejected("[NaN]", 5, "NaN");
}

static void
test_strings(void)
{
	char err[256];
	struct jval *v = parse("{\"k\":\"a\\u0000b\"}", err, sizeof(err));
	const struct jval *s = v != NULL ? member(v, 0) : NULL;

	ok(s != NULL && s->type == J_STRING, "string with \\u0000 parses (%s)", err);
	if (s != NULL) {
		is_int(s->u.str.len, 3, "embedded NUL keeps the length");
		ok(memcmp(s->u.str.s, "a\0b", 4) == 0, "bytes a NUL b, NUL-terminated");
	}
	json_free(v);

	v = parse("{\"k\\u0000x\":1}", err, sizeof(err));
	ok(v != NULL && v->u.obj.keylens[0] == 3, "key with \\u0000 keeps its length");
	json_free(v);

	v = parse("[\"\\u00e9\\ud83d\\udd25\\n\\\"\"]", err, sizeof(err));
	ok(v != NULL && v->u.arr.n == 1, "escapes parse (%s)", err);
	if (v != NULL && v->u.arr.n == 1) {
		s = v->u.arr.items[0];
		is_int(s->u.str.len, 8, "escapes decode to 2+4+1+1 bytes");
		is_str(s->u.str.s, "\xc3\xa9\xf0\x9f\x94\xa5\n\"", "escapes decode to UTF-8");
	}
	json_free(v);

	v = parse("[\"caf\xc3\xa9 \xf0\x9f\x94\xa5\"]", err, sizeof(err));
	ok(v != NULL, "raw valid UTF-8 accepted (%s)", err);
	json_free(v);
	rejected("[\"\xff\"]", 5, "invalid UTF-8 byte 0xFF");
	rejected("[\"\xc3\"]", 5, "truncated 2-byte sequence");
	rejected("[\"\xe2\x82\"]", 6, "truncated 3-byte sequence");
	rejected("[\"\x80\"]", 5, "lone continuation byte");
	rejected("[\"a\tb\"]", 7, "raw control character in a string");

	/* yajl checks only the shape of a sequence; these would reach PostgreSQL */
	rejected("[\"\xc0\xaf\"]", 6, "overlong 2-byte encoding of '/'");
	rejected("[\"\xe0\x80\xaf\"]", 7, "overlong 3-byte encoding");
	rejected("[\"\xed\xa0\x80\"]", 7, "UTF-16 surrogate encoded in UTF-8");
	rejected("[\"\xf4\x90\x80\x80\"]", 8, "code point above U+10FFFF");
	rejected("{\"\xc0\xaf\":1}", 8, "overlong encoding in a key");
	rejected("[\"\\ud800\"]", 10, "unpaired high surrogate escape");
	rejected("[\"\\udc00x\"]", 11, "lone low surrogate escape");
	rejected("[\"\\ud83dx\"]", 11, "high surrogate escape followed by a letter");
	rejected("[\"\\ud83d\\u0041\"]", 16, "high surrogate escape followed by a non-surrogate");
	v = parse("[\"\\\\ud800\"]", err, sizeof(err));
	ok(v != NULL && v->u.arr.n == 1 && strcmp(v->u.arr.items[0]->u.str.s, "\\ud800") == 0,
	   "an escaped backslash before ud800 is text (%s)", err);
	json_free(v);
}

/* n arrays nested inside each other. */
static char *
nested(size_t n)
{
	char *open = str_repeat("[", n), *close = str_repeat("]", n);
	char *out = xprintf("%s%s", open, close);

	free(open);
	free(close);
	return out;
}

static void
test_structure(void)
{
	char err[256];
	char *text = nested(JSON_MAX_DEPTH);
	struct jval *v = parse(text, err, sizeof(err));
	char *objs;

	ok(v != NULL, "depth 32 accepted (%s)", err);
	json_free(v);
	free(text);
	text = nested(JSON_MAX_DEPTH + 1);
	v = parse(text, err, sizeof(err));
	ok(v == NULL, "depth 33 rejected");
	ok(strstr(err, "32") != NULL, "the message names the limit (%s)", err);
	json_free(v);
	free(text);
	text = nested(5000);
	v = parse(text, err, sizeof(err));
	ok(v == NULL, "depth 5000 rejected without blowing the stack");
	json_free(v);
	free(text);
	objs = str_repeat("{\"a\":", 32);
	text = xprintf("%s1%s", objs, "}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}");
	v = parse(text, err, sizeof(err));
	ok(v != NULL, "32 nested objects accepted (%s)", err);
	json_free(v);
	free(text);
	free(objs);

	rejected("{} x", 4, "trailing garbage");
	rejected("{}{}", 4, "two documents");
	rejected("[1]]", 4, "extra bracket");
	rejected("{\"a\":1,}", 8, "trailing comma");
	rejected("{\"a\" 1}", 7, "missing colon");
	rejected("{a:1}", 5, "unquoted key");
	rejected("[1", 2, "unterminated array");
	rejected("", 0, "empty input");
	rejected("  \n", 3, "whitespace only");
	rejected("{\"a\":1}", 3, "only len bytes are parsed");
	v = parse("  {\"a\":1}\n", err, sizeof(err));
	ok(v != NULL, "surrounding whitespace accepted");
	json_free(v);
}

/* The JSON text jgen_double writes for d. */
static char *
double_text(double d)
{
	yajl_gen g = json_gen_new();
	char *out;

	jgen_double(g, d);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

static void
double_is(double d, const char *expected)
{
	char *text = double_text(d);

	is_str(text, expected, "jgen_double(%.17g)", d);
	free(text);
}

/* For values whose shortest spelling varies by libc: reads back exactly. */
static void
double_round_trips(double d, size_t max_len)
{
	char *text = double_text(d), err[256];
	struct jval *v = parse(text, err, sizeof(err));

	ok(v != NULL && v->type == J_NUMBER && v->u.number == d, "%s is valid JSON reading back %.17g",
	   text, d);
	ok(strlen(text) <= max_len, "%s is at most %zu characters", text, max_len);
	json_free(v);
	free(text);
}

static void
test_gen(void)
{
	yajl_gen g;
	size_t len = 0;
	char *out;

	double_is(35.4676, "35.4676");
	double_is(-97.5164, "-97.5164");
	double_is(0.1, "0.1");
	double_is(0, "0");
	double_is(45, "45");
	double_is(1.5, "1.5");
	double_is(123456.789, "123456.789");
	double_round_trips(1e-7, 5);
	double_round_trips(1.0 / 3.0, 19);
	double_round_trips(-0.000123, 9);
	double_is(90, "90");
	double_is(-180, "-180");
	double_is(10, "10");
	double_is(-120, "-120");

	g = json_gen_new();
	yajl_gen_map_open(g);
	jgen_key(g, "s");
	jgen_str(g, "a\"b");
	jgen_key(g, "n");
	jgen_str(g, NULL);
	jgen_key(g, "i");
	jgen_int(g, -42);
	jgen_key(g, "b");
	jgen_bool(g, 1);
	jgen_key(g, "z");
	jgen_null(g);
	jgen_key(g, "t");
	jgen_time(g, 1773558000);
	jgen_key(g, "u");
	jgen_time(g, TIME_NONE);
	yajl_gen_map_close(g);
	out = jgen_finish(g, &len);
	is_str(out, "{\"s\":\"a\\\"b\",\"n\":null,\"i\":-42,\"b\":true,\"z\":null,"
	            "\"t\":\"2026-03-15T07:00:00Z\",\"u\":null}",
	       "jgen helpers write compact JSON, NULL string and TIME_NONE as null");
	is_int(len, strlen(out), "jgen_finish reports the length");
	free(out);
	yajl_gen_free(g);

	/* jgen_int writes its own digits: the extremes and zero */
	g = json_gen_new();
	yajl_gen_array_open(g);
	jgen_int(g, 0);
	jgen_int(g, INT64_MAX);
	jgen_int(g, INT64_MIN);
	jgen_int(g, 7);
	yajl_gen_array_close(g);
	out = jgen_finish(g, &len);
	is_str(out, "[0,9223372036854775807,-9223372036854775808,7]",
	       "jgen_int: zero, both extremes, separators between numbers");
	free(out);
	yajl_gen_free(g);
}

static char *
render(const struct errors *e, int status, const char *rid, const char *const *extra)
{
	size_t len = 0;
	char *out = errors_render(e, status, rid, extra, &len);

	ok(len == strlen(out), "errors_render length matches (%d)", status);
	return out;
}

static void
test_error_types(void)
{
	static const struct {
		int status;
		const char *type;
	} types[] = {
		{400, "invalid_request_error"}, {401, "authentication_error"},
		{403, "authorization_error"},   {404, "not_found_error"},
		{405, "invalid_request_error"}, {409, "conflict_error"},
		{412, "precondition_failed_error"}, {413, "invalid_request_error"},
		{422, "validation_error"},      {429, "rate_limit_error"},
		{500, "internal_error"},        {503, "service_unavailable_error"},
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		is_str(error_type_for_status(types[i].status), types[i].type, "type for %d",
		       types[i].status);
}

static void
test_envelope(void)
{
	struct errors e;
	const char *const extra[] = {"postgres", "ok", "redis", "unavailable", NULL};
	char *out, err[256];
	struct jval *v;
	int i;

	memset(&e, 0, sizeof(e));
	out = render(&e, 404, "rid-1", NULL);
	is_str(out, "{\"type\":\"not_found_error\",\"status\":404,\"request_id\":\"rid-1\","
	            "\"errors\":[{\"code\":\"not_found\",\"message\":\"Not found\"}]}",
	       "no collected errors: the status's default error");
	free(out);

	field_error(&e, "is_required", "title", "title is required");
	param_error(&e, "out_of_range", "limit", "limit must be between %d and %d", 1, 100);
	errors_add(&e, "invalid_json", NULL, NULL, "bad \"quote\"");
	out = render(&e, 422, NULL, NULL);
	is_str(out, "{\"type\":\"validation_error\",\"status\":422,\"request_id\":\"\",\"errors\":["
	            "{\"code\":\"is_required\",\"message\":\"title is required\","
	            "\"source\":{\"field\":\"title\"}},"
	            "{\"code\":\"out_of_range\",\"message\":\"limit must be between 1 and 100\","
	            "\"source\":{\"parameter\":\"limit\"}},"
	            "{\"code\":\"invalid_json\",\"message\":\"bad \\\"quote\\\"\"}]}",
	       "every error with its source; NULL request id renders as \"\"");
	free(out);
	errors_clear(&e);
	is_int(e.n, 0, "errors_clear empties the list");

	for (i = 0; i < ERRORS_MAX + 6; i++)
		field_error(&e, "invalid_value", "tags", "item %d", i);
	is_int(e.n, ERRORS_MAX, "collection stops at ERRORS_MAX");
	is_int(e.dropped, 6, "the rest are counted");
	out = render(&e, 422, "rid-2", NULL);
	v = parse(out, err, sizeof(err));
	ok(v != NULL && v->type == J_OBJECT && v->u.obj.n == 5, "capped envelope is JSON with 5 members");
	if (v != NULL && v->u.obj.n == 5) {
		is_str(v->u.obj.keys[3], "errors", "member 4 is errors");
		is_int(member(v, 3)->u.arr.n, ERRORS_MAX, "errors holds ERRORS_MAX items");
		is_str(v->u.obj.keys[4], "errors_omitted", "member 5 is errors_omitted");
		ok(member(v, 4)->u.number == 6, "errors_omitted is 6");
	}
	json_free(v);
	free(out);
	errors_clear(&e);
	is_int(e.dropped, 0, "errors_clear resets the dropped count");

	errors_add(&e, "database_unavailable", NULL, NULL, "The database is unavailable");
	out = render(&e, 503, "rid-3", extra);
	is_str(out, "{\"type\":\"service_unavailable_error\",\"status\":503,\"request_id\":\"rid-3\","
	            "\"errors\":[{\"code\":\"database_unavailable\","
	            "\"message\":\"The database is unavailable\"}],"
	            "\"postgres\":\"ok\",\"redis\":\"unavailable\"}",
	       "extra members follow errors");
	free(out);
	errors_clear(&e);
}

/* Containers grow by doubling: a large array and object keep every member,
 * in order, inside nested containers too. */
static void
test_large(void)
{
	enum { N = 10000 };
	struct buf *b = buf_new(N * 16);
	char err[256];
	struct jval *v;
	size_t i, bad;

	b = buf_puts(b, "{\"a\":[");
	for (i = 0; i < N; i++)
		b = buf_printf(b, "%s%zu", i ? "," : "", i);
	b = buf_puts(b, "],\"o\":{");
	for (i = 0; i < N; i++)
		b = buf_printf(b, "%s\"k%zu\":[%zu]", i ? "," : "", i, i);
	b = buf_puts(b, "}}");
	v = json_parse(b->data, b->len, err, sizeof(err));
	ok(v != NULL && v->type == J_OBJECT && v->u.obj.n == 2, "a %zu-byte document parses (%s)",
	   b->len, v != NULL ? "ok" : err);
	if (v != NULL && v->type == J_OBJECT && v->u.obj.n == 2) {
		const struct jval *a = member(v, 0), *o = member(v, 1);

		is_int(a->u.arr.n, N, "an array of %d numbers keeps them all", N);
		for (i = bad = 0; i < a->u.arr.n; i++)
			bad += a->u.arr.items[i]->type != J_NUMBER || a->u.arr.items[i]->u.number != (double)i;
		is_int(bad, 0, "in order");
		is_int(o->u.obj.n, N, "an object of %d members keeps them all", N);
		for (i = bad = 0; i < o->u.obj.n; i++) {
			char key[32];
			const struct jval *m = o->u.obj.vals[i];
			size_t len = (size_t)snprintf(key, sizeof(key), "k%zu", i);

			bad += o->u.obj.keylens[i] != len || strcmp(o->u.obj.keys[i], key) != 0 ||
			       m->type != J_ARRAY || m->u.arr.n != 1 || m->u.arr.items[0]->u.number != (double)i;
		}
		is_int(bad, 0, "in order, with their keys, lengths and nested values");
		ok(json_key_is(v, 0, "a") && !json_key_is(v, 0, "ab") && !json_key_is(v, 1, "a"),
		   "json_key_is compares whole names");
	}
	json_free(v);
	buf_free(b);

	v = parse("{\"ab\\u0000c\":1}", err, sizeof(err));
	ok(v != NULL && !json_key_is(v, 0, "ab") && v->u.obj.keylens[0] == 4,
	   "json_key_is: a key with a NUL is not its prefix");
	json_free(v);
}

void
test_json(void)
{
	test_large();
	test_objects();
	test_numbers();
	test_strings();
	test_structure();
	test_gen();
	test_error_types();
	test_envelope();
}
