/* db.c — one libpq connection per process.  Every statement incidentd runs is
 * in the table below, prepared once per connection; SQLSTATEs map to HTTP
 * statuses in one place.  A broken connection is re-opened on next use. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct statement {
	enum stmt_id id;
	const char *sql;
};

/* Columns written by insert and update, in incident_write_params() order. */
#define INCIDENT_WRITE_SET \
	"title = $1, description = $2, status = $3, priority = $4, severity = $5, " \
	"source = $6, source_ref = $7, lat = $8, lng = $9, location_name = $10, " \
	"impact_description = $11, assigned_to = $12, tags = $13::jsonb, " \
	"affected_services = $14::jsonb, sla_due_at = to_timestamp($15), customer_token = $16, " \
	"started_at = to_timestamp($17), acknowledged_at = to_timestamp($18), " \
	"resolved_at = to_timestamp($19), created_by = $20, created_at = to_timestamp($21), " \
	"updated_at = to_timestamp($22)"

/* An active incident holds its (org, source, source_ref): the predicate of
 * the partial unique index incidents_active_source_ref (sql/004). */
#define ACTIVE_SOURCE_REF \
	"source_ref IS NOT NULL AND status IN ('new', 'open', 'acknowledged', 'in_progress', " \
	"'investigating', 'identified', 'monitoring')"

/* One incident of org $2, by number $1 or, in the _BY_UUID twin, by UUID
 * $1.  Two statements, not one with coalesce($1, (SELECT … uuid = $3)): the
 * planner never trusted that one's generic plan and planned it again on
 * every execution (0 generic plans after thousands of gets). */
#define BY_NUMBER "WHERE id = $1::bigint AND org_id = $2"
#define BY_UUID "WHERE uuid = $1::uuid AND org_id = $2"

/* The incident lists are built from the filters present (db_list_sql):
 * each present filter is one more parameter after $1 (the org), in
 * list_filters order, so every shape gets a plan of its own and the planner
 * picks the index that filter has (incidents_org_status, ...); a generic
 * "$n IS NULL OR ..." statement had one plan for all of them.  A filter of
 * one value is an equality, of several an ANY (which an index cannot
 * return in created_at order). */
#define LIST_ORDER "ORDER BY created_at DESC, id DESC "

/* A row's position for the cursor: created_at exactly, in microseconds. */
#define LIST_POSITION "(extract(epoch from created_at) * 1000000)::bigint"

/* The keyset position (created_at in microseconds, id) in newest-first
 * order: an index condition on incidents_org_newest (and the filter
 * indexes), so a deep page costs what the first one does.  bigint times
 * interval is exact below 2^53 (CURSOR_AT_MAX). */
#define LIST_KEYSET "(created_at, id) %s ('epoch'::timestamptz + $%d::bigint * " \
	"interval '1 microsecond', $%d::bigint) "

/* The total of a list without tag or q: a sum over the org's counter rows
 * (sql/006_incident_counts.sql), at most 800 of them whatever the number of
 * incidents.  With tag or q there is no counter: count the matches, at most
 * the cap parameter's (list_count_cap + 1) of them. */
#define LIST_SUMMED_TOTAL "(SELECT coalesce(sum(n), 0) FROM incident_counts WHERE org_id = $1 "
#define LIST_CAPPED_TOTAL "(SELECT count(*) FROM (SELECT 1 FROM incidents WHERE org_id = $1 "

#define REPLY_OF "WHERE incident_id = $1 AND org_id = $2 "

/* One subscription of org $2, by its id $1. */
#define WEBHOOK_OF "WHERE id = $1::uuid AND org_id = $2"

/* Subscription $1 when it is org $2's: the tenancy check is in the
 * statement itself, not only in the handler's order of calls. */
#define WEBHOOK_ID "(SELECT id FROM webhooks " WEBHOOK_OF ")"
#define DELIVERIES_OF "FROM webhook_deliveries WHERE webhook_id = " WEBHOOK_ID " "
#define RUNS_OF "FROM webhook_delivery_runs r WHERE webhook_id = " WEBHOOK_ID " "

