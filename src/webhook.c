/* webhook.c — /v1/webhooks: an organisation's webhook subscriptions
 * (DESIGN §9), admin keys only.  A write here emits no incident event (a
 * subscription is no incident); sql/009's triggers tell every
 * incidentd-hooks through NOTIFY incidentd_webhooks.  Neither a URL nor a
 * secret is ever logged: the request log line shows the route's pattern,
 * and a failed statement's text, which may quote the row, is withheld. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOKS_DEFAULT_LIMIT 50
#define WEBHOOKS_MAX_LIMIT 100

void
webhook_not_found(struct request *req)
{
	request_fail(req, 404, "not_found", "No webhook subscription with id %s", req->params.uuid);
}

/* PostgreSQL quotes the failing row in its text for a data or integrity
 * error (SQLSTATE classes 22 and 23): that row holds the URL and secret. */
void
webhook_fail_db(struct request *req)
{
	struct db *db = req->worker->db;
	const char *state = db_last_sqlstate(db);

	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
		char *msg = xprintf("statement on webhooks failed: SQLSTATE %s constraint \"%s\" "
		                    "(PostgreSQL's text withheld: it quotes the row)",
		                    state, db_last_constraint(db));

		db_fail(db, db_last_status(db), msg);
		free(msg);
	}
	request_fail_db(req);
}

void
webhook_respond(struct request *req, int status, const PGresult *res, int with_secret)
{
	yajl_gen g = json_gen_new();

	webhook_render(g, res, 0, with_secret);
	request_respond_json(req, status, g);
	yajl_gen_free(g);
}

void
webhook_org_text(const struct request *req, char out[24])
{
	snprintf(out, 24, "%lld", (long long)req->auth.org_id);
}

