/* dialect_statly.c — the Statly-style surface (seed 002) at
 * /compat/statly/api/v1/incidents: "inc_<n>" ids, camelCase, four status
 * words and three severities over incidentd's ten and five, and the public
 * timeline as "updates". */
#include "api.h"

#include <libpq-fe.h>
#include <stdlib.h>

#define OFF(f) offsetof(struct incident, f)

/* Out: every stored status has a word; a filter by a word matches them all. */
static const struct enum_map statly_status_words[] = {
    {"investigating", "new"},        {"investigating", "open"},
    {"investigating", "acknowledged"}, {"investigating", "in_progress"},
    {"investigating", "investigating"}, {"identified", "identified"},
    {"monitoring", "monitoring"},    {"resolved", "resolved"},
    {"resolved", "postmortem"},      {"resolved", "closed"},
    {NULL, NULL},
};
static const struct enum_map statly_severity_words[] = {
    {"major", "critical"}, {"major", "high"}, {"minor", "medium"},
    {"minor", "low"},      {"maintenance", "maintenance"}, {NULL, NULL},
};

/* In: only the dialect's own words. */
static const struct enum_map statly_open_statuses[] = {
    {"investigating", "investigating"}, {"identified", "identified"},
    {"monitoring", "monitoring"}, {NULL, NULL},
};
static const struct enum_map statly_statuses[] = {
    {"investigating", "investigating"}, {"identified", "identified"},
    {"monitoring", "monitoring"}, {"resolved", "resolved"}, {NULL, NULL},
};
static const struct enum_map statly_severities[] = {
    {"major", "high"}, {"minor", "low"}, {"maintenance", "maintenance"}, {NULL, NULL},
};

static const struct dialect_field statly_create[] = {
    {"title", F_TITLE, NULL},
    {"description", F_DESCRIPTION, NULL},
    {"status", F_STATUS, statly_open_statuses},
    {"severity", F_SEVERITY, statly_severities},
    {"affectedMonitors", F_AFFECTED_SERVICES, NULL},
    {NULL, 0, NULL},
};
static const struct dialect_field statly_patch[] = {
    {"title", F_TITLE, NULL},
    {"description", F_DESCRIPTION, NULL},
    {"status", F_STATUS, statly_statuses},
    {"severity", F_SEVERITY, statly_severities},
    {"affectedMonitors", F_AFFECTED_SERVICES, NULL},
    {"message", FIELD_MESSAGE, NULL},
    {NULL, 0, NULL},
};
static const struct dialect_field statly_add_update[] = {
    {"message", FIELD_MESSAGE, NULL},
    {"status", F_STATUS, statly_statuses},
    {NULL, 0, NULL},
};

static const struct dialect_out statly_out[] = {
    {"id", OUT_ID_PREFIXED, 0, NULL},
    {"title", OUT_TEXT, OFF(title), NULL},
    {"description", OUT_TEXT, OFF(description), NULL},
    {"status", OUT_TEXT, OFF(status), statly_status_words},
    {"severity", OUT_TEXT, OFF(severity), statly_severity_words},
    {"affectedMonitors", OUT_LIST, OFF(affected_services), NULL},
    {"createdAt", OUT_TIME, OFF(created_at), NULL},
    {"updatedAt", OUT_TIME, OFF(updated_at), NULL},
    {"resolvedAt", OUT_TIME_IF_SET, OFF(resolved_at), NULL},
    {"updates", OUT_UPDATES, 0, NULL},
    {NULL, OUT_ID, 0, NULL},
};

/* {"id":"upd_<n>","status","message","createdAt"}: the status the incident
 * had when the entry was written, so an update never changes afterwards. */
static void
statly_render_update(yajl_gen g, const struct dialect *d, const PGresult *res, int row)
{
	char *id = xprintf("upd_%s", PQgetvalue(res, row, 0));

	yajl_gen_map_open(g);
	jgen_key(g, "id");
	jgen_str(g, id);
	jgen_key(g, "status");
	jgen_str(g, dialect_status_word(d, PQgetvalue(res, row, 3)));
	jgen_key(g, "message");
	jgen_str(g, PQgetisnull(res, row, 2) ? "" : PQgetvalue(res, row, 2));
	jgen_key(g, "createdAt");
	jgen_time(g, strtoll(PQgetvalue(res, row, 4), NULL, 10));
	yajl_gen_map_close(g);
	free(id);
}

const struct dialect dialect_statly = {
    .name = "statly",
    .ref = REF_PREFIXED_OR_NUMBER,
    .ref_prefix = "inc_",
    .create = {statly_create, MESSAGE_OPTIONAL, 201, 1},
    .update = {statly_patch, MESSAGE_ON_STATUS_CHANGE, 200, 0},
    .add_update = {statly_add_update, MESSAGE_REQUIRED, 201, 1},
    .default_status = "investigating",
    .default_severity = "low",
    .first_update_on_create = 1,
    .status_words = statly_status_words,
    .out = statly_out,
    .times = TIME_SECONDS,
    .delete_status = 204,
    .list = LIST_STATLY,
    .list_params = LP_STATUS | LP_OFFSET,
    .list_default_limit = 50,
    .updates_per_incident = 1000,
    .updates_per_listed = 100,
    .render_update = statly_render_update,
};
