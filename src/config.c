/* config.c — the configuration table: one row per key, its type, default and
 * whether SIGHUP reloads it.  File lines are "key = value"; INCIDENTD_<KEY>
 * environment variables override the file. */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

enum config_type {
	CT_STRING,
	CT_ADDRESS,
	CT_LISTEN,
	CT_INT,
	CT_INT64,
	CT_OCTAL,
	CT_DURATION,
	CT_LOGLEVEL,
	CT_CHOICE,
	CT_BOOL
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	int64_t min, max;
	const char *def;
	int reloadable;
	const char *const *choices; /* CT_CHOICE: the words allowed */
};

#define OFF(field) offsetof(struct config, field)

/* Which dialect answers at /api/v1/incidents (DESIGN §8). */
static const char *const api_v1_choices[] = {"alert24", "statly", "none", NULL};

/* The words a CT_BOOL key takes, and what each means. */
static const struct {
	const char *word;
	int value;
} bool_words[] = {{"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1}, {"off", 0}};

static const struct config_key config_keys[] = {
	/* Not reloadable: the socket, the connections (a worker on one database
	 * and incidentd-sse on another would split the service) and the
	 * migrations the running code was built against need a restart. */
	{"listen", CT_STRING, OFF(listen), 0, 0, "/tmp/incidentd.sock", 0, NULL},
	{"socket_mode", CT_OCTAL, OFF(socket_mode), 0, 0777, "0660", 0, NULL},
	{"workers", CT_INT, OFF(workers), 1, 256, "4", 1, NULL},
	{"max_requests", CT_INT, OFF(max_requests), 1, 1000000000, "10000", 1, NULL},
	{"database", CT_STRING, OFF(database), 0, 0, "dbname=incidentd", 0, NULL},
	{"redis", CT_ADDRESS, OFF(redis), 0, 0, "127.0.0.1:6379", 0, NULL},
	{"public_base_url", CT_STRING, OFF(public_base_url), 0, 0, "http://127.0.0.1:8080", 1, NULL},
	{"sla_urgent", CT_DURATION, OFF(sla_target[PRIORITY_URGENT]), 1, 0, "1h", 1, NULL},
	{"sla_high", CT_DURATION, OFF(sla_target[PRIORITY_HIGH]), 1, 0, "4h", 1, NULL},
	{"sla_normal", CT_DURATION, OFF(sla_target[PRIORITY_NORMAL]), 1, 0, "24h", 1, NULL},
	{"sla_low", CT_DURATION, OFF(sla_target[PRIORITY_LOW]), 1, 0, "72h", 1, NULL},
	{"sql_dir", CT_STRING, OFF(sql_dir), 0, 0, SQLDIR, 0, NULL},
	{"log_level", CT_LOGLEVEL, OFF(log_level), 0, 0, "info", 1, NULL},
	{"shutdown_timeout", CT_INT, OFF(shutdown_timeout), 1, 3600, "10", 1, NULL},
	{"sse_listen", CT_LISTEN, OFF(sse_listen), 0, 0, "", 0, NULL}, /* empty: no streams */
	{"heartbeat", CT_INT, OFF(heartbeat), 1, 3600, "15", 1, NULL},
	{"max_connections", CT_INT, OFF(max_connections), 1, 1000000, "10000", 1, NULL},
	{"max_streams_per_key", CT_INT, OFF(max_streams_per_key), 1, 1000000, "100", 1, NULL},
	{"resolv_conf", CT_STRING, OFF(resolv_conf), 0, 0, "/etc/resolv.conf", 0, NULL},
	{"client_buffer_cap", CT_INT64, OFF(client_buffer_cap), 1024, INT64_MAX, "262144", 1, NULL},
	{"api_v1", CT_CHOICE, OFF(api_v1), 0, 0, "alert24", 1, api_v1_choices},
	{"event_retention_days", CT_INT, OFF(event_retention_days), 1, 36500, "30", 1, NULL},
	/* the most a list filtered by tag or q counts for its total */
	{"list_count_cap", CT_INT64, OFF(list_count_cap), 1, 1000000000, "10000", 1, NULL},
	/* webhooks to loopback, link-local and private addresses: a development
	 * stack's receivers live there, production's must not (DESIGN §9) */
	{"webhook_allow_private", CT_BOOL, OFF(webhook_allow_private), 0, 0, "no", 1, NULL},
	/* whether this host's master runs incidentd-hooks (a host that only
	 * serves the API may leave delivery to the others) */
	{"webhook_delivery", CT_BOOL, OFF(webhook_delivery), 0, 0, "yes", 1, NULL},
	/* incidentd-hooks processes on this host (each holds its share of the
	 * subscriptions: one core each); a reload starts or stops the
	 * difference (master_reload) */
	{"hooks_processes", CT_INT, OFF(hooks_processes), 1, HOOKS_PROCESSES_MAX, "1", 1, NULL},
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

int64_t
config_parse_duration(const char *s)
{
	char *end;
	long long v;
	int64_t unit = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > INT64_MAX / unit / 4)
		return -1;
	return (int64_t)v * unit;
}

static const struct config_key *
config_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static int
config_bool_parse(const char *value, int *out)
{
	size_t i;

	for (i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
		if (strcmp(bool_words[i].word, value) == 0) {
			*out = bool_words[i].value;
			return 0;
		}
	}
	return -1;
}

static int
config_choice_known(const char *const *choices, const char *value)
{
	size_t i;

	for (i = 0; choices[i] != NULL; i++)
		if (strcmp(choices[i], value) == 0)
			return 1;
	return 0;
}

/* An address to listen on (sse_listen): host:port with the port spelled out,
 * or unix:/absolute/path short enough for a socket address; empty: none. */
static int
config_listen_ok(const char *value)
{
	struct sockaddr_un sun;
	struct net_address a;
	int good;

	if (*value == '\0')
		return 1;
	if (net_address_parse(value, 0, &a) != 0)
		return 0;
	if (a.unix_path != NULL)
		good = a.unix_path[0] == '/' && strlen(a.unix_path) < sizeof(sun.sun_path);
	else
		good = a.port != 0;
	net_address_free(&a);
	return good;
}

/* Stores value into the field the key names, checking its type and range. */
static int
config_store(struct config *cfg, const struct config_key *k, const char *value, char *err,
             size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	int64_t n;
	char *end;
	struct net_address a;

	switch (k->type) {
	case CT_LISTEN:
		if (!config_listen_ok(value)) /* and it is an address too */
			break;
		/* FALLTHROUGH */
	case CT_ADDRESS:
		/* Checked here so that a bad address fails at start-up, not in a
		 * process's loop; empty means "none" (sse_listen). */
		if (*value != '\0' && net_address_parse(value, 6379, &a) != 0)
			break;
		if (*value != '\0')
			net_address_free(&a);
		/* FALLTHROUGH */
	case CT_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_INT:
		if (parse_int64(value, k->min, k->max, &n) != 0)
			break;
		*(int *)field = (int)n;
		return 0;
	case CT_INT64:
		if (parse_int64(value, k->min, k->max, &n) != 0)
			break;
		*(int64_t *)field = n;
		return 0;
	case CT_OCTAL:
		errno = 0;
		n = strtol(value, &end, 8);
		if (errno != 0 || *value == '\0' || *end != '\0' || n < k->min || n > k->max)
			break;
		*(int *)field = (int)n;
		return 0;
	case CT_DURATION:
		n = config_parse_duration(value);
		if (n < k->min)
			break;
		*(int64_t *)field = n;
		return 0;
	case CT_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)field) != 0)
			break;
		return 0;
	case CT_CHOICE:
		if (!config_choice_known(k->choices, value))
			break;
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_BOOL:
		if (config_bool_parse(value, (int *)field) != 0)
			break;
		return 0;
	}
	snprintf(err, errlen, "invalid value for %s: \"%s\"", k->name, value);
	return -1;
}

