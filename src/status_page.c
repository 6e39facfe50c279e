/* status_page.c — the public page a customer follows without a key: only
 * title, status, updated_at and the public timeline, as HTML or JSON.  The
 * HTML follows the incident live: status.js opens the public stream from the
 * event seq the page was rendered at, so nothing between the two is missed. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A time as the page shows it without JavaScript: UTC, to the minute.
 * status.js turns it into the reader's local time and "12 minutes ago". */
static struct buf *
html_time(struct buf *b, const char *id, const char *epoch)
{
	time_t t = (time_t)strtoll(epoch, NULL, 10);
	char iso[TIME_TEXT_LEN], text[64];
	struct tm tm;

	time_format((int64_t)t, iso);
	if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof(text), "%d %b %Y, %H:%M UTC", &tm) == 0)
		snprintf(text, sizeof(text), "%s", iso);
	if (id != NULL)
		b = buf_printf(b, "<time id=\"%s\" datetime=\"%s\">%s</time>", id, iso, text);
	else
		b = buf_printf(b, "<time datetime=\"%s\">%s</time>", iso, text);
	return buf_puts(b, " <span class=\"ago\"></span>");
}

/* <span class="status" data-status="in_progress">In progress</span> */
static struct buf *
html_status(struct buf *b, const char *id, const char *status)
{
	b = buf_puts(b, id != NULL ? "<span id=\"status\" class=\"status\" data-status=\""
	                           : "<span class=\"status\" data-status=\"");
	b = buf_html_escape(b, status);
	b = buf_puts(b, "\">");
	b = buf_html_escape(b, status_word(status));
	return buf_puts(b, "</span>");
}

/* What status.js needs to word a status and know a resolved one, from the
 * same tables the server uses: data-words and data-resolved on <main>. */
static struct buf *
html_status_data(struct buf *b)
{
	const char *sep = "{";
	int i;

	b = buf_puts(b, " data-words=\"");
	for (i = 0; incident_statuses[i] != NULL; i++, sep = ",")
		b = buf_printf(b, "%s&quot;%s&quot;:&quot;%s&quot;", sep, incident_statuses[i],
		               status_word(incident_statuses[i]));
	b = buf_puts(b, "}\" data-resolved=\"");
	for (i = 0, sep = ""; incident_statuses[i] != NULL; i++)
		if (status_is_resolved(incident_statuses[i])) {
			b = buf_printf(b, "%s%s", sep, incident_statuses[i]);
			sep = " ";
		}
	return buf_puts(b, "\"");
}

static struct buf *
html_head(struct buf *b, const char *token, const char *title, const char *org)
{
	b = buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	                "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	                "<meta name=\"color-scheme\" content=\"light dark\">\n<title>");
	b = buf_html_escape(b, title);
	b = buf_puts(b, " \xe2\x80\x94 ");
	b = buf_html_escape(b, org);
	b = buf_puts(b, "</title>\n"
	                "<link rel=\"icon\" href=\"/incidents/favicon.svg\" type=\"image/svg+xml\">\n"
	                "<link rel=\"stylesheet\" href=\"/incidents/status.css\">\n"
	                "<link rel=\"alternate\" type=\"application/atom+xml\" "
	                "title=\"Updates to this incident (Atom)\" href=\"/incidents/status/");
	b = buf_html_escape(b, token);
	return buf_puts(b, "/feed.atom\">\n"
	                   "<script src=\"/incidents/status.js\" defer></script>\n</head>\n");
}

/* The organisation, the live indicator (status.js shows it once the stream
 * has a state), the title, the state and the resolved banner. */
static struct buf *
html_summary(struct buf *b, const char *token, const PGresult *inc)
{
	const char *status = PQgetvalue(inc, 0, 2);

	b = buf_puts(b, "<body><div class=\"page\">\n<header class=\"site\"><p id=\"org\" class=\"org\">");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 5));
	b = buf_puts(b, "</p><p id=\"live\" class=\"live\" hidden></p></header>\n"
	                "<main id=\"incident\" data-stream=\"/incidents/status/");
	b = buf_html_escape(b, token);
	b = buf_puts(b, "/stream\" data-seq=\"");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 4));
	b = buf_puts(b, "\" data-status=\"");
	b = buf_html_escape(b, status);
	b = buf_puts(b, "\"");
	b = html_status_data(b);
	b = buf_puts(b, ">\n<h1 id=\"title\">");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 1));
	b = buf_puts(b, "</h1>\n<p class=\"state\">");
	b = html_status(b, "status", status);
	b = buf_puts(b, " <span class=\"updated\">Updated ");
	b = html_time(b, "updated", PQgetvalue(inc, 0, 3));
	b = buf_puts(b, "</span></p>\n<p id=\"resolved-banner\" class=\"banner\"");
	if (!status_is_resolved(status))
		b = buf_puts(b, " hidden");
	return buf_puts(b, ">This incident has been resolved</p>\n");
}

/* The public updates, newest first as the statement reads them, each with
 * the incident's status when it was written. */
static struct buf *
html_timeline(struct buf *b, const struct status_rows *rows)
{
	const PGresult *replies = rows->entries;
	int i, n = PQntuples(replies);

	b = buf_puts(b, "<section aria-labelledby=\"updates-heading\">"
	                "<h2 id=\"updates-heading\">Updates</h2>\n"
	                "<ol id=\"timeline\" class=\"timeline\">\n");
	for (i = 0; i < n; i++) {
		/* the feed's entry ids point here: #update-<n>, n counted from the oldest */
		b = buf_printf(b, "<li id=\"update-%lld\" data-status=\"", (long long)(rows->total - i));
		b = buf_html_escape(b, PQgetvalue(replies, i, 3));
		b = buf_puts(b, "\"><p class=\"meta\">");
		b = html_status(b, NULL, PQgetvalue(replies, i, 3));
		b = buf_puts(b, " ");
		b = html_time(b, NULL, PQgetvalue(replies, i, 2));
		b = buf_puts(b, "</p>");
		if (!PQgetisnull(replies, i, 0)) {
			b = buf_puts(b, "<p class=\"body\">");
			b = buf_html_escape(b, PQgetvalue(replies, i, 0));
			b = buf_puts(b, "</p>");
		}
		b = buf_puts(b, "</li>\n");
	}
	b = buf_puts(b, "</ol>\n<p id=\"no-updates\" class=\"empty\"");
	if (n > 0)
		b = buf_puts(b, " hidden");
	return buf_puts(b, ">No updates yet.</p></section>\n");
}

static struct buf *
html_footer(struct buf *b, const char *token)
{
	b = buf_puts(b, "<div id=\"announce\" class=\"visually-hidden\" aria-live=\"polite\"></div>\n"
	                "</main>\n<footer><p>Follow this incident in a feed reader: "
	                "<a href=\"/incidents/status/");
	b = buf_html_escape(b, token);
	return buf_puts(b, "/feed.atom\">Atom feed</a></p></footer>\n</div></body></html>\n");
}

static void
render_html(struct request *req, const struct status_rows *rows)
{
	const char *token = req->params.token;
	struct buf *b = buf_new(8192);
	char *html;
	size_t len;

	b = html_head(b, token, PQgetvalue(rows->inc, 0, 1), PQgetvalue(rows->inc, 0, 5));
	b = html_summary(b, token, rows->inc);
	b = html_timeline(b, rows);
	b = html_footer(b, token);
	len = b->len;
	html = xstrndup(b->data, len);
	buf_free(b);
	request_respond(req, 200, "text/html; charset=utf-8", html, len);
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
		render_html(req, &rows);
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
