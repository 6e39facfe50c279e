/* incident.c — the incident routes of every dialect: create, get, update
 * (PATCH/PUT, and Statly's timeline update), delete.  The route's dialect
 * names the fields and shapes the answer; the rules are the same for all.
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

static int
message_blank(const char *message)
{
	size_t len;

	text_trim(message, strlen(message), &len);
	return len == 0;
}

static void
replace_str(char **slot, const char *value)
{
	free(*slot);
	*slot = xstrdup(value);
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

/* The statement naming the request's incident and its parameters: $1 its
 * number, or its UUID in the statement's _BY_UUID twin; $2 the org. */
struct ref_params {
	enum stmt_id stmt;
	char id[24], org[24];
	const char *p[2];
};

static const struct {
	enum stmt_id by_number, by_uuid;
} ref_statements[] = {
	{STMT_INCIDENT_GET, STMT_INCIDENT_GET_BY_UUID},
	{STMT_INCIDENT_GET_FOR_UPDATE, STMT_INCIDENT_GET_FOR_UPDATE_BY_UUID},
	{STMT_INCIDENT_DELETE, STMT_INCIDENT_DELETE_BY_UUID},
};

static void
ref_params_fill(struct ref_params *rp, const struct request *req, enum stmt_id by_number)
{
	size_t i;

	rp->stmt = by_number;
	snprintf(rp->id, sizeof(rp->id), "%lld", (long long)req->params.id);
	snprintf(rp->org, sizeof(rp->org), "%lld", (long long)req->auth.org_id);
	rp->p[0] = rp->id;
	rp->p[1] = rp->org;
	if (req->params.uuid[0] == '\0')
		return;
	rp->p[0] = req->params.uuid;
	for (i = 0; i < sizeof(ref_statements) / sizeof(ref_statements[0]); i++)
		if (ref_statements[i].by_number == by_number)
			rp->stmt = ref_statements[i].by_uuid;
}

static void
fail_not_found(struct request *req)
{
	/* another org's incident answers exactly like a missing one */
	request_fail(req, 404, "not_found", "No incident %s", req->params.ref);
}

/* Loads the request's incident (:ref) within its org.  Returns 0 when found;
 * otherwise the request has been answered (404 or a database error). */
static int
incident_load(struct request *req, enum stmt_id stmt, struct incident *inc)
{
	struct ref_params rp;
	PGresult *res;
	int rc;

	ref_params_fill(&rp, req, stmt);
	res = db_exec(req->worker->db, rp.stmt, 2, rp.p);
	if (res == NULL) {
		request_fail_db(req);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		db_rollback(req->worker->db);
		fail_not_found(req);
		return -1;
	}
	rc = incident_from_row(inc, res, 0);
	PQclear(res);
	if (rc != 0) {
		db_rollback(req->worker->db);
		request_fail(req, 500, "internal_error", "Internal error");
		log_error(req->request_id, "msg=\"unreadable incident row\" ref=%s", req->params.ref);
	}
	return rc;
}

/* The newest public timeline entries of one incident, for a dialect that
 * shows them (res NULL for one that does not); 0, or -1 on a db error. */
static int
updates_fetch(struct request *req, const struct incident *inc, struct updates_page *u)
{
	const struct dialect *d = req->route->dialect;
	char ids[32], org[24], limit[24];
	const char *params[3] = {ids, org, limit};

	u->res = NULL;
	if (d->updates_per_incident == 0)
		return 0;
	snprintf(ids, sizeof(ids), "{%lld}", (long long)inc->id);
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(limit, sizeof(limit), "%d", d->updates_per_incident);
	u->res = db_exec(req->worker->db, STMT_UPDATES_OF, 3, params);
	return u->res != NULL ? 0 : -1;
}

/* Answers with inc in the route's dialect (and its Location, when the
 * write says so); frees updates. */
static void
respond_incident(struct request *req, int status, const struct incident *inc,
                 struct updates_page *updates, int location)
{
	const struct dialect *d = req->route->dialect;
	yajl_gen g = json_gen_new();
	char *etag = dialect_etag(d, inc, req->now);

