/* auth.c — API keys: x-api-key or Authorization: Bearer, looked up by the
 * SHA-256 of the key; roles read < write < admin.
 *
 * A worker remembers the keys it has seen (auth_cache.c), so most requests
 * cost no lookup.  Revocation stays immediate: a trigger on api_keys
 * NOTIFYs every worker's connection (sql/007_api_keys_notify.sql), and
 * PostgreSQL signals the listeners before the revoking COMMIT returns, so
 * the notification reaches a worker's connection ahead of the results of
 * any statement sent after that COMMIT.  A request authenticated from the
 * cache is therefore re-checked right after its first statement: if a
 * notification came ahead of its answer, the key is looked up again before
 * anything the statement read or wrote is used.  That check reads nothing
 * more from the socket, so it costs no syscall; a request that ran no
 * statement (a validation error) runs a trivial one before it answers. */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_MAX 256

/* The channel sql/007_api_keys_notify.sql notifies on any change to api_keys. */
#define KEYS_CHANGED_CHANNEL "incidentd_api_keys"

static void
fail_invalid(struct request *req)
{
	request_fail(req, 401, "invalid_api_key", "The API key is not valid or was revoked");
}

static void
fail_role(struct request *req, enum role needed)
{
	request_fail(req, 403, "insufficient_role", "This needs an API key with the %s role",
	             role_name(needed));
}

/* The key's row into a: 1 found, 0 unknown or revoked, -1 db error. */
static int
auth_lookup(struct db *db, const char *hash, struct auth *a)
{
	const char *params[1] = {hash};
	PGresult *res = db_exec(db, STMT_AUTH_KEY, 1, params);
	int found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1 && role_parse(PQgetvalue(res, 0, 2), &a->role) == 0;
	if (found) {
		a->key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		a->org_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		free(a->key_name);
		a->key_name = xstrdup(PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return found;
}

/* Armed after a cache hit: runs once the request's first statement is
 * answered, when every notification that came ahead of that answer has
 * been parsed.  Whether the remembered key still stands: 0 yes; else
 * db_fail with 401 or 403 (or a db error). */
static int
auth_recheck(void *arg)
{
	struct request *req = arg;
	struct worker *w = req->worker;
	struct auth now = {0};
	int found, same;

	req->auth.unchecked = 0;
	if (!db_take_notified(w->db))
		return 0;
	auth_cache_flush(&w->keys);
	if ((found = auth_lookup(w->db, req->auth.key_hash, &now)) < 0)
		return -1;
	same = found && now.org_id == req->auth.org_id && now.key_id == req->auth.key_id;
	if (same && now.role >= req->auth.needed)
		auth_cache_put(&w->keys, req->auth.key_hash, &now);
	free(now.key_name);
	if (!same) {
		db_fail(w->db, 401, "the API key was revoked while the request ran");
		return -1;
	}
	if (now.role < req->auth.needed) {
		db_fail(w->db, 403, "the API key lost its role while the request ran");
		return -1;
	}
	return 0;
}

int
auth_authenticate(struct request *req, enum role needed)
{
	struct worker *w = req->worker;
	const char *key = auth_presented_key(request_param(req, "HTTP_X_API_KEY"),
	                                     request_param(req, "HTTP_AUTHORIZATION"));
	int found;

	if (key == NULL) {
		request_fail(req, 401, "missing_authorization_material",
		             "No authorization material provided in request");
		return -1;
	}
	if (strlen(key) > KEY_MAX || sha256_hex(key, strlen(key), req->auth.key_hash) != 0) {
		request_fail(req, 401, "invalid_api_key", "The API key is not valid");
		return -1;
	}
	req->auth.needed = needed;
	if (db_take_notified(w->db))
		auth_cache_flush(&w->keys);
	if (auth_cache_find(&w->keys, req->auth.key_hash, &req->auth) == 0) {
		req->auth.unchecked = 1;
		db_after_next_result(w->db, auth_recheck, req);
	} else if ((found = auth_lookup(w->db, req->auth.key_hash, &req->auth)) <= 0) {
		if (found < 0)
			request_fail_db(req);
		else
			fail_invalid(req);
		return -1;
	} else {
		auth_cache_put(&w->keys, req->auth.key_hash, &req->auth);
	}
	if (req->auth.role < needed) {
		db_after_next_result(w->db, NULL, NULL);
		req->auth.unchecked = 0;
		fail_role(req, needed);
		return -1;
	}
	return 0;
}

/* An idle connection's notifications are sent when PostgreSQL gets round
 * to it, so only a statement's answer proves them all there: one trivial
 * statement, with the re-check armed as for any other. */
void
auth_settle(struct request *req)
{
	struct pg_result *res;

	if (!req->auth.unchecked)
		return;
	if ((res = db_exec(req->worker->db, STMT_PING, 0, NULL)) != NULL) {
		PQclear(res);
		return;
	}
	/* the handler's answer was for a key that no longer stands */
	errors_clear(&req->errors);
	request_clear_headers(req);
	request_fail_db(req);
}

void
auth_fail_rechecked(struct request *req, int status)
{
	if (status == 403)
		fail_role(req, req->auth.needed);
	else
		fail_invalid(req);
}

void
auth_clear(struct auth *a)
{
	free(a->key_name);
	memset(a, 0, sizeof(*a));
}

void
auth_listen(struct worker *w)
{
	db_listen(w->db, KEYS_CHANGED_CHANNEL);
}
