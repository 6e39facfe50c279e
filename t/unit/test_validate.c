/* test_validate.c — incident_apply_body (every field rule), the lifecycle
 * (derived timestamps, SLA due time, cross-field checks) and change sets. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1773558000 /* 2026-03-15T07:00:00Z */
#define HOUR 3600

/* One application of a body: the incident, what the body named, the errors
 * and those errors as "code@source code@source". */
struct applied {
	struct incident inc;
	struct incident_input in;
	struct errors e;
	char errs[1024];
};

/* Applies json onto r->inc (already initialised); allow_message as PATCH. */
static void
apply_onto(struct applied *r, const char *json, int allow_message)
{
	char err[256] = "";
	struct jval *body = json_parse(json, strlen(json), err, sizeof(err));

	if (body == NULL || body->type != J_OBJECT) {
		ok(0, "test body is a JSON object (%s)", err);
		json_free(body);
		return;
	}
	incident_apply_body(&r->inc, &r->in, body, &dialect_v1,
	                    allow_message ? &dialect_v1.update : &dialect_v1.create, &r->e);
	errors_summary(&r->e, r->errs, sizeof(r->errs));
	json_free(body);
}

/* Fresh defaults with json applied (no lifecycle). */
static void
apply(struct applied *r, const char *json, int allow_message)
{
	memset(r, 0, sizeof(*r));
	incident_init_defaults(&r->inc);
	apply_onto(r, json, allow_message);
}

static void
applied_free(struct applied *r)
{
	incident_free(&r->inc);
	free(r->in.message);
	errors_clear(&r->e);
}

/* The body's errors as "code@field ..." ("" when accepted). */
static void
body_errors(const char *json, int allow_message, const char *expected, const char *desc)
{
	struct applied r;

	apply(&r, json, allow_message);
	is_str(r.errs, expected, "%s", desc);
	applied_free(&r);
}

/* {"field": "<unit × n>"} */
static char *
body_repeat(const char *field, const char *unit, size_t n)
{
	char *before = xprintf("{\"%s\":\"", field), *json = wrap(before, unit, n, "\"}");

	free(before);
	return json;
}

static void
test_title(void)
{
	struct applied r;
	char *json;

	apply(&r, "{\"title\":\"  Disk full \\t\\n\"}", 0);
	is_str(r.errs, "", "title accepted");
	is_str(r.inc.title, "Disk full", "title is trimmed");
	ok(r.in.given == FIELD_BIT(F_TITLE), "given names only title");
	applied_free(&r);

	body_errors("{\"title\":\"\"}", 0, "is_required@title", "empty title");
	body_errors("{\"title\":\" \\t\\n \"}", 0, "is_required@title", "blank title");
	body_errors("{\"title\":null}", 0, "invalid_value@title", "null title");
	body_errors("{\"title\":42}", 0, "invalid_value@title", "number title");
	body_errors("{\"title\":[\"x\"]}", 0, "invalid_value@title", "array title");
	body_errors("{\"title\":\"a\\u0000b\"}", 0, "invalid_value@title", "title with NUL");

	json = body_repeat("title", "x", 200);
	body_errors(json, 0, "", "200-character title");
	free(json);
	json = body_repeat("title", "x", 201);
	body_errors(json, 0, "too_long@title", "201-character title");
	free(json);
	json = body_repeat("title", "\xc3\xa9", 200);
	apply(&r, json, 0);
	is_str(r.errs, "", "200 two-byte characters (400 bytes) fit");
	is_int(strlen(r.inc.title), 400, "stored whole");
	applied_free(&r);
	free(json);
	json = body_repeat("title", "\xf0\x9f\x94\xa5", 200);
	body_errors(json, 0, "", "200 four-byte characters fit");
	free(json);
	json = body_repeat("title", "\xc3\xa9", 201);
	body_errors(json, 0, "too_long@title", "201 two-byte characters are too long");
	free(json);
	json = wrap("{\"title\":\"   ", "x", 200, "   \"}");
	body_errors(json, 0, "", "200 characters plus spaces: counted after trimming");
	free(json);

	/* a rejected value leaves the current one in place */
	memset(&r, 0, sizeof(r));
	incident_init_defaults(&r.inc);
	r.inc.title = xstrdup("old");
	apply_onto(&r, "{\"title\":\"\"}", 1);
	is_str(r.inc.title, "old", "rejected title keeps the old one");
	applied_free(&r);
}