/* The runs (sql/014) a page of `limit` deliveries may need, newest first,
 * below a seq when runs_below says so: of the `limit` newest runs, those
 * with fewer than `limit` seqs in the runs between them and the newest (the
 * newest may hold seqs above the page).  A run holds at least one seq and
 * runs do not overlap, so a page is among them, and it unpacks one or two
 * runs, not `limit` (a 101-row page of 256-event runs: 2 ms, not 15). */
#define DELIVERY_PAGE_RUNS(runs_below, limit)                                                 \
	"(SELECT * FROM (SELECT k.*, coalesce(sum(cardinality(k.seqs)) OVER (ORDER BY "        \
	"k.first_seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) - "             \
	"first_value(cardinality(k.seqs)) OVER (ORDER BY k.first_seq DESC) AS past_newest "     \
	"FROM (SELECT * " RUNS_OF runs_below "ORDER BY first_seq DESC LIMIT " limit ") k) k " \
	"WHERE past_newest < " limit ") r"

/* A page of deliveries, newest first, `limit` of them, below a seq when
 * the conditions say so (of the rows' seq, the runs' first_seq and their
 * elements' seq): the rows' and the runs' (as rows: sql/014's
 * webhook_run_deliveries), which hold different seqs. */
#define DELIVERY_PAGE(rows_below, runs_below, elements_below, limit)                       \
	"SELECT " DELIVERY_COLUMNS " FROM ((SELECT seq, event, attempts, last_status, "       \
	"last_error, next_attempt_at, delivered_at, duration_ms " DELIVERIES_OF rows_below   \
	"ORDER BY seq DESC LIMIT " limit ") UNION ALL SELECT u.seq, u.event, u.attempts, "   \
	"u.last_status, u.last_error, u.next_attempt_at, u.delivered_at, u.duration_ms "     \
	"FROM " DELIVERY_PAGE_RUNS(runs_below, limit) ", "                                  \
	"webhook_run_deliveries(r.seqs, r.events, r.first_at, r.delivered_at, r.statuses, "   \
	"r.durations_ms) u " elements_below ") d ORDER BY seq DESC LIMIT " limit

