/* list.c — the incident lists of every dialect (GET /v1/tickets and the
 * compatibility mounts): the newest-first page, by offset or after a
 * cursor, with its total, in the dialect's envelope.  The query string is
 * list_query.c's, the cursors cursor.c's. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX_LIMIT 100
/* Columns of the list statements after INCIDENT_COLUMNS (src/db.c). */
#define COL_POSITION INCIDENT_NCOLUMNS
#define COL_TOTAL (INCIDENT_NCOLUMNS + 1)
#define COL_REMAINING (INCIDENT_NCOLUMNS + 2) /* STMT_INCIDENT_LIST_AFTER */

/* The public timeline of a page's incidents, for a dialect that lists
 * them: one query for the whole page.  0, or -1 on a db error. */
static int
list_updates(struct request *req, const PGresult *page, struct updates_page *u)
{
	const struct dialect *d = req->route->dialect;
	char org[24], limit[24];
	const char *params[3];
	struct buf *ids;
	int i;

	u->res = NULL;
	if (d->updates_per_listed == 0 || PQntuples(page) == 0)
		return 0;
	ids = buf_new(16 * (size_t)PQntuples(page) + 2);
	ids = buf_puts(ids, "{");
	for (i = 0; i < PQntuples(page); i++)
		ids = buf_printf(ids, "%s%s", i ? "," : "", PQgetvalue(page, i, 0));
	ids = buf_puts(ids, "}");
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(limit, sizeof(limit), "%d", d->updates_per_listed);
	params[0] = ids->data;
	params[1] = org;
	params[2] = limit;
	u->res = db_exec(req->worker->db, STMT_UPDATES_OF, 3, params);
	buf_free(ids);
	return u->res != NULL ? 0 : -1;
}

/* Renders every row; -1 (logged with the request id) when one cannot be
 * decoded: a page silently shorter than its rows would lie about the data. */
static int
list_render_rows(struct request *req, yajl_gen g, const PGresult *res,
                 const struct updates_page *updates)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		struct incident inc;

		if (incident_from_row(&inc, res, i) != 0) {
			log_error(req->request_id, "msg=\"unreadable incident row\" id=%s",
			          LOG_VALUE(PQgetvalue(res, i, 0)));
			return -1;
		}
		dialect_render(g, req->route->dialect, &inc, updates, req->now, req->worker->cfg);
		incident_free(&inc);
	}
	return 0;
}

void
list_page_render(yajl_gen g, const struct list_page *page, int64_t limit, int with_page)
{
	jgen_key(g, "total");
	jgen_int(g, page->total);
	jgen_key(g, "limit");
	jgen_int(g, limit);
	if (with_page) {
		jgen_key(g, "page");
		jgen_int(g, page->offset / limit + 1);
	}
	jgen_key(g, "offset");
	jgen_int(g, page->offset);
	jgen_key(g, "has_more");
	jgen_bool(g, page->has_more);
	jgen_key(g, "next_cursor");
	jgen_str(g, page->next_cursor);
}

/* The page's members after its incidents, in the dialect's form. */
static void
list_meta(yajl_gen g, enum list_form form, const struct list_query *q,
          const struct list_page *page)
{
	switch (form) {
	case LIST_V1:
		list_page_render(g, page, q->limit, 1);
		break;
	case LIST_ALERT24:
		jgen_key(g, "meta");
		yajl_gen_map_open(g);
		jgen_key(g, "total");
		jgen_int(g, page->total);
		jgen_key(g, "limit");
		jgen_int(g, q->limit);
		jgen_key(g, "offset");
		jgen_int(g, page->offset);
		jgen_key(g, "has_more");
		jgen_bool(g, page->has_more);
		yajl_gen_map_close(g);
		break;
	case LIST_STATLY:
		jgen_key(g, "count");
		jgen_int(g, page->total);
		break;
	}
}

static const char *const list_members[] = {
	[LIST_V1] = "tickets", [LIST_ALERT24] = "data", [LIST_STATLY] = "incidents"};

