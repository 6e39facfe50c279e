/* reply.c — an incident's timeline: replies (public or internal) and the
 * entries PATCH appends for status changes and messages. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_BODY_MAX_CHARS 10000
#define REPLIES_DEFAULT_LIMIT 100
#define REPLIES_MAX_LIMIT 1000

void
reply_render(yajl_gen g, const PGresult *res, int row)
{
	yajl_gen_map_open(g);
	jgen_key(g, "id");
	jgen_int(g, strtoll(PQgetvalue(res, row, 0), NULL, 10));
	jgen_key(g, "incident_id");
	jgen_int(g, strtoll(PQgetvalue(res, row, 1), NULL, 10));
	jgen_key(g, "body");
	jgen_str(g, PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2));
	jgen_key(g, "internal");
	jgen_bool(g, PQgetvalue(res, row, 3)[0] == 't');
	jgen_key(g, "status");
	jgen_str(g, PQgetisnull(res, row, 4) ? NULL : PQgetvalue(res, row, 4));
	jgen_key(g, "author");
	jgen_str(g, PQgetvalue(res, row, 5));
	jgen_key(g, "created_at");
	jgen_time(g, strtoll(PQgetvalue(res, row, 6), NULL, 10));
	yajl_gen_map_close(g);
}

void
reply_validate(const struct jval *obj, struct reply_input *in, struct errors *e)
{
	size_t i;

	for (i = 0; i < obj->u.obj.n; i++) {
		const struct jval *v = obj->u.obj.vals[i];

		if (json_key_is(obj, i, "body")) {
			in->body = v;
		} else if (json_key_is(obj, i, "internal")) {
			if (v->type == J_BOOL)
				in->internal = v->u.boolean;
			else if (v->type != J_NULL)
				field_error(e, "invalid_value", "internal", "internal must be true or false");
		} else {
			field_error_unknown(e, obj->u.obj.keys[i], obj->u.obj.keylens[i]);
		}
	}
	if (in->body == NULL || in->body->type == J_NULL) {
		field_error(e, "is_required", "body", "body is required");
		in->body = NULL;
	} else if (in->body->type != J_STRING) {
		field_error(e, "invalid_value", "body", "body must be a string");
	} else if (memchr(in->body->u.str.s, '\0', in->body->u.str.len) != NULL) {
		field_error(e, "invalid_value", "body", "body must not contain NUL characters");
	} else {
		size_t len;
		text_trim(in->body->u.str.s, in->body->u.str.len, &len);
		if (len == 0)
			field_error(e, "is_required", "body", "body must not be blank");
		else if (utf8_chars(in->body->u.str.s, in->body->u.str.len) > REPLY_BODY_MAX_CHARS)
			field_error(e, "too_long", "body", "body must be at most %d characters",
			            REPLY_BODY_MAX_CHARS);
	}
}

static char *
payload_reply(int64_t incident_id, const PGresult *res)
{
	yajl_gen g = json_gen_new();
	char *out;

	yajl_gen_map_open(g);
	jgen_key(g, "incident_id");
	jgen_int(g, incident_id);
	jgen_key(g, "reply");
	reply_render(g, res, 0);
	yajl_gen_map_close(g);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

/* Locks the incident (bumping updated_at) and inserts the reply: 0 with the
 * reply row in *out, 1 when the incident is not this org's, -1 on a db error. */
