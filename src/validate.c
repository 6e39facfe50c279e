/* validate.c — the incident's writable fields as a table of rules, and the
 * one function that applies a JSON body onto an incident, collecting every
 * error with its source.field.  Lifecycle rules that span fields follow. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const incident_statuses[] = {"new", "open", "acknowledged", "in_progress",
                                         "investigating", "identified", "monitoring",
                                         "resolved", "postmortem", "closed", NULL};
const char *const incident_priorities[] = {"low", "normal", "high", "urgent", NULL};
const char *const incident_severities[] = {"critical", "high", "medium", "low",
                                           "maintenance", NULL};
const char *const incident_sources[] = {"api", "email", "webhook", "alert", NULL};

enum kind { K_TEXT, K_ENUM, K_NUMBER, K_LIST, K_TIME };

struct field_rule {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t max_chars;
	int nullable;
	const char *const *values; /* K_ENUM */
	double min, max;           /* K_NUMBER */
	const struct enum_map *map; /* K_ENUM in a dialect's words (NULL: values) */
};

#define OFF(f) offsetof(struct incident, f)
#define LIST_MAX_ITEMS 50
#define LIST_ITEM_MAX_CHARS 64
#define MESSAGE_MAX_CHARS 10000

/* Indexed by enum field_index. */
static const struct field_rule rules[F_COUNT] = {
	[F_TITLE] = {"title", K_TEXT, OFF(title), 200, 0, NULL, 0, 0, NULL},
	[F_DESCRIPTION] = {"description", K_TEXT, OFF(description), 10000, 1, NULL, 0, 0, NULL},
	[F_STATUS] = {"status", K_ENUM, OFF(status), 0, 0, incident_statuses, 0, 0, NULL},
	[F_PRIORITY] = {"priority", K_ENUM, OFF(priority), 0, 0, incident_priorities, 0, 0, NULL},
	[F_SEVERITY] = {"severity", K_ENUM, OFF(severity), 0, 0, incident_severities, 0, 0, NULL},
	[F_SOURCE] = {"source", K_ENUM, OFF(source), 0, 0, incident_sources, 0, 0, NULL},
	[F_SOURCE_REF] = {"source_ref", K_TEXT, OFF(source_ref), 255, 1, NULL, 0, 0, NULL},
	[F_LAT] = {"lat", K_NUMBER, OFF(lat), 0, 1, NULL, -90, 90, NULL},
	[F_LNG] = {"lng", K_NUMBER, OFF(lng), 0, 1, NULL, -180, 180, NULL},
	[F_LOCATION_NAME] = {"location_name", K_TEXT, OFF(location_name), 200, 1, NULL, 0, 0, NULL},
	[F_IMPACT_DESCRIPTION] = {"impact_description", K_TEXT, OFF(impact_description), 2000, 1,
	                          NULL, 0, 0, NULL},
	[F_ASSIGNED_TO] = {"assigned_to", K_TEXT, OFF(assigned_to), 200, 1, NULL, 0, 0, NULL},
	[F_TAGS] = {"tags", K_LIST, OFF(tags), 0, 1, NULL, 0, 0, NULL},
	[F_AFFECTED_SERVICES] = {"affected_services", K_LIST, OFF(affected_services), 0, 1, NULL, 0,
	                         0},
	[F_STARTED_AT] = {"started_at", K_TIME, OFF(started_at), 0, 0, NULL, 0, 0, NULL},
	[F_ACKNOWLEDGED_AT] = {"acknowledged_at", K_TIME, OFF(acknowledged_at), 0, 1, NULL, 0, 0, NULL},
	[F_RESOLVED_AT] = {"resolved_at", K_TIME, OFF(resolved_at), 0, 1, NULL, 0, 0, NULL},
};

const char *
enum_lookup(const char *const *values, const char *s, size_t len)
{
	size_t i;

	for (i = 0; values[i] != NULL; i++)
		if (strlen(values[i]) == len && memcmp(values[i], s, len) == 0)
			return values[i];
	return NULL;
}

/* Severity with the seed aliases major → high and minor → low. */
const char *
severity_canonical(const char *s, size_t len)
{
	if (len == 5 && memcmp(s, "major", 5) == 0)
		return "high";
	if (len == 5 && memcmp(s, "minor", 5) == 0)
		return "low";
	return enum_lookup(incident_severities, s, len);
}

