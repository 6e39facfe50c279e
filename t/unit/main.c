/*
 * main.c — the C unit tests: a {name, fn} table of groups (the shape of
 * memcached's testapp.c) printing TAP.  `t/unit` runs every group,
 * `t/unit json route` only those.  Exit status 0 when every assertion passed
 * (TODO assertions excepted), 1 when one failed, 2 on bad usage.
 */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_group {
	const char *name;
	void (*fn)(void);
};

static const struct test_group groups[] = {
	{"utf8", test_utf8},   {"json", test_json},   {"validate", test_validate},
	{"sla", test_sla},     {"clock", test_clock}, {"route", test_route},
	{"config", test_config}, {"query", test_query}, {"log", test_log},
	{"sse_url", test_sse_url}, {"sse_listen", test_sse_listen}, {"sse_pg", test_sse_pg},
	{"dialect", test_dialect},
	{"metrics", test_metrics}, {"auth_cache", test_auth_cache}, {"xml", test_xml},
	{"net_private", test_net_private}, {"webhook", test_webhook},
	{"hooks_sign", test_hooks_sign}, {"pg_array", test_pg_array},
	{"hooks_http", test_hooks_http},
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static int tests_run;
static int tests_failed;
static const char *todo_reason;

static void TAP_PRINTF(2, 0)
vdiag(FILE *out, const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("# ", out);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
	fflush(out);
}

/* Failure diagnostics: stderr (shown by prove), stdout for known (TODO)
 * failures, as Test::More does. */
static void TAP_PRINTF(1, 2)
fail_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(todo_reason != NULL ? stdout : stderr, fmt, ap);
	va_end(ap);
}

void
diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(stderr, fmt, ap);
	va_end(ap);
}

/* Descriptions stay on one line and cannot start a TAP directive. */
static void
print_description(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '#')
			fputs("\\#", stdout);
		else if ((unsigned char)*s < 0x20)
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
	}
}

static int TAP_PRINTF(4, 0)
tap_vresult(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	char *desc;

	if (vasprintf(&desc, fmt, ap) < 0)
		fatal("out of memory formatting a test description");
	tests_run++;
	printf("%sok %d - ", pass ? "" : "not ", tests_run);
	print_description(desc);
	if (todo_reason != NULL)
		printf(" # TODO %s", todo_reason);
	putchar('\n');
	fflush(stdout);
	if (!pass) {
		if (todo_reason == NULL)
			tests_failed++;
		fail_diag("  Failed %stest '%s'", todo_reason != NULL ? "(TODO) " : "", desc);
		fail_diag("  at %s line %d.", file, line);
	}
	free(desc);
	return pass;
}

int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	return pass;
}

int
tap_is_int(int64_t got, int64_t expected, const char *file, int line, const char *fmt, ...)
{
	int pass = got == expected;
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		fail_diag("         got: %lld", (long long)got);
		fail_diag("    expected: %lld", (long long)expected);
	}
	return pass;
}

/* s for a diagnostic line: quoted, control bytes as \xNN; caller frees. */
static char *
quoted(const char *s)
{
	struct buf *b;
	char *out;

	if (s == NULL)
		return xstrdup("NULL");
	b = buf_new(strlen(s) + 3);
	b = buf_puts(b, "'");
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			b = buf_printf(b, "\\x%02x", (unsigned char)*s);
		else
			b = buf_append(b, s, 1);
	}
	b = buf_puts(b, "'");
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

int
tap_is_str(const char *got, const char *expected, const char *file, int line, const char *fmt,
           ...)
{
	int pass = (got == NULL || expected == NULL) ? got == expected : strcmp(got, expected) == 0;
	va_list ap;
	char *g, *e;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		g = quoted(got);
		e = quoted(expected);
		fail_diag("         got: %s", g);
		fail_diag("    expected: %s", e);
		free(g);
		free(e);
	}
	return pass;
}

void
todo_start(const char *reason)
{
	todo_reason = reason;
}

void
todo_end(void)
{
	todo_reason = NULL;
}

char *
str_repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit), i;
	char *out = xmalloc(len * n + 1);

	for (i = 0; i < n; i++)
		memcpy(out + i * len, unit, len);
	out[len * n] = '\0';
	return out;
}

char *
wrap(const char *before, const char *unit, size_t n, const char *after)
{
	char *s = str_repeat(unit, n), *out = xprintf("%s%s%s", before, s, after);

	free(s);
	return out;
}

void
errors_summary(const struct errors *e, char *out, size_t outlen)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < e->n && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s@%s", i ? " " : "",
		                         e->items[i].code,
		                         e->items[i].source_name ? e->items[i].source_name : "-");
}

static int saved_stderr = -1;
static FILE *capture;

/* Sends stderr (where log_msg writes) to a temporary file until capture_end. */
void
capture_start(void)
{
	fflush(stderr);
	capture = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	if (capture == NULL || saved_stderr < 0 || dup2(fileno(capture), STDERR_FILENO) < 0)
		fatal("cannot capture stderr");
}

/* What was logged since capture_start, each line after its
 * "time level pid=N " prefix; caller frees. */
char *
capture_end(void)
{
	struct buf *b = buf_new(256), *out = buf_new(256);
	char chunk[256];
	size_t n;
	char *line, *next, *rest, *text;

	if (dup2(saved_stderr, STDERR_FILENO) < 0)
		fatal("cannot restore stderr");
	close(saved_stderr);
	rewind(capture);
	while ((n = fread(chunk, 1, sizeof(chunk), capture)) > 0)
		b = buf_append(b, chunk, n);
	fclose(capture);
	for (line = b->data; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		rest = strstr(line, " pid=");
		rest = rest != NULL && rest < next ? strchr(rest + 1, ' ') : NULL;
		rest = rest != NULL && rest < next ? rest + 1 : line;
		out = buf_append(out, rest, (size_t)(next - rest));
	}
	text = xstrdup(out->data);
	buf_free(b);
	buf_free(out);
	return text;
}

static const struct test_group *
group_find(const char *name)
{
	size_t i;

	for (i = 0; i < NGROUPS; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

static void
group_run(const struct test_group *g)
{
	printf("# %s\n", g->name);
	g->fn();
	todo_end();
}

static int
usage(const char *name)
{
	size_t i;

	fprintf(stderr, "usage: t/unit [group ...]\nunknown group \"%s\"; groups:", name);
	for (i = 0; i < NGROUPS; i++)
		fprintf(stderr, " %s", groups[i].name);
	fputc('\n', stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	size_t i;
	int a;

	for (a = 1; a < argc; a++)
		if (group_find(argv[a]) == NULL)
			return usage(argv[a]);
	if (argc > 1)
		for (a = 1; a < argc; a++)
			group_run(group_find(argv[a]));
	else
		for (i = 0; i < NGROUPS; i++)
			group_run(&groups[i]);
	printf("1..%d\n", tests_run);
	if (tests_failed > 0)
		diag("Looks like you failed %d test%s of %d.", tests_failed,
		     tests_failed == 1 ? "" : "s", tests_run);
	return tests_failed > 0 ? 1 : 0;
}