int
config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct config_key *k = config_find(key);

	if (k == NULL) {
		snprintf(err, errlen, "unknown configuration key \"%s\"", key);
		return -1;
	}
	return config_store(cfg, k, value, err, errlen);
}

void
config_defaults(struct config *cfg)
{
	char err[256];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NKEYS; i++)
		if (config_store(cfg, &config_keys[i], config_keys[i].def, err, sizeof(err)) != 0)
			fatal("bad built-in default: %s", err);
}

static char *
trim_in_place(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One "key = value" line (NUL-terminated, without its newline). */
static int
config_load_line(struct config *cfg, char *line, int lineno, char *err, size_t errlen)
{
	char *eq, *key, *value;
	char msg[256];

	line = trim_in_place(line);
	if (*line == '\0' || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "%d: expected \"key = value\"", lineno);
		return -1;
	}
	*eq = '\0';
	key = trim_in_place(line);
	value = trim_in_place(eq + 1);
	if (config_set(cfg, key, value, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%d: %s", lineno, msg);
		return -1;
	}
	return 0;
}

int
config_load_text(struct config *cfg, const char *text, size_t len, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int lineno = 0, rc = 0;

	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *line;

		lineno++;
		/* a NUL would silently cut the line short: say so instead */
		if (memchr(p, '\0', n) != NULL) {
			snprintf(err, errlen, "%d: the line contains a NUL byte", lineno);
			return -1;
		}
		line = xstrndup(p, n);
		rc = config_load_line(cfg, line, lineno, err, errlen);
		free(line);
		p += n + 1;
	}
	return rc;
}

