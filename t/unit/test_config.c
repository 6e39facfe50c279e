/* test_config.c — defaults, config_set per key type, durations, config files
 * and INCIDENTD_* environment overrides. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every key with a valid non-default value. */
static const struct {
	const char *key;
	const char *value;
} all_keys[] = {
	{"listen", "/tmp/x.sock"},      {"socket_mode", "0600"},
	{"workers", "2"},               {"max_requests", "500"},
	{"database", "dbname=x"},       {"redis", "127.0.0.1:1"},
	{"public_base_url", "http://x"}, {"sla_urgent", "1m"},
	{"sla_high", "2m"},             {"sla_normal", "3m"},
	{"sla_low", "4m"},              {"sql_dir", "/x/sql"},
	{"log_level", "warn"},          {"shutdown_timeout", "5"},
	{"sse_listen", "127.0.0.1:9"},  {"heartbeat", "20"},
	{"max_connections", "100"},     {"client_buffer_cap", "4096"},
	{"event_retention_days", "7"}, {"api_v1", "statly"},
	{"webhook_allow_private", "yes"}, {"hooks_processes", "2"},
};

#define NKEYS (sizeof(all_keys) / sizeof(all_keys[0]))

/* The tests own the environment: no INCIDENTD_<KEY> from the caller. */
static void
env_clear(void)
{
	char name[64];
	size_t i, j;

	for (i = 0; i < NKEYS; i++) {
		snprintf(name, sizeof(name), "INCIDENTD_%s", all_keys[i].key);
		for (j = 0; name[j] != '\0'; j++)
			if (name[j] >= 'a' && name[j] <= 'z')
				name[j] = (char)(name[j] - 'a' + 'A');
		unsetenv(name);
	}
}

static void
test_defaults(void)
{
	struct config cfg;
	size_t n;

	config_defaults(&cfg);
	is_str(cfg.listen, "/tmp/incidentd.sock", "listen");
	is_int(cfg.socket_mode, 0660, "socket_mode 0660");
	is_int(cfg.workers, 4, "workers");
	is_int(cfg.hooks_processes, 1, "hooks_processes");
	is_int(cfg.max_requests, 10000, "max_requests");
	is_str(cfg.database, "dbname=incidentd", "database");
	is_str(cfg.redis, "127.0.0.1:6379", "redis");
	is_str(cfg.public_base_url, "http://127.0.0.1:8080", "public_base_url");
	is_int(cfg.sla_target[PRIORITY_URGENT], 3600, "sla_urgent 1h");
	is_int(cfg.sla_target[PRIORITY_HIGH], 4 * 3600, "sla_high 4h");
	is_int(cfg.sla_target[PRIORITY_NORMAL], 24 * 3600, "sla_normal 24h");
	is_int(cfg.sla_target[PRIORITY_LOW], 72 * 3600, "sla_low 72h");
	n = cfg.sql_dir != NULL ? strlen(cfg.sql_dir) : 0;
	ok(n > 4 && strcmp(cfg.sql_dir + n - 4, "/sql") == 0, "sql_dir is $(pkgdatadir)/sql (%s)",
	   cfg.sql_dir ? cfg.sql_dir : "NULL");
	is_int(cfg.log_level, LOG_INFO, "log_level info");
	is_int(cfg.shutdown_timeout, 10, "shutdown_timeout");
	is_str(cfg.sse_listen, "", "sse_listen: streams off unless configured");
	is_int(cfg.heartbeat, 15, "heartbeat");
	is_int(cfg.max_connections, 10000, "max_connections");
	is_int(cfg.client_buffer_cap, 262144, "client_buffer_cap");
	is_int(cfg.event_retention_days, 30, "event_retention_days");
	is_str(cfg.api_v1, "alert24", "api_v1: Alert24 answers at /api/v1 (DESIGN §8)");
	config_free(&cfg);
	ok(cfg.listen == NULL && cfg.database == NULL && cfg.sql_dir == NULL,
	   "config_free clears the strings");
	ok(cfg.redis == NULL && cfg.sse_listen == NULL, "config_free clears the addresses");
	ok(cfg.api_v1 == NULL, "config_free clears the choices");
	config_free(&cfg);
	ok(1, "config_free twice is harmless");
}

