/* webhook_validate.c — a subscription's JSON body onto its fields: a table
 * of the members a client may write, each checked by the shared rules
 * (webhook_rules.c), every error collected with its source.field. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

struct webhook_member {
	const char *name;
	void (*apply)(struct webhook_fields *w, const struct jval *v, int allow_private,
	              struct errors *e);
};

static void
apply_url(struct webhook_fields *w, const struct jval *v, int allow_private, struct errors *e)
{
	size_t before = e->n + e->dropped;

	if (v->type == J_NULL) {
		field_error(e, "is_required", "url", "url is required");
		return;
	}
	if (v->type != J_STRING) {
		field_error(e, "invalid_value", "url", "url must be a string");
		return;
	}
	webhook_url_check(v->u.str.s, v->u.str.len, allow_private, e);
	if (e->n + e->dropped != before)
		return;
	free(w->url);
	w->url = xstrndup(v->u.str.s, v->u.str.len);
}

/* null, like omitting it on create: every type. */
static void
apply_events(struct webhook_fields *w, const struct jval *v, int allow_private, struct errors *e)
{
	struct webhook_text items[WEBHOOK_EVENTS_MAX];
	size_t i, n;

	(void)allow_private;
	if (v->type == J_NULL) {
		w->events = 0;
		return;
	}
	if (v->type != J_ARRAY) {
		field_error(e, "invalid_value", "events", "events must be an array of event types");
		return;
	}
	n = v->u.arr.n;
	for (i = 0; i < n && i < WEBHOOK_EVENTS_MAX; i++) {
		const struct jval *item = v->u.arr.items[i];

		if (item->type != J_STRING) {
			field_error(e, "invalid_value", "events", "events must hold strings only");
			return;
		}
		items[i].s = item->u.str.s;
		items[i].len = item->u.str.len;
	}
	/* over the bound, webhook_events_parse refuses before reading items */
	webhook_events_parse(items, n, &w->events, e);
}

static void
apply_description(struct webhook_fields *w, const struct jval *v, int allow_private,
                  struct errors *e)
{
	size_t before = e->n + e->dropped;

	(void)allow_private;
	if (v->type == J_NULL) {
		free(w->description);
		w->description = NULL;
		return;
	}
	if (v->type != J_STRING) {
		field_error(e, "invalid_value", "description", "description must be a string or null");
		return;
	}
	webhook_description_check(v->u.str.s, v->u.str.len, e);
	if (e->n + e->dropped != before)
		return;
	free(w->description);
	w->description = xstrndup(v->u.str.s, v->u.str.len);
}

/* null: the default, standard. */
static void
apply_format(struct webhook_fields *w, const struct jval *v, int allow_private, struct errors *e)
{
	const char *f = webhook_formats[0];

	(void)allow_private;
	if (v->type == J_STRING)
		f = webhook_format_lookup(v->u.str.s, v->u.str.len);
	else if (v->type != J_NULL)
		f = NULL;
	if (f == NULL)
		field_error(e, "invalid_value", "format", "format must be standard or slack");
	else
		w->format = f;
}

static void
apply_enabled(struct webhook_fields *w, const struct jval *v, int allow_private, struct errors *e)
{
	(void)allow_private;
	if (v->type != J_BOOL)
		field_error(e, "invalid_value", "enabled", "enabled must be true or false");
	else
		w->enabled = v->u.boolean;
}

static const struct webhook_member members[] = {
	{"url", apply_url},           {"events", apply_events}, {"description", apply_description},
	{"format", apply_format},     {"enabled", apply_enabled},
};

#define NMEMBERS (sizeof(members) / sizeof(members[0]))

void
webhook_fields_defaults(struct webhook_fields *w)
{
	memset(w, 0, sizeof(*w));
	w->format = webhook_formats[0];
	w->enabled = 1;
}

void
webhook_apply_body(struct webhook_fields *w, const struct jval *obj, int creating,
                   int allow_private, struct errors *e)
{
	size_t i, j;

	for (i = 0; i < obj->u.obj.n; i++) {
		for (j = 0; j < NMEMBERS; j++)
			if (json_key_is(obj, i, members[j].name))
				break;
		if (j == NMEMBERS)
			field_error_unknown(e, obj->u.obj.keys[i], obj->u.obj.keylens[i]);
		else
			members[j].apply(w, obj->u.obj.vals[i], allow_private, e);
	}
	if (creating && w->url == NULL && !errors_about(e, "url"))
		field_error(e, "is_required", "url", "url is required");
}

static int
same_text(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

int
webhook_fields_equal(const struct webhook_fields *a, const struct webhook_fields *b)
{
	return same_text(a->url, b->url) && a->events == b->events &&
	       same_text(a->description, b->description) && strcmp(a->format, b->format) == 0 &&
	       !a->enabled == !b->enabled;
}

void
webhook_fields_free(struct webhook_fields *w)
{
	free(w->url);
	free(w->description);
	memset(w, 0, sizeof(*w));
}