static void
test_text_fields(void)
{
	static const struct {
		const char *name;
		size_t max;
	} fields[] = {
		{"description", 10000}, {"source_ref", 255}, {"location_name", 200},
		{"impact_description", 2000}, {"assigned_to", 200},
	};
	struct applied r;
	char *json, expected[64];
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json = body_repeat(fields[i].name, "\xc3\xa9", fields[i].max);
		body_errors(json, 0, "", fields[i].name);
		free(json);
		json = body_repeat(fields[i].name, "y", fields[i].max + 1);
		snprintf(expected, sizeof(expected), "too_long@%s", fields[i].name);
		body_errors(json, 0, expected, fields[i].name);
		free(json);
		json = xprintf("{\"%s\":true}", fields[i].name);
		snprintf(expected, sizeof(expected), "invalid_value@%s", fields[i].name);
		body_errors(json, 0, expected, fields[i].name);
		free(json);
	}

	apply(&r, "{\"description\":\"  keep  \"}", 0);
	is_str(r.inc.description, "  keep  ", "description is not trimmed");
	applied_free(&r);
	memset(&r, 0, sizeof(r));
	incident_init_defaults(&r.inc);
	r.inc.description = xstrdup("old");
	r.inc.assigned_to = xstrdup("ann");
	apply_onto(&r, "{\"description\":null,\"assigned_to\":null}", 1);
	is_str(r.errs, "", "null clears optional text");
	ok(r.inc.description == NULL && r.inc.assigned_to == NULL, "description and assignee null");
	applied_free(&r);
	body_errors("{\"description\":\"x\\u0000\"}", 0, "invalid_value@description",
	            "description with NUL");
}

/* value is accepted for field and stored as stored. */
static void
enum_accepts(const char *field, const char *value, const char *stored)
{
	struct applied r;
	char *json = xprintf("{\"%s\":\"%s\"}", field, value);
	char **slot = strcmp(field, "status") == 0     ? &r.inc.status
	              : strcmp(field, "priority") == 0 ? &r.inc.priority
	              : strcmp(field, "severity") == 0 ? &r.inc.severity
	                                               : &r.inc.source;

	apply(&r, json, 0);
	is_str(r.errs, "", "%s %s accepted", field, value);
	is_str(*slot, stored, "%s %s stored as %s", field, value, stored);
	applied_free(&r);
	free(json);
}

static void
test_enums(void)
{
	struct applied r;
	size_t i;

	for (i = 0; incident_statuses[i] != NULL; i++)
		enum_accepts("status", incident_statuses[i], incident_statuses[i]);
	is_int(i, 10, "ten statuses");
	for (i = 0; incident_priorities[i] != NULL; i++)
		enum_accepts("priority", incident_priorities[i], incident_priorities[i]);
	for (i = 0; incident_severities[i] != NULL; i++)
		enum_accepts("severity", incident_severities[i], incident_severities[i]);
	enum_accepts("severity", "major", "high");
	enum_accepts("severity", "minor", "low");
	for (i = 0; incident_sources[i] != NULL; i++)
		enum_accepts("source", incident_sources[i], incident_sources[i]);

	body_errors("{\"status\":\"Open\"}", 0, "invalid_value@status", "enums are case-sensitive");
	body_errors("{\"status\":\"bogus\"}", 0, "invalid_value@status", "unknown status");
	body_errors("{\"status\":null}", 0, "invalid_value@status", "status cannot be null");
	body_errors("{\"status\":1}", 0, "invalid_value@status", "status must be a string");
	body_errors("{\"priority\":\"critical\"}", 0, "invalid_value@priority", "unknown priority");
	body_errors("{\"severity\":\"MAJOR\"}", 0, "invalid_value@severity", "alias is exact");
	body_errors("{\"severity\":\"major \"}", 0, "invalid_value@severity", "enums not trimmed");
	body_errors("{\"source\":\"sms\"}", 0, "invalid_value@source", "unknown source");
	body_errors("{\"priority\":\"hi\\u0000gh\"}", 0, "invalid_value@priority", "enum with NUL");

	apply(&r, "{\"status\":\"bogus\"}", 0);
	ok(r.e.n == 1 && strstr(r.e.items[0].message, "new, open, acknowledged") != NULL,
	   "message lists the choices (%s)", r.e.n ? r.e.items[0].message : "");
	is_str(r.inc.status, "open", "rejected status keeps the default");
	applied_free(&r);
}

