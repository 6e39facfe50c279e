/* incident.c — the incident routes: create, get, update (PATCH/PUT), delete.
 * Each write runs in one transaction that ends with its event row; the event
 * is published after COMMIT. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 18 /* 144 random bits, 24 URL-safe characters */
#define NWRITE_PARAMS 22

/* Text parameters for INCIDENT_WRITE_SET ($1..$22); free with write_params_free. */
struct write_params {
	char *v[NWRITE_PARAMS];
	const char *p[NWRITE_PARAMS + 2];
};

static char *
time_param(int64_t t)
{
	return t == TIME_NONE ? NULL : xprintf("%lld", (long long)t);
}

static char *
num_param(struct optnum n)
{
	return n.set ? xprintf("%.17g", n.v) : NULL;
}

static char *
dup_param(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
write_params_fill(struct write_params *wp, const struct incident *inc)
{
	int i;

	wp->v[0] = dup_param(inc->title);
	wp->v[1] = dup_param(inc->description);
	wp->v[2] = dup_param(inc->status);
	wp->v[3] = dup_param(inc->priority);
	wp->v[4] = dup_param(inc->severity);
	wp->v[5] = dup_param(inc->source);
	wp->v[6] = dup_param(inc->source_ref);
	wp->v[7] = num_param(inc->lat);
	wp->v[8] = num_param(inc->lng);
	wp->v[9] = dup_param(inc->location_name);
	wp->v[10] = dup_param(inc->impact_description);
	wp->v[11] = dup_param(inc->assigned_to);
	wp->v[12] = strlist_json(&inc->tags);
	wp->v[13] = strlist_json(&inc->affected_services);
	wp->v[14] = time_param(inc->sla_due_at);
	wp->v[15] = dup_param(inc->customer_token);
	wp->v[16] = time_param(inc->started_at);
	wp->v[17] = time_param(inc->acknowledged_at);
	wp->v[18] = time_param(inc->resolved_at);
	wp->v[19] = dup_param(inc->created_by);
	wp->v[20] = time_param(inc->created_at);
	wp->v[21] = time_param(inc->updated_at);
	for (i = 0; i < NWRITE_PARAMS; i++)
		wp->p[i] = wp->v[i];
}

static void
write_params_free(struct write_params *wp)
{
	int i;

	for (i = 0; i < NWRITE_PARAMS; i++)
		free(wp->v[i]);
}

/* Loads the request's incident (:id) within its org.  Returns 0 when found;
 * otherwise the request has been answered (404 or a database error). */
static int
incident_load(struct request *req, enum stmt_id stmt, struct incident *inc)
{
	char id[24], org[24];
	const char *params[2] = {id, org};
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%lld", (long long)req->params.id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	res = db_exec(req->worker->db, stmt, 2, params);
	if (res == NULL) {
		request_fail_db(req);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(req->worker->db);
		/* another org's incident answers exactly like a missing one */
		request_fail(req, 404, "not_found", "No incident with id %lld",
		             (long long)req->params.id);
		return -1;
	}
	rc = incident_from_row(inc, res, 0);
	PQclear(res);
	if (rc != 0) {
		db_rollback(req->worker->db);
		request_fail(req, 500, "internal_error", "Internal error");
		log_error(req->request_id, "msg=\"unreadable incident row\" id=%lld",
		          (long long)req->params.id);
	}
	return rc;
}

static void
respond_incident(struct request *req, int status, const struct incident *inc)
{
	yajl_gen g = json_gen_new();

	incident_render(g, inc, req->now, req->worker->cfg);
	request_respond_json(req, status, g);
	yajl_gen_free(g);
}

/* Commits and publishes the event appended last; answers on failure. */
static int
commit_and_publish(struct request *req, struct event *ev)
{
	if (db_commit(req->worker->db) != 0) {
		event_discard(ev);
		request_fail_db(req);
		return -1;
	}
	event_publish(req, ev);
	return 0;
}

static char *
payload_incident(const struct incident *inc, int64_t now, const struct config *cfg)
{
	yajl_gen g = json_gen_new();
	char *out;

	yajl_gen_map_open(g);
	jgen_key(g, "incident");
	incident_render(g, inc, now, cfg);
	yajl_gen_map_close(g);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

static int
incident_insert(struct request *req, struct incident *inc)
{
	struct write_params wp;
	char org[24];
	PGresult *res;

	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	write_params_fill(&wp, inc);
	wp.p[NWRITE_PARAMS] = org;
	res = db_exec(req->worker->db, STMT_INCIDENT_INSERT, NWRITE_PARAMS + 1, wp.p);
	write_params_free(&wp);
	if (res == NULL)
		return -1;
	inc->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Validates a create body into inc; 0 when valid, else errors are collected. */
static int
incident_build(struct request *req, const struct jval *body, struct incident *inc)
{
	struct incident_input in = {0, NULL, 0};

	incident_init_defaults(inc);
	incident_apply_body(inc, &in, body, 0, &req->errors);
	if (!(in.given & FIELD_BIT(F_TITLE)))
		field_error(&req->errors, "is_required", "title", "title is required");
	inc->org_id = req->auth.org_id;
	inc->created_at = inc->updated_at = req->now;
	if (inc->started_at == TIME_NONE)
		inc->started_at = req->now;
	incident_apply_lifecycle(inc, NULL, &in, req->now, req->worker->cfg, &req->errors);
	free(in.message);
	return req->errors.n > 0 ? -1 : 0;
}

void
incident_create(struct request *req)
{
	struct jval *body = request_json_object(req);
	struct incident inc;
	struct event ev = {0};

	if (body == NULL)
		return;
	if (incident_build(req, body, &inc) != 0) {
		request_fail_validation(req);
		goto done;
	}
	inc.customer_token = random_token(TOKEN_BYTES);
	inc.created_by = xstrdup(req->auth.key_name);
	if (inc.customer_token == NULL) {
		request_fail(req, 500, "internal_error", "Internal error");
		log_error(req->request_id, "msg=\"no random bytes for a token\"");
		goto done;
	}
	if (db_begin(req->worker->db) != 0 || incident_insert(req, &inc) != 0 ||
	    event_append(req, "incident.created", inc.id,
	                 payload_incident(&inc, req->now, req->worker->cfg), &ev) != 0) {
		event_discard(&ev);
		request_fail_db(req);
		goto done;
	}
	if (commit_and_publish(req, &ev) != 0)
		goto done;
	request_header(req, "Location: %s/v1/%s/%lld", req->worker->cfg->public_base_url,
	               req->params.coll, (long long)inc.id);
	respond_incident(req, 201, &inc);
done:
	incident_free(&inc);
	json_free(body);
}

void
incident_get(struct request *req)
{
	struct incident inc;

	if (incident_load(req, STMT_INCIDENT_GET, &inc) != 0)
		return;
	respond_incident(req, 200, &inc);
	incident_free(&inc);
}

static int
incident_store(struct request *req, const struct incident *inc)
{
	struct write_params wp;
	char id[24], org[24];
	PGresult *res;

	snprintf(id, sizeof(id), "%lld", (long long)inc->id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	write_params_fill(&wp, inc);
	wp.p[NWRITE_PARAMS] = id;
	wp.p[NWRITE_PARAMS + 1] = org;
	res = db_exec(req->worker->db, STMT_INCIDENT_UPDATE, NWRITE_PARAMS + 2, wp.p);
	write_params_free(&wp);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Appends the timeline entry of a PATCH; returns the reply row or NULL. */
static PGresult *
timeline_append(struct request *req, const struct incident *inc, const char *status,
                const char *message)
{
	char id[24], org[24], at[24];
	const char *params[7] = {id, org, message, "false", status, req->auth.key_name, at};

	snprintf(id, sizeof(id), "%lld", (long long)inc->id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(at, sizeof(at), "%lld", (long long)req->now);
	return db_exec(req->worker->db, STMT_REPLY_INSERT, 7, params);
}

static char *
payload_update(struct request *req, const struct incident *old, const struct incident *inc,
               const PGresult *entry)
{
	yajl_gen g = json_gen_new();
	char *out;

	yajl_gen_map_open(g);
	jgen_key(g, "incident");
	incident_render(g, inc, req->now, req->worker->cfg);
	jgen_key(g, "changes");
	incident_render_changes(g, old, inc);
	if (entry != NULL) {
		jgen_key(g, "reply");
		reply_render(g, entry, 0);
	}
	yajl_gen_map_close(g);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

/* Writes the merged incident, its timeline entry and its event. */
static int
incident_update_write(struct request *req, const struct incident *old, struct incident *inc,
                      const struct incident_input *in, struct event *ev)
{
	int status_changed = strcmp(old->status, inc->status) != 0;
	PGresult *entry = NULL;
	int rc;

	inc->updated_at = req->now > old->updated_at ? req->now : old->updated_at;
	if (incident_store(req, inc) != 0)
		return -1;
	if (status_changed || in->message != NULL) {
		entry = timeline_append(req, inc, status_changed ? inc->status : NULL, in->message);
		if (entry == NULL)
			return -1;
	}
	rc = event_append(req, "incident.updated", inc->id, payload_update(req, old, inc, entry), ev);
	PQclear(entry);
	return rc;
}

/* Field rules checked before the lookup, so a bad body is 422 whether or not
 * the incident exists; rules spanning fields need the stored incident. */
static int
incident_body_invalid(struct request *req, const struct jval *body)
{
	struct incident_input in = {0, NULL, 0};
	struct incident scratch;

	incident_init_defaults(&scratch);
	incident_apply_body(&scratch, &in, body, 1, &req->errors);
	incident_free(&scratch);
	free(in.message);
	return req->errors.n > 0;
}

void
incident_update(struct request *req)
{
	struct jval *body = request_json_object(req);
	struct incident_input in = {0, NULL, 0};
	struct incident old, inc;
	struct event ev = {0};

	if (body == NULL)
		return;
	if (incident_body_invalid(req, body)) {
		request_fail_validation(req);
		json_free(body);
		return;
	}
	if (db_begin(req->worker->db) != 0) {
		request_fail_db(req);
		json_free(body);
		return;
	}
	if (incident_load(req, STMT_INCIDENT_GET_FOR_UPDATE, &old) != 0) {
		json_free(body);
		return;
	}
	incident_copy(&inc, &old);
	incident_apply_body(&inc, &in, body, 1, &req->errors);
	incident_apply_lifecycle(&inc, &old, &in, req->now, req->worker->cfg, &req->errors);
	if (req->errors.n > 0) {
		db_rollback(req->worker->db);
		request_fail_validation(req);
	} else if (!incident_differs(&old, &inc) && in.message == NULL) {
		/* a no-op writes nothing and emits nothing */
		db_rollback(req->worker->db);
		respond_incident(req, 200, &old);
	} else if (incident_update_write(req, &old, &inc, &in, &ev) != 0) {
		event_discard(&ev);
		request_fail_db(req);
	} else if (commit_and_publish(req, &ev) == 0) {
		respond_incident(req, 200, &inc);
	}
	free(in.message);
	incident_free(&old);
	incident_free(&inc);
	json_free(body);
}

void
incident_delete(struct request *req)
{
	char id[24], org[24];
	const char *params[2] = {id, org};
	struct event ev = {0};
	PGresult *res;
	int found;

	snprintf(id, sizeof(id), "%lld", (long long)req->params.id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	if (db_begin(req->worker->db) != 0 ||
	    (res = db_exec(req->worker->db, STMT_INCIDENT_DELETE, 2, params)) == NULL) {
		request_fail_db(req);
		return;
	}
	found = PQntuples(res) == 1;
	PQclear(res);
	if (!found) {
		db_rollback(req->worker->db);
		request_fail(req, 404, "not_found", "No incident with id %s", id);
		return;
	}
	if (event_append(req, "incident.deleted", req->params.id,
	                 xprintf("{\"incident_id\":%s}", id), &ev) != 0) {
		event_discard(&ev);
		request_fail_db(req);
		return;
	}
	if (commit_and_publish(req, &ev) == 0)
		request_respond(req, 204, NULL, NULL, 0);
}
