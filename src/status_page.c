/* status_page.c — the public page a customer follows without a key: only
 * title, status, updated_at and the public timeline, as HTML or JSON.  The
 * HTML follows the incident live: status.js opens the public stream from the
 * event seq the page was rendered at, so nothing between the two is missed. */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_PAGE_CSP                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "        \
	"img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

static const char status_css[] =
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d2330;background:#fff}\n"
    "h1{font-size:1.5rem;margin-bottom:.25rem}\n"
    ".status{display:inline-block;padding:.15rem .6rem;border-radius:1rem;background:#e8edf5;"
    "font-weight:600}\n"
    ".status.resolved,.status.postmortem,.status.closed{background:#dcf5e3}\n"
    ".updated{color:#5b6472;font-size:.9rem}\n"
    "ol.timeline{list-style:none;padding:0}\n"
    "ol.timeline li{border-left:3px solid #c9d2e0;padding:.25rem 0 .75rem 1rem}\n"
    "time{color:#5b6472;font-size:.85rem}\n";

/* Served as a file: the CSP allows no inline script.  textContent only, so
 * nothing from an event is ever parsed as HTML. */
static const char status_js[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var main = document.getElementById('incident');\n"
    "  if (!main || !window.EventSource) return;\n"
    "  var url = main.getAttribute('data-stream') +\n"
    "    '?last_event_id=' + encodeURIComponent(main.getAttribute('data-seq'));\n"
    "  var stream = new EventSource(url);\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text != null) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "  function stamp(node, when) {\n"
    "    node.setAttribute('datetime', when);\n"
    "    node.textContent = when;\n"
    "  }\n"
    "  function addEntry(reply) {\n"
    "    var li = el('li');\n"
    "    var t = el('time');\n"
    "    stamp(t, reply.created_at);\n"
    "    li.appendChild(t);\n"
    "    if (reply.status) {\n"
    "      li.appendChild(document.createTextNode(' '));\n"
    "      li.appendChild(el('span', 'status', reply.status));\n"
    "    }\n"
    "    if (reply.body) li.appendChild(el('p', null, reply.body));\n"
    "    document.getElementById('timeline').appendChild(li);\n"
    "  }\n"
    "  stream.addEventListener('incident.updated', function (e) {\n"
    "    var d = JSON.parse(e.data);\n"
    "    document.getElementById('title').textContent = d.title;\n"
    "    document.title = d.title;\n"
    "    var s = document.getElementById('status');\n"
    "    s.textContent = d.status;\n"
    "    s.className = 'status ' + d.status;\n"
    "    stamp(document.getElementById('updated'), d.updated_at);\n"
    "    if (d.reply) addEntry(d.reply);\n"
    "  });\n"
    "  stream.addEventListener('incident.reply', function (e) {\n"
    "    addEntry(JSON.parse(e.data).reply);\n"
    "  });\n"
    "  stream.addEventListener('incident.deleted', function () {\n"
    "    document.getElementById('status').textContent = 'removed';\n"
    "    stream.close();\n"
    "  });\n"
    "  /* the log no longer reaches back to this page: load it afresh */\n"
    "  stream.addEventListener('stream.reset', function () {\n"
    "    stream.close();\n"
    "    window.location.reload();\n"
    "  });\n"
    "})();\n";

static void
security_headers(struct request *req)
{
	request_header(req, "Cache-Control: no-store");
	request_header(req, "Content-Security-Policy: %s", STATUS_PAGE_CSP);
	request_header(req, "X-Content-Type-Options: nosniff");
	request_header(req, "Referrer-Policy: no-referrer");
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

static struct buf *
html_time(struct buf *b, const char *id, const char *epoch)
{
	char t[TIME_TEXT_LEN];

	time_format(strtoll(epoch, NULL, 10), t);
	if (id != NULL)
		return buf_printf(b, "<time id=\"%s\" datetime=\"%s\">%s</time>", id, t, t);
	return buf_printf(b, "<time datetime=\"%s\">%s</time>", t, t);
}

static void
render_html(struct request *req, const PGresult *inc, const PGresult *replies)
{
	struct buf *b = buf_new(4096);
	const char *status = PQgetvalue(inc, 0, 2);
	char *html;
	size_t len;
	int i;

	b = buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	                "<title>");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 1));
	b = buf_puts(b, "</title><link rel=\"stylesheet\" href=\"/incidents/status.css\">"
	                "<script src=\"/incidents/status.js\" defer></script></head>\n"
	                "<body><main id=\"incident\" data-stream=\"/incidents/status/");
	b = buf_html_escape(b, req->params.token);
	b = buf_puts(b, "/stream\" data-seq=\"");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 4));
	b = buf_puts(b, "\"><h1 id=\"title\">");
	b = buf_html_escape(b, PQgetvalue(inc, 0, 1));
	b = buf_puts(b, "</h1>\n<p>Status: <span id=\"status\" class=\"status ");
	b = buf_html_escape(b, status);
	b = buf_puts(b, "\">");
	b = buf_html_escape(b, status);
	b = buf_puts(b, "</span></p>\n<p class=\"updated\">Last updated ");
	b = html_time(b, "updated", PQgetvalue(inc, 0, 3));
	b = buf_puts(b, "</p>\n<h2>Updates</h2>\n<ol id=\"timeline\" class=\"timeline\">\n");
	for (i = 0; i < PQntuples(replies); i++) {
		b = buf_puts(b, "<li>");
		b = html_time(b, NULL, PQgetvalue(replies, i, 2));
		if (!PQgetisnull(replies, i, 1)) {
			b = buf_puts(b, " <span class=\"status\">");
			b = buf_html_escape(b, PQgetvalue(replies, i, 1));
			b = buf_puts(b, "</span>");
		}
		if (!PQgetisnull(replies, i, 0)) {
			b = buf_puts(b, "<p>");
			b = buf_html_escape(b, PQgetvalue(replies, i, 0));
			b = buf_puts(b, "</p>");
		}
		b = buf_puts(b, "</li>\n");
	}
	b = buf_puts(b, "</ol></main></body></html>\n");
	len = b->len;
	html = xstrndup(b->data, len);
	buf_free(b);
	request_respond(req, 200, "text/html; charset=utf-8", html, len);
}