/* "a, b, c": the values a client may send (a dialect's words, when mapped). */
static char *
enum_choices(const struct field_rule *r)
{
	struct buf *b = buf_new(128);
	char *out;
	size_t i;

	if (r->map != NULL)
		for (i = 0; r->map[i].word != NULL; i++)
			b = buf_printf(b, "%s%s", i ? ", " : "", r->map[i].word);
	else
		for (i = 0; r->values[i] != NULL; i++)
			b = buf_printf(b, "%s%s", i ? ", " : "", r->values[i]);
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

static const char *
enum_map_value(const struct enum_map *map, const char *s, size_t len)
{
	size_t i;

	for (i = 0; map[i].word != NULL; i++)
		if (strlen(map[i].word) == len && memcmp(map[i].word, s, len) == 0)
			return map[i].value;
	return NULL;
}

/* Checks a JSON string: no NUL, at most max_chars code points (0: no limit). */
static int
check_text(const struct jval *v, const char *name, size_t max_chars, struct errors *e)
{
	if (v->type != J_STRING) {
		field_error(e, "invalid_value", name, "%s must be a string, not %s", name,
		            json_type_name(v->type));
		return -1;
	}
	if (memchr(v->u.str.s, '\0', v->u.str.len) != NULL) {
		field_error(e, "invalid_value", name, "%s must not contain NUL characters", name);
		return -1;
	}
	if (max_chars > 0 && utf8_chars(v->u.str.s, v->u.str.len) > max_chars) {
		field_error(e, "too_long", name, "%s must be at most %zu characters", name, max_chars);
		return -1;
	}
	return 0;
}

static void
apply_text(char **slot, const struct field_rule *r, const struct jval *v, struct errors *e)
{
	const char *s;
	size_t len;

	if (check_text(v, r->name, 0, e) != 0)
		return;
	s = v->u.str.s;
	len = v->u.str.len;
	if (r->offset == OFF(title)) {
		s = text_trim(s, len, &len);
		if (len == 0) {
			field_error(e, "is_required", r->name, "title is required and must not be blank");
			return;
		}
	}
	if (utf8_chars(s, len) > r->max_chars) {
		field_error(e, "too_long", r->name, "%s must be at most %zu characters", r->name,
		            r->max_chars);
		return;
	}
	free(*slot);
	*slot = xstrndup(s, len);
}

static void
apply_enum(char **slot, const struct field_rule *r, const struct jval *v, struct errors *e)
{
	const char *canonical = NULL;
	char *choices;

	if (v->type == J_STRING && r->map != NULL)
		canonical = enum_map_value(r->map, v->u.str.s, v->u.str.len);
	else if (v->type == J_STRING)
		canonical = r->values == incident_severities
		                ? severity_canonical(v->u.str.s, v->u.str.len)
		                : enum_lookup(r->values, v->u.str.s, v->u.str.len);
	if (canonical != NULL) {
		free(*slot);
		*slot = xstrdup(canonical);
		return;
	}
	choices = enum_choices(r);
	field_error(e, "invalid_value", r->name, "%s must be one of: %s", r->name, choices);
	free(choices);
}

static void
apply_number(struct optnum *slot, const struct field_rule *r, const struct jval *v,
             struct errors *e)
{
	if (v->type != J_NUMBER) {
		field_error(e, "invalid_value", r->name, "%s must be a number, not %s", r->name,
		            json_type_name(v->type));
		return;
	}
	if (v->u.number < r->min || v->u.number > r->max) {
		field_error(e, "out_of_range", r->name, "%s must be between %g and %g", r->name, r->min,
		            r->max);
		return;
	}
	slot->set = 1;
	slot->v = v->u.number;
}

static int
strlist_contains(const struct strlist *l, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->items[i]) == len && memcmp(l->items[i], s, len) == 0)
			return 1;
	return 0;
}

static void
apply_list(struct strlist *slot, const struct field_rule *r, const struct jval *v,
           struct errors *e)
{
	struct strlist out = {0, NULL};
	size_t i, errors_before = e->n + e->dropped;

	if (v->type != J_ARRAY) {
		field_error(e, "invalid_value", r->name, "%s must be an array of strings", r->name);
		return;
	}
	if (v->u.arr.n > LIST_MAX_ITEMS) {
		field_error(e, "too_long", r->name, "%s may hold at most %d items", r->name,
		            LIST_MAX_ITEMS);
		return;
	}
	out.items = xcalloc(v->u.arr.n, sizeof(char *));
	for (i = 0; i < v->u.arr.n; i++) {
		const struct jval *item = v->u.arr.items[i];
		const char *s;
		size_t len;

		if (check_text(item, r->name, 0, e) != 0)
			continue;
		s = text_trim(item->u.str.s, item->u.str.len, &len);
		if (len == 0 || utf8_chars(s, len) > LIST_ITEM_MAX_CHARS) {
			field_error(e, len == 0 ? "invalid_value" : "too_long", r->name,
			            "each item of %s must be 1 to %d characters", r->name,
			            LIST_ITEM_MAX_CHARS);
			continue;
		}
		if (!strlist_contains(&out, s, len))
			out.items[out.n++] = xstrndup(s, len);
	}
	if (e->n + e->dropped != errors_before) {
		strlist_free(&out);
		return;
	}
	strlist_free(slot);
	*slot = out;
}