static const struct statement statements[STMT_COUNT] = {
	{STMT_AUTH_KEY, AUTH_KEY_SQL},
	{STMT_INCIDENT_INSERT,
	 "INSERT INTO incidents (title, description, status, priority, severity, source, "
	 "source_ref, lat, lng, location_name, impact_description, assigned_to, tags, "
	 "affected_services, sla_due_at, customer_token, started_at, acknowledged_at, "
	 "resolved_at, created_by, created_at, updated_at, org_id) VALUES ($1, $2, $3, $4, $5, "
	 "$6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, to_timestamp($15), $16, "
	 "to_timestamp($17), to_timestamp($18), to_timestamp($19), $20, to_timestamp($21), "
	 "to_timestamp($22), $23) ON CONFLICT (org_id, source, source_ref) WHERE " ACTIVE_SOURCE_REF
	 " DO NOTHING RETURNING id, uuid::text"},
	{STMT_INCIDENT_ACTIVE_BY_SOURCE_REF,
	 "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE org_id = $1 AND source = $2 "
	 "AND source_ref = $3 AND " ACTIVE_SOURCE_REF},
	{STMT_INCIDENT_GET, "SELECT " INCIDENT_COLUMNS " FROM incidents " BY_NUMBER},
	{STMT_INCIDENT_GET_BY_UUID, "SELECT " INCIDENT_COLUMNS " FROM incidents " BY_UUID},
	{STMT_INCIDENT_EXISTS, "SELECT 1 FROM incidents WHERE id = $1 AND org_id = $2"},
	{STMT_INCIDENT_GET_FOR_UPDATE,
	 "SELECT " INCIDENT_COLUMNS " FROM incidents " BY_NUMBER " FOR UPDATE"},
	{STMT_INCIDENT_GET_FOR_UPDATE_BY_UUID,
	 "SELECT " INCIDENT_COLUMNS " FROM incidents " BY_UUID " FOR UPDATE"},
	{STMT_INCIDENT_UPDATE,
	 "UPDATE incidents SET " INCIDENT_WRITE_SET ", version = version + 1 "
	 "WHERE id = $23 AND org_id = $24 RETURNING version"},
	{STMT_INCIDENT_TOUCH,
	 /* a timeline entry changes the incident's ETag too */
	 "UPDATE incidents SET updated_at = greatest(updated_at, to_timestamp($3)), "
	 "version = version + 1 WHERE id = $1 AND org_id = $2 RETURNING id"},
	{STMT_INCIDENT_DELETE, "DELETE FROM incidents " BY_NUMBER " RETURNING id"},
	{STMT_INCIDENT_DELETE_BY_UUID, "DELETE FROM incidents " BY_UUID " RETURNING id"},
	{STMT_INCIDENT_LIST,
	 /* db_list_sql(LIST_SQL_PAGE, 0), the list without filters: bench/pgbench/list.sql
	  * runs it, and t/unit checks that the builder makes this text */
	 "SELECT " INCIDENT_COLUMNS ", " LIST_POSITION ", " LIST_SUMMED_TOTAL ") FROM incidents "
	 "WHERE org_id = $1 " LIST_ORDER "LIMIT $2 OFFSET $3"},
	{STMT_REPLY_INSERT,
	 /* the incident's row is written or locked first in the same transaction */
	 "INSERT INTO replies (incident_id, org_id, body, internal, status, author, created_at, "
	 "incident_status) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), "
	 "(SELECT status FROM incidents WHERE id = $1)) RETURNING " REPLY_COLUMNS},
	{STMT_REPLY_LIST,
	 "SELECT " REPLY_COLUMNS ", count(*) OVER () FROM replies " REPLY_OF
	 "ORDER BY id LIMIT $3 OFFSET $4"},
	{STMT_REPLY_LIST_AFTER,
	 /* oldest first from the cursor's id $3: the total, then the rows after it */
	 "SELECT " REPLY_COLUMNS ", (SELECT count(*) FROM replies " REPLY_OF "), (SELECT count(*) "
	 "FROM replies " REPLY_OF "AND id > $3) FROM replies " REPLY_OF "AND id > $3 ORDER BY id "
	 "LIMIT $4"},
	{STMT_REPLY_COUNT, "SELECT count(*) FROM replies " REPLY_OF},
	{STMT_UPDATES_OF,
	 /* the newest $3 public entries of each incident in $1, by incident then oldest first */
	 "SELECT u.id, u.incident_id, u.body, u.incident_status, "
	 "extract(epoch from u.created_at)::bigint FROM unnest($1::bigint[]) AS i (id) "
	 "CROSS JOIN LATERAL (SELECT id, incident_id, body, incident_status, created_at "
	 "FROM replies WHERE incident_id = i.id AND org_id = $2 AND NOT internal "
	 "ORDER BY id DESC LIMIT $3) u ORDER BY u.incident_id, u.id"},
	{STMT_EVENT_APPEND,
	 /* The org row lock taken here is held to COMMIT, so seq order is commit order. */
	 "WITH s AS (UPDATE orgs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq) "
	 "INSERT INTO events (org_id, seq, type, incident_id, payload, at) "
	 "SELECT $1, s.event_seq, $2, $3, $4::json, to_timestamp($5) FROM s RETURNING seq"},
	{STMT_STATUS_BY_TOKEN,
	 "SELECT i.id, i.title, i.status, extract(epoch from i.updated_at)::bigint, o.event_seq, "
	 "coalesce(o.display_name, o.name) "
	 "FROM incidents i JOIN orgs o ON o.id = i.org_id WHERE i.customer_token = $1"},
	/* newest first: a long incident shows its latest 1,000 updates */
	{STMT_STATUS_REPLIES,
	 "SELECT body, status, extract(epoch from created_at)::bigint, incident_status "
	 "FROM replies WHERE incident_id = $1 AND NOT internal ORDER BY id DESC LIMIT 1000"},
	/* the Atom feed numbers entries from the oldest: past the LIMIT above */
	{STMT_STATUS_PUBLIC_COUNT,
	 "SELECT count(*) FROM replies WHERE incident_id = $1 AND NOT internal"},
	{STMT_PING, "SELECT 1"},
	{STMT_LOCK_TIMEOUT, "SELECT set_config('lock_timeout', $1, true)"},
	{STMT_IDEMPOTENCY_CLAIM,
	 /* the row is this request's if the key is new or its record expired;
	  * a request with the key in flight waits here for that one to end */
	 "INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) "
	 "VALUES ($1, $2, $3, to_timestamp($4)) ON CONFLICT (org_id, key) DO UPDATE SET "
	 "request_hash = EXCLUDED.request_hash, status = NULL, headers = NULL, body = NULL, "
	 "created_at = EXCLUDED.created_at "
	 "WHERE idempotency_keys.created_at <= EXCLUDED.created_at - interval '24 hours' "
	 "RETURNING 1"},
	{STMT_IDEMPOTENCY_GET,
	 "SELECT request_hash, status, headers, body FROM idempotency_keys "
	 "WHERE org_id = $1 AND key = $2"},
	{STMT_IDEMPOTENCY_RECORD,
	 "UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 "
	 "WHERE org_id = $1 AND key = $2"},
	{STMT_IDEMPOTENCY_PRUNE,
	 "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY (SELECT ctid FROM idempotency_keys "
	 "WHERE created_at < to_timestamp($1) - interval '24 hours' LIMIT $2))"},
	{STMT_WEBHOOK_ORG_LOCK,
	 /* held to COMMIT: creates of one org count their subscriptions one at a
	  * time, and the new cursor is the seq of the last event committed (the
	  * lock an event's append takes; foreign-key checks are not held up) */
	 "SELECT event_seq FROM orgs WHERE id = $1 FOR NO KEY UPDATE"},
	{STMT_WEBHOOK_INSERT,
	 /* no row when the org has $8 subscriptions already; events "" is '{}' */
	 "INSERT INTO webhooks (org_id, url, events, description, format, secret, cursor_seq) "
	 "SELECT $1, $2, string_to_array($3, ','), $4, $5, $6, $7 "
	 "WHERE (SELECT count(*) FROM webhooks WHERE org_id = $1) < $8 "
	 "RETURNING " WEBHOOK_COLUMNS ", secret"},
	{STMT_WEBHOOK_GET, "SELECT " WEBHOOK_COLUMNS " FROM webhooks " WEBHOOK_OF},
	{STMT_WEBHOOK_GET_FOR_UPDATE, "SELECT " WEBHOOK_COLUMNS " FROM webhooks " WEBHOOK_OF " FOR UPDATE"},
	{STMT_WEBHOOK_UPDATE,
	 /* enabling clears why it was disabled; disabling through the API says so */
	 "UPDATE webhooks SET url = $3, events = string_to_array($4, ','), description = $5, "
	 "format = $6, enabled = $7::boolean, "
	 "disabled_reason = CASE WHEN $7::boolean THEN NULL WHEN enabled THEN "
	 "'disabled through the API' ELSE disabled_reason END, "
	 "disabled_at = CASE WHEN $7::boolean THEN NULL WHEN enabled THEN now() ELSE disabled_at END, "
	 "updated_at = now() " WEBHOOK_OF " RETURNING " WEBHOOK_COLUMNS},
	{STMT_WEBHOOK_DELETE, "DELETE FROM webhooks " WEBHOOK_OF " RETURNING 1"},
	{STMT_WEBHOOK_ROTATE,
	 /* the old secret signs beside the new one for WEBHOOK_PREVIOUS_SECRET */
	 "UPDATE webhooks SET previous_secret = secret, previous_secret_until = now() + "
	 "interval '" WEBHOOK_PREVIOUS_SECRET "', secret = $3, updated_at = now() " WEBHOOK_OF
	 " RETURNING " WEBHOOK_COLUMNS ", secret"},
	{STMT_WEBHOOK_LIST,
	 "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE org_id = $1 ORDER BY ordinal DESC LIMIT $2"},
	{STMT_WEBHOOK_LIST_AFTER,
	 "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE org_id = $1 AND ordinal < $2 "
	 "ORDER BY ordinal DESC LIMIT $3"},
	{STMT_WEBHOOK_LOG_BOUNDS,
	 /* the org's current seq and its oldest event still logged (the next
	  * seq when the log is empty) */
	 "SELECT o.event_seq, coalesce((SELECT min(seq) FROM events WHERE org_id = o.id), "
	 "o.event_seq + 1) FROM orgs o WHERE o.id = $1"},
	{STMT_WEBHOOK_REPLAY,
	 /* from seq $3 on again: the deliveries from there are forgotten with
	  * it, rows, runs, and the part of a run from there */
	 "WITH forgotten AS (DELETE " DELIVERIES_OF "AND seq >= $3::bigint), "
	 "runs_forgotten AS (DELETE " RUNS_OF "AND first_seq >= $3::bigint), "
	 "runs_cut AS (UPDATE webhook_delivery_runs r SET " WEBHOOK_RUN_CUT("0", "$3::bigint - 1")
	 "WHERE webhook_id = " WEBHOOK_ID " AND first_seq < $3::bigint AND last_seq >= $3::bigint) "
	 "UPDATE webhooks SET cursor_seq = $3::bigint - 1, updated_at = now() " WEBHOOK_OF
	 " RETURNING " WEBHOOK_COLUMNS},
	{STMT_DELIVERY_LIST, DELIVERY_PAGE("", "", "", "$3")},
	{STMT_DELIVERY_LIST_AFTER,
	 DELIVERY_PAGE("AND seq < $3 ", "AND first_seq < $3 ", "WHERE u.seq < $3 ", "$4")},
};

