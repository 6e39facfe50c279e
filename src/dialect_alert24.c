/* dialect_alert24.c — the Alert24-style surface (seed 001) at
 * /compat/alert24/api/v1/incidents: a UUID id beside the incident number,
 * times with milliseconds, responses in {"data": ...}, limit/offset meta. */
#include "api.h"

#include <stddef.h>

#define OFF(f) offsetof(struct incident, f)

#define ALERT24_CREATE_FIELDS                                                          \
	{"title", F_TITLE, NULL}, {"description", F_DESCRIPTION, NULL},                 \
	    {"severity", F_SEVERITY, NULL}, {"status", F_STATUS, NULL},                 \
	    {"affected_services", F_AFFECTED_SERVICES, NULL},                           \
	    {"impact_description", F_IMPACT_DESCRIPTION, NULL},                         \
	    {"assigned_to", F_ASSIGNED_TO, NULL}, {"tags", F_TAGS, NULL}

static const struct dialect_field alert24_create[] = {ALERT24_CREATE_FIELDS, {NULL, 0, NULL}};
/* "All fields are optional", plus the two timestamps a client may set. */
static const struct dialect_field alert24_update[] = {
    ALERT24_CREATE_FIELDS,
    {"resolved_at", F_RESOLVED_AT, NULL},
    {"acknowledged_at", F_ACKNOWLEDGED_AT, NULL},
    {NULL, 0, NULL},
};

static const struct dialect_out alert24_out[] = {
    {"id", OUT_UUID, 0, NULL},
    {"incident_number", OUT_ID, 0, NULL},
    {"title", OUT_TEXT, OFF(title), NULL},
    {"description", OUT_TEXT, OFF(description), NULL},
    {"severity", OUT_TEXT, OFF(severity), NULL},
    {"status", OUT_TEXT, OFF(status), NULL},
    {"affected_services", OUT_LIST, OFF(affected_services), NULL},
    {"impact_description", OUT_TEXT, OFF(impact_description), NULL},
    {"assigned_to", OUT_TEXT, OFF(assigned_to), NULL},
    {"created_by", OUT_TEXT, OFF(created_by), NULL},
    {"source", OUT_TEXT, OFF(source), NULL},
    {"tags", OUT_LIST, OFF(tags), NULL},
    {"started_at", OUT_TIME, OFF(started_at), NULL},
    {"acknowledged_at", OUT_TIME, OFF(acknowledged_at), NULL},
    {"resolved_at", OUT_TIME, OFF(resolved_at), NULL},
    {"created_at", OUT_TIME, OFF(created_at), NULL},
    {"updated_at", OUT_TIME, OFF(updated_at), NULL},
    {NULL, OUT_ID, 0, NULL},
};

const struct dialect dialect_alert24 = {
    .name = "alert24",
    .ref = REF_UUID_OR_NUMBER,
    .create = {alert24_create, MESSAGE_OPTIONAL, 201, 1},
    .update = {alert24_update, MESSAGE_OPTIONAL, 200, 0},
    .out = alert24_out,
    .times = TIME_MILLIS,
    .data_member = "data",
    .delete_status = 200,
    .list = LIST_ALERT24,
    .list_params = LP_STATUS | LP_SEVERITY | LP_OFFSET,
    .list_default_limit = 25,
};
