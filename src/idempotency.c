/* idempotency.c — Idempotency-Key (DESIGN §4).  The first request with a
 * key claims it inside its write's transaction and records its response
 * there before COMMIT, so the record exists exactly when the write does.  A
 * retry of the same request (method, path and body) within 24 h gets that
 * response again and writes nothing; another request with the key is 409.
 * A retry that arrives while the first is in flight waits on the key's row
 * until that transaction ends (at most LOCK_WAIT, then 409 with
 * Retry-After): never two incidents. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX_CHARS 255
#define LOCK_WAIT "5s"
#define PRUNE_BATCH "1000"

/* 1–255 printable ASCII characters: it goes into a database row and back
 * into error messages. */
static int
key_valid(const char *key)
{
	size_t i, len = strlen(key);

	if (len == 0 || len > KEY_MAX_CHARS)
		return 0;
	for (i = 0; i < len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return 0;
	return 1;
}

/* What makes two requests "the same": method, path and body bytes. */
static int
request_fingerprint(const struct request *req, char out[65])
{
	struct buf *b = buf_new(req->body_len + 64);
	int rc;

	b = buf_printf(b, "%s\n%s\n", req->method, req->path);
	b = buf_append(b, req->body != NULL ? req->body : "", req->body_len);
	rc = sha256_hex(b->data, b->len, out);
	buf_free(b);
	return rc;
}

static enum idempotency_claim
fail(struct request *req, int status, const char *code, const char *message)
{
	db_rollback(req->worker->db);
	if (status == 409 && strcmp(code, "idempotency_key_in_use") == 0)
		request_header(req, "Retry-After: 1");
	request_fail(req, status, code, "%s", message);
	return IDEMPOTENCY_ANSWERED;
}

/* Adds the recorded header lines ("Name: value\r\n" each). */
static void
replay_headers(struct request *req, const char *lines)
{
	while (*lines != '\0') {
		size_t len = strcspn(lines, "\r\n");

		if (len > 0)
			request_header(req, "%.*s", (int)len, lines);
		lines += len;
		lines += strspn(lines, "\r\n");
	}
}

/* The key was claimed before: the same request gets its response again. */
static enum idempotency_claim
replay(struct request *req, const char *const *params, const char *fingerprint)
{
	PGresult *res = db_exec(req->worker->db, STMT_IDEMPOTENCY_GET, 2, params);
	const char *body;
	int status;

	if (res == NULL) {
		request_fail_db(req);
		return IDEMPOTENCY_ANSWERED;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		/* expired and re-claimed by a request still in flight */
		PQclear(res);
		return fail(req, 409, "idempotency_key_in_use",
		            "A request with this Idempotency-Key is in progress; retry shortly");
	}
	if (strcmp(PQgetvalue(res, 0, 0), fingerprint) != 0) {
		PQclear(res);
		return fail(req, 409, "idempotency_key_reused",
		            "This Idempotency-Key was used with a different request");
	}
	db_rollback(req->worker->db);
	status = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
	body = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
	replay_headers(req, PQgetvalue(res, 0, 2));
	request_header(req, "Idempotent-Replayed: true");
	if (body != NULL && *body != '\0')
		request_respond(req, status, "application/json", xstrdup(body), strlen(body));
	else
		request_respond(req, status, NULL, NULL, 0);
	PQclear(res);
	return IDEMPOTENCY_ANSWERED;
}

static int
set_lock_timeout(struct request *req, const char *value)
{
	const char *params[1] = {value};
	PGresult *res = db_exec(req->worker->db, STMT_LOCK_TIMEOUT, 1, params);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* Inserts the key's row (or takes over an expired one), waiting at most
 * LOCK_WAIT for a request in flight with it — only there: the write's own
 * lock waits are unbounded as always.  1 when the row is this request's, 0
 * when the key is held, -1 on a db error. */
static int
claim_row(struct request *req, const char *const *params)
{
	PGresult *res;
	int owned;

	if (set_lock_timeout(req, LOCK_WAIT) != 0)
		return -1;
	res = db_exec(req->worker->db, STMT_IDEMPOTENCY_CLAIM, 4, params);
	if (res == NULL)
		return -1;
	owned = PQntuples(res) == 1;
	PQclear(res);
	if (owned && set_lock_timeout(req, "0") != 0)
		return -1;
	return owned;
}

enum idempotency_claim
idempotency_claim(struct request *req)
{
	const char *key = request_param(req, "HTTP_IDEMPOTENCY_KEY");
	char org[24], now[24], fingerprint[65];
	const char *params[4] = {org, key, fingerprint, now};
	int owned;

	if (key == NULL)
		return IDEMPOTENCY_NONE;
	if (!key_valid(key)) {
		db_rollback(req->worker->db);
		errors_add(&req->errors, "invalid_value", "header", "Idempotency-Key",
		           "Idempotency-Key must be 1 to %d printable ASCII characters", KEY_MAX_CHARS);
		request_fail_validation(req);
		return IDEMPOTENCY_ANSWERED;
	}
	if (request_fingerprint(req, fingerprint) != 0) {
		db_rollback(req->worker->db);
		request_fail(req, 500, "internal_error", "Internal error");
		return IDEMPOTENCY_ANSWERED;
	}
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(now, sizeof(now), "%lld", (long long)req->now);
	owned = claim_row(req, params);
	if (owned < 0 && strcmp(db_last_sqlstate(req->worker->db), "55P03") == 0)
		return fail(req, 409, "idempotency_key_in_use",
		            "A request with this Idempotency-Key is in progress; retry shortly");
	if (owned < 0) {
		request_fail_db(req);
		return IDEMPOTENCY_ANSWERED;
	}
	if (!owned)
		return replay(req, params, fingerprint);
	req->idempotent = 1;
	return IDEMPOTENCY_OWNED;
}

int
idempotency_record(struct request *req)
{
	char org[24], status[8];
	char *body;
	const char *params[5];
	PGresult *res;

	if (!req->idempotent)
		return 0;
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(status, sizeof(status), "%d", req->status);
	body = req->out != NULL ? xstrndup(req->out, req->out_len) : NULL;
	params[0] = org;
	params[1] = request_param(req, "HTTP_IDEMPOTENCY_KEY");
	params[2] = status;
	params[3] = req->headers != NULL ? req->headers->data : "";
	params[4] = body;
	res = db_exec(req->worker->db, STMT_IDEMPOTENCY_RECORD, 5, params);
	free(body);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
idempotency_prune(struct db *db, int64_t now)
{
	char at[24];
	const char *params[2] = {at, PRUNE_BATCH};
	PGresult *res;
	int n;

	snprintf(at, sizeof(at), "%lld", (long long)now);
	res = db_exec(db, STMT_IDEMPOTENCY_PRUNE, 2, params);
	if (res == NULL)
		return -1;
	n = (int)strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}