struct db {
	PGconn *conn;
	char *conninfo;
	int in_tx;
	int last_status;
	char last_error[512];
	char last_sqlstate[6];     /* "" when the failure had none */
	char last_constraint[64];  /* the violated constraint, if PostgreSQL named one */
	/* which list statements (db_list_sql) this connection has prepared */
	unsigned char list_prepared[(LIST_SQL_SLOTS + 7) / 8];
	char *listen_channel;      /* NULL: none */
	int notified;              /* see db_take_notified */
	int (*after_next_result)(void *);
	void *after_next_result_arg;
};

static void
db_set_error(struct db *db, int status, const char *msg)
{
	size_t n;

	if (status >= 500)
		metrics_count(METRIC_DB_ERRORS);
	db->last_status = status;
	db->last_sqlstate[0] = db->last_constraint[0] = '\0';
	snprintf(db->last_error, sizeof(db->last_error), "%s", msg != NULL ? msg : "unknown");
	n = strlen(db->last_error);
	while (n > 0 && (db->last_error[n - 1] == '\n' || db->last_error[n - 1] == ' '))
		db->last_error[--n] = '\0';
}

static void
db_set_diagnostics(struct db *db, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *constraint = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

	snprintf(db->last_sqlstate, sizeof(db->last_sqlstate), "%s", state != NULL ? state : "");
	snprintf(db->last_constraint, sizeof(db->last_constraint), "%s",
	         constraint != NULL ? constraint : "");
}

