/* incidentctl.c — the admin CLI: migrations, organisations, API keys,
 * webhook subscriptions.
 * Subcommands are a table {words, usage, fn}. */
#include "cli.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_KEY_BYTES 32 /* 256 random bits */

struct ctl {
	struct config cfg;
	PGconn *conn;
};

struct command {
	const char *noun;
	const char *verb; /* NULL: the noun alone is the command */
	const char *usage;
	int (*fn)(struct ctl *ctl, int argc, char **argv);
};

static int cmd_migrate(struct ctl *, int, char **);
static int cmd_org_create(struct ctl *, int, char **);
static int cmd_org_rename(struct ctl *, int, char **);
static int cmd_org_list(struct ctl *, int, char **);
static int cmd_key_create(struct ctl *, int, char **);
static int cmd_key_list(struct ctl *, int, char **);
static int cmd_key_revoke(struct ctl *, int, char **);
static int cmd_webhook_list(struct ctl *, int, char **);
static int cmd_webhook_create(struct ctl *, int, char **);
static int cmd_webhook_delete(struct ctl *, int, char **);

static const struct command commands[] = {
	{"migrate", NULL, "migrate", cmd_migrate},
	{"org", "create", "org create NAME [--display-name TEXT]", cmd_org_create},
	{"org", "rename", "org rename NAME DISPLAY_NAME", cmd_org_rename},
	{"org", "list", "org list", cmd_org_list},
	{"key", "create", "key create --org NAME --role read|write|admin [--name LABEL]",
	 cmd_key_create},
	{"key", "list", "key list --org NAME", cmd_key_list},
	{"key", "revoke", "key revoke ID", cmd_key_revoke},
	{"webhook", "list", "webhook list --org NAME", cmd_webhook_list},
	{"webhook", "create",
	 "webhook create --org NAME --url URL [--events TYPE,...] [--format standard|slack] "
	 "[--description TEXT]",
	 cmd_webhook_create},
	{"webhook", "delete", "webhook delete ID", cmd_webhook_delete},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: incidentctl [-c config-file] COMMAND\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(stderr, "  %s\n", commands[i].usage);
	exit(2);
}

static void
usage_of(const struct command *c)
{
	fprintf(stderr, "usage: incidentctl [-c config-file] %s\n", c->usage);
	exit(2);
}

static int
ctl_connect(struct ctl *ctl)
{
	ctl->conn = PQconnectdb(ctl->cfg.database);
	if (PQstatus(ctl->conn) != CONNECTION_OK) {
		fprintf(stderr, "incidentctl: cannot connect to the database: %s",
		        PQerrorMessage(ctl->conn));
		return -1;
	}
	return 0;
}

