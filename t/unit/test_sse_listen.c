/* test_sse_listen.c — sse_listen, the address incidentd-sse listens on:
 * host:port with the port spelled out, or unix:/absolute/path short enough
 * for a socket address (nginx's `server unix:/path`); empty runs no streams.
 * A bad one fails at start-up (config_load), not in the stream process. */
#include "tap.h"

#include <string.h>
#include <sys/un.h>

static void
accepted(const char *value)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	if (ok(config_set(&cfg, "sse_listen", value, err, sizeof(err)) == 0,
	       "sse_listen = \"%s\" accepted (%s)", value, err))
		is_str(cfg.sse_listen, value, "sse_listen = \"%s\" stored as written", value);
	config_free(&cfg);
}

static void
refused(const char *value)
{
	struct config cfg;
	char err[256] = "";

	config_defaults(&cfg);
	config_set(&cfg, "sse_listen", "unix:/run/incidentd/sse.sock", err, sizeof(err));
	ok(config_set(&cfg, "sse_listen", value, err, sizeof(err)) != 0,
	   "sse_listen = \"%s\" refused", value);
	ok(strstr(err, "sse_listen") != NULL, "sse_listen = \"%s\": the error names the key (%s)",
	   value, err);
	is_str(cfg.sse_listen, "unix:/run/incidentd/sse.sock",
	       "sse_listen = \"%s\": the value before stays", value);
	config_free(&cfg);
}

/* The longest path a socket address holds, and one byte more. */
static void
test_path_length(void)
{
	struct sockaddr_un sun;
	char value[sizeof(sun.sun_path) + 8];
	size_t room = sizeof(sun.sun_path) - 1; /* and its NUL */

	memcpy(value, "unix:/", 6);
	memset(value + 6, 'a', room - 1);
	value[5 + room] = '\0';
	accepted(value);
	value[5 + room] = 'a';
	value[6 + room] = '\0';
	refused(value);
}

static void
test_parse_unix(void)
{
	struct net_address a;

	if (ok(net_address_parse("unix:/run/incidentd/sse.sock", 0, &a) == 0, "unix: parses")) {
		is_str(a.unix_path, "/run/incidentd/sse.sock", "unix: the path");
		ok(a.host == NULL && a.port == 0, "unix: no host, no port");
		net_address_free(&a);
	}
	if (ok(net_address_parse("127.0.0.1:8081", 0, &a) == 0, "host:port parses")) {
		is_str(a.host, "127.0.0.1", "host:port: the host");
		is_int(a.port, 8081, "host:port: the port");
		net_address_free(&a);
	}
	ok(net_address_parse("127.0.0.1", 0, &a) == 0 && a.port == 0,
	   "a host alone parses with no port (which sse_listen refuses)");
	net_address_free(&a);
}

void
test_sse_listen(void)
{
	static const char *const good[] = {
		"",                     /* no streams */
		"127.0.0.1:8081",
		"[::1]:8081",
		"localhost:8081",
		"unix:/run/incidentd/sse.sock",
		"unix:/tmp/s",
	};
	static const char *const bad[] = {
		"127.0.0.1",           /* no port: where would nginx connect? */
		"localhost",
		"[::1]",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"unix:",
		"unix:sse.sock",       /* relative: depends on the working directory */
		"unix:./sse.sock",
		":8081",
	};
	size_t i;

	test_parse_unix();
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		accepted(good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i]);
	test_path_length();
}
