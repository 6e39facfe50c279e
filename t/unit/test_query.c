/* test_query.c — list_query_parse: filters, full-text q, paging, after
 * cursors, errors with source.parameter; list_query_free; the cursors'
 * encoding. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 100

struct parsed {
	struct list_query q;
	struct errors e;
	char errs[1024];
};

static void
parse_with(struct parsed *p, const char *query, int with_filters, int64_t def, int64_t max)
{
	memset(p, 0, sizeof(*p));
	/* with filters: /v1's list; without: the replies list */
	list_query_parse(&p->q, query,
	                 with_filters ? dialect_v1.list_params : LP_PAGE | LP_OFFSET | LP_AFTER, NULL,
	                 def, max, &p->e);
	errors_summary(&p->e, p->errs, sizeof(p->errs));
}

static void
parse(struct parsed *p, const char *query)
{
	parse_with(p, query, 1, DEFAULT_LIMIT, MAX_LIMIT);
}

static void
parsed_free(struct parsed *p)
{
	list_query_free(&p->q);
	errors_clear(&p->e);
}

/* query's errors as "code@parameter ..." ("" when accepted). */
static void
query_errors(const char *query, int with_filters, const char *expected)
{
	struct parsed p;

	parse_with(&p, query, with_filters, DEFAULT_LIMIT, MAX_LIMIT);
	is_str(p.errs, expected, "?%s%s", query, with_filters ? "" : " (no filters)");
	parsed_free(&p);
}

/* One filter's canonical value for query. */
static void
filter_is(const char *query, const char *name, const char *expected)
{
	struct parsed p;
	const char *got;

	parse(&p, query);
	got = strcmp(name, "status") == 0     ? p.q.status
	      : strcmp(name, "priority") == 0 ? p.q.priority
	      : strcmp(name, "severity") == 0 ? p.q.severity
	      : strcmp(name, "source") == 0   ? p.q.source
	      : strcmp(name, "q") == 0        ? p.q.q
	                                      : p.q.tag;
	is_str(p.errs, "", "?%s accepted", query);
	is_str(got, expected, "?%s: %s", query, name);
	parsed_free(&p);
}

static void
paging_is(const char *query, int64_t limit, int64_t offset)
{
	struct parsed p;

	parse(&p, query);
	is_str(p.errs, "", "?%s accepted", query);
	ok(p.q.limit == limit && p.q.offset == offset, "?%s: limit %lld offset %lld (got %lld %lld)",
	   query, (long long)limit, (long long)offset, (long long)p.q.limit, (long long)p.q.offset);
	parsed_free(&p);
}

/* An error message echoing a bad value must stay valid UTF-8 (JSON text). */
static void
messages_valid_utf8(const char *query)
{
	struct parsed p;

	parse(&p, query);
	is_int(p.e.n, 1, "?%.40s... is one error", query);
	ok(p.e.n == 1 && utf8_valid(p.e.items[0].message, strlen(p.e.items[0].message)),
	   "?%.40s...: message is valid UTF-8", query);
	parsed_free(&p);
}

/* Every message of query's n errors is valid UTF-8. */
static void
all_messages_valid_utf8(const char *label, const char *query, size_t n)
{
	struct parsed p;
	size_t i;

	parse(&p, query);
	is_int(p.e.n, n, "%s: %zu errors", label, n);
	for (i = 0; i < p.e.n; i++)
		ok(utf8_valid(p.e.items[i].message, strlen(p.e.items[i].message)),
		   "%s: message %zu is valid UTF-8", label, i + 1);
	parsed_free(&p);
}

static void
test_empty(void)
{
	struct parsed p;

	parse(&p, NULL);
	is_str(p.errs, "", "no query string");
	ok(p.q.status == NULL && p.q.priority == NULL && p.q.severity == NULL &&
	       p.q.source == NULL && p.q.tag == NULL && p.q.q == NULL,
	   "no filters");
	ok(p.q.after.kind == CURSOR_NONE, "no cursor");
	ok(p.q.limit == DEFAULT_LIMIT && p.q.offset == 0, "default limit, offset 0");
	parsed_free(&p);
	paging_is("", DEFAULT_LIMIT, 0);
}