static void
list_respond(struct request *req, const PGresult *res, const struct list_query *q,
             const struct list_page *page, const struct updates_page *updates)
{
	enum list_form form = req->route->dialect->list;
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	jgen_key(g, list_members[form]);
	yajl_gen_array_open(g);
	if (list_render_rows(req, g, res, updates) != 0) {
		yajl_gen_free(g);
		request_fail(req, 500, "internal_error", "Internal error");
		return;
	}
	yajl_gen_array_close(g);
	list_meta(g, form, q, page);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

/* The page at q's offset: its rows carry the total. */
static PGresult *
list_by_offset(struct request *req, const struct list_query *q, const char **params,
               struct list_page *page)
{
	char lim[24], off[24];
	PGresult *res;

	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit);
	snprintf(off, sizeof(off), "%lld", (long long)q->offset);
	params[7] = lim;
	params[8] = off;
	res = db_exec(req->worker->db, STMT_INCIDENT_LIST, 9, params);
	if (res == NULL || db_page_total(req->worker->db, res, COL_TOTAL, STMT_INCIDENT_COUNT, 7,
	                                 params, &page->total) != 0) {
		PQclear(res);
		return NULL;
	}
	page->offset = q->offset;
	page->has_more = q->offset + PQntuples(res) < page->total;
	return res;
}

/* The page after q's cursor: its rows carry the total and how many rows
 * follow the cursor, which place the page (offset) without counting the
 * rows before it. */
static PGresult *
list_by_cursor(struct request *req, const struct list_query *q, const char **params,
               struct list_page *page)
{
	char at[24], id[24], lim[24];
	int64_t remaining = 0;
	PGresult *res;

	snprintf(at, sizeof(at), "%lld", (long long)q->after.at_us);
	snprintf(id, sizeof(id), "%lld", (long long)q->after.id);
	snprintf(lim, sizeof(lim), "%lld", (long long)q->limit);
	params[7] = at;
	params[8] = id;
	params[9] = lim;
	res = db_exec(req->worker->db, STMT_INCIDENT_LIST_AFTER, 10, params);
	if (res == NULL || db_page_total(req->worker->db, res, COL_TOTAL, STMT_INCIDENT_COUNT, 7,
	                                 params, &page->total) != 0) {
		PQclear(res);
		return NULL;
	}
	if (PQntuples(res) > 0)
		remaining = strtoll(PQgetvalue(res, 0, COL_REMAINING), NULL, 10);
	page->offset = page->total - remaining;
	page->has_more = remaining > PQntuples(res);
	return res;
}

/* next_cursor: the last row's position, while rows follow it; -1 if it
 * cannot be made. */
static int
list_next_cursor(const PGresult *res, struct list_page *page)
{
	int last = PQntuples(res) - 1;
	struct list_cursor c = {CURSOR_INCIDENTS, 0, 0};

	if (!page->has_more || last < 0)
		return 0;
	c.at_us = strtoll(PQgetvalue(res, last, COL_POSITION), NULL, 10);
	c.id = strtoll(PQgetvalue(res, last, 0), NULL, 10);
	page->next_cursor = list_cursor_encode(&c);
	return page->next_cursor != NULL ? 0 : -1;
}

void
incident_list(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	struct updates_page updates = {NULL};
	struct list_page page = {0, 0, 0, NULL};
	struct list_query q;
	char org[24];
	const char *params[10];
	PGresult *res;

	list_query_parse(&q, req->query, d->list_params, d->status_words, d->list_default_limit,
	                 LIST_MAX_LIMIT, &req->errors);
	list_cursor_expect(&q, CURSOR_INCIDENTS, &req->errors);
	if (req->errors.n > 0) {
		request_fail_validation(req);
		list_query_free(&q);
		return;
	}
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	params[0] = org;
	params[1] = q.status;
	params[2] = q.priority;
	params[3] = q.severity;
	params[4] = q.source;
	params[5] = q.tag;
	params[6] = q.q;
	res = q.after.kind != CURSOR_NONE ? list_by_cursor(req, &q, params, &page)
	                                  : list_by_offset(req, &q, params, &page);
	if (res == NULL || list_updates(req, res, &updates) != 0)
		request_fail_db(req);
	else if (list_next_cursor(res, &page) != 0)
		request_fail(req, 500, "internal_error", "Internal error");
	else
		list_respond(req, res, &q, &page, &updates);
	free(page.next_cursor);
	PQclear(updates.res);
	PQclear(res);
	list_query_free(&q);
}
