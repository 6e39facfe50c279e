/* sse_http.c — the stream routes: /v1/incidents/stream and
 * /v1/tickets/stream (an API key of role read or higher, checked here: the
 * proxy is not trusted) and /incidents/status/:token/stream (public).
 * Errors use the same envelope as the API. */
#include "sse.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static const char sql_incident_by_token[] =
    "SELECT id, org_id FROM incidents WHERE customer_token = $1";

void
sse_send_error(struct evhttp_request *req, const char *request_id, int status,
               const char *code, const char *parameter, const char *message)
{
	struct errors e;
	struct evbuffer *b = evbuffer_new();
	char *body;
	size_t len;

	log_info(request_id, "msg=\"sse stream refused\" status=%d code=%s", status, code);
	memset(&e, 0, sizeof(e));
	errors_add(&e, code, parameter != NULL ? "parameter" : NULL, parameter, "%s", message);
	body = errors_render(&e, status, request_id, NULL, &len);
	errors_clear(&e);
	if (b == NULL)
		fatal("out of memory allocating a buffer");
	evbuffer_add(b, body, len);
	free(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	if (status == 429) /* a limit: streams end and free slots all the time */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "10");
	evhttp_send_reply(req, status, NULL, b); /* NULL: libevent's reason phrase */
	evbuffer_free(b);
}

static const char *
presented_key(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);

	return auth_presented_key(evhttp_find_header(h, "x-api-key"),
	                          evhttp_find_header(h, "Authorization"));
}

static void
key_checked(void *arg, PGresult *res)
{
	struct sse_client *c = arg;
	enum role role;
	int64_t key_id;

	if (c->closed) {
		sse_client_unref(c);
		return;
	}
	if (res == NULL) {
		stream_status_count(STREAM_DROPPED_DATABASE);
		sse_client_fail(c, 503, "database_unavailable", "The database is unavailable; retry");
	} else if (PQntuples(res) != 1 || role_parse(PQgetvalue(res, 0, 2), &role) != 0) {
		sse_client_fail(c, 401, "invalid_api_key", "The API key is not valid or was revoked");
	} else if (role < ROLE_READ) {
		sse_client_fail(c, 403, "insufficient_role", "This needs an API key with the read role");
	} else if (sse_keys_streams(key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10)) >=
	         sse.cfg->max_streams_per_key) {
		stream_status_count(STREAM_DROPPED_LIMIT);
		sse_client_fail(c, 429, "too_many_streams",
		                "This API key holds as many streams as it may (max_streams_per_key)");
	} else {
		c->key_id = key_id;
		sse_keys_add(key_id, 1);
		sse_org_attach(strtoll(PQgetvalue(res, 0, 1), NULL, 10), c);
	}
	sse_client_unref(c);
}

static void
token_checked(void *arg, PGresult *res)
{
	struct sse_client *c = arg;

	if (c->closed) {
		sse_client_unref(c);
		return;
	}
	if (res == NULL) {
		stream_status_count(STREAM_DROPPED_DATABASE);
		sse_client_fail(c, 503, "database_unavailable", "The database is unavailable; retry");
	} else if (PQntuples(res) != 1) {
		sse_client_fail(c, 404, "not_found", "No incident has this status page");
	} else {
		c->incident_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		sse_org_attach(strtoll(PQgetvalue(res, 0, 1), NULL, 10), c);
	}
	sse_client_unref(c);
}

static void
open_stream(struct evhttp_request *req, const char *rid, const char *path, int64_t from)
{
	char token[80], hash[65];
	const char *key, *params[1];
	struct sse_client *c;

	if (strcmp(path, "/v1/incidents/stream") == 0 || strcmp(path, "/v1/tickets/stream") == 0) {
		key = presented_key(req);
		if (key == NULL) {
			sse_send_error(req, rid, 401, "missing_authorization_material", NULL,
			               "No authorization material provided in request");
			return;
		}
		if (strlen(key) > 256 || sha256_hex(key, strlen(key), hash) != 0) {
			sse_send_error(req, rid, 401, "invalid_api_key", NULL, "The API key is not valid");
			return;
		}
		c = sse_client_new(req, rid, from);
		c->refs++;
		params[0] = hash;
		sse_pg_query(sse.pg, AUTH_KEY_SQL, 1, params, key_checked, c);
		return;
	}
	if (!sse_url_public_token(path, token, sizeof(token))) {
		sse_send_error(req, rid, 404, "not_found", NULL, "There is nothing at this path");
		return;
	}
	c = sse_client_new(req, rid, from);
	c->refs++;
	params[0] = token;
	sse_pg_query(sse.pg, sql_incident_by_token, 1, params, token_checked, c);
}

static void
route(struct evhttp_request *req, const char *rid)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	int64_t from;

	if (path == NULL) {
		sse_send_error(req, rid, 400, "invalid_request", NULL, "The request line is malformed");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		sse_send_error(req, rid, 405, "method_not_allowed", NULL, "Streams are read with GET");
		return;
	}
	from = sse_url_last_event_id(
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID"),
	    evhttp_uri_get_query(uri));
	if (from == -2) {
		sse_send_error(req, rid, 400, "invalid_last_event_id", "last_event_id",
		               "Last-Event-ID must be a decimal event id");
		return;
	}
	if (sse.stopping) {
		sse_send_error(req, rid, 503, "shutting_down", NULL,
		               "This server is shutting down; retry on another");
		return;
	}
	if (sse.nclients >= (size_t)sse.cfg->max_connections) {
		stream_status_count(STREAM_DROPPED_LIMIT);
		sse_send_error(req, rid, 429, "too_many_streams", NULL,
		               "This server holds as many streams as it may (max_connections)");
		return;
	}
	open_stream(req, rid, path, from);
}

void
sse_http_request(struct evhttp_request *req, void *arg)
{
	const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
	char *own = NULL;

	(void)arg;
	if (rid == NULL || *rid == '\0' || strlen(rid) > 64)
		rid = own = random_token(16);
	route(req, rid != NULL ? rid : "-");
	free(own);
}
