/* dialect_v1.c — incidentd's own surface, /v1/tickets and /v1/incidents
 * (DESIGN §4): every field by its own name, ids as numbers. */
#include "api.h"

#include <stddef.h>

#define OFF(f) offsetof(struct incident, f)

/* Every writable field under its own name. */
#define V1_FIELDS                                                                      \
	{"title", F_TITLE, NULL}, {"description", F_DESCRIPTION, NULL},                 \
	    {"status", F_STATUS, NULL}, {"priority", F_PRIORITY, NULL},                 \
	    {"severity", F_SEVERITY, NULL}, {"source", F_SOURCE, NULL},                 \
	    {"source_ref", F_SOURCE_REF, NULL}, {"lat", F_LAT, NULL}, {"lng", F_LNG, NULL}, \
	    {"location_name", F_LOCATION_NAME, NULL},                                   \
	    {"impact_description", F_IMPACT_DESCRIPTION, NULL},                         \
	    {"assigned_to", F_ASSIGNED_TO, NULL}, {"tags", F_TAGS, NULL},               \
	    {"affected_services", F_AFFECTED_SERVICES, NULL},                           \
	    {"started_at", F_STARTED_AT, NULL}, {"acknowledged_at", F_ACKNOWLEDGED_AT, NULL}, \
	    {"resolved_at", F_RESOLVED_AT, NULL}

static const struct dialect_field v1_create[] = {V1_FIELDS, {NULL, 0, NULL}};
static const struct dialect_field v1_update[] = {
    V1_FIELDS, {"message", FIELD_MESSAGE, NULL}, {NULL, 0, NULL}};

static const struct dialect_out v1_out[] = {
    {"id", OUT_ID, 0, NULL},
    {"Id", OUT_ID, 0, NULL}, /* seed 000 prints the id as "Id" */
    {"title", OUT_TEXT, OFF(title), NULL},
    {"description", OUT_TEXT, OFF(description), NULL},
    {"status", OUT_TEXT, OFF(status), NULL},
    {"priority", OUT_TEXT, OFF(priority), NULL},
    {"severity", OUT_TEXT, OFF(severity), NULL},
    {"source", OUT_TEXT, OFF(source), NULL},
    {"source_ref", OUT_TEXT, OFF(source_ref), NULL},
    {"lat", OUT_NUMBER, OFF(lat), NULL},
    {"lng", OUT_NUMBER, OFF(lng), NULL},
    {"location_name", OUT_TEXT, OFF(location_name), NULL},
    {"impact_description", OUT_TEXT, OFF(impact_description), NULL},
    {"assigned_to", OUT_TEXT, OFF(assigned_to), NULL},
    {"tags", OUT_LIST, OFF(tags), NULL},
    {"affected_services", OUT_LIST, OFF(affected_services), NULL},
    {"sla_due_at", OUT_TIME, OFF(sla_due_at), NULL},
    {"sla_breached", OUT_SLA_BREACHED, 0, NULL},
    {"sla_status", OUT_SLA_STATUS, 0, NULL},
    {"customer_token", OUT_TEXT, OFF(customer_token), NULL},
    {"customer_status_url", OUT_STATUS_URL, 0, NULL},
    {"started_at", OUT_TIME, OFF(started_at), NULL},
    {"acknowledged_at", OUT_TIME, OFF(acknowledged_at), NULL},
    {"resolved_at", OUT_TIME, OFF(resolved_at), NULL},
    {"created_by", OUT_TEXT, OFF(created_by), NULL},
    {"created_at", OUT_TIME, OFF(created_at), NULL},
    {"updated_at", OUT_TIME, OFF(updated_at), NULL},
    {NULL, OUT_ID, 0, NULL},
};

const struct dialect dialect_v1 = {
    .name = "v1",
    .ref = REF_NUMBER,
    .create = {v1_create, MESSAGE_OPTIONAL, 201, 1, NULL},
    .update = {v1_update, MESSAGE_OPTIONAL, 200, 0, NULL},
    .out = v1_out,
    .times = TIME_SECONDS,
    .delete_status = 204,
    .list = LIST_V1,
    .list_params = LP_STATUS | LP_PRIORITY | LP_SEVERITY | LP_SOURCE | LP_TAG | LP_Q | LP_PAGE |
                   LP_OFFSET | LP_AFTER,
    .list_default_limit = 50,
};