static void
test_numbers(void)
{
	struct applied r;

	apply(&r, "{\"lat\":35.4676,\"lng\":-97.5164}", 0);
	is_str(r.errs, "", "lat/lng accepted");
	ok(r.inc.lat.set && r.inc.lat.v == 35.4676, "lat stored");
	ok(r.inc.lng.set && r.inc.lng.v == -97.5164, "lng stored");
	applied_free(&r);
	body_errors("{\"lat\":90,\"lng\":180}", 0, "", "upper bounds inclusive");
	body_errors("{\"lat\":-90,\"lng\":-180}", 0, "", "lower bounds inclusive");
	body_errors("{\"lat\":90.0001,\"lng\":0}", 0, "out_of_range@lat", "lat above 90");
	body_errors("{\"lat\":-91,\"lng\":0}", 0, "out_of_range@lat", "lat below -90");
	body_errors("{\"lat\":0,\"lng\":180.5}", 0, "out_of_range@lng", "lng above 180");
	body_errors("{\"lat\":0,\"lng\":-181}", 0, "out_of_range@lng", "lng below -180");
	body_errors("{\"lat\":\"35\",\"lng\":1}", 0, "invalid_value@lat", "lat as a string");
	body_errors("{\"lat\":1,\"lng\":true}", 0, "invalid_value@lng", "lng as a boolean");

	memset(&r, 0, sizeof(r));
	incident_init_defaults(&r.inc);
	r.inc.lat.set = r.inc.lng.set = 1;
	apply_onto(&r, "{\"lat\":null,\"lng\":null}", 1);
	ok(!r.inc.lat.set && !r.inc.lng.set && r.errs[0] == '\0', "null clears lat and lng");
	applied_free(&r);
}

/* The incident's tags joined with "|". */
static void
tags_are(const struct strlist *l, const char *expected, const char *desc)
{
	char out[4096] = "";
	size_t i, used = 0;

	for (i = 0; i < l->n && used < sizeof(out); i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", i ? "|" : "",
		                         l->items[i]);
	is_str(out, expected, "%s", desc);
}

