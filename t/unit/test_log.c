/* test_log.c — log lines stay one line of key=value whatever the logged
 * strings hold: control characters are escaped everywhere, and LOG_QUOTE
 * makes an untrusted string one quoted value. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_control_characters(void)
{
	char *line;

	capture_start();
	log_msg(LOG_ERROR, NULL, "msg=\"database error\" error=%s", "ERROR:  boom\nLINE 1: x\r\tend");
	line = capture_end();
	is_str(line, "msg=\"database error\" error=ERROR:  boom\\nLINE 1: x\\r\\tend\n",
	       "newline, CR and tab are escaped: one line");
	free(line);

	capture_start();
	log_msg(LOG_ERROR, NULL, "x=%s", "a\001b\033c\177d");
	line = capture_end();
	is_str(line, "x=a\\x01b\\x1bc\\x7fd\n", "other control bytes and DEL as \\xNN");
	free(line);

	capture_start();
	log_msg(LOG_ERROR, "rid\n1", "x=1");
	line = capture_end();
	is_str(line, "request_id=rid\\n1 x=1\n", "the request id is escaped too");
	free(line);

	capture_start();
	log_msg(LOG_ERROR, NULL, "x=%s", "héllo");
	line = capture_end();
	is_str(line, "x=héllo\n", "UTF-8 passes through");
	free(line);
}

static void
test_quote(void)
{
	char *line;
	char *longs;

	is_str(LOG_QUOTE("plain"), "\"plain\"", "a plain string is quoted");
	is_str(LOG_QUOTE("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"",
	       "quotes and backslashes are escaped inside the value");
	is_str(LOG_QUOTE("a\nb\tc\001"), "\"a\\nb\\tc\\x01\"", "control characters are escaped");
	is_str(LOG_QUOTE(NULL), "\"\"", "NULL is an empty value");

	longs = str_repeat("\"", 4000);
	line = xstrdup(LOG_QUOTE(longs));
	ok(strlen(line) < LOG_QUOTE_MAX, "a long value is cut to fit (%zu bytes)", strlen(line));
	ok(line[0] == '"' && strcmp(line + strlen(line) - 4, "...\"") == 0,
	   "and still ends its quoted value, marked as cut");
	ok(strstr(line, "\\\"\\\"...") != NULL, "no escape sequence is split");
	free(line);
	free(longs);

	is_str(LOG_VALUE("GET"), "GET", "a token stays bare");
	is_str(LOG_VALUE("/v1/:coll"), "/v1/:coll", "so does a route");
	is_str(LOG_VALUE("GET x=1"), "\"GET x=1\"", "anything else is quoted");
	is_str(LOG_VALUE(""), "\"\"", "the empty string is quoted");

	capture_start();
	log_msg(LOG_WARN, "r1", "msg=\"redis error\" error=%s",
	        LOG_QUOTE("ERR \"x\" key=evil\nfake=1"));
	line = capture_end();
	is_str(line, "request_id=r1 msg=\"redis error\" error=\"ERR \\\"x\\\" key=evil\\nfake=1\"\n",
	       "a quoted value in a log line cannot end early or start a line");
	free(line);
}

/* The lines a parent, then its forked child, then the parent again write. */
static char *
lines_around_fork(pid_t *child)
{
	struct buf *b = buf_new(512);
	int fds[2], saved;
	char chunk[512];
	ssize_t n;
	char *out;

	if (pipe(fds) != 0 || (saved = dup(STDERR_FILENO)) < 0 ||
	    dup2(fds[1], STDERR_FILENO) < 0)
		fatal("cannot redirect stderr");
	log_msg(LOG_ERROR, NULL, "who=parent");
	if ((*child = fork()) == 0) {
		log_msg(LOG_ERROR, NULL, "who=child");
		_exit(0);
	}
	waitpid(*child, NULL, 0);
	log_msg(LOG_ERROR, NULL, "who=parent");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		b = buf_append(b, chunk, (size_t)n);
	close(fds[0]);
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

static void
test_prefix(void)
{
	char parent[64], child[64], *lines;
	pid_t child_pid;

	lines = lines_around_fork(&child_pid);
	snprintf(parent, sizeof(parent), " pid=%ld who=parent\n", (long)getpid());
	snprintf(child, sizeof(child), " pid=%ld who=child\n", (long)child_pid);
	ok(strstr(lines, parent) != NULL, "a line names its process (%s)", lines);
	ok(strstr(lines, child) != NULL, "a forked child's lines name the child, not the pid it inherited");
	ok(strstr(strstr(lines, child) != NULL ? strstr(lines, child) : lines, parent) != NULL,
	   "the parent's lines after the fork still name the parent");
	ok(strlen(lines) > 20 && lines[4] == '-' && lines[10] == 'T' && lines[19] == 'Z',
	   "each line starts with its UTC second");
	free(lines);
}

void
test_log(void)
{
	test_control_characters();
	test_quote();
	test_prefix();
}
