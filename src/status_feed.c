/* status_feed.c — GET /incidents/status/:token/feed.atom: the public status
 * page as an Atom 1.0 feed (RFC 4287), so a customer can follow an incident
 * in a feed reader without keeping the page open.  It holds what the page
 * holds and nothing else (DESIGN §6): title, status, updated_at and the
 * public timeline, newest first, as the page shows it.
 *
 * Ids are permanent and name no database row: the feed's is the page's URL,
 * an entry's is that URL with #update-<n>, n its place counted from the
 * oldest public entry.  Timeline entries are append-only (no route edits,
 * hides or deletes one; they go only with their incident, and its token with
 * it) and are numbered under the incident's row lock (db.c, REPLY_INSERT),
 * so an entry keeps its n for good.
 *
 * The token is a secret: no shared cache may keep the feed and no search
 * engine index it; a reader revalidates with the ETag, a SHA-256 of the
 * body, and gets 304 while nothing changed. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATOM_CONTENT_TYPE "application/atom+xml; charset=utf-8"

static int64_t
column_time(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* <name>text</name> on a line of its own. */
static struct buf *
xml_element(struct buf *b, const char *indent, const char *name, const char *text)
{
	b = buf_printf(b, "%s<%s>", indent, name);
	b = buf_xml_escape(b, text);
	return buf_printf(b, "</%s>\n", name);
}

static struct buf *
xml_time(struct buf *b, const char *indent, const char *name, int64_t t)
{
	char text[TIME_TEXT_LEN];

	time_format(t, text);
	return xml_element(b, indent, name, text);
}

/* <link rel=".." type=".." href="url[suffix]"/> */
static struct buf *
xml_link(struct buf *b, const char *indent, const char *rel, const char *type, const char *url,
         const char *suffix)
{
	b = buf_printf(b, "%s<link rel=\"%s\" type=\"%s\" href=\"", indent, rel, type);
	b = buf_xml_escape(b, url);
	b = buf_xml_escape(b, suffix);
	return buf_puts(b, "\"/>\n");
}

/* An entry without a message says what it changed. */
static struct buf *
entry_content(struct buf *b, const PGresult *res, int row)
{
	b = buf_puts(b, "    <content type=\"text\">");
	if (!PQgetisnull(res, row, 0)) {
		b = buf_xml_escape(b, PQgetvalue(res, row, 0));
	} else if (!PQgetisnull(res, row, 1)) {
		b = buf_puts(b, "Status changed to ");
		b = buf_xml_escape(b, status_word(PQgetvalue(res, row, 1)));
	} else {
		b = buf_puts(b, "Status: ");
		b = buf_xml_escape(b, status_word(PQgetvalue(res, row, 3)));
	}
	return buf_puts(b, "</content>\n");
}

/* Row `row` (newest first) as the entry numbered n from the oldest. */
static struct buf *
feed_entry(struct buf *b, const char *page, const PGresult *res, int row, int64_t n)
{
	int64_t at = column_time(res, row, 2);

	b = buf_puts(b, "  <entry>\n    <id>");
	b = buf_xml_escape(b, page);
	b = buf_printf(b, "#update-%lld</id>\n", (long long)n);
	b = xml_element(b, "    ", "title", status_word(PQgetvalue(res, row, 3)));
	b = xml_time(b, "    ", "updated", at);
	b = xml_time(b, "    ", "published", at);
	b = xml_link(b, "    ", "alternate", "text/html", page, "");
	b = entry_content(b, res, row);
	return buf_puts(b, "  </entry>\n");
}

/* The feed's head: what the page says of the incident and who publishes it. */
static struct buf *
feed_head(struct buf *b, const char *page, const struct status_rows *rows)
{
	const PGresult *inc = rows->inc;
	const char *org = PQgetvalue(inc, 0, 5);
	int64_t updated = column_time(inc, 0, 3);

	/* a reply bumps updated_at too, but the feed must never date before its newest entry */
	if (PQntuples(rows->entries) > 0 && column_time(rows->entries, 0, 2) > updated)
		updated = column_time(rows->entries, 0, 2);
	b = buf_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	                "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
	b = xml_element(b, "  ", "id", page);
	b = xml_element(b, "  ", "title", PQgetvalue(inc, 0, 1));
	b = buf_puts(b, "  <subtitle>Status updates from ");
	b = buf_xml_escape(b, org);
	b = buf_puts(b, "</subtitle>\n");
	b = xml_time(b, "  ", "updated", updated);
	b = buf_puts(b, "  <author>\n");
	b = xml_element(b, "    ", "name", org);
	b = buf_puts(b, "  </author>\n");
	b = xml_link(b, "  ", "self", "application/atom+xml", page, "/feed.atom");
	b = xml_link(b, "  ", "alternate", "text/html", page, "");
	return buf_puts(b, "  <generator version=\"" PACKAGE_VERSION "\">incidentd</generator>\n");
}

/* The whole document; caller buf_free()s. */
static struct buf *
feed_render(const char *page, const struct status_rows *rows)
{
	struct buf *b = buf_new(4096);
	int i, n = PQntuples(rows->entries);

	b = feed_head(b, page, rows);
	/* newest first, as the page; row i is the (total - i)th from the oldest */
	for (i = 0; i < n; i++)
		b = feed_entry(b, page, rows->entries, i, rows->total - i);
	return buf_puts(b, "</feed>\n");
}

/* Sent with the feed and with its 304 alike. */
static void
feed_headers(struct request *req)
{
	request_header(req, "Cache-Control: private, no-cache");
	request_header(req, "X-Content-Type-Options: nosniff");
	request_header(req, "X-Robots-Tag: noindex");
	request_header(req, "Referrer-Policy: no-referrer");
}

static void
feed_respond(struct request *req, struct buf *doc)
{
	char hex[65], etag[67];

	if (sha256_hex(doc->data, doc->len, hex) != 0) {
		log_error(req->request_id, "msg=\"cannot hash the feed\"");
		request_fail(req, 500, "internal_error", "Internal error");
		return;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	feed_headers(req);
	if (precondition_not_modified(req, etag))
		return;
	request_header(req, "ETag: %s", etag);
	request_respond(req, 200, ATOM_CONTENT_TYPE, xstrndup(doc->data, doc->len), doc->len);
}

void
status_feed(struct request *req)
{
	struct status_rows rows;
	struct buf *doc;
	char *page;

	if (status_rows_load(req, &rows) != 0)
		return;
	page = xprintf("%s/incidents/status/%s", req->worker->cfg->public_base_url,
	               req->params.token);
	doc = feed_render(page, &rows);
	feed_respond(req, doc);
	buf_free(doc);
	free(page);
	status_rows_free(&rows);
}