static int
set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_set(cfg, key, value, err, errlen);
}

/* key = value is rejected and leaves the int field at before. */
static void
int_rejected(struct config *cfg, const char *key, const char *value, const int *field)
{
	char err[256];
	int before = *field;

	ok(set(cfg, key, value, err, sizeof(err)) == -1, "%s = \"%s\" rejected", key, value);
	ok(strstr(err, key) != NULL, "message names %s (%s)", key, err);
	is_int(*field, before, "%s unchanged", key);
}

static void
test_set(void)
{
	struct config cfg;
	char err[256];
	size_t i;

	config_defaults(&cfg);
	for (i = 0; i < NKEYS; i++)
		ok(set(&cfg, all_keys[i].key, all_keys[i].value, err, sizeof(err)) == 0,
		   "config_set %s = %s (%s)", all_keys[i].key, all_keys[i].value, err);
	ok(strcmp(cfg.listen, "/tmp/x.sock") == 0 && cfg.socket_mode == 0600 && cfg.workers == 2 &&
	       cfg.max_requests == 500 && strcmp(cfg.database, "dbname=x") == 0 &&
	       strcmp(cfg.redis, "127.0.0.1:1") == 0 && strcmp(cfg.public_base_url, "http://x") == 0,
	   "first seven keys stored");
	ok(cfg.sla_target[PRIORITY_URGENT] == 60 && cfg.sla_target[PRIORITY_HIGH] == 120 &&
	       cfg.sla_target[PRIORITY_NORMAL] == 180 && cfg.sla_target[PRIORITY_LOW] == 240,
	   "each SLA key sets its own priority");
	ok(strcmp(cfg.sql_dir, "/x/sql") == 0 && cfg.log_level == LOG_WARN &&
	       cfg.shutdown_timeout == 5 && strcmp(cfg.sse_listen, "127.0.0.1:9") == 0 &&
	       cfg.heartbeat == 20 && cfg.max_connections == 100 && cfg.client_buffer_cap == 4096 &&
	       cfg.event_retention_days == 7 && strcmp(cfg.api_v1, "statly") == 0,
	   "remaining keys stored");
	ok(set(&cfg, "api_v1", "none", err, sizeof(err)) == 0 && strcmp(cfg.api_v1, "none") == 0,
	   "api_v1 none");
	ok(set(&cfg, "api_v1", "v1", err, sizeof(err)) == -1 && strcmp(cfg.api_v1, "none") == 0,
	   "api_v1 names a compatibility dialect only, and a bad one changes nothing");
	is_str(err, "invalid value for api_v1: \"v1\"", "api_v1 message");
	ok(set(&cfg, "api_v1", "Alert24", err, sizeof(err)) == -1, "api_v1 is case-sensitive");

	ok(set(&cfg, "bogus", "1", err, sizeof(err)) == -1, "unknown key rejected");
	is_str(err, "unknown configuration key \"bogus\"", "unknown key message");
	ok(set(&cfg, "Workers", "1", err, sizeof(err)) == -1, "keys are case-sensitive");

	ok(set(&cfg, "listen", "/run/incidentd/fcgi.sock", err, sizeof(err)) == 0 &&
	       strcmp(cfg.listen, "/run/incidentd/fcgi.sock") == 0,
	   "string key replaced");
	ok(set(&cfg, "workers", "256", err, sizeof(err)) == 0 && cfg.workers == 256, "workers 256");
	ok(set(&cfg, "workers", "1", err, sizeof(err)) == 0 && cfg.workers == 1, "workers 1");
	int_rejected(&cfg, "workers", "0", &cfg.workers);
	int_rejected(&cfg, "workers", "257", &cfg.workers);
	int_rejected(&cfg, "workers", "abc", &cfg.workers);
	int_rejected(&cfg, "workers", "4x", &cfg.workers);
	ok(set(&cfg, "hooks_processes", "16", err, sizeof(err)) == 0 && cfg.hooks_processes == 16,
	   "hooks_processes 16");
	int_rejected(&cfg, "hooks_processes", "0", &cfg.hooks_processes);
	int_rejected(&cfg, "hooks_processes", "17", &cfg.hooks_processes);
	int_rejected(&cfg, "workers", "", &cfg.workers);
	int_rejected(&cfg, "workers", "-1", &cfg.workers);
	int_rejected(&cfg, "workers", " 4", &cfg.workers);
	int_rejected(&cfg, "workers", "99999999999999999999", &cfg.workers);
	ok(set(&cfg, "workers", "abc", err, sizeof(err)) == -1, "bad int rejected");
	is_str(err, "invalid value for workers: \"abc\"", "bad value message");
	int_rejected(&cfg, "shutdown_timeout", "3601", &cfg.shutdown_timeout);
	int_rejected(&cfg, "event_retention_days", "0", &cfg.event_retention_days);

	ok(set(&cfg, "socket_mode", "0666", err, sizeof(err)) == 0 && cfg.socket_mode == 0666,
	   "socket_mode 0666");
	ok(set(&cfg, "socket_mode", "600", err, sizeof(err)) == 0 && cfg.socket_mode == 0600,
	   "socket_mode 600 is octal too");
	ok(set(&cfg, "socket_mode", "0777", err, sizeof(err)) == 0 && cfg.socket_mode == 0777,
	   "socket_mode 0777");
	int_rejected(&cfg, "socket_mode", "0888", &cfg.socket_mode);
	int_rejected(&cfg, "socket_mode", "0660x", &cfg.socket_mode);
	int_rejected(&cfg, "socket_mode", "1000", &cfg.socket_mode);
	int_rejected(&cfg, "socket_mode", "-1", &cfg.socket_mode);
	int_rejected(&cfg, "socket_mode", "", &cfg.socket_mode);

	ok(set(&cfg, "client_buffer_cap", "1024", err, sizeof(err)) == 0 &&
	       cfg.client_buffer_cap == 1024,
	   "client_buffer_cap minimum");
	ok(set(&cfg, "client_buffer_cap", "9223372036854775807", err, sizeof(err)) == 0 &&
	       cfg.client_buffer_cap == INT64_MAX,
	   "client_buffer_cap int64 max");
	ok(set(&cfg, "client_buffer_cap", "1023", err, sizeof(err)) == -1, "below 1024 rejected");
	ok(set(&cfg, "client_buffer_cap", "9223372036854775808", err, sizeof(err)) == -1,
	   "int64 overflow rejected");

	ok(set(&cfg, "log_level", "debug", err, sizeof(err)) == 0 && cfg.log_level == LOG_DEBUG,
	   "log_level debug");
	ok(set(&cfg, "log_level", "error", err, sizeof(err)) == 0 && cfg.log_level == LOG_ERROR,
	   "log_level error");
	ok(set(&cfg, "log_level", "verbose", err, sizeof(err)) == -1 && cfg.log_level == LOG_ERROR,
	   "log_level verbose rejected, unchanged");
	ok(set(&cfg, "log_level", "INFO", err, sizeof(err)) == -1, "log levels are lowercase");
	config_free(&cfg);
}