static void
apply_time(int64_t *slot, const struct field_rule *r, const struct jval *v, struct errors *e)
{
	int64_t t;

	if (v->type != J_STRING || time_parse(v->u.str.s, v->u.str.len, &t) != 0) {
		field_error(e, "invalid_value", r->name,
		            "%s must be an RFC 3339 timestamp such as 2026-03-15T07:00:00Z", r->name);
		return;
	}
	*slot = t;
}

static void
apply_null(struct incident *inc, const struct field_rule *r, struct errors *e)
{
	char *base = (char *)inc + r->offset;

	if (!r->nullable) {
		field_error(e, "invalid_value", r->name, "%s cannot be null", r->name);
		return;
	}
	switch (r->kind) {
	case K_TEXT:
	case K_ENUM:
		free(*(char **)base);
		*(char **)base = NULL;
		break;
	case K_NUMBER:
		((struct optnum *)base)->set = 0;
		break;
	case K_LIST:
		strlist_free((struct strlist *)base);
		break;
	case K_TIME:
		*(int64_t *)base = TIME_NONE;
		break;
	}
}

static void
apply_field(struct incident *inc, const struct field_rule *r, const struct jval *v,
            struct errors *e)
{
	char *base = (char *)inc + r->offset;

	if (v->type == J_NULL) {
		apply_null(inc, r, e);
		return;
	}
	switch (r->kind) {
	case K_TEXT: apply_text((char **)base, r, v, e); break;
	case K_ENUM: apply_enum((char **)base, r, v, e); break;
	case K_NUMBER: apply_number((struct optnum *)base, r, v, e); break;
	case K_LIST: apply_list((struct strlist *)base, r, v, e); break;
	case K_TIME: apply_time((int64_t *)base, r, v, e); break;
	}
}

static void
apply_message(struct incident_input *in, const struct jval *v, struct errors *e)
{
	in->has_message = 1;
	if (v->type == J_NULL)
		return;
	if (check_text(v, "message", MESSAGE_MAX_CHARS, e) != 0)
		return;
	free(in->message);
	in->message = xstrndup(v->u.str.s, v->u.str.len);
}

/* The echo of an unknown name is cut at 64 bytes (on a character boundary);
 * more than that of the key is never looked at. */
#define SHOWN_KEY_BYTES 64
#define SHOWN_KEY_MAX_BYTES (SHOWN_KEY_BYTES * 4)

void
field_error_unknown(struct errors *e, const char *key, size_t keylen)
{
	struct buf *b = buf_new(SHOWN_KEY_MAX_BYTES);
	const char *end = key + (keylen < SHOWN_KEY_MAX_BYTES ? keylen : SHOWN_KEY_MAX_BYTES);
	const char *nul;

	/* the name goes on as a C string: a NUL in it would cut it short */
	while ((nul = memchr(key, '\0', (size_t)(end - key))) != NULL) {
		b = buf_append(b, key, (size_t)(nul - key));
		b = buf_puts(b, "\xEF\xBF\xBD");
		key = nul + 1;
	}
	b = buf_append(b, key, (size_t)(end - key));
	b->data[utf8_cut(b->data, b->len, SHOWN_KEY_BYTES)] = '\0';
	field_error(e, "unknown_field", b->data, "unknown field \"%s\"", b->data);
	buf_free(b);
}

static const struct dialect_field *
write_field_find(const struct dialect_write *w, const char *key, size_t keylen)
{
	const struct dialect_field *f;

	for (f = w->fields; f->name != NULL; f++)
		if (strlen(f->name) == keylen && memcmp(f->name, key, keylen) == 0)
			return f;
	return NULL;
}

/* A member the dialect shows but this write does not take is read-only:
 * naming it is an error, not a no-op. */
static const char *
dialect_shown_name(const struct dialect *d, const char *key, size_t keylen)
{
	const struct dialect_out *o;

	for (o = d->out; o->name != NULL; o++)
		if (strlen(o->name) == keylen && memcmp(o->name, key, keylen) == 0)
			return o->name;
	return NULL;
}

/* The field's rule under the dialect's name and words. */
static void
apply_dialect_field(struct incident *inc, struct incident_input *in,
                    const struct dialect_field *f, const struct jval *v, struct errors *e)
{
	struct field_rule r;

	if (f->field == FIELD_MESSAGE) {
		apply_message(in, v, e);
		return;
	}
	r = rules[f->field];
	r.name = f->name;
	r.map = f->in;
	in->given |= FIELD_BIT(f->field);
	apply_field(inc, &r, v, e);
}

