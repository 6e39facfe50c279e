/* status_page.c — the public page a customer follows without a key: only
 * title, status, updated_at and the public timeline, as HTML (status_html.c)
 * or JSON; the rows it and its feed are made of; its own files.  The HTML
 * follows the incident live: status.js opens the public stream from the
 * event seq the page was rendered at, so nothing between the two is missed. */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_PAGE_CSP                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "        \
	"img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

/* The page's own files (src/status.css, src/status.js, src/favicon.svg),
 * compiled in by make (Makefile.am) so a binary serves what it was built with. */
extern const unsigned char status_css[], status_js[], favicon_svg[];
extern const size_t status_css_len, status_js_len, favicon_svg_len;

static void
security_headers(struct request *req)
{
	request_header(req, "Cache-Control: no-store");
	request_header(req, "Content-Security-Policy: %s", STATUS_PAGE_CSP);
	request_header(req, "X-Content-Type-Options: nosniff");
	request_header(req, "Referrer-Policy: no-referrer");
	request_header(req, "X-Robots-Tag: noindex"); /* the token is a secret */
}

static int
wants_json(const struct request *req)
{
	const char *accept = request_param(req, "HTTP_ACCEPT");

	return accept != NULL && strstr(accept, "application/json") != NULL;
}

static void
render_json(struct request *req, const PGresult *inc, const PGresult *replies)
{
	yajl_gen g = json_gen_new();
	int i;

	yajl_gen_map_open(g);
	jgen_key(g, "title");
	jgen_str(g, PQgetvalue(inc, 0, 1));
	jgen_key(g, "status");
	jgen_str(g, PQgetvalue(inc, 0, 2));
	jgen_key(g, "updated_at");
	jgen_time(g, strtoll(PQgetvalue(inc, 0, 3), NULL, 10));
	jgen_key(g, "replies");
	yajl_gen_array_open(g);
	/* the statement reads newest first; DESIGN §6 lists oldest first */
	for (i = PQntuples(replies) - 1; i >= 0; i--) {
		yajl_gen_map_open(g);
		jgen_key(g, "body");
		jgen_str(g, PQgetisnull(replies, i, 0) ? NULL : PQgetvalue(replies, i, 0));
		jgen_key(g, "status");
		jgen_str(g, PQgetisnull(replies, i, 1) ? NULL : PQgetvalue(replies, i, 1));
		jgen_key(g, "created_at");
		jgen_time(g, strtoll(PQgetvalue(replies, i, 2), NULL, 10));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

void
status_rows_free(struct status_rows *rows)
{
	PQclear(rows->inc);
	PQclear(rows->entries);
}

/* The public entries counted, when the page's statement stopped at its LIMIT:
 * entries are numbered from the oldest (the page's anchors, the feed's ids). */
static int
status_rows_count(struct request *req, struct status_rows *rows)
{
	const char *by_id[1] = {PQgetvalue(rows->inc, 0, 0)};
	PGresult *res;
	int rc;

	rows->total = PQntuples(rows->entries);
	if (rows->total < STATUS_REPLIES_MAX)
		return 0;
	res = db_exec(req->worker->db, STMT_STATUS_PUBLIC_COUNT, 1, by_id);
	if (res == NULL)
		return -1;
	rc = parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX, &rows->total);
	PQclear(res);
	return rc;
}

/* One snapshot: the page shows exactly the events up to its data-seq. */
int
status_rows_load(struct request *req, struct status_rows *rows)
{
	const char *by_token[1] = {req->params.token};
	const char *by_id[1];

	memset(rows, 0, sizeof(*rows));
	if (db_begin_snapshot(req->worker->db) != 0 ||
	    (rows->inc = db_exec(req->worker->db, STMT_STATUS_BY_TOKEN, 1, by_token)) == NULL) {
		request_fail_db(req);
		return -1;
	}
	if (PQntuples(rows->inc) != 1) {
		status_rows_free(rows);
		db_rollback(req->worker->db);
		request_fail(req, 404, "not_found", "No incident has this status page");
		return -1;
	}
	by_id[0] = PQgetvalue(rows->inc, 0, 0);
	rows->entries = db_exec(req->worker->db, STMT_STATUS_REPLIES, 1, by_id);
	if (rows->entries == NULL || status_rows_count(req, rows) != 0) {
		status_rows_free(rows);
		request_fail_db(req);
		return -1;
	}
	db_rollback(req->worker->db); /* read-only: nothing to commit */
	return 0;
}

void
status_page(struct request *req)
{
	struct status_rows rows;

	if (status_rows_load(req, &rows) != 0)
		return;
	security_headers(req);
	if (wants_json(req))
		render_json(req, rows.inc, rows.entries);
	else
		status_page_html(req, &rows);
	status_rows_free(&rows);
}

/* The page's own files: cacheable, never sniffed. */
static void
serve_asset(struct request *req, const char *content_type, const unsigned char *body,
            size_t len)
{
	request_header(req, "Cache-Control: public, max-age=3600");
	request_header(req, "X-Content-Type-Options: nosniff");
	request_respond(req, 200, content_type, xstrndup((const char *)body, len), len);
}

void
status_page_css(struct request *req)
{
	serve_asset(req, "text/css; charset=utf-8", status_css, status_css_len);
}

void
status_page_js(struct request *req)
{
	serve_asset(req, "text/javascript; charset=utf-8", status_js, status_js_len);
}

void
status_page_favicon(struct request *req)
{
	serve_asset(req, "image/svg+xml", favicon_svg, favicon_svg_len);
}