static void
duration_set(const char *value, int64_t expected)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	if (expected < 0) {
		ok(set(&cfg, "sla_urgent", value, err, sizeof(err)) == -1 &&
		       cfg.sla_target[PRIORITY_URGENT] == 3600,
		   "sla_urgent = \"%s\" rejected (%s)", value, err);
	} else {
		ok(set(&cfg, "sla_urgent", value, err, sizeof(err)) == 0, "sla_urgent = \"%s\"", value);
		is_int(cfg.sla_target[PRIORITY_URGENT], expected, "sla_urgent \"%s\" seconds", value);
	}
	config_free(&cfg);
}

static void
test_durations(void)
{
	is_int(config_parse_duration("90"), 90, "\"90\" is seconds");
	is_int(config_parse_duration("90s"), 90, "\"90s\"");
	is_int(config_parse_duration("30m"), 1800, "\"30m\"");
	is_int(config_parse_duration("4h"), 14400, "\"4h\"");
	is_int(config_parse_duration("3d"), 259200, "\"3d\"");
	is_int(config_parse_duration("0"), 0, "\"0\" parses (callers set minimums)");
	is_int(config_parse_duration("4x"), -1, "\"4x\" malformed");
	is_int(config_parse_duration(""), -1, "\"\" malformed");
	is_int(config_parse_duration("-1"), -1, "\"-1\" malformed");
	is_int(config_parse_duration("+5"), -1, "\"+5\" malformed");
	is_int(config_parse_duration(" 5"), -1, "leading space malformed");
	is_int(config_parse_duration("5 "), -1, "trailing space malformed");
	is_int(config_parse_duration("h"), -1, "unit without number");
	is_int(config_parse_duration("1h30m"), -1, "compound durations are not supported");
	is_int(config_parse_duration("4H"), -1, "units are lowercase");
	is_int(config_parse_duration("99999999999999999999"), -1, "overflowing number");
	is_int(config_parse_duration("9999999999999999d"), -1, "overflowing product");
	is_int(config_parse_duration(NULL), -1, "NULL malformed");

	duration_set("90", 90);
	duration_set("90s", 90);
	duration_set("30m", 1800);
	duration_set("4h", 14400);
	duration_set("3d", 259200);
	duration_set("4x", -1);
	duration_set("", -1);
	duration_set("-1", -1);
	duration_set("0", -1);
	duration_set("0h", -1);
}