static int
reply_insert(struct request *req, const struct reply_input *in, PGresult **out)
{
	char id[24], org[24], at[24];
	const char *touch[3] = {id, org, at};
	const char *params[7] = {id, org, in->body->u.str.s, in->internal ? "true" : "false", NULL,
	                         req->auth.key_name, at};
	PGresult *res;
	int found;

	snprintf(id, sizeof(id), "%lld", (long long)req->params.id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(at, sizeof(at), "%lld", (long long)req->now);
	res = db_exec(req->worker->db, STMT_INCIDENT_TOUCH, 3, touch);
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	PQclear(res);
	if (!found)
		return 1;
	*out = db_exec(req->worker->db, STMT_REPLY_INSERT, 7, params);
	return *out != NULL ? 0 : -1;
}

static void
reply_store(struct request *req, const struct reply_input *in)
{
	struct event ev = {0};
	PGresult *res = NULL;
	yajl_gen g;
	int rc;

	if (db_begin(req->worker->db) != 0) {
		request_fail_db(req);
		return;
	}
	if (idempotency_claim(req) == IDEMPOTENCY_ANSWERED || incident_precondition(req) != 0)
		return;
	rc = reply_insert(req, in, &res);
	if (rc == 1) {
		db_rollback(req->worker->db);
		request_fail(req, 404, "not_found", "No incident with id %lld", (long long)req->params.id);
		return;
	}
	if (rc != 0 || event_append(req, "incident.reply", req->params.id,
	                            payload_reply(req->params.id, res), &ev) != 0) {
		PQclear(res);
		event_discard(&ev);
		request_fail_db(req);
		return;
	}
	g = json_gen_new();
	reply_render(g, res, 0);
	request_respond_json(req, 201, g);
	yajl_gen_free(g);
	PQclear(res);
	event_commit(req, &ev);
}

void
reply_create(struct request *req)
{
	struct jval *obj = request_json_object(req);
	struct reply_input in = {NULL, 0};

	if (obj == NULL)
		return;
	reply_validate(obj, &in, &req->errors);
	if (req->errors.n > 0)
		request_fail_validation(req);
	else
		reply_store(req, &in);
	json_free(obj);
}

/* limit (1..1000, default 100), page, offset or after; nothing else. */
static void
reply_query_parse(const char *query, struct list_query *q, struct errors *e)
{
	list_query_parse(q, query, LP_PAGE | LP_OFFSET | LP_AFTER, NULL, REPLIES_DEFAULT_LIMIT,
	                 REPLIES_MAX_LIMIT, e);
	list_cursor_expect(q, CURSOR_REPLIES, e);
}

static int
incident_exists(struct request *req, int *exists)
{
	char id[24], org[24];
	const char *params[2] = {id, org};
	PGresult *res;

	snprintf(id, sizeof(id), "%lld", (long long)req->params.id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	res = db_exec(req->worker->db, STMT_INCIDENT_EXISTS, 2, params);
	if (res == NULL)
		return -1;
	*exists = PQntuples(res) == 1;
	PQclear(res);
	return 0;
}

static void
replies_respond(struct request *req, const PGresult *res, int64_t limit,
                const struct list_page *page)
{
	yajl_gen g = json_gen_new();
	int i;

	yajl_gen_map_open(g);
	jgen_key(g, "replies");
	yajl_gen_array_open(g);
	for (i = 0; i < PQntuples(res); i++)
		reply_render(g, res, i);
	yajl_gen_array_close(g);
	list_page_render(g, page, limit, 0);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

/* The page: by offset (its rows carry the total), or after q's cursor (its
 * rows carry the total and how many rows follow the cursor).  params holds
 * the incident and org; NULL on a db error. */
static PGresult *
replies_page(struct request *req, const struct list_query *q, const char **params,
             struct list_page *page)
{
	int after = q->after.kind != CURSOR_NONE;
	char lim[24], pos[24];
	int64_t remaining = 0;
	PGresult *res;

	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit);
	snprintf(pos, sizeof(pos), "%lld", (long long)(after ? q->after.id : q->offset));
	params[2] = after ? pos : lim;
	params[3] = after ? lim : pos;
	res = db_exec(req->worker->db, after ? STMT_REPLY_LIST_AFTER : STMT_REPLY_LIST, 4, params);
	if (res == NULL ||
	    db_page_total(req->worker->db, res, 7, STMT_REPLY_COUNT, 2, params, &page->total) != 0) {
		PQclear(res);
		return NULL;
	}
	if (!after) {
		page->offset = q->offset;
		page->has_more = q->offset + PQntuples(res) < page->total;
		return res;
	}
	if (PQntuples(res) > 0)
		remaining = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
	page->offset = page->total - remaining;
	page->has_more = remaining > PQntuples(res);
	return res;
}

/* next_cursor: the last reply's id, while replies follow it. */
static int
replies_next_cursor(const PGresult *res, struct list_page *page)
{
	struct list_cursor c = {CURSOR_REPLIES, 0, 0};
	int n = PQntuples(res);

	if (!page->has_more || n == 0)
		return 0;
	c.id = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
	page->next_cursor = list_cursor_encode(&c);
	return page->next_cursor != NULL ? 0 : -1;
}

void
reply_list(struct request *req)
{
	char id[24], org[24];
	const char *params[4] = {id, org, NULL, NULL};
	struct list_page page = {0, 0, 0, NULL};
	struct list_query q;
	PGresult *res;
	int exists;

	reply_query_parse(req->query, &q, &req->errors);
	if (req->errors.n > 0) {
		request_fail_validation(req);
	} else if (incident_exists(req, &exists) != 0) {
		request_fail_db(req);
	} else if (!exists) {
		request_fail(req, 404, "not_found", "No incident with id %lld", (long long)req->params.id);
	} else {
		snprintf(id, sizeof(id), "%lld", (long long)req->params.id);
		snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
		res = replies_page(req, &q, params, &page);
		if (res == NULL)
			request_fail_db(req);
		else if (replies_next_cursor(res, &page) != 0)
			request_fail(req, 500, "internal_error", "Internal error");
		else
			replies_respond(req, res, q.limit, &page);
		PQclear(res);
	}
	free(page.next_cursor);
	list_query_free(&q);
}
