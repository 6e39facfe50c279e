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
/* org, six filters, the cap, and three of the statement's own */
#define LIST_MAX_PARAMS 11

/* A list statement's parameters (the order db_list_sql numbers them in)
 * and their text. */
struct list_params {
	unsigned shape;
	int capped;   /* the total is a count capped at cap + 1 (tag or q) */
	int64_t cap;  /* list_count_cap */
	int n;
	const char *p[LIST_MAX_PARAMS];
	char text[5][24]; /* org, cap and the statement's own numbers */
	int ntext;
};

/* A page and the rows it shows (the statements fetch one more). */
struct listed {
	struct list_page p;
	int rows;
};

/* The public timeline of a page's incidents, for a dialect that lists
 * them: one query for the whole page.  0, or -1 on a db error. */
static int
list_updates(struct request *req, const PGresult *page, int rows, struct updates_page *u)
{
	const struct dialect *d = req->route->dialect;
	char org[24], limit[24];
	const char *params[3];
	struct buf *ids;
	int i;

	u->res = NULL;
	if (d->updates_per_listed == 0 || rows == 0)
		return 0;
	ids = buf_new(16 * (size_t)rows + 2);
	ids = buf_puts(ids, "{");
	for (i = 0; i < rows; i++)
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
list_render_rows(struct request *req, yajl_gen g, const PGresult *res, int n,
                 const struct updates_page *updates)
{
	int i;

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
             const struct listed *page, const struct updates_page *updates)
{
	enum list_form form = req->route->dialect->list;
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	jgen_key(g, list_members[form]);
	yajl_gen_array_open(g);
	if (list_render_rows(req, g, res, page->rows, updates) != 0) {
		yajl_gen_free(g);
		request_fail(req, 500, "internal_error", "Internal error");
		return;
	}
	yajl_gen_array_close(g);
	list_meta(g, form, q, &page->p);
	yajl_gen_map_close(g);
	request_respond_json(req, 200, g);
	yajl_gen_free(g);
}

/* A number among the parameters. */
static void
list_param_int(struct list_params *lp, int64_t v)
{
	char *t = lp->text[lp->ntext++];

	snprintf(t, sizeof(lp->text[0]), "%lld", (long long)v);
	lp->p[lp->n++] = t;
}

/* The shape of q's filters and their parameters, the cap among them. */
static void
list_params_init(struct list_params *lp, const struct request *req, const struct list_query *q)
{
	const char *const enums[LIST_ENUM_FILTERS] = {q->status, q->priority, q->severity, q->source};
	static const unsigned pow3[LIST_ENUM_FILTERS] = {1, 3, 9, 27};
	int i;

	memset(lp, 0, sizeof(*lp));
	lp->cap = req->worker->cfg->list_count_cap;
	list_param_int(lp, req->auth.org_id);
	for (i = 0; i < LIST_ENUM_FILTERS; i++) {
		if (enums[i] == NULL)
			continue;
		lp->shape += pow3[i] * (strchr(enums[i], ',') ? LIST_FILTER_MANY : LIST_FILTER_ONE);
		lp->p[lp->n++] = enums[i];
	}
	if (q->tag != NULL) {
		lp->shape += LIST_SHAPE_TAG;
		lp->p[lp->n++] = q->tag;
	}
	if (q->q != NULL) {
		lp->shape += LIST_SHAPE_Q;
		lp->p[lp->n++] = q->q;
	}
	lp->capped = q->tag != NULL || q->q != NULL;
	if (lp->capped)
		list_param_int(lp, lp->cap + 1);
}

/* Runs a list statement with lp's parameters and the statement's own
 * numbers (nown of them); lp is left as it was. */
static PGresult *
list_run(struct request *req, struct list_params *lp, enum list_sql kind, const int64_t *own,
         int nown)
{
	int n = lp->n, ntext = lp->ntext, i;
	PGresult *res;

	for (i = 0; i < nown; i++)
		list_param_int(lp, own[i]);
	res = db_exec_list(req->worker->db, kind, lp->shape, lp->n, lp->p);
	lp->n = n;
	lp->ntext = ntext;
	return res;
}

/* The page's rows (at most limit of the limit + 1 fetched: one more says
 * whether rows follow) and the list's total: from the page's rows, or past
 * the end (no row carries it) from LIST_SQL_TOTAL.  -1 on a db error. */
static int
list_page_count(struct request *req, struct list_params *lp, const PGresult *res,
                const struct list_query *q, struct listed *page)
{
	PGresult *t = NULL;
	const PGresult *from = res;

	page->p.has_more = PQntuples(res) > q->limit;
	page->rows = page->p.has_more ? (int)q->limit : PQntuples(res);
	if (PQntuples(res) == 0) {
		if ((t = list_run(req, lp, LIST_SQL_TOTAL, NULL, 0)) == NULL)
			return -1;
		from = t;
	}
	page->p.total = strtoll(PQgetvalue(from, 0, PQntuples(res) ? COL_TOTAL : 0), NULL, 10);
	PQclear(t);
	return 0;
}

/* A capped count (tag or q) that reached cap + 1: the list holds more than
 * cap incidents, and total is the least it can be: cap + 1, or the rows up
 * to and after this page when that is more (exact on the last page). */
static void
list_capped_total(const struct list_params *lp, struct listed *page)
{
	/* past the end (no row) the count is all there is to go by */
	int64_t seen = page->rows ? page->p.offset + page->rows + (page->p.has_more ? 1 : 0) : 0;

	if (!lp->capped || page->p.total <= lp->cap)
		return;
	page->p.total = seen > lp->cap + 1 ? seen : lp->cap + 1;
}

/* The page at q's offset. */
static PGresult *
list_by_offset(struct request *req, struct list_params *lp, const struct list_query *q,
               struct listed *page)
{
	const int64_t own[] = {q->limit + 1, q->offset};
	PGresult *res = list_run(req, lp, LIST_SQL_PAGE, own, 2);

	if (res == NULL || list_page_count(req, lp, res, q, page) != 0) {
		PQclear(res);
		return NULL;
	}
	page->p.offset = q->offset;
	list_capped_total(lp, page);
	return res;
}

/* The rows before the cursor's page: what it carries, or (a cursor of the
 * first format) counted.  -1 on a db error. */
static int
list_cursor_pos(struct request *req, struct list_params *lp, const struct list_query *q,
                int64_t *pos)
{
	const int64_t own[] = {q->after.at_us, q->after.id};
	PGresult *res;

	if (q->after_pos >= 0) {
		*pos = q->after_pos;
		return 0;
	}
	if ((res = list_run(req, lp, LIST_SQL_BEFORE, own, 2)) == NULL)
		return -1;
	*pos = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* The page after q's cursor.  Nothing counts the rows before it: its
 * offset is what the cursor carries (the rows before it when the previous
 * page was served), kept within what the total allows; on the last page
 * it is total - rows, exact now. */
static PGresult *
list_by_cursor(struct request *req, struct list_params *lp, const struct list_query *q,
               struct listed *page)
{
	const int64_t own[] = {q->after.at_us, q->after.id, q->limit + 1};
	int64_t pos = 0;
	PGresult *res = list_run(req, lp, LIST_SQL_AFTER, own, 3);

	if (res == NULL || list_page_count(req, lp, res, q, page) != 0 ||
	    list_cursor_pos(req, lp, q, &pos) != 0) {
		PQclear(res);
		return NULL;
	}
	page->p.offset = pos;
	if (lp->capped && page->p.total > lp->cap) {
		list_capped_total(lp, page);
		if (!page->p.has_more)
			page->p.offset = page->p.total - page->rows;
		return res;
	}
	if (!page->p.has_more)
		page->p.offset = page->p.total - page->rows;
	else if (page->p.offset > page->p.total - page->rows - 1)
		page->p.offset = page->p.total - page->rows - 1;
	return res;
}

/* next_cursor: the last row's position and the rows before the next page,
 * while rows follow it; -1 if it cannot be made. */
static int
list_next_cursor(const PGresult *res, struct listed *page)
{
	int last = page->rows - 1;
	struct list_cursor c = {CURSOR_INCIDENTS, 0, 0};

	if (!page->p.has_more || last < 0)
		return 0;
	c.at_us = strtoll(PQgetvalue(res, last, COL_POSITION), NULL, 10);
	c.id = strtoll(PQgetvalue(res, last, 0), NULL, 10);
	page->p.next_cursor = list_cursor_encode_at(&c, page->p.offset + page->rows);
	return page->p.next_cursor != NULL ? 0 : -1;
}

void
incident_list(struct request *req)
{
	const struct dialect *d = req->route->dialect;
	struct updates_page updates = {NULL};
	struct listed page = {{0, 0, 0, NULL}, 0};
	struct list_params lp;
	struct list_query q;
	PGresult *res;

	list_query_parse(&q, req->query, d->list_params, d->status_words, d->list_default_limit,
	                 LIST_MAX_LIMIT, &req->errors);
	list_cursor_expect(&q, CURSOR_INCIDENTS, &req->errors);
	if (req->errors.n > 0) {
		request_fail_validation(req);
		list_query_free(&q);
		return;
	}
	list_params_init(&lp, req, &q);
	res = q.after.kind != CURSOR_NONE ? list_by_cursor(req, &lp, &q, &page)
	                                  : list_by_offset(req, &lp, &q, &page);
	if (res == NULL || list_updates(req, res, page.rows, &updates) != 0)
		request_fail_db(req);
	else if (list_next_cursor(res, &page) != 0)
		request_fail(req, 500, "internal_error", "Internal error");
	else
		list_respond(req, res, &q, &page, &updates);
	free(page.p.next_cursor);
	PQclear(updates.res);
	PQclear(res);
	list_query_free(&q);
}