/* A JSON array of n distinct tags "t0", "t1", ... */
static char *
many_tags(size_t n)
{
	struct buf *b = buf_new(16 * n);
	char *out;
	size_t i;

	b = buf_puts(b, "{\"tags\":[");
	for (i = 0; i < n; i++)
		b = buf_printf(b, "%s\"t%zu\"", i ? "," : "", i);
	b = buf_puts(b, "]}");
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

static void
test_lists(void)
{
	struct applied r;
	char *json;

	apply(&r, "{\"tags\":[\" db \",\"db\",\"api\",\"db\"],\"affected_services\":[\"a\",\"a\"]}", 0);
	is_str(r.errs, "", "tags accepted");
	tags_are(&r.inc.tags, "db|api", "tags trimmed and deduplicated, first occurrence kept");
	tags_are(&r.inc.affected_services, "a", "affected_services deduplicated");
	applied_free(&r);

	memset(&r, 0, sizeof(r));
	incident_init_defaults(&r.inc);
	apply_onto(&r, "{\"tags\":[\"x\",\"y\"]}", 1);
	apply_onto(&r, "{\"tags\":null}", 1);
	is_str(r.errs, "", "tags null accepted");
	is_int(r.inc.tags.n, 0, "tags null clears to []");
	apply_onto(&r, "{\"tags\":[\"keep\"]}", 1);
	apply_onto(&r, "{\"tags\":[\"ok\",1]}", 1);
	tags_are(&r.inc.tags, "keep", "a rejected list leaves the old one");
	applied_free(&r);

	body_errors("{\"tags\":[]}", 0, "", "empty list");
	json = many_tags(50);
	body_errors(json, 0, "", "50 tags");
	free(json);
	json = many_tags(51);
	body_errors(json, 0, "too_long@tags", "51 tags");
	free(json);
	json = wrap("{\"tags\":[\"", "\xc3\xa9", 64, "\"]}");
	body_errors(json, 0, "", "64-character tag (multibyte)");
	free(json);
	json = wrap("{\"affected_services\":[\" ", "z", 64, " \"]}");
	body_errors(json, 0, "", "64 characters after trimming");
	free(json);
	json = wrap("{\"affected_services\":[\"", "z", 65, "\"]}");
	body_errors(json, 0, "too_long@affected_services", "65-character item");
	free(json);
	body_errors("{\"tags\":[1]}", 0, "invalid_value@tags", "non-string item");
	body_errors("{\"tags\":[null]}", 0, "invalid_value@tags", "null item");
	body_errors("{\"tags\":[\"\"]}", 0, "invalid_value@tags", "empty item");
	body_errors("{\"tags\":[\"  \"]}", 0, "invalid_value@tags", "blank item");
	body_errors("{\"tags\":[\"a\\u0000\"]}", 0, "invalid_value@tags", "item with NUL");
	body_errors("{\"tags\":\"db\"}", 0, "invalid_value@tags", "a string is not a list");
	body_errors("{\"tags\":{}}", 0, "invalid_value@tags", "an object is not a list");
}

static void
time_field(const char *json, int64_t expected, const char *desc)
{
	struct applied r;

	apply(&r, json, 0);
	is_str(r.errs, "", "%s accepted", desc);
	is_int(r.inc.started_at, expected, "%s", desc);
	applied_free(&r);
}

static void
test_times(void)
{
	struct applied r;

	time_field("{\"started_at\":\"2026-03-15T07:00:00Z\"}", T0, "started_at UTC");
	time_field("{\"started_at\":\"2026-03-15T09:00:00+02:00\"}", T0, "offset +02:00 converted");
	time_field("{\"started_at\":\"2026-03-15T01:30:00-05:30\"}", T0, "offset -05:30 converted");
	time_field("{\"started_at\":\"2026-03-15T07:00:00.999Z\"}", T0, "fraction dropped");
	body_errors("{\"started_at\":\"yesterday\"}", 0, "invalid_value@started_at", "not a time");
	body_errors("{\"started_at\":\"2026-02-30T00:00:00Z\"}", 0, "invalid_value@started_at",
	            "no such day");
	body_errors("{\"started_at\":1773558000}", 0, "invalid_value@started_at", "epoch number");
	body_errors("{\"started_at\":null}", 0, "invalid_value@started_at", "started_at not null");
	body_errors("{\"acknowledged_at\":\"2026-03-15\"}", 0, "invalid_value@acknowledged_at",
	            "date without time");
	apply(&r, "{\"acknowledged_at\":\"2026-03-15T07:00:00Z\",\"resolved_at\":null}", 0);
	is_str(r.errs, "", "acknowledged_at given, resolved_at null");
	is_int(r.inc.acknowledged_at, T0, "acknowledged_at stored");
	is_int(r.inc.resolved_at, TIME_NONE, "resolved_at null");
	applied_free(&r);
}

static void
test_other_keys(void)
{
	static const char *const read_only[] = {
		"id", "Id", "sla_due_at", "sla_breached", "sla_status", "customer_token",
		"customer_status_url", "created_by", "created_at", "updated_at", NULL};
	struct applied r;
	char *json, *longkey, expected[128];
	size_t i;

	for (i = 0; read_only[i] != NULL; i++) {
		json = xprintf("{\"%s\":1}", read_only[i]);
		apply(&r, json, 1);
		snprintf(expected, sizeof(expected), "invalid_value@%s", read_only[i]);
		is_str(r.errs, expected, "%s is read-only", read_only[i]);
		ok(r.e.n == 1 && strstr(r.e.items[0].message, "read-only") != NULL,
		   "%s: message says read-only", read_only[i]);
		applied_free(&r);
		free(json);
	}
	body_errors("{\"titel\":\"x\"}", 0, "unknown_field@titel", "unknown field");
	body_errors("{\"ID\":1}", 0, "unknown_field@ID", "field names are case-sensitive");
	body_errors("{\"org_id\":1}", 0, "unknown_field@org_id", "org_id is not an API field");
	body_errors("{\"ti\\u0000tle\":\"x\"}", 0, "unknown_field@ti\xEF\xBF\xBDtle",
	            "key with NUL is unknown, its NUL shown as U+FFFD");
	longkey = str_repeat("k", 100);
	json = xprintf("{\"%s\":1}", longkey);
	apply(&r, json, 0);
	ok(r.e.n == 1 && strlen(r.e.items[0].source_name) == 64, "an unknown name is echoed capped");
	applied_free(&r);
	free(json);
	free(longkey);
	json = wrap("{\"a", "\xc3\xa9", 40, "\":1}");
	apply(&r, json, 0);
	ok(r.e.n == 1 && strcmp(r.e.items[0].code, "unknown_field") == 0, "long multibyte name");
	ok(r.e.n == 1 && utf8_valid(r.e.items[0].source_name, strlen(r.e.items[0].source_name)),
	   "capped name is still valid UTF-8 (source.field)");
	ok(r.e.n == 1 && utf8_valid(r.e.items[0].message, strlen(r.e.items[0].message)),
	   "capped name is still valid UTF-8 (message)");
	applied_free(&r);
	free(json);

	body_errors("{\"message\":\"hi\"}", 0, "unknown_field@message", "no message on create");
	apply(&r, "{\"message\":\"hi\"}", 1);
	is_str(r.errs, "", "message allowed on PATCH");
	is_str(r.in.message, "hi", "message kept");
	ok(r.in.has_message && r.in.given == 0, "has_message set, no field given");
	applied_free(&r);
	apply(&r, "{\"message\":null}", 1);
	ok(r.errs[0] == '\0' && r.in.has_message && r.in.message == NULL, "message null accepted");
	applied_free(&r);
	json = body_repeat("message", "m", 10000);
	body_errors(json, 1, "", "10,000-character message");
	free(json);
	json = body_repeat("message", "m", 10001);
	body_errors(json, 1, "too_long@message", "10,001-character message");
	free(json);
	body_errors("{\"message\":5}", 1, "invalid_value@message", "message must be a string");
	body_errors("{\"message\":\"a\\u0000\"}", 1, "invalid_value@message", "message with NUL");

	body_errors("{\"title\":\"\",\"priority\":\"p0\",\"lat\":100,\"bogus\":1,\"tags\":[2],"
	            "\"id\":3}",
	            0, "is_required@title invalid_value@priority out_of_range@lat "
	               "unknown_field@bogus invalid_value@tags invalid_value@id",
	            "all errors reported together, in body order");
	apply(&r, "{\"title\":\"x\",\"tags\":null,\"lat\":1,\"lng\":2,\"bogus\":1}", 0);
	ok(r.in.given == (FIELD_BIT(F_TITLE) | FIELD_BIT(F_TAGS) | FIELD_BIT(F_LAT) |
	                  FIELD_BIT(F_LNG)),
	   "given names exactly the fields in the body");
	applied_free(&r);
}

/* ---- lifecycle ---- */

/* What incident_build does on create: defaults, body, timestamps, lifecycle. */
static void
create(struct applied *r, const char *json, int64_t now, const struct config *cfg)
{
	apply(r, json, 0);
	r->inc.created_at = r->inc.updated_at = now;
	if (r->inc.started_at == TIME_NONE)
		r->inc.started_at = now;
	incident_apply_lifecycle(&r->inc, NULL, &r->in, now, cfg, &r->e);
	errors_summary(&r->e, r->errs, sizeof(r->errs));
}

/* What incident_update does: a copy of old, the body, the lifecycle. */
static void
update(struct applied *r, const struct incident *old, const char *json, int64_t now,
       const struct config *cfg)
{
	memset(r, 0, sizeof(*r));
	incident_copy(&r->inc, old);
	apply_onto(r, json, 1);
	incident_apply_lifecycle(&r->inc, old, &r->in, now, cfg, &r->e);
	errors_summary(&r->e, r->errs, sizeof(r->errs));
}

/* Replaces *cur by the result of r (which must be valid). */
static void
advance(struct incident *cur, struct applied *r)
{
	incident_free(cur);
	*cur = r->inc;
	memset(&r->inc, 0, sizeof(r->inc));
	applied_free(r);
}

static void
test_create_lifecycle(const struct config *cfg)
{
	struct applied r;

	create(&r, "{\"title\":\"t\"}", T0, cfg);
	is_str(r.errs, "", "default create is valid");
	is_str(r.inc.status, "open", "status defaults to open");
	is_int(r.inc.acknowledged_at, TIME_NONE, "open: not acknowledged");
	is_int(r.inc.resolved_at, TIME_NONE, "open: not resolved");
	is_int(r.inc.sla_due_at, T0 + 24 * HOUR, "normal priority due in 24h");
	applied_free(&r);

	create(&r, "{\"title\":\"t\",\"status\":\"new\"}", T0, cfg);
	is_int(r.inc.acknowledged_at, TIME_NONE, "new: not acknowledged");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"status\":\"acknowledged\"}", T0, cfg);
	is_int(r.inc.acknowledged_at, T0, "created acknowledged: acknowledged_at = now");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"status\":\"investigating\",\"acknowledged_at\":"
	           "\"2026-03-15T06:00:00Z\"}", T0, cfg);
	is_int(r.inc.acknowledged_at, T0 - HOUR, "a given acknowledged_at wins");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"status\":\"resolved\"}", T0, cfg);
	is_str(r.errs, "", "created resolved is valid");
	is_int(r.inc.resolved_at, T0, "created resolved: resolved_at = now");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"status\":\"closed\",\"resolved_at\":\"2026-03-15T06:00:00Z\"}",
	       T0, cfg);
	is_int(r.inc.resolved_at, T0 - HOUR, "a given resolved_at wins");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"status\":\"postmortem\",\"resolved_at\":null}", T0, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "resolved phase with resolved_at null");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"resolved_at\":\"2026-03-15T06:00:00Z\"}", T0, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "resolved_at while active");
	applied_free(&r);

	create(&r, "{\"title\":\"t\",\"priority\":\"urgent\"}", T0, cfg);
	is_int(r.inc.sla_due_at, T0 + HOUR, "urgent due in 1h");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"priority\":\"low\"}", T0, cfg);
	is_int(r.inc.sla_due_at, T0 + 72 * HOUR, "low due in 72h");
	applied_free(&r);

	create(&r, "{\"title\":\"t\",\"lat\":1}", T0, cfg);
	is_str(r.errs, "invalid_value@lng", "lat without lng: error on lng");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"lng\":1}", T0, cfg);
	is_str(r.errs, "invalid_value@lat", "lng without lat: error on lat");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"lat\":1,\"lng\":null}", T0, cfg);
	is_str(r.errs, "invalid_value@lng", "lat with lng null: error on lng");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"lat\":100}", T0, cfg);
	is_str(r.errs, "out_of_range@lat", "a bad lat alone: only its own error");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"lng\":\"x\"}", T0, cfg);
	is_str(r.errs, "invalid_value@lng", "a bad lng alone: only its own error");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"lat\":null,\"lng\":null}", T0, cfg);
	is_str(r.errs, "", "both null is fine");
	applied_free(&r);
	create(&r, "{\"title\":\"t\",\"started_at\":\"2026-03-14T07:00:00Z\"}", T0, cfg);
	is_int(r.inc.started_at, T0 - 24 * HOUR, "given started_at kept");
	is_int(r.inc.sla_due_at, T0 + 24 * HOUR, "SLA counts from created_at, not started_at");
	applied_free(&r);
}

