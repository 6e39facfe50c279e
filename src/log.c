/* log.c — one line per event on stderr: time, level, pid, request id, key=value. */
#include "incidentd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

void
log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
{
	char stamp[TIME_TEXT_LEN];
	char line[2048];
	va_list ap;
	int n;

	if (level > log_threshold)
		return;
	time_format((int64_t)time(NULL), stamp);
	n = snprintf(line, sizeof(line), "%s %s pid=%ld ", stamp, level_names[level],
	             (long)getpid());
	if (n < 0)
		return;
	if (request_id != NULL && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "request_id=%s ", request_id);
	if ((size_t)n < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* One write per line so lines from several processes do not interleave;
	 * an over-long line is truncated rather than split. */
	n = (int)strnlen(line, sizeof(line) - 2);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