static void
test_filters(void)
{
	struct parsed p;
	char *encoded, *decoded, *query;

	filter_is("status=open", "status", "open");
	filter_is("status=open,resolved&status=closed", "status", "open,resolved,closed");
	filter_is("status=open%2Cresolved", "status", "open,resolved");
	filter_is("priority=urgent,high", "priority", "urgent,high");
	filter_is("severity=major,minor,critical", "severity", "high,low,critical");
	filter_is("severity=maintenance&severity=minor", "severity", "maintenance,low");
	filter_is("source=email,alert", "source", "email,alert");
	filter_is("tag=db", "tag", "db");
	filter_is("tag=a%20b", "tag", "a b");
	filter_is("tag=on+call", "tag", "on call");
	filter_is("tag=c%2B%2B", "tag", "c++");
	filter_is("tag=caf%C3%A9", "tag", "caf\xc3\xa9");
	filter_is("tag=%2C%26%3D", "tag", ",&=");

	query_errors("status=bogus", 1, "invalid_value@status");
	query_errors("status=open,bogus", 1, "invalid_value@status");
	query_errors("status=", 1, "invalid_value@status");
	query_errors("status=open,", 1, "invalid_value@status");
	query_errors("status=Open", 1, "invalid_value@status");
	query_errors("priority=critical", 1, "invalid_value@priority");
	query_errors("severity=MAJOR", 1, "invalid_value@severity");
	query_errors("source=sms", 1, "invalid_value@source");
	query_errors("tag=", 1, "invalid_value@tag");
	parse(&p, "status=open&status=bogus");
	ok(p.e.n == 1 && strstr(p.e.items[0].message, "bogus") != NULL,
	   "message names the bad value (%s)", p.e.n ? p.e.items[0].message : "");
	ok(p.e.n == 1 && strcmp(p.e.items[0].source_kind, "parameter") == 0,
	   "source is a parameter");
	parsed_free(&p);

	encoded = str_repeat("%C3%A9", 64);
	decoded = str_repeat("\xc3\xa9", 64);
	query = xprintf("tag=%s", encoded);
	filter_is(query, "tag", decoded);
	free(query);
	free(encoded);
	free(decoded);
	/* decoded bytes reach PostgreSQL (invalid UTF-8: SQLSTATE 22021, a 500) */
	query_errors("tag=%FF", 1, "invalid_value@tag");
	query_errors("tag=%C0%AF", 1, "invalid_value@tag");
	query_errors("tag=a%00b", 1, "invalid_value@tag");
	messages_valid_utf8("status=%FF");
	encoded = wrap("status=a", "%C3%A9", 40, "");
	messages_valid_utf8(encoded);
	free(encoded);
	/* a long parameter name is cut at 64 bytes in messages: never inside a
	 * character (found by t/fuzz/fuzz-list-query) */
	encoded = wrap("a", "\xc3\xa9", 40, "=1");
	all_messages_valid_utf8("unknown 81-byte name", encoded, 1);
	free(encoded);
	encoded = wrap("a", "\xc3\xa9", 40, "=%FF");
	all_messages_valid_utf8("81-byte name, value not UTF-8", encoded, 1);
	free(encoded);
	encoded = wrap("a", "\xc3\xa9", 40, "=%00");
	all_messages_valid_utf8("81-byte name, value with NUL", encoded, 2);
	free(encoded);
	encoded = wrap("a", "\xc3\xa9", 40, "=1");
	query = xprintf("%s&status=a%s", encoded, "%C3%A9%C3%A9");
	all_messages_valid_utf8("81-byte name and a bad status", query, 2);
	free(query);
	free(encoded);

	encoded = str_repeat("x", 65);
	query = xprintf("tag=%s", encoded);
	query_errors(query, 1, "invalid_value@tag");
	free(query);
	free(encoded);
}

