/* migrate.c — applies sql_dir/NNN_name.sql in order, each in its own
 * transaction, recording it in schema_migrations.  A session advisory lock
 * makes concurrent runs (several hosts starting at once) take turns. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK_ID "7355608"

static int
is_migration_name(const char *name)
{
	size_t len = strlen(name);

	return len > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
	       name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
	       strcmp(name + len - 4, ".sql") == 0;
}

static int
select_migration(const struct dirent *d)
{
	return is_migration_name(d->d_name);
}

/* Runs sql (no parameters: our own files and fixed statements only). */
static int
exec_ok(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "incidentctl: %s: %s", what, PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -1;
}

static int
migration_applied(PGconn *conn, const char *version)
{
	const char *params[1] = {version};
	PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
	                             NULL, params, NULL, NULL, 0);
	int applied = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;

	PQclear(res);
	return applied;
}

static int
migration_apply(PGconn *conn, const char *dir, const char *name, int verbose)
{
	const char *params[1] = {name};
	char *path = xprintf("%s/%s", dir, name);
	struct buf *sql = buf_read_file(path);
	PGresult *res;
	int ok;

	if (sql == NULL) {
		fprintf(stderr, "incidentctl: cannot read %s: %s\n", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (exec_ok(conn, "BEGIN", name) != 0 || exec_ok(conn, sql->data, name) != 0) {
		exec_ok(conn, "ROLLBACK", "rollback");
		buf_free(sql);
		return -1;
	}
	buf_free(sql);
	res = PQexecParams(conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL,
	                   params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || exec_ok(conn, "COMMIT", name) != 0) {
		exec_ok(conn, "ROLLBACK", "rollback");
		return -1;
	}
	if (verbose)
		printf("applied %s\n", name);
	return 0;
}

static int
migrate_all(PGconn *conn, const char *sql_dir, int verbose)
{
	struct dirent **files;
	int n, i, rc = 0;

	n = scandir(sql_dir, &files, select_migration, alphasort);
	if (n < 0) {
		fprintf(stderr, "incidentctl: cannot read %s: %s\n", sql_dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			int applied = migration_applied(conn, files[i]->d_name);
			if (applied < 0)
				rc = -1;
			else if (!applied)
				rc = migration_apply(conn, sql_dir, files[i]->d_name, verbose);
		}
		free(files[i]);
	}
	free(files);
	return rc;
}

int
migrate_run(const char *conninfo, const char *sql_dir, int verbose)
{
	PGconn *conn = PQconnectdb(conninfo);
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "incidentctl: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	if (exec_ok(conn, "SET client_min_messages = warning", "settings") == 0 &&
	    exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", "lock") == 0 &&
	    exec_ok(conn,
	            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
	            "applied_at timestamptz NOT NULL DEFAULT now())",
	            "schema_migrations") == 0)
		rc = migrate_all(conn, sql_dir, verbose);
	PQfinish(conn); /* ends the session and with it the advisory lock */
	return rc;
}
