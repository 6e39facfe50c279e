/* webhook_render.c — subscriptions and their deliveries as the API shows
 * them, from rows of WEBHOOK_COLUMNS and DELIVERY_COLUMNS (api.h). */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

enum webhook_column {
	COL_ID,
	COL_URL,
	COL_EVENTS,
	COL_DESCRIPTION,
	COL_FORMAT,
	COL_ENABLED,
	COL_DISABLED_REASON,
	COL_DISABLED_AT,
	COL_CURSOR_SEQ,
	COL_CREATED_AT,
	COL_UPDATED_AT,
	COL_PREVIOUS_SECRET_UNTIL,
};

static const char *
text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t
int_at(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int64_t
time_at(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? TIME_NONE : int_at(res, row, col);
}

/* A number or null. */
static void
int_or_null(yajl_gen g, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		jgen_null(g);
	else
		jgen_int(g, int_at(res, row, col));
}

/* The stored comma list; empty (every type) is shown as ["*"]. */
static void
events_render(yajl_gen g, const char *list)
{
	yajl_gen_array_open(g);
	if (*list == '\0')
		jgen_str(g, "*");
	while (*list != '\0') {
		size_t len = strcspn(list, ",");

		yajl_gen_string(g, (const unsigned char *)list, len);
		list += len + (list[len] == ',');
	}
	yajl_gen_array_close(g);
}

void
webhook_render(yajl_gen g, const PGresult *res, int row, int with_secret)
{
	yajl_gen_map_open(g);
	jgen_key(g, "id");
	jgen_str(g, PQgetvalue(res, row, COL_ID));
	jgen_key(g, "url");
	jgen_str(g, PQgetvalue(res, row, COL_URL));
	jgen_key(g, "events");
	events_render(g, PQgetvalue(res, row, COL_EVENTS));
	jgen_key(g, "description");
	jgen_str(g, text_or_null(res, row, COL_DESCRIPTION));
	jgen_key(g, "format");
	jgen_str(g, PQgetvalue(res, row, COL_FORMAT));
	jgen_key(g, "enabled");
	jgen_bool(g, PQgetvalue(res, row, COL_ENABLED)[0] == 't');
	jgen_key(g, "disabled_reason");
	jgen_str(g, text_or_null(res, row, COL_DISABLED_REASON));
	jgen_key(g, "disabled_at");
	jgen_time(g, time_at(res, row, COL_DISABLED_AT));
	jgen_key(g, "cursor_seq");
	jgen_int(g, int_at(res, row, COL_CURSOR_SEQ));
	jgen_key(g, "created_at");
	jgen_time(g, time_at(res, row, COL_CREATED_AT));
	jgen_key(g, "updated_at");
	jgen_time(g, time_at(res, row, COL_UPDATED_AT));
	jgen_key(g, "previous_secret_expires_at");
	jgen_time(g, time_at(res, row, COL_PREVIOUS_SECRET_UNTIL));
	if (with_secret) {
		jgen_key(g, "secret");
		jgen_str(g, PQgetvalue(res, row, WEBHOOK_NCOLUMNS));
	}
	yajl_gen_map_close(g);
}

void
webhook_fields_from_row(struct webhook_fields *w, const PGresult *res, int row)
{
	const char *format = PQgetvalue(res, row, COL_FORMAT);
	const char *description = text_or_null(res, row, COL_DESCRIPTION);

	webhook_fields_defaults(w);
	w->url = xstrdup(PQgetvalue(res, row, COL_URL));
	w->events = webhook_events_mask(PQgetvalue(res, row, COL_EVENTS));
	w->description = description != NULL ? xstrdup(description) : NULL;
	/* the table's CHECK admits the known formats only */
	if (webhook_format_lookup(format, strlen(format)) != NULL)
		w->format = webhook_format_lookup(format, strlen(format));
	w->enabled = PQgetvalue(res, row, COL_ENABLED)[0] == 't';
}

void
webhook_delivery_render(yajl_gen g, const PGresult *res, int row)
{
	yajl_gen_map_open(g);
	jgen_key(g, "seq");
	jgen_int(g, int_at(res, row, 0));
	jgen_key(g, "event");
	jgen_str(g, PQgetvalue(res, row, 1));
	jgen_key(g, "attempts");
	jgen_int(g, int_at(res, row, 2));
	jgen_key(g, "last_status");
	int_or_null(g, res, row, 3);
	jgen_key(g, "last_error");
	jgen_str(g, text_or_null(res, row, 4));
	jgen_key(g, "next_attempt_at");
	jgen_time(g, time_at(res, row, 5));
	jgen_key(g, "delivered_at");
	jgen_time(g, time_at(res, row, 6));
	jgen_key(g, "duration_ms");
	int_or_null(g, res, row, 7);
	yajl_gen_map_close(g);
}

void
webhook_page_render(yajl_gen g, const char *member, const PGresult *res, int shown,
                    void (*row_fn)(yajl_gen, const PGresult *, int), int64_t limit,
                    const char *next_cursor)
{
	int i;

	yajl_gen_map_open(g);
	jgen_key(g, member);
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++)
		row_fn(g, res, i);
	yajl_gen_array_close(g);
	jgen_key(g, "limit");
	jgen_int(g, limit);
	jgen_key(g, "has_more");
	jgen_bool(g, next_cursor != NULL);
	jgen_key(g, "next_cursor");
	jgen_str(g, next_cursor);
	yajl_gen_map_close(g);
}