static void
test_paging(void)
{
	paging_is("limit=1", 1, 0);
	paging_is("limit=100", 100, 0);
	paging_is("offset=7", DEFAULT_LIMIT, 7);
	paging_is("offset=0", DEFAULT_LIMIT, 0);
	paging_is("page=1", DEFAULT_LIMIT, 0);
	paging_is("page=2", DEFAULT_LIMIT, DEFAULT_LIMIT);
	paging_is("page=3&limit=20", 20, 40);
	paging_is("limit=20&page=3", 20, 40);
	paging_is("limit=10&offset=35", 10, 35);

	query_errors("limit=0", 1, "out_of_range@limit");
	query_errors("limit=101", 1, "out_of_range@limit");
	query_errors("limit=-5", 1, "out_of_range@limit");
	query_errors("limit=abc", 1, "invalid_value@limit");
	query_errors("limit=", 1, "invalid_value@limit");
	query_errors("limit=1.5", 1, "invalid_value@limit");
	query_errors("limit=99999999999999999999", 1, "invalid_value@limit");
	query_errors("page=0", 1, "out_of_range@page");
	query_errors("page=-1", 1, "out_of_range@page");
	query_errors("page=x", 1, "invalid_value@page");
	/* no cap but exactness: offsets up to 2^53, (page - 1) * max limit too */
	paging_is("page=10000001", DEFAULT_LIMIT, 10000000LL * DEFAULT_LIMIT);
	paging_is("page=90071992547410&limit=100", 100, 9007199254740900LL);
	query_errors("page=90071992547411", 1, "out_of_range@page");
	paging_is("offset=9007199254740992", DEFAULT_LIMIT, 9007199254740992LL);
	query_errors("offset=9007199254740993", 1, "out_of_range@offset");
	query_errors("offset=-1", 1, "out_of_range@offset");
	query_errors("offset=x", 1, "invalid_value@offset");
	query_errors("page=2&offset=5", 1, "invalid_value@offset");
	query_errors("offset=0&page=1", 1, "invalid_value@offset");
}

static void
test_unknown(void)
{
	struct parsed p;

	query_errors("foo=1", 1, "unknown_field@foo");
	query_errors("Status=open", 1, "unknown_field@Status");
	query_errors("status=bogus&limit=0&foo=1", 1,
	             "invalid_value@status out_of_range@limit unknown_field@foo");
	query_errors("status=open", 0, "unknown_field@status");
	query_errors("tag=db", 0, "unknown_field@tag");
	query_errors("limit=10&offset=5", 0, "");
	query_errors("limit", 1, "invalid_value@query");

	parse_with(&p, "limit=1000", 0, 100, 1000);
	ok(p.errs[0] == '\0' && p.q.limit == 1000, "replies: limit up to 1000");
	parsed_free(&p);
	parse_with(&p, NULL, 0, 100, 1000);
	is_int(p.q.limit, 100, "replies: default limit 100");
	parsed_free(&p);
	parse_with(&p, "limit=1001", 0, 100, 1000);
	is_str(p.errs, "out_of_range@limit", "replies: limit 1001");
	parsed_free(&p);
	query_errors("q=disk", 0, "unknown_field@q");
}

static void
test_q(void)
{
	char *encoded, *decoded, *query;

	filter_is("q=disk", "q", "disk");
	filter_is("q=%22db+pool%22+-staging", "q", "\"db pool\" -staging");
	filter_is("q=latency%20or%20timeout", "q", "latency or timeout");
	filter_is("q=the", "q", "the"); /* stop words only: PostgreSQL decides */
	filter_is("q=%21%21%21", "q", "!!!");
	filter_is("q=a&q=b", "q", "b");
	filter_is("q=disk&status=open&tag=db", "q", "disk");
	query_errors("q=", 1, "invalid_value@q");
	query_errors("q=+++", 1, "invalid_value@q");
	query_errors("q=%09%0A", 1, "invalid_value@q");
	query_errors("q=%FF", 1, "invalid_value@q");
	query_errors("q=a%00b", 1, "invalid_value@q");
	encoded = str_repeat("%C3%A9", 500);
	decoded = str_repeat("\xc3\xa9", 500);
	query = xprintf("q=%s", encoded);
	filter_is(query, "q", decoded); /* 500 characters, 1,000 bytes */
	free(query);
	free(encoded);
	free(decoded);
	encoded = str_repeat("x", 501);
	query = xprintf("q=%s", encoded);
	query_errors(query, 1, "invalid_value@q");
	free(query);
	free(encoded);
}