void
status_page(struct request *req)
{
	const char *by_token[1] = {req->params.token};
	const char *by_id[1];
	PGresult *inc, *replies;

	/* one snapshot: the page shows exactly the events up to its data-seq */
	if (db_begin_snapshot(req->worker->db) != 0 ||
	    (inc = db_exec(req->worker->db, STMT_STATUS_BY_TOKEN, 1, by_token)) == NULL) {
		request_fail_db(req);
		return;
	}
	if (PQntuples(inc) != 1) {
		PQclear(inc);
		db_rollback(req->worker->db);
		request_fail(req, 404, "not_found", "No incident has this status page");
		return;
	}
	by_id[0] = PQgetvalue(inc, 0, 0);
	replies = db_exec(req->worker->db, STMT_STATUS_REPLIES, 1, by_id);
	if (replies == NULL) {
		PQclear(inc);
		request_fail_db(req);
		return;
	}
	db_rollback(req->worker->db); /* read-only: nothing to commit */
	security_headers(req);
	if (wants_json(req))
		render_json(req, inc, replies);
	else
		render_html(req, inc, replies);
	PQclear(replies);
	PQclear(inc);
}

/* The page's own files: cacheable, never sniffed. */
static void
serve_asset(struct request *req, const char *content_type, const char *body, size_t len)
{
	request_header(req, "Cache-Control: public, max-age=3600");
	request_header(req, "X-Content-Type-Options: nosniff");
	request_respond(req, 200, content_type, xstrndup(body, len), len);
}

void
status_page_css(struct request *req)
{
	serve_asset(req, "text/css; charset=utf-8", status_css, sizeof(status_css) - 1);
}

void
status_page_js(struct request *req)
{
	serve_asset(req, "text/javascript; charset=utf-8", status_js, sizeof(status_js) - 1);
}