/* The one SQLSTATE → HTTP status mapping. */
static int
status_for_sqlstate(const char *state)
{
	if (state == NULL)
		return 503; /* no SQLSTATE: the connection failed */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0)
		return 503;
	if (strcmp(state, "23505") == 0)
		return 409;
	return 500;
}

static int
db_prepare_all(struct db *db)
{
	char name[16];
	int i;

	for (i = 0; i < STMT_COUNT; i++) {
		PGresult *res;

		snprintf(name, sizeof(name), "s%d", i);
		res = PQprepare(db->conn, name, statements[i].sql, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_set_error(db, status_for_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
			             PQresultErrorMessage(res));
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

static int
db_listen_now(struct db *db)
{
	char *ident, *sql;
	PGresult *res;
	int rc;

	if (db->listen_channel == NULL)
		return 0;
	if ((ident = PQescapeIdentifier(db->conn, db->listen_channel,
	                                strlen(db->listen_channel))) == NULL) {
		db_set_error(db, 503, PQerrorMessage(db->conn));
		return -1;
	}
	sql = xprintf("LISTEN %s", ident);
	PQfreemem(ident);
	res = PQexec(db->conn, sql);
	free(sql);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc != 0)
		db_set_error(db, 503, PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

/* libpq prints notices on stderr, which is the log: a search of stop words
 * only ("the") draws one from websearch_to_tsquery.  They become log lines. */
static void
db_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug(NULL, "msg=\"postgresql notice\" notice=%s", LOG_QUOTE(message));
}

static int
db_connect(struct db *db)
{
	/* conninfo comes last so its own connect_timeout wins over ours. */
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"3", "incidentd", db->conninfo, NULL};

	if (db->conn != NULL)
		PQfinish(db->conn);
	db->in_tx = 0;
	memset(db->list_prepared, 0, sizeof(db->list_prepared));
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, 503, db->conn ? PQerrorMessage(db->conn) : "out of memory");
		return -1;
	}
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	/* a new connection has missed whatever was notified while there was none */
	db->notified = 1;
	if (db_prepare_all(db) != 0 || db_listen_now(db) != 0) {
		/* half-prepared is unusable: start over on the next request */
		PQfinish(db->conn);
		db->conn = NULL;
		return -1;
	}
	return 0;
}