void
incident_apply_body(struct incident *inc, struct incident_input *in, const struct jval *body,
                    const struct dialect *d, const struct dialect_write *w, struct errors *e)
{
	size_t i;

	for (i = 0; i < body->u.obj.n; i++) {
		const char *key = body->u.obj.keys[i];
		size_t keylen = body->u.obj.keylens[i];
		const struct dialect_field *f = write_field_find(w, key, keylen);
		const char *shown;

		if (f != NULL)
			apply_dialect_field(inc, in, f, body->u.obj.vals[i], e);
		else if ((shown = dialect_shown_name(d, key, keylen)) != NULL)
			field_error(e, "invalid_value", shown, "%s is read-only", shown);
		else
			field_error_unknown(e, key, keylen);
	}
}

/* Whether an error about this field is already reported. */
static int
errors_name(const struct errors *e, const char *field)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (e->items[i].source_name != NULL && strcmp(e->items[i].source_name, field) == 0)
			return 1;
	return 0;
}

/* Derived timestamps, the SLA due time and the checks spanning fields. */
void
incident_apply_lifecycle(struct incident *inc, const struct incident *old,
                         const struct incident_input *in, int64_t now, const struct config *cfg,
                         struct errors *e)
{
	int resolved = status_is_resolved(inc->status);
	int was_resolved = old != NULL && status_is_resolved(old->status);
	enum priority prio;

	if (old == NULL || strcmp(old->status, inc->status) != 0) {
		if (status_is_acknowledging(inc->status) && inc->acknowledged_at == TIME_NONE &&
		    !(in->given & FIELD_BIT(F_ACKNOWLEDGED_AT)))
			inc->acknowledged_at = now;
		if (!(in->given & FIELD_BIT(F_RESOLVED_AT))) {
			if (resolved && !was_resolved)
				inc->resolved_at = now;
			else if (!resolved && was_resolved)
				inc->resolved_at = TIME_NONE;
		}
	}
	if (resolved && inc->resolved_at == TIME_NONE)
		field_error(e, "invalid_value", "resolved_at",
		            "resolved_at cannot be null while the incident is %s", inc->status);
	if (!resolved && inc->resolved_at != TIME_NONE)
		field_error(e, "invalid_value", "resolved_at",
		            "resolved_at can only be set when status is resolved, postmortem or closed");
	if (inc->lat.set != inc->lng.set && !errors_name(e, "lat") && !errors_name(e, "lng"))
		field_error(e, "invalid_value", inc->lat.set ? "lng" : "lat",
		            "lat and lng must be given together");
	if ((old == NULL || strcmp(old->priority, inc->priority) != 0) &&
	    priority_parse(inc->priority, &prio) == 0)
		inc->sla_due_at = sla_due_at(inc->created_at, prio, cfg);
}

void
incident_init_defaults(struct incident *inc)
{
	memset(inc, 0, sizeof(*inc));
	inc->status = xstrdup("open");
	inc->priority = xstrdup("normal");
	inc->severity = xstrdup("medium");
	inc->source = xstrdup("api");
	inc->sla_due_at = TIME_NONE;
	inc->started_at = TIME_NONE;
	inc->acknowledged_at = TIME_NONE;
	inc->resolved_at = TIME_NONE;
	inc->created_at = TIME_NONE;
	inc->updated_at = TIME_NONE;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
strlist_copy(struct strlist *dst, const struct strlist *src)
{
	size_t i;

	dst->n = src->n;
	dst->items = src->n ? xcalloc(src->n, sizeof(char *)) : NULL;
	for (i = 0; i < src->n; i++)
		dst->items[i] = xstrdup(src->items[i]);
}

void
incident_copy(struct incident *dst, const struct incident *src)
{
	*dst = *src;
	dst->title = dup_or_null(src->title);
	dst->description = dup_or_null(src->description);
	dst->status = dup_or_null(src->status);
	dst->priority = dup_or_null(src->priority);
	dst->severity = dup_or_null(src->severity);
	dst->source = dup_or_null(src->source);
	dst->source_ref = dup_or_null(src->source_ref);
	dst->location_name = dup_or_null(src->location_name);
	dst->impact_description = dup_or_null(src->impact_description);
	dst->assigned_to = dup_or_null(src->assigned_to);
	dst->customer_token = dup_or_null(src->customer_token);
	dst->created_by = dup_or_null(src->created_by);
	strlist_copy(&dst->tags, &src->tags);
	strlist_copy(&dst->affected_services, &src->affected_services);
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void
incident_free(struct incident *inc)
{
	free(inc->title);
	free(inc->description);
	free(inc->status);
	free(inc->priority);
	free(inc->severity);
	free(inc->source);
	free(inc->source_ref);
	free(inc->location_name);
	free(inc->impact_description);
	free(inc->assigned_to);
	free(inc->customer_token);
	free(inc->created_by);
	strlist_free(&inc->tags);
	strlist_free(&inc->affected_services);
	memset(inc, 0, sizeof(*inc));
}
