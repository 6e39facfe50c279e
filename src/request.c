/* request.c — what a handler needs from a request and the only ways it
 * answers: request_respond*, request_fail* (the error envelope). */
#include "api.h"

#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
request_param(const struct request *req, const char *name)
{
	if (req->env == NULL)
		return NULL;
	return FCGX_GetParam(name, req->env);
}

void
request_header(struct request *req, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		fatal("out of memory formatting a header");
	va_end(ap);
	if (req->headers == NULL)
		req->headers = buf_new(128);
	req->headers = buf_puts(req->headers, line);
	req->headers = buf_puts(req->headers, "\r\n");
	free(line);
}

void
request_clear_headers(struct request *req)
{
	buf_free(req->headers);
	req->headers = NULL;
}

void
request_respond(struct request *req, int status, const char *content_type, char *body,
                size_t len)
{
	free(req->out);
	free(req->content_type);
	req->status = status;
	req->content_type = content_type != NULL ? xstrdup(content_type) : NULL;
	req->out = body;
	req->out_len = len;
}

void
request_respond_json(struct request *req, int status, yajl_gen g)
{
	size_t len;
	char *body = jgen_finish(g, &len);

	request_respond(req, status, "application/json", body, len);
}

void
request_fail_extra(struct request *req, int status, const char *const *extra)
{
	size_t len;
	char *body = errors_render(&req->errors, status, req->request_id, extra, &len);

	request_respond(req, status, "application/json", body, len);
}

void
request_fail(struct request *req, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (code != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			fatal("out of memory formatting an error");
		va_end(ap);
		errors_add(&req->errors, code, NULL, NULL, "%s", msg);
		free(msg);
	}
	request_fail_extra(req, status, NULL);
}

void
request_fail_validation(struct request *req)
{
	request_fail_extra(req, 422, NULL);
}

/* Frees what one request allocated so the worker can take the next. */
void
request_reset(struct request *req)
{
	errors_clear(&req->errors);
	if (req->worker != NULL) /* the re-check must not outlive its request */
		db_after_next_result(req->worker->db, NULL, NULL);
	auth_clear(&req->auth);
	free(req->request_id);
	free(req->body);
	free(req->content_type);
	free(req->out);
	buf_free(req->headers);
	memset(req, 0, sizeof(*req));
}

/* The body as a JSON object, or NULL after answering 400. Caller json_free()s. */
struct jval *
request_json_object(struct request *req)
{
	char err[160];
	struct jval *v;

	if (req->body_len == 0) {
		request_fail(req, 400, "invalid_json", "The request body is empty; send a JSON object");
		return NULL;
	}
	v = json_parse(req->body, req->body_len, err, sizeof(err));
	if (v == NULL) {
		request_fail(req, 400, "invalid_json", "The request body is not valid JSON: %s", err);
		return NULL;
	}
	if (v->type != J_OBJECT) {
		request_fail(req, 400, "invalid_body", "The request body must be a JSON object, not %s",
		             json_type_name(v->type));
		json_free(v);
		return NULL;
	}
	return v;
}

/* Database failures become responses here, not in db.c: the database layer
 * knows statuses, the request knows how to answer. */
void
request_fail_db(struct request *req)
{
	struct db *db = req->worker->db;
	int status = db_last_status(db);

	db_rollback(db);
	if (status == 401 || status == 403) {
		auth_fail_rechecked(req, status);
		return;
	}
	log_error(req->request_id, "msg=\"database error\" status=%d error=%s", status,
	          LOG_QUOTE(db_last_error(db)));
	if (status == 503)
		request_fail(req, 503, "database_unavailable", "The database is unavailable; retry later");
	else if (status == 409 && strcmp(db_last_constraint(db), "incidents_active_source_ref") == 0)
		request_fail(req, 409, "source_ref_in_use",
		             "Another active incident of this source has this source_ref");
	else if (status == 409)
		request_fail(req, 409, "conflict", "The request conflicts with a concurrent change; retry");
	else
		request_fail(req, 500, "internal_error", "Internal error");
}

/* Test builds only (--enable-test-clock): X-Test-Now moves time per request,
 * so the suite tests SLA windows and expiry without sleeping. */
int64_t
request_now(const struct request *req)
{
#ifdef INCIDENTD_TEST_CLOCK
	const char *forced = request_param(req, "HTTP_X_TEST_NOW");
	int64_t t;

	if (forced != NULL && parse_int64(forced, 0, TIME_MAX, &t) == 0)
		return t;
#else
	(void)req;
#endif
	return clock_now();
}