static int
config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct buf *b = buf_read_file(path);
	char msg[512];

	if (b == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (config_load_text(cfg, b->data, b->len, msg, sizeof(msg)) != 0) {
		/* "path:line: detail", as compilers report */
		snprintf(err, errlen, "%s:%s", path, msg);
		buf_free(b);
		return -1;
	}
	buf_free(b);
	return 0;
}

/* INCIDENTD_<KEY>: the variable that overrides key k. */
static void
config_env_name(const struct config_key *k, char *name, size_t size)
{
	size_t j;

	snprintf(name, size, "INCIDENTD_%s", k->name);
	for (j = 0; name[j] != '\0'; j++)
		name[j] = (char)toupper((unsigned char)name[j]);
}

static int
config_load_env(struct config *cfg, char *err, size_t errlen)
{
	char envname[64], msg[256];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const char *value;

		config_env_name(&config_keys[i], envname, sizeof(envname));
		value = getenv(envname);
		if (value == NULL)
			continue;
		if (config_store(cfg, &config_keys[i], value, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "%s: %s", envname, msg);
			return -1;
		}
	}
	return 0;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	if (path != NULL && config_load_file(cfg, path, err, errlen) != 0)
		return -1;
	return config_load_env(cfg, err, errlen);
}

/* Bytes of a field of each scalar type, for comparing and copying it. */
/* Keys whose field is a malloc'd string (config_store duplicates them). */
static int
config_type_is_string(enum config_type t)
{
	return t == CT_STRING || t == CT_ADDRESS || t == CT_LISTEN || t == CT_CHOICE;
}

static const size_t config_scalar_size[] = {
	[CT_INT] = sizeof(int),         [CT_INT64] = sizeof(int64_t),
	[CT_OCTAL] = sizeof(int),       [CT_DURATION] = sizeof(int64_t),
	[CT_LOGLEVEL] = sizeof(enum log_level), [CT_BOOL] = sizeof(int),
};

/* Gives next old's value of key k; returns whether they differed. */
static int
config_keep(const struct config *old, struct config *next, const struct config_key *k)
{
	const char *from = (const char *)old + k->offset;
	char *to = (char *)next + k->offset;

	if (config_type_is_string(k->type)) {
		const char *was = *(char *const *)from;
		char **now = (char **)to;

		if (strcmp(was, *now) == 0)
			return 0;
		free(*now);
		*now = xstrdup(was);
		return 1;
	}
	if (memcmp(from, to, config_scalar_size[k->type]) == 0)
		return 0;
	memcpy(to, from, config_scalar_size[k->type]);
	return 1;
}

int
config_reload(const struct config *old, struct config *next, const char *path, char *err,
              size_t errlen)
{
	size_t i;

	config_defaults(next);
	if (config_load(next, path, err, errlen) != 0)
		return -1;
	for (i = 0; i < NKEYS; i++) {
		/* the new value is not logged: a conninfo may hold a password */
		if (!config_keys[i].reloadable && config_keep(old, next, &config_keys[i]))
			log_warn(NULL, "key=%s msg=\"changed; takes effect after a restart\"",
			         config_keys[i].name);
	}
	return 0;
}

/* Key k's value in cfg as the file would give it (points into cfg or buf),
 * for the types of the keys a reload keeps; NULL for any other type, which
 * config_pin_restart_keys fails on (t/unit sets every key and pins them). */
static const char *
config_value_text(const struct config *cfg, const struct config_key *k, char *buf,
                  size_t size)
{
	const char *field = (const char *)cfg + k->offset;

	if (config_type_is_string(k->type))
		return *(char *const *)field;
	if (k->type == CT_OCTAL) {
		snprintf(buf, size, "0%o", (unsigned)*(const int *)field);
		return buf;
	}
	return NULL;
}

int
config_pin_restart_keys(const struct config *cfg)
{
	char name[64], buf[32];
	const char *value;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (config_keys[i].reloadable)
			continue;
		value = config_value_text(cfg, &config_keys[i], buf, sizeof(buf));
		config_env_name(&config_keys[i], name, sizeof(name));
		if (value == NULL)
			errno = EINVAL;
		if (value == NULL || setenv(name, value, 1) != 0)
			return -1; /* errno says why, for the caller's log */
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (config_type_is_string(config_keys[i].type)) {
			char **field = (char **)((char *)cfg + config_keys[i].offset);
			free(*field);
			*field = NULL;
		}
	}
}