static void
test_status_moves(const struct config *cfg)
{
	struct incident cur, old_resolved;
	struct applied r;

	memset(&cur, 0, sizeof(cur));
	create(&r, "{\"title\":\"t\"}", T0, cfg);
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"in_progress\"}", T0 + 10, cfg);
	is_int(r.inc.acknowledged_at, T0 + 10, "open → in_progress sets acknowledged_at");
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"investigating\"}", T0 + 20, cfg);
	is_int(r.inc.acknowledged_at, T0 + 10, "a second acknowledging status keeps it");
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"open\"}", T0 + 30, cfg);
	is_int(r.inc.acknowledged_at, T0 + 10, "back to open keeps acknowledged_at");
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"monitoring\"}", T0 + 40, cfg);
	is_int(r.inc.acknowledged_at, T0 + 10, "acknowledged again: still the first time");
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"resolved\"}", T0 + 50, cfg);
	is_str(r.errs, "", "resolve is valid");
	is_int(r.inc.resolved_at, T0 + 50, "resolve sets resolved_at");
	advance(&cur, &r);
	update(&r, &cur, "{\"status\":\"closed\"}", T0 + 60, cfg);
	is_int(r.inc.resolved_at, T0 + 50, "resolved → closed keeps resolved_at");
	advance(&cur, &r);
	update(&r, &cur, "{\"title\":\"renamed\"}", T0 + 65, cfg);
	is_int(r.inc.resolved_at, T0 + 50, "an edit while resolved keeps resolved_at");
	applied_free(&r);
	update(&r, &cur, "{\"resolved_at\":null}", T0 + 65, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "resolved_at cannot be cleared while resolved");
	applied_free(&r);
	incident_copy(&old_resolved, &cur);
	update(&r, &cur, "{\"status\":\"open\"}", T0 + 70, cfg);
	is_str(r.errs, "", "reopen is valid");
	is_int(r.inc.resolved_at, TIME_NONE, "reopen clears resolved_at");
	is_int(r.inc.acknowledged_at, T0 + 10, "reopen keeps acknowledged_at");
	advance(&cur, &r);
	update(&r, &old_resolved, "{\"status\":\"open\",\"resolved_at\":\"2026-03-15T08:00:00Z\"}",
	       T0 + 75, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "reopen with a resolved_at is rejected");
	applied_free(&r);
	incident_free(&old_resolved);
	update(&r, &cur, "{\"resolved_at\":\"2026-03-15T08:00:00Z\"}", T0 + 80, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "resolved_at while active is rejected");
	applied_free(&r);
	update(&r, &cur, "{\"status\":\"resolved\",\"resolved_at\":\"2026-03-15T06:00:00Z\"}",
	       T0 + 90, cfg);
	is_int(r.inc.resolved_at, T0 - HOUR, "resolve with a given resolved_at keeps it");
	applied_free(&r);
	update(&r, &cur, "{\"status\":\"resolved\",\"resolved_at\":null}", T0 + 90, cfg);
	is_str(r.errs, "invalid_value@resolved_at", "resolve with resolved_at null is rejected");
	applied_free(&r);
	update(&r, &cur, "{\"status\":\"resolved\",\"message\":\"fixed\"}", T0 + 95, cfg);
	ok(r.errs[0] == '\0' && strcmp(r.in.message, "fixed") == 0, "status with a message");
	applied_free(&r);
	update(&r, &cur, "{\"lat\":null}", T0 + 95, cfg);
	is_str(r.errs, "", "lat null when neither is set");
	applied_free(&r);
	incident_free(&cur);
}