/* A cursor through encode and decode. */
static void
cursor_round_trip(enum cursor_kind kind, int64_t at, int64_t id)
{
	struct list_cursor in = {kind, at, id}, out;
	char *s = list_cursor_encode(&in);

	ok(s != NULL && strlen(s) == 40 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                              "0123456789-_") == 40,
	   "cursor %d/%lld/%lld: 40 base64url characters (%s)", kind, (long long)at, (long long)id,
	   s ? s : "NULL");
	ok(s != NULL && list_cursor_decode(s, &out) == 0 && out.kind == kind && out.at_us == at &&
	       out.id == id,
	   "cursor %d/%lld/%lld decodes to itself", kind, (long long)at, (long long)id);
	free(s);
}

/* A position no list has is never a cursor, even correctly checked. */
static void
cursor_refused(enum cursor_kind kind, int64_t at, int64_t id, const char *what)
{
	struct list_cursor in = {kind, at, id}, out = {CURSOR_INCIDENTS, 1, 1};
	char *s = list_cursor_encode(&in);

	ok(s != NULL && list_cursor_decode(s, &out) != 0, "cursor refused: %s", what);
	ok(out.kind == CURSOR_NONE, "%s: no cursor left behind", what);
	free(s);
}

static void
cursor_text_refused(const char *s, const char *what)
{
	struct list_cursor out;

	ok(list_cursor_decode(s, &out) != 0, "cursor refused: %s (%s)", what, s);
}

static void
test_cursor_encoding(void)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct list_cursor c = {CURSOR_INCIDENTS, 1773558000123456LL, 42};
	char *s, *t;
	size_t i, j, edits = 0, refused = 0;

	cursor_round_trip(CURSOR_INCIDENTS, 1773558000123456LL, 42);
	cursor_round_trip(CURSOR_INCIDENTS, 0, 1);
	cursor_round_trip(CURSOR_INCIDENTS, -1, 1);
	cursor_round_trip(CURSOR_INCIDENTS, CURSOR_AT_MAX, INT64_MAX);
	cursor_round_trip(CURSOR_INCIDENTS, -CURSOR_AT_MAX, 9007199254740993LL);
	cursor_round_trip(CURSOR_REPLIES, 0, 7);
	cursor_round_trip(CURSOR_WEBHOOKS, 0, 12);
	cursor_round_trip(CURSOR_DELIVERIES, 0, 9007199254740993LL);
	cursor_refused(CURSOR_INCIDENTS, CURSOR_AT_MAX + 1, 1, "time past 2^53 microseconds");
	cursor_refused(CURSOR_INCIDENTS, -CURSOR_AT_MAX - 1, 1, "time before -2^53 microseconds");
	cursor_refused(CURSOR_INCIDENTS, INT64_MIN, 1, "time INT64_MIN");
	cursor_refused(CURSOR_INCIDENTS, 5, 0, "id 0");
	cursor_refused(CURSOR_INCIDENTS, 5, -3, "negative id");
	cursor_refused(CURSOR_REPLIES, 5, 3, "a reply cursor with a time");
	cursor_refused(CURSOR_NONE, 5, 3, "kind none");
	cursor_refused(CURSOR_WEBHOOKS, 5, 3, "a webhook cursor with a time");
	cursor_refused(CURSOR_DELIVERIES, 0, 0, "a delivery cursor at seq 0");
	cursor_refused((enum cursor_kind)5, 0, 3, "kind 5");
	cursor_refused((enum cursor_kind)255, 5, 3, "kind 255");

	/* every single-character edit of a cursor is caught by its check */
	s = list_cursor_encode(&c);
	for (i = 0; s != NULL && i < strlen(s); i++) {
		for (j = 0; j < sizeof(alphabet) - 1; j++) {
			struct list_cursor out;

			if (alphabet[j] == s[i])
				continue;
			t = xstrdup(s);
			t[i] = alphabet[j];
			edits++;
			refused += list_cursor_decode(t, &out) != 0;
			free(t);
		}
	}
	ok(edits == 40 * 63 && refused == edits, "all %zu one-character edits refused (%zu)", edits,
	   refused);
	cursor_text_refused("", "empty");
	t = xstrndup(s, 39);
	cursor_text_refused(t, "39 characters");
	free(t);
	t = xstrndup(s, 28);
	cursor_text_refused(t, "its first 28 characters (the first format's length)");
	free(t);
	t = xprintf("%sA", s);
	cursor_text_refused(t, "41 characters");
	free(t);
	t = xprintf("%s=", s);
	cursor_text_refused(t, "with padding");
	free(t);
	t = xprintf(" %s", s);
	cursor_text_refused(t, "a leading space");
	free(t);
	t = xstrdup(s);
	t[5] = '+';
	cursor_text_refused(t, "base64's + (not URL-safe)");
	t[5] = '/';
	cursor_text_refused(t, "base64's /");
	free(t);
	cursor_text_refused("AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "zeros");
	cursor_text_refused("eyJpZCI6NDIsImF0IjoxfQ", "base64 JSON {\"id\":42,\"at\":1}");
	cursor_text_refused("42", "an id");
	free(s);
}