	request_header(req, "ETag: %s", etag);
	free(etag);
	if (location) {
		char *ref = dialect_ref(d, inc);

		request_header(req, "Location: %s%.*s/%s", req->worker->cfg->public_base_url,
		               (int)route_collection_len(req->route, req->path), req->path, ref);
		free(ref);
	}
	if (d->data_member != NULL) {
		yajl_gen_map_open(g);
		jgen_key(g, d->data_member);
	}
	dialect_render(g, d, inc, updates, req->now, req->worker->cfg);
	if (d->data_member != NULL)
		yajl_gen_map_close(g);
	request_respond_json(req, status, g);
	yajl_gen_free(g);
	if (updates != NULL) {
		PQclear(updates->res);
		updates->res = NULL;
	}
}

/* incident.created: the incident, and the first timeline entry of a
 * dialect that writes one (entry NULL otherwise). */
static char *
payload_incident(const struct incident *inc, const PGresult *entry, int64_t now,
                 const struct config *cfg)
{
	yajl_gen g = json_gen_new();
	char *out;

	yajl_gen_map_open(g);
	jgen_key(g, "incident");
	incident_render(g, inc, now, cfg);
	if (entry != NULL) {
		jgen_key(g, "reply");
		reply_render(g, entry, 0);
	}
	yajl_gen_map_close(g);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

/* Inserts inc: 1 when inserted, 0 when an active incident of the org
 * already holds its (source, source_ref) — the partial unique index decides,
 * so concurrent creates cannot both insert — and -1 on a db error. */
static int
incident_insert(struct request *req, struct incident *inc)
{
	struct write_params wp;
	char org[24];
	PGresult *res;
	int inserted;

	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	write_params_fill(&wp, inc);
	wp.p[NWRITE_PARAMS] = org;
	res = db_exec(req->worker->db, STMT_INCIDENT_INSERT, NWRITE_PARAMS + 1, wp.p);
	write_params_free(&wp);
	if (res == NULL)
		return -1;
	inserted = PQntuples(res) == 1;
	if (inserted) {
		inc->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(inc->uuid, sizeof(inc->uuid), "%s", PQgetvalue(res, 0, 1));
		inc->version = 1;
	}
	PQclear(res);
	return inserted;
}

/* The active incident holding inc's (source, source_ref), into inc: 1 when
 * found, 0 when it was resolved since the insert saw it, -1 on a db error. */
static int
incident_load_duplicate(struct request *req, struct incident *inc)
{
	char org[24];
	const char *params[3] = {org, inc->source, inc->source_ref};
	struct incident found;
	PGresult *res;
	int rc;

	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	res = db_exec(req->worker->db, STMT_INCIDENT_ACTIVE_BY_SOURCE_REF, 3, params);
	if (res == NULL)
		return -1;
	rc = PQntuples(res) == 1 ? (incident_from_row(&found, res, 0) == 0 ? 1 : -1) : 0;
	PQclear(res);
	if (rc == 1) {
		incident_free(inc);
		*inc = found;
	}
	return rc;
}

/* Validates a create body into inc, starting from the dialect's defaults;
 * 0 when valid, else errors are collected. */
static int
incident_build(struct request *req, const struct jval *body, struct incident *inc)
{
	const struct dialect *d = req->route->dialect;
	struct incident_input in = {0, NULL, 0};

	incident_init_defaults(inc);
	if (d->default_status != NULL)
		replace_str(&inc->status, d->default_status);
	if (d->default_severity != NULL)
		replace_str(&inc->severity, d->default_severity);
	incident_apply_body(inc, &in, body, d, &d->create, &req->errors);
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

static PGresult *timeline_append(struct request *req, const struct incident *inc,
                                 const char *status, const char *message);

/* The incident's row, the first timeline entry of a dialect that writes one
 * (message: the description, else the title), and incident.created.  0
 * when created; 1 when an active incident with the same source_ref answers
 * instead (inc is now that one; nothing written, no event); -1 on a db
 * error. */
static int
incident_create_write(struct request *req, struct incident *inc, struct event *ev)
{
	const struct dialect *d = req->route->dialect;
	PGresult *entry = NULL;
	int attempt, inserted = 0, rc;

	/* a duplicate resolved between the insert and the lookup frees the
	 * source_ref: insert again */
	for (attempt = 0; attempt < 3 && inserted == 0; attempt++) {
		if ((inserted = incident_insert(req, inc)) != 0)
			break;
		if ((rc = incident_load_duplicate(req, inc)) != 0)
			return rc;
	}
	if (inserted != 1)
		return -1;
	if (d->first_update_on_create &&
	    (entry = timeline_append(req, inc, inc->status,
	                             inc->description != NULL ? inc->description : inc->title)) ==
	        NULL)
		return -1;
	rc = event_append(req, "incident.created", inc->id,
	                  payload_incident(inc, entry, req->now, req->worker->cfg), ev);
	PQclear(entry);
	return rc;
}

/* BEGIN and the Idempotency-Key's claim: 0 to go on with the write, -1 when
 * the request has been answered (a replay, a refusal or a db error). */
static int
write_begin(struct request *req)
{
	if (db_begin(req->worker->db) != 0) {
		request_fail_db(req);
		return -1;
	}
	return idempotency_claim(req) == IDEMPOTENCY_ANSWERED ? -1 : 0;
}

void
incident_create(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	struct jval *body = request_json_object(req);
	struct updates_page updates = {NULL};
	struct incident inc;
	struct event ev = {0};
	int rc;

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
	if (write_begin(req) != 0)
		goto done;
	if ((rc = incident_create_write(req, &inc, &ev)) < 0 ||
	    updates_fetch(req, &inc, &updates) != 0) {
		event_discard(&ev);
		request_fail_db(req);
		goto done;
	}
	/* a duplicate by source_ref is 200: that incident, where it lives */
	respond_incident(req, rc == 1 ? 200 : d->create.status, &inc, &updates, d->create.location);
	event_commit(req, &ev);
done:
	incident_free(&inc);
	json_free(body);
}

/* Answers with inc; a dialect that shows the timeline reads it first. */
static void
respond_read(struct request *req, int status, const struct incident *inc, int location)
{
	struct updates_page updates;

	if (updates_fetch(req, inc, &updates) != 0) {
		request_fail_db(req);
		return;
	}
	respond_incident(req, status, inc, &updates, location);
}

void
incident_get(struct request *req)
{
	struct incident inc;
	char *etag;

	if (incident_load(req, STMT_INCIDENT_GET, &inc) != 0)
		return;
	etag = dialect_etag(req->route->dialect, &inc, req->now);
	if (!precondition_not_modified(req, etag))
		respond_read(req, 200, &inc, 0);
	free(etag);
	incident_free(&inc);
}

/* 0 when If-Match (if any) names the stored incident's ETag; else 412. */
static int
incident_if_match(struct request *req, const struct incident *stored)
{
	char *etag = dialect_etag(req->route->dialect, stored, req->now);
	int rc = precondition_if_match(req, etag);

	free(etag);
	return rc;
}

/* Writes inc over the stored row; inc->version becomes the new version. */
static int
incident_store(struct request *req, struct incident *inc)
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
	if (PQntuples(res) == 1)
		inc->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
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
incident_body_invalid(struct request *req, const struct jval *body, const struct dialect_write *w)
{
	struct incident_input in = {0, NULL, 0};
	struct incident scratch;

	incident_init_defaults(&scratch);
	incident_apply_body(&scratch, &in, body, req->route->dialect, w, &req->errors);
	if (w->message != MESSAGE_OPTIONAL && in.message != NULL && message_blank(in.message))
		field_error(&req->errors, "is_required", "message", "message must not be blank");
	else if (w->message == MESSAGE_REQUIRED && in.message == NULL &&
	         !errors_about(&req->errors, "message"))
		field_error(&req->errors, "is_required", "message", "message is required");
	incident_free(&scratch);
	free(in.message);
	return req->errors.n > 0;
}

/* A status a dialect writes with the word the stored one already has is no
 * change: an in_progress incident sent "investigating" stays in_progress. */
static void
keep_status_of_same_word(const struct dialect *d, const struct incident *old,
                         struct incident *inc)
{
	if (d->status_words != NULL && strcmp(old->status, inc->status) != 0 &&
	    strcmp(dialect_status_word(d, old->status), dialect_status_word(d, inc->status)) == 0)
		replace_str(&inc->status, old->status);
}

/* The merged incident: the body, the dialect's status rules, the lifecycle. */
static void
incident_merge(struct request *req, const struct dialect_write *w, const struct jval *body,
               const struct incident *old, struct incident *inc, struct incident_input *in)
{
	const struct dialect *d = req->route->dialect;

	incident_copy(inc, old);
	incident_apply_body(inc, in, body, d, w, &req->errors);
	keep_status_of_same_word(d, old, inc);
	if (w->message == MESSAGE_ON_STATUS_CHANGE && in->message == NULL &&
	    strcmp(old->status, inc->status) != 0)
		field_error(&req->errors, "is_required", "message",
		            "message is required when the status changes");
	incident_apply_lifecycle(inc, old, in, req->now, req->worker->cfg, &req->errors);
}

/* PATCH/PUT, and a dialect's timeline update: one write w of the route's
 * dialect onto the stored incident, which If-Match (if any) must name. */
static void
incident_modify(struct request *req, const struct dialect_write *w)
{
	struct jval *body = request_json_object(req);
	struct incident_input in = {0, NULL, 0};
	struct updates_page updates = {NULL};
	struct incident old, inc;
	struct event ev = {0};

	if (body == NULL)
		return;
	if (incident_body_invalid(req, body, w)) {
		request_fail_validation(req);
		json_free(body);
		return;
	}
	if (write_begin(req) != 0 || incident_load(req, STMT_INCIDENT_GET_FOR_UPDATE, &old) != 0) {
		json_free(body);
		return;
	}
	if (incident_if_match(req, &old) != 0) {
		incident_free(&old);
		json_free(body);
		return;
	}
	incident_merge(req, w, body, &old, &inc, &in);
	if (req->errors.n > 0) {
		db_rollback(req->worker->db);
		request_fail_validation(req);
	} else if (!incident_differs(&old, &inc) && in.message == NULL) {
		/* a no-op writes nothing and emits nothing */
		db_rollback(req->worker->db);
		respond_read(req, w->status, &old, w->location);
	} else if (incident_update_write(req, &old, &inc, &in, &ev) != 0 ||
	           updates_fetch(req, &inc, &updates) != 0) {
		event_discard(&ev);
		request_fail_db(req);
	} else {
		respond_incident(req, w->status, &inc, &updates, w->location);
		event_commit(req, &ev);
	}
	free(in.message);
	incident_free(&old);
	incident_free(&inc);
	json_free(body);
}

void
incident_update(struct request *req)
{
	incident_modify(req, &req->route->dialect->update);
}

void
incident_add_update(struct request *req)
{
	incident_modify(req, &req->route->dialect->add_update);
}

/* A dialect that answers a delete with a body says so: {"data": null}. */
static void
respond_deleted(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	yajl_gen g;

	if (d->delete_status == 204) {
		request_respond(req, 204, NULL, NULL, 0);
		return;
	}
	g = json_gen_new();
	yajl_gen_map_open(g);
	jgen_key(g, d->data_member);
	jgen_null(g);
	yajl_gen_map_close(g);
	request_respond_json(req, d->delete_status, g);
	yajl_gen_free(g);
}

/* With If-Match, the stored incident is locked and compared first: for a
 * delete, and for a reply (a change of the incident too). */
int
incident_precondition(struct request *req)
{
	struct incident stored;
	int rc;

	if (request_param(req, "HTTP_IF_MATCH") == NULL)
		return 0;
	if (incident_load(req, STMT_INCIDENT_GET_FOR_UPDATE, &stored) != 0)
		return -1;
	rc = incident_if_match(req, &stored);
	incident_free(&stored);
	return rc;
}

void
incident_delete(struct request *req)
{
	struct ref_params rp;
	struct event ev = {0};
	PGresult *res;
	int64_t id = 0;

	if (write_begin(req) != 0 || incident_precondition(req) != 0)
		return;
	ref_params_fill(&rp, req, STMT_INCIDENT_DELETE);
	if ((res = db_exec(req->worker->db, rp.stmt, 2, rp.p)) == NULL) {
		request_fail_db(req);
		return;
	}
	if (PQntuples(res) == 1)
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (id == 0) {
		db_rollback(req->worker->db);
		fail_not_found(req);
		return;
	}
	if (event_append(req, "incident.deleted", id, xprintf("{\"incident_id\":%lld}", (long long)id),
	                 &ev) != 0) {
		event_discard(&ev);
		request_fail_db(req);
		return;
	}
	respond_deleted(req);
	event_commit(req, &ev);
}