/* Writes text to a new temporary file; returns its path (caller unlinks, frees). */
static char *
temp_file(const char *text)
{
	const char *dir = getenv("TMPDIR");
	char *path = xprintf("%s/incidentd-unit-XXXXXX", dir != NULL && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fatal("cannot write a temporary config file %s", path);
	return path;
}

/* Loads text as a config file onto defaults; returns config_load's result. */
static int
load_text(struct config *cfg, const char *text, char *err, size_t errlen, char **pathp)
{
	char *path = temp_file(text);
	int rc;

	config_defaults(cfg);
	err[0] = '\0';
	rc = config_load(cfg, path, err, errlen);
	unlink(path);
	if (pathp != NULL)
		*pathp = path;
	else
		free(path);
	return rc;
}

/* The file fails with "path:line: detail". */
static void
load_fails(const char *text, int line, const char *detail, const char *desc)
{
	struct config cfg;
	char err[512], *path, *expected;

	ok(load_text(&cfg, text, err, sizeof(err), &path) == -1, "%s: load fails", desc);
	expected = xprintf("%s:%d: %s", path, line, detail);
	is_str(err, expected, "%s: message names file:line", desc);
	free(expected);
	free(path);
	config_free(&cfg);
}

static void
test_load(void)
{
	struct config cfg;
	char err[512];

	ok(load_text(&cfg,
	             "# incidentd test configuration\n"
	             "\n"
	             "workers = 7\n"
	             "   listen=/tmp/unit.sock   \n"
	             "\t# indented comment = ignored\n"
	             "sla_high = 2h\n"
	             "database = host=/tmp dbname=unit\n"
	             "log_level = debug\r\n"
	             "workers = 3\n"
	             "public_base_url = https://status.example.com",
	             err, sizeof(err), NULL) == 0,
	   "config file loads (%s)", err);
	is_int(cfg.workers, 3, "a later line wins");
	is_str(cfg.listen, "/tmp/unit.sock", "key and value trimmed, spaces around = optional");
	is_int(cfg.sla_target[PRIORITY_HIGH], 7200, "duration from the file");
	is_str(cfg.database, "host=/tmp dbname=unit", "value may contain =");
	is_int(cfg.log_level, LOG_DEBUG, "CRLF line ending tolerated");
	is_str(cfg.public_base_url, "https://status.example.com", "last line without newline");
	is_str(cfg.redis, "127.0.0.1:6379", "keys not in the file keep defaults");
	config_free(&cfg);

	ok(load_text(&cfg, "", err, sizeof(err), NULL) == 0 && cfg.workers == 4,
	   "an empty file is the defaults");
	config_free(&cfg);

	load_fails("# ok\n\nworkers 7\n", 3, "expected \"key = value\"", "line without =");
	load_fails("workers = 2\nworkers = many\n", 2, "invalid value for workers: \"many\"",
	           "bad value");
	load_fails("bogus = 1\n", 1, "unknown configuration key \"bogus\"", "unknown key");
	load_fails("\n\n\n\nsla_low = 4x\n", 5, "invalid value for sla_low: \"4x\"", "bad duration");
	load_fails("socket_mode = 0999\n", 1, "invalid value for socket_mode: \"0999\"",
	           "bad octal");

	config_defaults(&cfg);
	ok(config_load(&cfg, "/nonexistent/incidentd.conf", err, sizeof(err)) == -1,
	   "missing file fails");
	ok(strstr(err, "/nonexistent/incidentd.conf") != NULL, "message names the file (%s)", err);
	config_free(&cfg);
}

/* config_load_text: the parser itself, on bytes that need not end in NUL. */
static void
test_load_text(void)
{
	static const char text[] = "workers = 5\nlisten = /tmp/t.sockXX";
	static const char nul[] = "workers = 5\nlisten = /tmp/a\0b.sock\n";
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	ok(config_load_text(&cfg, text, sizeof(text) - 3, err, sizeof(err)) == 0,
	   "text loads (%s)", err);
	is_int(cfg.workers, 5, "first line");
	is_str(cfg.listen, "/tmp/t.sock", "only len bytes are read");
	ok(config_load_text(&cfg, "workers = 6", 0, err, sizeof(err)) == 0 && cfg.workers == 5,
	   "zero bytes: nothing changes");
	ok(config_load_text(&cfg, "\n\nworkers 6\n", 12, err, sizeof(err)) == -1,
	   "a line without = fails");
	is_str(err, "3: expected \"key = value\"", "message names the line");
	ok(config_load_text(&cfg, nul, sizeof(nul) - 1, err, sizeof(err)) == -1,
	   "a NUL inside a line fails");
	is_str(err, "2: the line contains a NUL byte", "message names the NUL's line");
	is_str(cfg.listen, "/tmp/t.sock", "the cut value was not stored");
	config_free(&cfg);
}

static void
test_env(void)
{
	struct config cfg;
	char err[512];

	config_defaults(&cfg);
	ok(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.workers == 4,
	   "no file, no environment: defaults");
	config_free(&cfg);

	setenv("INCIDENTD_WORKERS", "9", 1);
	setenv("INCIDENTD_SLA_URGENT", "15m", 1);
	setenv("INCIDENTD_PUBLIC_BASE_URL", "https://env.example.com", 1);
	setenv("INCIDENTD_BUILD", "/not/a/config/key", 1);
	ok(load_text(&cfg, "workers = 3\nsla_urgent = 2h\nredis = unix:/tmp/r.sock\n", err,
	             sizeof(err), NULL) == 0,
	   "file plus environment loads (%s)", err);
	is_int(cfg.workers, 9, "INCIDENTD_WORKERS overrides the file");
	is_int(cfg.sla_target[PRIORITY_URGENT], 900, "INCIDENTD_SLA_URGENT overrides the file");
	is_str(cfg.public_base_url, "https://env.example.com", "INCIDENTD_PUBLIC_BASE_URL applies");
	is_str(cfg.redis, "unix:/tmp/r.sock", "file value kept when no env");
	config_free(&cfg);

	config_defaults(&cfg);
	ok(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.workers == 9,
	   "environment applies without a file");
	config_free(&cfg);

	setenv("INCIDENTD_WORKERS", "zero", 1);
	config_defaults(&cfg);
	ok(config_load(&cfg, NULL, err, sizeof(err)) == -1, "bad environment value fails");
	is_str(err, "INCIDENTD_WORKERS: invalid value for workers: \"zero\"",
	       "message names the variable");
	config_free(&cfg);

	unsetenv("INCIDENTD_BUILD");
	env_clear();
	config_defaults(&cfg);
	ok(config_load(&cfg, NULL, err, sizeof(err)) == 0 && cfg.workers == 4 &&
	       cfg.sla_target[PRIORITY_URGENT] == 3600,
	   "after unsetenv: defaults again");
	config_free(&cfg);
}

/* One parser for every host:port in the configuration (redis, sse_listen). */
static void
test_addresses(void)
{
	static const struct {
		const char *in;
		const char *host;
		const char *unix_path;
		int port;
	} good[] = {
		{"127.0.0.1:6380", "127.0.0.1", NULL, 6380},
		{"127.0.0.1", "127.0.0.1", NULL, 6379},
		{"[::1]:6380", "::1", NULL, 6380},
		{"[::1]", "::1", NULL, 6379},
		{"redis.internal:7000", "redis.internal", NULL, 7000},
		{"localhost", "localhost", NULL, 6379},
		{"unix:/run/redis.sock", NULL, "/run/redis.sock", 0},
	};
	static const char *const bad[] = {
		"", ":6379", "host:", "host:0", "host:65536", "host:12x", "::1:6379", "[::1",
		"[::1]:x", "unix:", "[host]:1",
	};
	struct net_address a;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!ok(net_address_parse(good[i].in, 6379, &a) == 0, "address %s parses", good[i].in))
			continue;
		is_str(a.host, good[i].host, "address %s: host", good[i].in);
		is_str(a.unix_path, good[i].unix_path, "address %s: unix path", good[i].in);
		is_int(a.port, good[i].port, "address %s: port", good[i].in);
		net_address_free(&a);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(net_address_parse(bad[i], 6379, &a) != 0, "address \"%s\" refused", bad[i]);
		ok(a.host == NULL && a.unix_path == NULL, "address \"%s\": nothing allocated", bad[i]);
	}
}

