/* log.c — one line per event on stderr: time, level, pid, request id, key=value.
 *
 * Logged text comes partly from outside (PostgreSQL and Redis error messages,
 * request input): a line break in it would forge a line, a quote would end a
 * value early.  log_msg escapes control characters in the whole line;
 * log_quote makes an untrusted string one quoted value. */
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* The escape of byte c (in a quoted value when quoted) into esc[5];
 * returns its length. */
static size_t
log_escape_byte(unsigned char c, int quoted, char esc[5])
{
	static const char named[][2] = {{'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};
	size_t i;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (c == (unsigned char)named[i][0]) {
			esc[0] = '\\';
			esc[1] = named[i][1];
			return 2;
		}
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(esc, 5, "\\x%02x", c);
		return 4;
	}
	if (quoted && (c == '"' || c == '\\')) {
		esc[0] = '\\';
		esc[1] = (char)c;
		return 2;
	}
	esc[0] = (char)c;
	return 1;
}

/* Appends s, escaped, to out[*used..limit); an escape that does not fit is
 * left out whole, never split.  Returns 0 when all of s fit. */
static int
log_escape(char *out, size_t limit, size_t *used, const char *s, int quoted)
{
	char esc[5];
	size_t n;

	for (; *s != '\0'; s++) {
		n = log_escape_byte((unsigned char)*s, quoted, esc);
		if (*used + n > limit)
			return -1;
		memcpy(out + *used, esc, n);
		*used += n;
	}
	return 0;
}

const char *
log_quote(char *out, size_t outlen, const char *s)
{
	/* room kept for the closing quote, a "..." cut mark and the NUL */
	size_t used = 1, limit = outlen - 5;

	if (outlen < 6) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	out[0] = '"';
	if (s != NULL && log_escape(out, limit, &used, s, 1) != 0) {
		memcpy(out + used, "...", 3);
		used += 3;
	}
	out[used++] = '"';
	out[used] = '\0';
	return out;
}

/* 1 when s is 1..max bytes of [A-Za-z0-9_.:/-]: safe bare in key=value. */
int
log_is_token(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-");
	return n > 0 && n <= max && s[n] == '\0';
}

const char *
log_value(char *out, size_t outlen, const char *s)
{
	if (!log_is_token(s, outlen - 1))
		return log_quote(out, outlen, s);
	memcpy(out, s, strlen(s) + 1);
	return out;
}

/* Every line starts with the time and the pid, which change once a second
 * and once per process: they are formatted then, not for every line (a
 * request line cost a time format and a getpid system call each).  A fork's
 * child forgets the pid it inherited. */
static struct {
	int ready;
	pid_t pid;
	time_t second;
	char stamp[TIME_TEXT_LEN];
} log_prefix;

static void
log_prefix_forget(void)
{
	log_prefix.ready = 0;
}

static const char *
log_stamp(pid_t *pid)
{
	static int atfork_registered;
	time_t now = time(NULL);

	if (!atfork_registered)
		atfork_registered = pthread_atfork(NULL, NULL, log_prefix_forget) == 0;
	if (!log_prefix.ready) {
		log_prefix.pid = getpid();
		log_prefix.second = now - 1;
		log_prefix.ready = atfork_registered;
	}
	if (now != log_prefix.second) {
		time_format((int64_t)now, log_prefix.stamp);
		log_prefix.second = now;
	}
	*pid = log_prefix.pid;
	return log_prefix.stamp;
}

void
log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
{
	const char *stamp;
	pid_t pid;
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 1]; /* + the newline */
	size_t used;
	va_list ap;
	int n;

	if (level > log_threshold)
		return;
	stamp = log_stamp(&pid);
	n = snprintf(line, LOG_LINE_MAX, "%s %s pid=%ld ", stamp, level_names[level], (long)pid);
	if (n < 0)
		return;
	used = (size_t)n < LOG_LINE_MAX ? (size_t)n : LOG_LINE_MAX - 1;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	/* An over-long line is truncated rather than split. */
	if (request_id != NULL && used + 11 < LOG_LINE_MAX) {
		memcpy(line + used, "request_id=", 11);
		used += 11;
		if (log_escape(line, LOG_LINE_MAX - 1, &used, request_id, 0) == 0)
			line[used++] = ' ';
	}
	log_escape(line, LOG_LINE_MAX, &used, msg, 0);
	line[used++] = '\n';
	/* One write per line so lines from several processes do not interleave. */
	if (write(STDERR_FILENO, line, used) < 0)
		return;
}