PGresult *
webhook_org_row(struct request *req, enum stmt_id id)
{
	char org[24];
	const char *params[1] = {org};
	PGresult *res;

	webhook_org_text(req, org);
	if ((res = db_exec(req->worker->db, id, 1, params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_fail(req->worker->db, 500, "the key's organisation is gone");
		return NULL;
	}
	return res;
}

/* A body that must carry no member: none, {} or errors (answered, -1). */
static int
webhook_empty_body(struct request *req)
{
	struct jval *obj;
	size_t i;

	if (req->body_len == 0)
		return 0;
	if ((obj = request_json_object(req)) == NULL)
		return -1;
	for (i = 0; i < obj->u.obj.n; i++)
		field_error_unknown(&req->errors, obj->u.obj.keys[i], obj->u.obj.keylens[i]);
	json_free(obj);
	if (req->errors.n == 0)
		return 0;
	request_fail_validation(req);
	return -1;
}

/* ---- create ---- */

/* In the create's transaction: the org's current seq (its lock held to COMMIT). */
static int
org_lock(struct request *req, char seq[24])
{
	PGresult *res = webhook_org_row(req, STMT_WEBHOOK_ORG_LOCK);

	if (res == NULL)
		return -1;
	snprintf(seq, 24, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static void
webhook_insert(struct request *req, const struct webhook_fields *w, const char *secret)
{
	char org[24], seq[24], cap[24];
	char *events = webhook_events_text(w->events);
	const char *params[8] = {org, w->url, events, w->description, w->format, secret, seq, cap};
	PGresult *res;

	webhook_org_text(req, org);
	snprintf(cap, sizeof(cap), "%d", WEBHOOKS_PER_ORG_MAX);
	if (db_begin(req->worker->db) != 0) {
		free(events);
		webhook_fail_db(req);
		return;
	}
	/* a retry with the create's Idempotency-Key gets its answer again,
	 * secret included: the same subscription, not a second one */
	if (idempotency_claim(req) == IDEMPOTENCY_ANSWERED) {
		free(events);
		return;
	}
	if (org_lock(req, seq) != 0 ||
	    (res = db_exec(req->worker->db, STMT_WEBHOOK_INSERT, 8, params)) == NULL) {
		free(events);
		webhook_fail_db(req);
		return;
	}
	free(events);
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(req->worker->db);
		request_fail(req, 409, "webhook_limit_reached",
		             "This organisation has %d webhook subscriptions, the most it may have; "
		             "delete one first", WEBHOOKS_PER_ORG_MAX);
		return;
	}
	request_header(req, "Location: %s/v1/webhooks/%s", req->worker->cfg->public_base_url,
	               PQgetvalue(res, 0, 0));
	webhook_respond(req, 201, res, 1);
	PQclear(res);
	webhook_record_commit(req);
}

void
webhook_create(struct request *req)
{
	struct jval *obj = request_json_object(req);
	struct webhook_fields w;
	char *secret;

	if (obj == NULL)
		return;
	webhook_fields_defaults(&w);
	webhook_apply_body(&w, obj, 1, req->worker->cfg->webhook_allow_private, &req->errors);
	json_free(obj);
	if (req->errors.n > 0) {
		request_fail_validation(req);
	} else if ((secret = webhook_secret_new()) == NULL) {
		log_error(req->request_id, "msg=\"no random bytes for a webhook secret\"");
		request_fail(req, 500, "internal_error", "Internal error");
	} else {
		webhook_insert(req, &w, secret);
		free(secret);
	}
	webhook_fields_free(&w);
}

/* ---- one subscription ---- */

PGresult *
webhook_row(struct request *req, enum stmt_id id, const char *extra)
{
	char org[24];
	const char *params[3] = {req->params.uuid, org, extra};
	PGresult *res;

	webhook_org_text(req, org);
	res = db_exec(req->worker->db, id, extra != NULL ? 3 : 2, params);
	if (res == NULL) {
		webhook_fail_db(req);
		return NULL;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(req->worker->db);
		webhook_not_found(req);
		return NULL;
	}
	return res;
}

/* A transaction, and in it the request's Idempotency-Key claimed (a retry
 * is answered from its record): 0, or -1 after answering. */
static int
webhook_begin(struct request *req)
{
	if (db_begin(req->worker->db) != 0) {
		webhook_fail_db(req);
		return -1;
	}
	return idempotency_claim(req) == IDEMPOTENCY_ANSWERED ? -1 : 0;
}

void
webhook_record_commit(struct request *req)
{
	if (idempotency_record(req) != 0 || db_commit(req->worker->db) != 0) {
		request_clear_headers(req);
		webhook_fail_db(req);
	}
}

PGresult *
webhook_lock(struct request *req)
{
	if (webhook_begin(req) != 0)
		return NULL;
	return webhook_row(req, STMT_WEBHOOK_GET_FOR_UPDATE, NULL);
}

void
webhook_commit_respond(struct request *req, PGresult *res)
{
	if (res == NULL || PQntuples(res) != 1) {
		if (res != NULL)
			db_fail(req->worker->db, 500, "the locked subscription is gone");
		PQclear(res);
		webhook_fail_db(req);
		return;
	}
	webhook_respond(req, 200, res, 0);
	PQclear(res);
	webhook_record_commit(req);
}

void
webhook_get(struct request *req)
{
	PGresult *res = webhook_row(req, STMT_WEBHOOK_GET, NULL);

	if (res == NULL)
		return;
	webhook_respond(req, 200, res, 0);
	PQclear(res);
}

void
webhook_delete(struct request *req)
{
	PGresult *res;

	if (webhook_begin(req) != 0 || (res = webhook_row(req, STMT_WEBHOOK_DELETE, NULL)) == NULL)
		return;
	PQclear(res);
	request_respond(req, 204, NULL, NULL, 0);
	webhook_record_commit(req);
}

void
webhook_rotate_secret(struct request *req)
{
	char *secret;
	PGresult *res;

	if (webhook_empty_body(req) != 0)
		return;
	if ((secret = webhook_secret_new()) == NULL) {
		log_error(req->request_id, "msg=\"no random bytes for a webhook secret\"");
		request_fail(req, 500, "internal_error", "Internal error");
		return;
	}
	/* a retry with the rotation's Idempotency-Key is shown the same new
	 * secret, rather than rotating again */
	if (webhook_begin(req) != 0) {
		free(secret);
		return;
	}
	res = webhook_row(req, STMT_WEBHOOK_ROTATE, secret);
	free(secret);
	if (res == NULL)
		return;
	webhook_respond(req, 200, res, 1);
	PQclear(res);
	webhook_record_commit(req);
}

/* ---- PATCH ---- */

/* Writes next over the locked row cur (unless nothing changed) and answers. */
static void
webhook_store(struct request *req, PGresult *cur, const struct webhook_fields *next)
{
	struct webhook_fields was;
	char org[24], *events;
	const char *params[7];
	PGresult *res;
	int same;

	webhook_fields_from_row(&was, cur, 0);
	same = webhook_fields_equal(&was, next);
	webhook_fields_free(&was);
	if (same) { /* a no-op: no write, no notice to incidentd-hooks */
		db_rollback(req->worker->db);
		webhook_respond(req, 200, cur, 0);
		return;
	}
	webhook_org_text(req, org);
	events = webhook_events_text(next->events);
	params[0] = req->params.uuid;
	params[1] = org;
	params[2] = next->url;
	params[3] = events;
	params[4] = next->description;
	params[5] = next->format;
	params[6] = next->enabled ? "true" : "false";
	res = db_exec(req->worker->db, STMT_WEBHOOK_UPDATE, 7, params);
	free(events);
	webhook_commit_respond(req, res);
}

void
webhook_update(struct request *req)
{
	struct jval *obj = request_json_object(req);
	struct webhook_fields next;
	PGresult *cur;

	if (obj == NULL)
		return;
	if ((cur = webhook_lock(req)) == NULL) {
		json_free(obj);
		return;
	}
	webhook_fields_from_row(&next, cur, 0);
	webhook_apply_body(&next, obj, 0, req->worker->cfg->webhook_allow_private, &req->errors);
	json_free(obj);
	if (req->errors.n > 0) {
		db_rollback(req->worker->db);
		request_fail_validation(req);
	} else {
		webhook_store(req, cur, &next);
	}
	webhook_fields_free(&next);
	PQclear(cur);
}

/* ---- the keyset lists, newest first ---- */

int
webhook_list_query(struct request *req, enum cursor_kind kind, struct list_query *q)
{
	list_query_parse(q, req->query, LP_AFTER, NULL, WEBHOOKS_DEFAULT_LIMIT, WEBHOOKS_MAX_LIMIT,
	                 &req->errors);
	list_cursor_expect(q, kind, &req->errors);
	if (req->errors.n == 0)
		return 0;
	request_fail_validation(req);
	return -1;
}

void
webhook_list_page(struct request *req, const struct webhook_list *l, const struct list_query *q,
                  const char *const *prefix, int nprefix)
{
	const struct list_cursor *after = &q->after;
	char pos[24], lim[24];
	const char *params[4];
	char *next = NULL;
	int n = 0, i, shown;
	PGresult *res;
	yajl_gen g;

	for (i = 0; i < nprefix && i < 2; i++)
		params[n++] = prefix[i];
	snprintf(pos, sizeof(pos), "%lld", (long long)after->id);
	if (after->kind != CURSOR_NONE)
		params[n++] = pos;
	/* one row more than the page: whether another page follows */
	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit + 1);
	params[n++] = lim;
	res = db_exec(req->worker->db, after->kind != CURSOR_NONE ? l->after : l->first, n, params);
	if (res == NULL) {
		webhook_fail_db(req);
		return;
	}
	shown = PQntuples(res) > q->limit ? (int)q->limit : PQntuples(res);
	if (PQntuples(res) > q->limit) {
		struct list_cursor c = {l->kind, 0, 0};

		c.id = strtoll(PQgetvalue(res, shown - 1, l->position_column), NULL, 10);
		if ((next = list_cursor_encode(&c)) == NULL) {
			PQclear(res);
			request_fail(req, 500, "internal_error", "Internal error");
			return;
		}
	}
	g = json_gen_new();
	webhook_page_render(g, l->member, res, shown, l->render, q->limit, next);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
	free(next);
	PQclear(res);
}

static void
webhook_list_row(yajl_gen g, const PGresult *res, int row)
{
	webhook_render(g, res, row, 0);
}

static const struct webhook_list subscriptions = {
	STMT_WEBHOOK_LIST, STMT_WEBHOOK_LIST_AFTER, CURSOR_WEBHOOKS, WEBHOOK_COL_ORDINAL, "webhooks",
	webhook_list_row,
};

void
webhook_list(struct request *req)
{
	struct list_query q;
	char org[24];
	const char *prefix[1] = {org};

	if (webhook_list_query(req, CURSOR_WEBHOOKS, &q) == 0) {
		webhook_org_text(req, org);
		webhook_list_page(req, &subscriptions, &q, prefix, 1);
	}
	list_query_free(&q);
}