/* SIGHUP: keys that need a restart keep their running values, each change
 * is logged once (without the new value), the rest take effect. */
/* The keys a reload keeps (and a helper gets from the master). */
struct restart_keys {
	const char *listen;
	int socket_mode;
	const char *database, *redis, *sse_listen, *sql_dir;
};

static void
restart_keys_are(const struct config *c, const struct restart_keys *want, const char *why)
{
	is_str(c->listen, want->listen, "listen: %s", why);
	is_int(c->socket_mode, want->socket_mode, "socket_mode: %s", why);
	is_str(c->database, want->database, "database: %s", why);
	is_str(c->redis, want->redis, "redis: %s", why);
	is_str(c->sse_listen, want->sse_listen, "sse_listen: %s", why);
	is_str(c->sql_dir, want->sql_dir, "sql_dir: %s", why);
}

static void
test_reload(void)
{
	struct config old, next;
	char err[512], *path, *logged;
	int rc;

	ok(load_text(&old,
	             "listen = /run/a.sock\nsocket_mode = 0660\ndatabase = dbname=a\n"
	             "redis = 127.0.0.1:1\nsse_listen = 127.0.0.1:2\nsql_dir = /a/sql\n"
	             "workers = 2\nheartbeat = 5\nsla_urgent = 1m\nlog_level = info\n",
	             err, sizeof(err), NULL) == 0,
	   "the running configuration loads (%s)", err);
	path = temp_file("listen = /run/b.sock\nsocket_mode = 0600\n"
	                 "database = dbname=b password=secret\nredis = 127.0.0.1:3\n"
	                 "sse_listen = 127.0.0.1:4\nsql_dir = /b/sql\n"
	                 "workers = 3\nheartbeat = 6\nsla_urgent = 2m\nlog_level = warn\n");
	capture_start();
	rc = config_reload(&old, &next, path, err, sizeof(err));
	logged = capture_end();
	ok(rc == 0, "reload succeeds (%s)", err);
	restart_keys_are(&next, &(struct restart_keys){"/run/a.sock", 0660, "dbname=a", "127.0.0.1:1",
	                                               "127.0.0.1:2", "/a/sql"},
	                 "keeps its running value");
	is_int(next.workers, 3, "workers takes the new value");
	is_int(next.heartbeat, 6, "heartbeat too");
	is_int(next.sla_target[PRIORITY_URGENT], 120, "sla_urgent too");
	is_int(next.log_level, LOG_WARN, "log_level too");
	is_str(logged,
	       "key=listen msg=\"changed; takes effect after a restart\"\n"
	       "key=socket_mode msg=\"changed; takes effect after a restart\"\n"
	       "key=database msg=\"changed; takes effect after a restart\"\n"
	       "key=redis msg=\"changed; takes effect after a restart\"\n"
	       "key=sql_dir msg=\"changed; takes effect after a restart\"\n"
	       "key=sse_listen msg=\"changed; takes effect after a restart\"\n",
	       "one warning per changed key, in table order, without values");
	free(logged);
	config_free(&next);

	/* the running file itself: nothing changed, nothing logged */
	unlink(path);
	free(path);
	path = temp_file("listen = /run/a.sock\nsocket_mode = 0660\ndatabase = dbname=a\n"
	                 "redis = 127.0.0.1:1\nsse_listen = 127.0.0.1:2\nsql_dir = /a/sql\n");
	capture_start();
	rc = config_reload(&old, &next, path, err, sizeof(err));
	logged = capture_end();
	ok(rc == 0, "reloading unchanged keys succeeds");
	is_str(logged, "", "and warns about nothing");
	free(logged);
	config_free(&next);

	unlink(path);
	free(path);
	path = temp_file("database = dbname=a\nworkers = 0\n");
	rc = config_reload(&old, &next, path, err, sizeof(err));
	ok(rc == -1 && strstr(err, "workers") != NULL, "a bad file fails the reload (%s)", err);
	config_free(&next);
	unlink(path);
	free(path);
	config_free(&old);
}