struct db *
db_open(const char *conninfo)
{
	struct db *db = xcalloc(1, sizeof(*db));

	db->conninfo = xstrdup(conninfo);
	if (db_connect(db) != 0)
		log_warn(NULL, "msg=\"database not reachable yet\" error=%s", LOG_QUOTE(db->last_error));
	return db;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->listen_channel);
	free(db->conninfo);
	free(db);
}

void
db_listen(struct db *db, const char *channel)
{
	free(db->listen_channel);
	db->listen_channel = xstrdup(channel);
	if (db_ok(db) && db_listen_now(db) != 0) {
		/* without the LISTEN nothing would ever say the cache is stale */
		PQfinish(db->conn);
		db->conn = NULL;
	}
	db->notified = 1;
}

/* Drains the notifications libpq has parsed: every one the server sent
 * ahead of the last result read.  No syscall: whatever is still in the
 * socket is read with the next statement's answer. */
int
db_take_notified(struct db *db)
{
	PGnotify *n;
	int notified = db->notified;

	db->notified = 0;
	if (!db_ok(db))
		return 1;
	while ((n = PQnotifies(db->conn)) != NULL) {
		PQfreemem(n);
		notified = 1;
	}
	return notified;
}

void
db_after_next_result(struct db *db, int (*hook)(void *), void *arg)
{
	db->after_next_result = hook;
	db->after_next_result_arg = arg;
}

void
db_fail(struct db *db, int status, const char *message)
{
	db_set_error(db, status, message);
}

/* The armed hook, disarmed first: it may run statements of its own. */
static int
db_run_after_next_result(struct db *db)
{
	int (*hook)(void *) = db->after_next_result;

	if (hook == NULL)
		return 0;
	db->after_next_result = NULL;
	return hook(db->after_next_result_arg);
}