static void
test_priority_change(const struct config *cfg)
{
	struct incident cur;
	struct applied r;
	struct config custom;
	char err[256];

	create(&r, "{\"title\":\"t\"}", T0, cfg);
	memset(&cur, 0, sizeof(cur));
	advance(&cur, &r);
	update(&r, &cur, "{\"priority\":\"high\"}", T0 + 500, cfg);
	is_int(r.inc.sla_due_at, T0 + 4 * HOUR, "priority change recomputes from created_at");
	advance(&cur, &r);

	config_defaults(&custom);
	ok(config_set(&custom, "sla_normal", "30m", err, sizeof(err)) == 0, "custom sla_normal");
	update(&r, &cur, "{\"title\":\"x\"}", T0 + 600, &custom);
	is_int(r.inc.sla_due_at, T0 + 4 * HOUR, "same priority keeps sla_due_at");
	applied_free(&r);
	update(&r, &cur, "{\"priority\":\"high\"}", T0 + 600, &custom);
	is_int(r.inc.sla_due_at, T0 + 4 * HOUR, "naming the same priority keeps sla_due_at");
	applied_free(&r);
	update(&r, &cur, "{\"priority\":\"normal\"}", T0 + 600, &custom);
	is_int(r.inc.sla_due_at, T0 + 30 * 60, "the new target comes from the config");
	applied_free(&r);
	config_free(&custom);

	cur.lat.set = cur.lng.set = 1;
	update(&r, &cur, "{\"lat\":null}", T0 + 700, cfg);
	is_str(r.errs, "invalid_value@lat", "clearing only lat: error on lat");
	applied_free(&r);
	update(&r, &cur, "{\"lng\":5}", T0 + 700, cfg);
	is_str(r.errs, "", "changing only lng while both are set");
	applied_free(&r);
	incident_free(&cur);
}