/* A helper's environment pins the keys a reload keeps: loaded over any
 * file, they give the master's values back; reloadable keys stay the
 * file's. */
static void
test_pin_restart_keys(void)
{
	struct config master, helper;
	char err[256];
	size_t i, set = 0;

	config_defaults(&master);
	for (i = 0; i < NKEYS; i++)
		set += config_set(&master, all_keys[i].key, all_keys[i].value, err, sizeof(err)) == 0;
	is_int(set, NKEYS, "every key set");
	ok(config_pin_restart_keys(&master) == 0, "config_pin_restart_keys");
	is_str(getenv("INCIDENTD_DATABASE"), "dbname=x", "INCIDENTD_DATABASE");
	is_str(getenv("INCIDENTD_SOCKET_MODE"), "0600", "INCIDENTD_SOCKET_MODE, in octal");
	ok(getenv("INCIDENTD_WORKERS") == NULL, "a reloadable key is not pinned");
	ok(getenv("INCIDENTD_HOOKS_PROCESSES") == NULL, "nor hooks_processes");

	config_defaults(&helper);
	ok(config_load(&helper, NULL, err, sizeof(err)) == 0, "a helper loads with them (%s)", err);
	restart_keys_are(&helper, &(struct restart_keys){"/tmp/x.sock", 0600, "dbname=x", "127.0.0.1:1",
	                                                 "127.0.0.1:9", "/x/sql"},
	                 "the master's");
	is_int(helper.workers, 4, "workers: not pinned");
	config_free(&helper);
	config_free(&master);
	env_clear();
	unsetenv("INCIDENTD_RESOLV_CONF");
}

void
test_config(void)
{
	char *saved_build = getenv("INCIDENTD_BUILD") ? xstrdup(getenv("INCIDENTD_BUILD")) : NULL;

	env_clear();
	test_defaults();
	test_set();
	test_durations();
	test_load();
	test_load_text();
	test_env();
	test_addresses();
	test_reload();
	test_pin_restart_keys();
	if (saved_build != NULL)
		setenv("INCIDENTD_BUILD", saved_build, 1);
	free(saved_build);
}
