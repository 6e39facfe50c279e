/* status_html.c — the status page as HTML: what a customer reads, escaped,
 * with no inline script or style (the CSP allows none).  status.js brings it
 * to life: local times, the live indicator, updates as they happen. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

void
status_page_html(struct request *req, const struct status_rows *rows)
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
