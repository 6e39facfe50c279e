/* test_log.c — log lines stay one line of key=value whatever the logged
 * strings hold: control characters are escaped everywhere, and LOG_QUOTE
 * makes an untrusted string one quoted value. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

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

void
test_log(void)
{
	test_control_characters();
	test_quote();
}