/* The offset a cursor carries, and cursors of the first format (28
 * characters, no offset: made before it carried one), still read. */
static void
test_cursor_pos(void)
{
	/* list_cursor_encode of the first format for {CURSOR_INCIDENTS,
	 * 1773558000123456, 42} and {CURSOR_REPLIES, 0, 7} */
	static const char *const v1_incidents = "AQAGTQqmlf5AAAAAAAAAACoVYSD5";
	static const char *const v1_replies = "AgAAAAAAAAAAAAAAAAAAAAfe01B2";
	struct list_cursor c = {CURSOR_INCIDENTS, 1773558000123456LL, 42}, out;
	int64_t pos = 0;
	char *s;

	s = list_cursor_encode_at(&c, 123456789);
	ok(s != NULL && list_cursor_decode_at(s, &out, &pos) == 0 && pos == 123456789 && out.id == 42,
	   "a cursor carries its offset (%lld)", (long long)pos);
	free(s);
	s = list_cursor_encode_at(&c, CURSOR_POS_MAX + 5);
	ok(s != NULL && list_cursor_decode_at(s, &out, &pos) == 0 && pos == CURSOR_POS_MAX,
	   "an offset past 2^53 is kept at 2^53");
	free(s);
	s = list_cursor_encode(&c);
	ok(s != NULL && list_cursor_decode_at(s, &out, &pos) == 0 && pos == 0,
	   "list_cursor_encode carries offset 0");
	free(s);
	ok(list_cursor_decode_at(v1_incidents, &out, &pos) == 0 && out.kind == CURSOR_INCIDENTS &&
	       out.at_us == 1773558000123456LL && out.id == 42 && pos == -1,
	   "a first-format incidents cursor still reads, offset unknown (-1)");
	ok(list_cursor_decode_at(v1_replies, &out, &pos) == 0 && out.kind == CURSOR_REPLIES &&
	       out.id == 7 && pos == -1,
	   "a first-format replies cursor still reads");
	s = xstrdup(v1_incidents);
	s[3] = s[3] == 'A' ? 'B' : 'A';
	cursor_text_refused(s, "an edited first-format cursor");
	free(s);
}

/* The list statement without filters is the table's STMT_INCIDENT_LIST,
 * which bench/pgbench/list.sql runs: the builder makes the same text. */
static void
test_list_sql(void)
{
	char *sql = db_list_sql(LIST_SQL_PAGE, 0);
	unsigned shape;
	size_t longest = 0;
	int kind;

	ok(strcmp(sql, db_statement_sql(STMT_INCIDENT_LIST)) == 0,
	   "db_list_sql(PAGE, 0) is STMT_INCIDENT_LIST");
	free(sql);
	sql = db_list_sql(LIST_SQL_AFTER, 2 * 1 + 1 * 3 + LIST_SHAPE_TAG);
	ok(strstr(sql, "AND status = ANY (string_to_array($2, ',')) AND priority = $3 AND tags @> "
	               "jsonb_build_array($4::text) ") != NULL &&
	       strstr(sql, "LIMIT $5) capped)") != NULL && strstr(sql, "< ('epoch'::timestamptz + $6") &&
	       strstr(sql, ", $7::bigint) ORDER BY created_at DESC, id DESC LIMIT $8") != NULL,
	   "status several, priority one, tag: numbered in order, capped count, keyset, limit (%s)",
	   sql);
	free(sql);
	for (kind = 0; kind < LIST_SQL_KINDS; kind++)
		for (shape = 0; shape < LIST_SHAPES; shape++) {
			sql = db_list_sql((enum list_sql)kind, shape);
			longest = strlen(sql) > longest ? strlen(sql) : longest;
			free(sql);
		}
	ok(longest > 0 && longest < 4096, "every shape builds (longest %zu bytes)", longest);
}