int
db_ok(struct db *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

int
db_ensure(struct db *db)
{
	if (db_ok(db))
		return 0;
	return db_connect(db);
}

static int
result_ok(PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Prepares list statement slot on this connection the first time it is
 * used; the shapes are a finite set (LIST_SQL_SLOTS), so a connection keeps
 * at most that many.  0, or -1 with the error set. */
static int
db_prepare_list(struct db *db, int slot, const char *name)
{
	unsigned char bit = (unsigned char)(1u << (slot % 8));
	PGresult *res;
	char *sql;

	if (db->list_prepared[slot / 8] & bit)
		return 0;
	sql = db_list_sql((enum list_sql)(slot / LIST_SHAPES), (unsigned)(slot % LIST_SHAPES));
	res = PQprepare(db->conn, name, sql, 0, NULL);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_set_error(db, res ? status_for_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : 503,
		             res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		db_set_diagnostics(db, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	db->list_prepared[slot / 8] |= bit;
	return 0;
}

/* Runs a statement: the table's (id >= 0), a list shape's (slot >= 0), or
 * plain sql; a statement outside a transaction that fails on a dead
 * connection is retried once on a fresh one, so a PostgreSQL restart costs
 * no request. */
static PGresult *
db_run(struct db *db, int id, int slot, const char *sql, int nparams, const char *const *params)
{
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		PGresult *res = NULL;
		char name[16];

		if (!db->in_tx && db_ensure(db) != 0)
			return NULL;
		if (id >= 0 || slot >= 0) {
			snprintf(name, sizeof(name), id >= 0 ? "s%d" : "l%d", id >= 0 ? id : slot);
			if (slot < 0 || db_prepare_list(db, slot, name) == 0)
				res = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
			else if (db->in_tx || PQstatus(db->conn) == CONNECTION_OK)
				return NULL;
			else
				continue;
		} else {
			res = PQexec(db->conn, sql);
		}
		if (res != NULL && result_ok(res)) {
			if (db_run_after_next_result(db) != 0) {
				PQclear(res);
				return NULL;
			}
			return res;
		}
		db_set_error(db,
		             res ? status_for_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : 503,
		             res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		db_set_diagnostics(db, res);
		PQclear(res);
		if (db->in_tx || PQstatus(db->conn) == CONNECTION_OK)
			return NULL;
	}
	return NULL;
}

PGresult *
db_exec(struct db *db, enum stmt_id id, int nparams, const char *const *params)
{
	return db_run(db, (int)id, -1, NULL, nparams, params);
}

static int
db_simple(struct db *db, const char *sql)
{
	PGresult *res = db_run(db, -1, -1, sql, 0, NULL);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
db_begin(struct db *db)
{
	if (db_simple(db, "BEGIN") != 0)
		return -1;
	db->in_tx = 1;
	return 0;
}

/* A read-only snapshot: statements see one consistent state. */
int
db_begin_snapshot(struct db *db)
{
	if (db_simple(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0)
		return -1;
	db->in_tx = 1;
	return 0;
}

int
db_commit(struct db *db)
{
	int rc = db_simple(db, "COMMIT");

	db->in_tx = 0;
	return rc;
}

void
db_rollback(struct db *db)
{
	/* the server's own word too: a BEGIN the key re-check refused after
	 * the fact opened a transaction db_begin never recorded */
	if (!db->in_tx && (!db_ok(db) || PQtransactionStatus(db->conn) == PQTRANS_IDLE))
		return;
	if (db_ok(db) && db_simple(db, "ROLLBACK") != 0)
		log_warn(NULL, "msg=\"rollback failed\" error=%s", LOG_QUOTE(db->last_error));
	db->in_tx = 0;
}

int
db_last_status(struct db *db)
{
	return db->last_status ? db->last_status : 500;
}

const char *
db_last_error(struct db *db)
{
	return db->last_error;
}

const char *
db_last_sqlstate(struct db *db)
{
	return db->last_sqlstate;
}

const char *
db_last_constraint(struct db *db)
{
	return db->last_constraint;
}

const char *
db_statement_sql(enum stmt_id id)
{
	return statements[id].sql;
}

/* A page's total: from its window-count column, or, past the last row
 * (no row carries the count), from count_id with the same parameters. */
int
db_page_total(struct db *db, const PGresult *page, int column, enum stmt_id count_id, int nparams,
              const char *const *params, int64_t *total)
{
	PGresult *count;

	if (PQntuples(page) > 0) {
		*total = strtoll(PQgetvalue(page, 0, column), NULL, 10);
		return 0;
	}
	count = db_exec(db, count_id, nparams, params);
	if (count == NULL)
		return -1;
	*total = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
	PQclear(count);
	return 0;
}

/* ---- the list statements, one per shape ---- */

/* The enum filters, in shape and parameter order, by their column (the
 * same name in incidents and incident_counts). */
static const char *const list_enum_columns[LIST_ENUM_FILTERS] = {"status", "priority", "severity",
                                                                   "source"};

/* The condition of each present filter, numbering its parameter from *n on. */
static struct buf *
list_filters(struct buf *b, unsigned shape, int *n)
{
	int i;

	for (i = 0; i < LIST_ENUM_FILTERS; i++) {
		unsigned how = list_shape_enum(shape, i);

		if (how == LIST_FILTER_ONE)
			b = buf_printf(b, "AND %s = $%d ", list_enum_columns[i], ++*n);
		else if (how == LIST_FILTER_MANY)
			b = buf_printf(b, "AND %s = ANY (string_to_array($%d, ',')) ", list_enum_columns[i],
			               ++*n);
	}
	if (LIST_SHAPE_HAS_TAG(shape))
		b = buf_printf(b, "AND tags @> jsonb_build_array($%d::text) ", ++*n);
	/* 'english': the configuration the search column is built with (sql/005) */
	if (LIST_SHAPE_HAS_Q(shape))
		b = buf_printf(b, "AND search @@ websearch_to_tsquery('english', $%d) ", ++*n);
	return b;
}

char *
db_list_sql(enum list_sql kind, unsigned shape)
{
	struct buf *filters = buf_new(256), *total = buf_new(512), *b = buf_new(2048);
	int n = 1;
	char *sql;

	filters = list_filters(filters, shape, &n);
	if (LIST_SHAPE_HAS_TAG(shape) || LIST_SHAPE_HAS_Q(shape))
		total = buf_printf(total, LIST_CAPPED_TOTAL "%sLIMIT $%d) capped)", filters->data, ++n);
	else
		total = buf_printf(total, LIST_SUMMED_TOTAL "%s)", filters->data);
	switch (kind) {
	case LIST_SQL_PAGE:
		b = buf_printf(b,
		               "SELECT " INCIDENT_COLUMNS ", " LIST_POSITION ", %s FROM incidents "
		               "WHERE org_id = $1 %s" LIST_ORDER "LIMIT $%d OFFSET $%d",
		               total->data, filters->data, n + 1, n + 2);
		break;
	case LIST_SQL_AFTER:
		b = buf_printf(b,
		               "SELECT " INCIDENT_COLUMNS ", " LIST_POSITION ", %s FROM incidents "
		               "WHERE org_id = $1 %sAND " LIST_KEYSET LIST_ORDER "LIMIT $%d",
		               total->data, filters->data, "<", n + 1, n + 2, n + 3);
		break;
	case LIST_SQL_TOTAL:
		b = buf_printf(b, "SELECT %s", total->data);
		break;
	default: /* LIST_SQL_BEFORE */
		b = buf_printf(b, "SELECT count(*) FROM incidents WHERE org_id = $1 %sAND " LIST_KEYSET,
		               filters->data, ">=", n + 1, n + 2);
		break;
	}
	sql = xstrdup(b->data);
	buf_free(b);
	buf_free(total);
	buf_free(filters);
	return sql;
}

PGresult *
db_exec_list(struct db *db, enum list_sql kind, unsigned shape, int nparams,
             const char *const *params)
{
	if (kind == LIST_SQL_PAGE && shape == 0)
		return db_exec(db, STMT_INCIDENT_LIST, nparams, params);
	if (shape >= LIST_SHAPES || (unsigned)kind >= LIST_SQL_KINDS) {
		db_set_error(db, 500, "no such list statement");
		return NULL;
	}
	return db_run(db, -1, (int)kind * LIST_SHAPES + (int)shape, NULL, nparams, params);
}
