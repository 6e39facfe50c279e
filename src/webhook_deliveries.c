/* webhook_deliveries.c — what was sent to a subscription, and sending it
 * again: GET /v1/webhooks/:id/deliveries (the rows and runs incidentd-hooks
 * writes, one entry per event, newest first: db.c DELIVERY_PAGE) and
 * POST /v1/webhooks/:id/replay, which moves the cursor back (or on) within
 * the org's retained event log. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

static const struct webhook_list deliveries = {
	STMT_DELIVERY_LIST, STMT_DELIVERY_LIST_AFTER, CURSOR_DELIVERIES, 0, "deliveries",
	webhook_delivery_render,
};

/* Whether the request's subscription is its org's: 1, 0 after answering. */
static int
webhook_exists(struct request *req)
{
	PGresult *res = webhook_row(req, STMT_WEBHOOK_GET, NULL);
	int found = res != NULL;

	PQclear(res);
	return found;
}

void
webhook_deliveries(struct request *req)
{
	struct list_query q;
	char org[24];
	const char *prefix[2] = {req->params.uuid, org};

	webhook_org_text(req, org);
	if (webhook_list_query(req, CURSOR_DELIVERIES, &q) == 0 && webhook_exists(req))
		webhook_list_page(req, &deliveries, &q, prefix, 2);
	list_query_free(&q);
}

/* ---- replay ---- */

/* {"from_seq": N}: a whole number; 0 after collecting any error. */
static int
replay_from_seq(const struct jval *obj, int64_t *from, struct errors *e)
{
	const struct jval *v = NULL;
	size_t i;

	for (i = 0; i < obj->u.obj.n; i++) {
		if (json_key_is(obj, i, "from_seq"))
			v = obj->u.obj.vals[i];
		else
			field_error_unknown(e, obj->u.obj.keys[i], obj->u.obj.keylens[i]);
	}
	if (v == NULL || v->type == J_NULL)
		field_error(e, "is_required", "from_seq", "from_seq is required");
	else if (v->type != J_NUMBER)
		field_error(e, "invalid_value", "from_seq", "from_seq must be a whole number");
	/* in range first (NaN is not): the cast below is then defined */
	else if (!(v->u.number >= 1 && v->u.number <= (double)CURSOR_POS_MAX))
		field_error(e, "out_of_range", "from_seq", "from_seq must be between 1 and %lld",
		            (long long)CURSOR_POS_MAX);
	else if (v->u.number != (double)(int64_t)v->u.number)
		field_error(e, "invalid_value", "from_seq", "from_seq must be a whole number");
	else
		*from = (int64_t)v->u.number;
	return e->n == 0 ? 0 : -1;
}

/* The org's retained log: [oldest, current + 1]; -1 on a db error. */
static int
log_bounds(struct request *req, int64_t *oldest, int64_t *next)
{
	PGresult *res = webhook_org_row(req, STMT_WEBHOOK_LOG_BOUNDS);

	if (res == NULL)
		return -1;
	*next = strtoll(PQgetvalue(res, 0, 0), NULL, 10) + 1;
	*oldest = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

/* In the transaction, the subscription locked: checks from against the
 * log, moves the cursor, forgets the deliveries from there, answers. */
static void
replay_store(struct request *req, int64_t from)
{
	char org[24], seq[24];
	const char *params[3] = {req->params.uuid, org, seq};
	int64_t oldest, next;
	PGresult *res;

	if (log_bounds(req, &oldest, &next) != 0) {
		webhook_fail_db(req);
		return;
	}
	if (from < oldest || from > next) {
		db_rollback(req->worker->db);
		field_error(&req->errors, "out_of_range", "from_seq",
		            "from_seq must be within the retained event log: %lld to %lld",
		            (long long)oldest, (long long)next);
		request_fail_validation(req);
		return;
	}
	webhook_org_text(req, org);
	snprintf(seq, sizeof(seq), "%lld", (long long)from);
	res = db_exec(req->worker->db, STMT_WEBHOOK_REPLAY, 3, params);
	webhook_commit_respond(req, res);
}

void
webhook_replay(struct request *req)
{
	struct jval *obj = request_json_object(req);
	int64_t from = 0;
	PGresult *cur;

	if (obj == NULL)
		return;
	if (replay_from_seq(obj, &from, &req->errors) != 0) {
		json_free(obj);
		request_fail_validation(req);
		return;
	}
	json_free(obj);
	/* locked: a PATCH or another replay waits for this one */
	if ((cur = webhook_lock(req)) == NULL)
		return;
	PQclear(cur);
	replay_store(req, from);
}