/* Runs a parameterised statement; prints the error and returns NULL on failure. */
static PGresult *
ctl_query(struct ctl *ctl, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(ctl->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		fprintf(stderr, "incidentctl: %s", PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
cmd_migrate(struct ctl *ctl, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return 2;
	return migrate_run(ctl->cfg.database, ctl->cfg.sql_dir, 1) == 0 ? 0 : 1;
}

/* Parses "--flag value" pairs into the given slots; 0 on success. */
static int
parse_flags(int argc, char **argv, const char *const *names, const char **values, size_t n)
{
	int i;
	size_t j;

	for (i = 0; i < argc; i += 2) {
		for (j = 0; j < n; j++)
			if (strcmp(argv[i], names[j]) == 0)
				break;
		if (j == n || i + 1 >= argc)
			return -1;
		values[j] = argv[i + 1];
	}
	return 0;
}

#define DISPLAY_NAME_MAX 200 /* characters, as sql/008's CHECK counts them */

/* Whether the UTF-8 character at s (n bytes) is a control character: C0,
 * DEL or C1.  A status page and its feed show the name as it is. */
static int
is_control(const unsigned char *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7F)) || (n == 2 && s[0] == 0xC2 && s[1] < 0xA0);
}

/* The name customers see on the status page and in its feed: trimmed of
 * ASCII space, 1..DISPLAY_NAME_MAX characters of UTF-8, no control
 * character.  A copy (caller frees), or NULL after saying why. */
static char *
display_name_check(const char *s)
{
	size_t len, i, n;
	const char *t = text_trim(s, strlen(s), &len);

	if (!utf8_valid(t, len)) {
		fprintf(stderr, "incidentctl: a display name must be valid UTF-8\n");
		return NULL;
	}
	if (len == 0 || utf8_chars(t, len) > DISPLAY_NAME_MAX) {
		fprintf(stderr, "incidentctl: a display name is 1 to %d characters\n", DISPLAY_NAME_MAX);
		return NULL;
	}
	for (i = 0; i < len; i += n) {
		n = utf8_next(t + i, len - i);
		if (is_control((const unsigned char *)t + i, n)) {
			fprintf(stderr, "incidentctl: a display name must not contain control characters "
			                "(tabs and line breaks included)\n");
			return NULL;
		}
	}
	return xstrndup(t, len);
}

static int
cmd_org_create(struct ctl *ctl, int argc, char **argv)
{
	static const char *const names[] = {"--display-name"};
	const char *values[1] = {NULL};
	const char *params[2];
	char *display = NULL;
	PGresult *res;

	if (argc < 1 || parse_flags(argc - 1, argv + 1, names, values, 1) != 0)
		return 2;
	if (*argv[0] == '\0' || strlen(argv[0]) > 200) {
		fprintf(stderr, "incidentctl: an organisation name is 1 to 200 characters\n");
		return 1;
	}
	if (values[0] != NULL && (display = display_name_check(values[0])) == NULL)
		return 1;
	params[0] = argv[0];
	params[1] = display;
	res = ctl_connect(ctl) != 0 ? NULL
	                            : ctl_query(ctl,
	                                        "INSERT INTO orgs (name, display_name) VALUES ($1, $2) "
	                                        "ON CONFLICT (name) DO NOTHING RETURNING id",
	                                        2, params);
	free(display);
	if (res == NULL)
		return 1;
	if (PQntuples(res) != 1) {
		fprintf(stderr, "incidentctl: organisation \"%s\" already exists\n", argv[0]);
		PQclear(res);
		return 1;
	}
	printf("%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
cmd_org_rename(struct ctl *ctl, int argc, char **argv)
{
	const char *params[2];
	char *display;
	PGresult *res;
	int found;

	if (argc != 2)
		return 2;
	if ((display = display_name_check(argv[1])) == NULL)
		return 1;
	params[0] = argv[0];
	params[1] = display;
	res = ctl_connect(ctl) != 0 ? NULL
	                            : ctl_query(ctl,
	                                        "UPDATE orgs SET display_name = $2 WHERE name = $1 "
	                                        "RETURNING id",
	                                        2, params);
	free(display);
	if (res == NULL)
		return 1;
	found = PQntuples(res) == 1;
	PQclear(res);
	if (!found) {
		fprintf(stderr, "incidentctl: no organisation named \"%s\"\n", argv[0]);
		return 1;
	}
	printf("renamed organisation %s\n", argv[0]);
	return 0;
}

/* id, name, display name ("-" when none): tab-separated. */
static int
cmd_org_list(struct ctl *ctl, int argc, char **argv)
{
	PGresult *res;
	int i;

	(void)argv;
	if (argc != 0)
		return 2;
	if (ctl_connect(ctl) != 0 ||
	    (res = ctl_query(ctl, "SELECT id, name, coalesce(display_name, '-') FROM orgs ORDER BY id",
	                     0, NULL)) == NULL)
		return 1;
	for (i = 0; i < PQntuples(res); i++)
		printf("%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2));
	PQclear(res);
	return 0;
}

#define ORG_ID_TEXT 24

/* Connects, then the id of the org named name as text into out; prints why
 * not and returns -1. */
static int
ctl_org(struct ctl *ctl, const char *name, char out[ORG_ID_TEXT])
{
	const char *params[1] = {name};
	PGresult *res;

	if (ctl_connect(ctl) != 0 ||
	    (res = ctl_query(ctl, "SELECT id FROM orgs WHERE name = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		fprintf(stderr, "incidentctl: no organisation named \"%s\"\n", name);
		PQclear(res);
		return -1;
	}
	snprintf(out, ORG_ID_TEXT, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* A command whose one flag is --org NAME: the org's id into out.  0; 2 for
 * a usage error; 1 after saying why not. */
static int
ctl_org_flag(struct ctl *ctl, int argc, char **argv, char out[ORG_ID_TEXT])
{
	static const char *const names[] = {"--org"};
	const char *values[1] = {NULL};

	if (parse_flags(argc, argv, names, values, 1) != 0 || values[0] == NULL)
		return 2;
	return ctl_org(ctl, values[0], out) == 0 ? 0 : 1;
}

/* A list of one org's rows (key list, webhook list --org NAME): sql on the
 * org's id, printed under header as tab-separated columns.  0; 2 for a usage
 * error; 1 after saying why not. */
static int
ctl_list_org(struct ctl *ctl, int argc, char **argv, const char *sql, const char *header)
{
	char org_id[ORG_ID_TEXT];
	const char *params[1] = {org_id};
	PGresult *res;
	int rc = ctl_org_flag(ctl, argc, argv, org_id), i, j;

	if (rc != 0)
		return rc;
	if ((res = ctl_query(ctl, sql, 1, params)) == NULL)
		return 1;
	printf("%s\n", header);
	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++)
			printf("%s%c", PQgetvalue(res, i, j), j + 1 < PQnfields(res) ? '\t' : '\n');
	PQclear(res);
	return 0;
}

/* sql on the one parameter id, a statement RETURNING the row it changed:
 * prints "<done> <id>" when there was one, else "no <what> with id <id>".
 * 0, or 1. */
static int
ctl_change_one(struct ctl *ctl, const char *sql, const char *id, const char *what,
               const char *done)
{
	const char *params[1] = {id};
	PGresult *res;
	int changed;

	if (ctl_connect(ctl) != 0 || (res = ctl_query(ctl, sql, 1, params)) == NULL)
		return 1;
	changed = PQntuples(res) == 1;
	PQclear(res);
	if (!changed) {
		fprintf(stderr, "incidentctl: no %s with id %s\n", what, id);
		return 1;
	}
	printf("%s %s\n", done, id);
	return 0;
}

/* A timestamp column as the list commands print it: RFC 3339 UTC. */
#define TIME_TEXT(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static int
cmd_key_create(struct ctl *ctl, int argc, char **argv)
{
	static const char *const names[] = {"--org", "--role", "--name"};
	const char *values[3] = {NULL, NULL, NULL};
	char org_id[ORG_ID_TEXT], hash[65];
	const char *params[4];
	enum role role;
	char *token, *key;
	PGresult *res;

	if (parse_flags(argc, argv, names, values, 3) != 0 || values[0] == NULL || values[1] == NULL)
		return 2;
	if (role_parse(values[1], &role) != 0) {
		fprintf(stderr, "incidentctl: role must be read, write or admin\n");
		return 2;
	}
	if (values[2] != NULL && (*values[2] == '\0' || strlen(values[2]) > 200)) {
		fprintf(stderr, "incidentctl: a key name is 1 to 200 characters\n");
		return 1;
	}
	if (ctl_org(ctl, values[0], org_id) != 0)
		return 1;
	token = random_token(API_KEY_BYTES);
	if (token == NULL) {
		fprintf(stderr, "incidentctl: no random bytes available\n");
		return 1;
	}
	key = xprintf("ik_%s", token);
	free(token);
	if (sha256_hex(key, strlen(key), hash) != 0) {
		free(key);
		return 1;
	}
	params[0] = org_id;
	params[1] = hash;
	params[2] = role_name(role);
	params[3] = values[2] != NULL ? values[2] : role_name(role);
	res = ctl_query(ctl,
	                "INSERT INTO api_keys (org_id, key_hash, role, name) VALUES ($1, $2, $3, $4)",
	                4, params);
	if (res == NULL) {
		free(key);
		return 1;
	}
	PQclear(res);
	printf("%s\n", key); /* shown once; only the hash is stored */
	free(key);
	return 0;
}

static int
cmd_key_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_org(ctl, argc, argv,
	                    "SELECT id, role, name, " TIME_TEXT("created_at") ", "
	                    "coalesce(" TIME_TEXT("revoked_at") ", '-') "
	                    "FROM api_keys WHERE org_id = $1 ORDER BY id",
	                    "id\trole\tname\tcreated_at\trevoked_at");
}

static int
cmd_key_revoke(struct ctl *ctl, int argc, char **argv)
{
	int64_t id;

	if (argc != 1)
		return 2;
	if (parse_int64(argv[0], 1, INT64_MAX, &id) != 0) {
		fprintf(stderr, "incidentctl: a key id is a positive integer\n");
		return 2;
	}
	return ctl_change_one(ctl,
	                      "UPDATE api_keys SET revoked_at = now() "
	                      "WHERE id = $1 AND revoked_at IS NULL RETURNING id",
	                      argv[0], "active key", "revoked key");
}

/* ---- webhook subscriptions: the API's rules (webhook_rules.c), its SQL ---- */

static int
cmd_webhook_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_org(ctl, argc, argv,
	                    "SELECT id, url, coalesce(nullif(array_to_string(events, ','), ''), '*'), "
	                    "format, CASE WHEN enabled THEN 'yes' ELSE 'no' END, cursor_seq, "
	                    TIME_TEXT("created_at") " FROM webhooks WHERE org_id = $1 "
	                    "ORDER BY ordinal",
	                    "id\turl\tevents\tformat\tenabled\tcursor_seq\tcreated_at");
}

/* --events a,b,c as the API's events list. */
static void
webhook_events_flag(const char *list, unsigned *mask, struct errors *e)
{
	size_t n = 1, i;
	struct webhook_text *items;
	const char *p;

	for (p = list; *p != '\0'; p++)
		n += *p == ',';
	items = xcalloc(n, sizeof(*items));
	for (i = 0, p = list; i < n; i++) {
		items[i].s = p;
		items[i].len = strcspn(p, ",");
		p += items[i].len + 1;
	}
	webhook_events_parse(items, n, mask, e);
	free(items);
}

/* The flags by the API's rules; prints every error and returns -1. */
static int
webhook_flags_check(const struct ctl *ctl, const char *const *values, unsigned *events)
{
	struct errors e = {0};
	size_t i;

	webhook_url_check(values[1], strlen(values[1]), ctl->cfg.webhook_allow_private, &e);
	if (values[2] != NULL)
		webhook_events_flag(values[2], events, &e);
	if (values[3] != NULL)
		webhook_format_check(values[3], strlen(values[3]), &e);
	if (values[4] != NULL)
		webhook_description_check(values[4], strlen(values[4]), &e);
	for (i = 0; i < e.n; i++)
		fprintf(stderr, "incidentctl: %s\n", e.items[i].message);
	i = e.n;
	errors_clear(&e);
	return i == 0 ? 0 : -1;
}

/* In one transaction, as the API does: the org locked, its subscriptions
 * counted, the cursor at its current seq.  The new row's id, or NULL. */
static PGresult *
webhook_insert(struct ctl *ctl, const char *const *params)
{
	PGresult *res, *end;

	if ((res = ctl_query(ctl, "BEGIN", 0, NULL)) == NULL)
		return NULL;
	PQclear(res);
	res = ctl_query(ctl,
	                "WITH o AS (SELECT event_seq FROM orgs WHERE id = $1 FOR NO KEY UPDATE) "
	                "INSERT INTO webhooks (org_id, url, events, description, format, secret, "
	                "cursor_seq) SELECT $1, $2, string_to_array($3, ','), $4, $5, $6, o.event_seq "
	                "FROM o RETURNING id",
	                6, params);
	if (res != NULL) {
		PGresult *count;
		const char *cparams[2] = {params[0], NULL};
		char cap[24];

		snprintf(cap, sizeof(cap), "%d", WEBHOOKS_PER_ORG_MAX);
		cparams[1] = cap;
		count = ctl_query(ctl, "SELECT count(*) > $2::int FROM webhooks WHERE org_id = $1", 2,
		                  cparams);
		if (count == NULL || strcmp(PQgetvalue(count, 0, 0), "f") != 0) {
			if (count != NULL)
				fprintf(stderr, "incidentctl: the organisation has %d webhook subscriptions, "
				                "the most it may have\n", WEBHOOKS_PER_ORG_MAX);
			PQclear(res);
			res = NULL;
		}
		PQclear(count);
	}
	if (res == NULL) {
		PQclear(ctl_query(ctl, "ROLLBACK", 0, NULL));
		return NULL;
	}
	if ((end = ctl_query(ctl, "COMMIT", 0, NULL)) == NULL) {
		PQclear(res);
		return NULL;
	}
	PQclear(end);
	return res;
}

static int
cmd_webhook_create(struct ctl *ctl, int argc, char **argv)
{
	static const char *const names[] = {"--org", "--url", "--events", "--format", "--description"};
	const char *values[5] = {NULL, NULL, NULL, NULL, NULL};
	const char *params[6];
	char org_id[ORG_ID_TEXT], *events, *secret;
	unsigned mask = 0;
	PGresult *res;

	if (parse_flags(argc, argv, names, values, 5) != 0 || values[0] == NULL || values[1] == NULL)
		return 2;
	if (webhook_flags_check(ctl, values, &mask) != 0)
		return 1;
	if (ctl_org(ctl, values[0], org_id) != 0)
		return 1;
	if ((secret = webhook_secret_new()) == NULL) {
		fprintf(stderr, "incidentctl: no random bytes available\n");
		return 1;
	}
	events = webhook_events_text(mask);
	params[0] = org_id;
	params[1] = values[1];
	params[2] = events;
	params[3] = values[4];
	params[4] = values[3] != NULL ? values[3] : webhook_formats[0];
	params[5] = secret;
	res = webhook_insert(ctl, params);
	free(events);
	if (res != NULL) /* the secret is shown this once, as the API does */
		printf("%s\t%s\n", PQgetvalue(res, 0, 0), secret);
	free(secret);
	PQclear(res);
	return res != NULL ? 0 : 1;
}

static int
cmd_webhook_delete(struct ctl *ctl, int argc, char **argv)
{
	if (argc != 1)
		return 2;
	return ctl_change_one(ctl, "DELETE FROM webhooks WHERE id = $1::uuid RETURNING id", argv[0],
	                      "webhook subscription", "deleted webhook");
}

static const struct command *
command_find(int argc, char **argv, int *consumed)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].noun, argv[0]) != 0)
			continue;
		if (commands[i].verb == NULL) {
			*consumed = 1;
			return &commands[i];
		}
		if (argc > 1 && strcmp(commands[i].verb, argv[1]) == 0) {
			*consumed = 2;
			return &commands[i];
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const char *path = NULL;
	const struct command *c;
	char err[512];
	int opt, consumed = 0, rc;

	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (c = command_find(argc, argv, &consumed)) == NULL)
		usage();
	memset(&ctl, 0, sizeof(ctl));
	config_defaults(&ctl.cfg);
	if (config_load(&ctl.cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "incidentctl: %s\n", err);
		return 1;
	}
	rc = c->fn(&ctl, argc - consumed, argv + consumed);
	if (ctl.conn != NULL)
		PQfinish(ctl.conn);
	config_free(&ctl.cfg);
	if (rc == 2)
		usage_of(c);
	return rc;
}