static void
test_after(void)
{
	struct list_cursor inc = {CURSOR_INCIDENTS, 1773558000000000LL, 42};
	struct list_cursor rep = {CURSOR_REPLIES, 0, 9};
	char *ci = list_cursor_encode(&inc), *cr = list_cursor_encode(&rep), *query;
	struct parsed p;

	query = xprintf("after=%s&limit=7&status=open&q=disk", ci);
	parse(&p, query);
	is_str(p.errs, "", "?after=<cursor>&limit=7&status=open&q=disk accepted");
	ok(p.q.after.kind == CURSOR_INCIDENTS && p.q.after.at_us == inc.at_us && p.q.after.id == 42 &&
	       p.q.limit == 7 && p.q.offset == 0,
	   "after: the position, limit 7, offset 0");
	list_cursor_expect(&p.q, CURSOR_INCIDENTS, &p.e);
	is_int(p.e.n, 0, "an incident cursor on the incident list");
	list_cursor_expect(&p.q, CURSOR_REPLIES, &p.e);
	errors_summary(&p.e, p.errs, sizeof(p.errs));
	is_str(p.errs, "invalid_value@after", "an incident cursor on the replies list");
	parsed_free(&p);
	free(query);

	query = xprintf("after=%s", cr);
	parse_with(&p, query, 0, 100, 1000);
	is_str(p.errs, "", "replies: ?after=<cursor> accepted");
	ok(p.q.after.kind == CURSOR_REPLIES && p.q.after.id == 9, "replies: the cursor's id");
	list_cursor_expect(&p.q, CURSOR_INCIDENTS, &p.e);
	errors_summary(&p.e, p.errs, sizeof(p.errs));
	is_str(p.errs, "invalid_value@after", "a replies cursor on the incident list");
	parsed_free(&p);
	free(query);

	query = xprintf("after=%s&page=2", ci);
	query_errors(query, 1, "invalid_value@after");
	free(query);
	query = xprintf("offset=0&after=%s", ci);
	query_errors(query, 1, "invalid_value@after");
	free(query);
	query = xprintf("after=%s&page=1&offset=0", cr);
	query_errors(query, 0, "invalid_value@after");
	free(query);
	query_errors("after=abc", 1, "invalid_value@after");
	query_errors("after=", 1, "invalid_value@after");
	query_errors("after=abc&page=2", 1, "invalid_value@after");
	query_errors("after=%00", 1, "invalid_value@after invalid_value@after");
	query_errors("after=abc", 0, "invalid_value@after");
	messages_valid_utf8("after=%C3%A9");
	free(ci);
	free(cr);
}

static void
test_free(void)
{
	struct parsed p;

	parse(&p, "status=open&priority=low&severity=high&source=api&tag=x&q=y");
	is_str(p.errs, "", "every filter at once");
	list_query_free(&p.q);
	ok(p.q.status == NULL && p.q.priority == NULL && p.q.severity == NULL &&
	       p.q.source == NULL && p.q.tag == NULL && p.q.q == NULL && p.q.limit == 0,
	   "list_query_free frees and clears");
	list_query_free(&p.q);
	ok(1, "list_query_free twice is harmless");
	errors_clear(&p.e);
}

void
test_query(void)
{
	test_empty();
	test_filters();
	test_paging();
	test_unknown();
	test_q();
	test_cursor_encoding();
	test_cursor_pos();
	test_list_sql();
	test_after();
	test_free();
}
