/*
 * tap.h — the C unit tests' TAP helpers (implemented in main.c) and the
 * list of test groups.
 *
 * Every assertion prints one "ok N - description" / "not ok N - ..." line;
 * the plan "1..N" is printed last, once the count is known (TAP allows a
 * trailing plan).  A failed assertion prints "#   got/expected" diagnostics
 * on stderr.  Assertions between todo_start() and todo_end() are known bugs:
 * they print "# TODO reason" and do not fail the run, so prove reports them
 * as "unexpectedly succeeded" once the bug is fixed.
 */
#ifndef TAP_H
#define TAP_H

#include "api.h"
#include "sse.h"

#define TAP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

int tap_ok(int pass, const char *file, int line, const char *fmt, ...) TAP_PRINTF(4, 5);
int tap_is_int(int64_t got, int64_t expected, const char *file, int line, const char *fmt, ...)
    TAP_PRINTF(5, 6);
int tap_is_str(const char *got, const char *expected, const char *file, int line,
               const char *fmt, ...) TAP_PRINTF(5, 6);
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
void todo_start(const char *reason);
void todo_end(void);

/* Test data: unit repeated n times; caller frees. */
char *str_repeat(const char *unit, size_t n);
/* before + unit × n + after; caller frees. */
char *wrap(const char *before, const char *unit, size_t n, const char *after);
/* Log lines: stderr (where log_msg writes) goes to a temporary file from
 * capture_start; capture_end returns what was logged, each line without its
 * "time level pid=N " prefix (caller frees). */
void capture_start(void);
char *capture_end(void);
/* Collected errors as "code@source code@source" ("" when none). */
void errors_summary(const struct errors *e, char *out, size_t outlen);

/* Each returns whether the assertion passed. */
#define ok(cond, ...) tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, expected, ...) \
	tap_is_int((int64_t)(got), (int64_t)(expected), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, expected, ...) tap_is_str(got, expected, __FILE__, __LINE__, __VA_ARGS__)

/* The groups, one per file; main.c holds the {name, fn} table. */
void test_utf8(void);
void test_json(void);
void test_validate(void);
void test_sla(void);
void test_clock(void);
void test_route(void);
void test_config(void);
void test_query(void);
void test_log(void);
void test_sse_url(void);
void test_sse_listen(void);
void test_sse_pg(void);
void test_dialect(void);
void test_metrics(void);
void test_auth_cache(void);
void test_xml(void);
void test_net_private(void);
void test_webhook(void);
void test_hooks_sign(void);
void test_pg_array(void);
void test_hooks_http(void);

#endif