/* The changes object from a to b as JSON text; *n gets the count. */
static char *
changes(const struct incident *a, const struct incident *b, int *n)
{
	yajl_gen g = json_gen_new();
	char *out;

	*n = incident_render_changes(g, a, b);
	out = jgen_finish(g, NULL);
	yajl_gen_free(g);
	return out;
}

static void
test_changes(const struct config *cfg)
{
	struct incident old;
	struct applied r;
	char *text;
	int n;

	create(&r, "{\"title\":\"t\",\"tags\":[\"a\"]}", T0, cfg);
	memset(&old, 0, sizeof(old));
	advance(&old, &r);

	update(&r, &old, "{}", T0 + 5, cfg);
	ok(!incident_differs(&old, &r.inc), "an empty body changes nothing");
	text = changes(&old, &r.inc, &n);
	is_str(text, "{}", "no changes: {}");
	is_int(n, 0, "no changes counted");
	free(text);
	applied_free(&r);

	update(&r, &old, "{\"title\":\"t\",\"tags\":[\"a\"],\"priority\":\"normal\"}", T0 + 5, cfg);
	ok(!incident_differs(&old, &r.inc), "restating the same values changes nothing");
	applied_free(&r);

	update(&r, &old, "{\"status\":\"resolved\"}", T0, cfg);
	ok(incident_differs(&old, &r.inc), "resolving differs");
	text = changes(&old, &r.inc, &n);
	is_str(text, "{\"status\":[\"open\",\"resolved\"],"
	             "\"resolved_at\":[null,\"2026-03-15T07:00:00Z\"]}",
	       "status and resolved_at changes");
	is_int(n, 2, "two changes");
	free(text);
	applied_free(&r);

	update(&r, &old, "{\"tags\":[\"a\",\"b\"],\"lat\":35.4676,\"lng\":-97.5164,"
	                 "\"description\":\"d\",\"priority\":\"urgent\"}", T0 + 5, cfg);
	text = changes(&old, &r.inc, &n);
	is_str(text, "{\"description\":[null,\"d\"],\"priority\":[\"normal\",\"urgent\"],"
	             "\"lat\":[null,35.4676],\"lng\":[null,-97.5164],\"tags\":[[\"a\"],[\"a\",\"b\"]],"
	             "\"sla_due_at\":[\"2026-03-16T07:00:00Z\",\"2026-03-15T08:00:00Z\"]}",
	       "text, number, list and derived changes in field order");
	is_int(n, 6, "six changes");
	free(text);
	applied_free(&r);

	update(&r, &old, "{\"tags\":[]}", T0 + 5, cfg);
	ok(incident_differs(&old, &r.inc), "emptying the tags differs");
	r.inc.updated_at = T0 + 99;
	text = changes(&old, &r.inc, &n);
	is_str(text, "{\"tags\":[[\"a\"],[]]}", "updated_at is not a change");
	free(text);
	applied_free(&r);
	incident_free(&old);
}

void
test_validate(void)
{
	struct config cfg;

	config_defaults(&cfg);
	test_title();
	test_text_fields();
	test_enums();
	test_numbers();
	test_lists();
	test_times();
	test_other_keys();
	test_create_lifecycle(&cfg);
	test_status_moves(&cfg);
	test_priority_change(&cfg);
	test_changes(&cfg);
	config_free(&cfg);
}
