/* fuzz_json_body.c — a request body as the API sees it: json_parse, then an
 * object goes through create (incident_apply_body without message, the
 * lifecycle, rendering), update (with message, against an existing
 * incident, the change set) and reply validation; every error list is
 * rendered as the envelope.  Everything is freed: LeakSanitizer is on. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW 1773558000 /* 2026-03-15T07:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config fuzz_cfg;

/* What we send must read back: valid JSON in valid UTF-8 (user text is
 * echoed in error messages and stored fields). */
static void
fuzz_check_json(const char *out, size_t len)
{
	char err[160];
	struct jval *v = json_parse(out, len, err, sizeof(err));

	if (v == NULL || v->type != J_OBJECT)
		abort();
	json_free(v);
}

/* The envelope a 422 would carry. */
static void
fuzz_render_errors(struct errors *e)
{
	size_t len;
	char *out = errors_render(e, 422, "fuzz", NULL, &len);

	fuzz_check_json(out, len);
	free(out);
	errors_clear(e);
}

/* A timestamp we accepted is rendered as RFC 3339 that reads back the same. */
static void
fuzz_check_time(int64_t t)
{
	char text[TIME_TEXT_LEN];
	int64_t back;

	if (t == TIME_NONE)
		return;
	time_format(t, text);
	if (time_parse(text, strlen(text), &back) != 0 || back != t)
		abort();
}

static void
fuzz_render_incident(const struct incident *inc, const struct incident *old)
{
	yajl_gen g = json_gen_new();
	char *out;
	size_t len;

	fuzz_check_time(inc->started_at);
	fuzz_check_time(inc->acknowledged_at);
	fuzz_check_time(inc->resolved_at);
	fuzz_check_time(inc->sla_due_at);
	yajl_gen_map_open(g);
	jgen_key(g, "incident");
	incident_render(g, inc, FUZZ_NOW, &fuzz_cfg);
	if (old != NULL) {
		jgen_key(g, "changes");
		if ((incident_render_changes(g, old, inc) > 0) != incident_differs(old, inc))
			abort();
	}
	yajl_gen_map_close(g);
	out = jgen_finish(g, &len);
	fuzz_check_json(out, len);
	free(out);
	yajl_gen_free(g);
}

/* POST /v1/tickets: onto the defaults, as incident_build does. */
static void
fuzz_create(const struct jval *body)
{
	struct incident inc;
	struct incident_input in = {0, NULL, 0};
	struct errors e;

	memset(&e, 0, sizeof(e));
	incident_init_defaults(&inc);
	incident_apply_body(&inc, &in, body, &dialect_v1, &dialect_v1.create, &e);
	if (in.has_message || in.message != NULL)
		abort(); /* message is a PATCH field only */
	inc.created_at = inc.updated_at = FUZZ_NOW;
	if (inc.started_at == TIME_NONE)
		inc.started_at = FUZZ_NOW;
	incident_apply_lifecycle(&inc, NULL, &in, FUZZ_NOW, &fuzz_cfg, &e);
	if (e.n == 0)
		fuzz_render_incident(&inc, NULL);
	fuzz_render_errors(&e);
	incident_free(&inc);
}

/* PATCH /v1/tickets/:id: onto a copy of an existing incident. */
static void
fuzz_update(const struct jval *body)
{
	struct incident old, inc;
	struct incident_input in = {0, NULL, 0};
	struct errors e;

	memset(&e, 0, sizeof(e));
	incident_init_defaults(&old);
	old.id = 1;
	old.title = xstrdup("Database down");
	old.customer_token = xstrdup("abcdefghijklmnopqrstuvwx");
	old.created_by = xstrdup("fuzz");
	old.created_at = old.updated_at = old.started_at = FUZZ_NOW - 3600;
	old.sla_due_at = FUZZ_NOW + 20 * 3600;
	incident_copy(&inc, &old);
	incident_apply_body(&inc, &in, body, &dialect_v1, &dialect_v1.update, &e);
	inc.updated_at = FUZZ_NOW;
	incident_apply_lifecycle(&inc, &old, &in, FUZZ_NOW, &fuzz_cfg, &e);
	if (e.n == 0)
		fuzz_render_incident(&inc, &old);
	fuzz_render_errors(&e);
	free(in.message);
	incident_free(&inc);
	incident_free(&old);
}

/* POST /v1/incidents/:id/replies */
static void
fuzz_reply(const struct jval *body)
{
	struct reply_input in = {NULL, 0};
	struct errors e;

	memset(&e, 0, sizeof(e));
	reply_validate(body, &in, &e);
	if (e.n == 0 && (in.body == NULL || in.body->type != J_STRING))
		abort(); /* a valid reply has a string body */
	fuzz_render_errors(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char err[160];
	struct jval *body;

	if (!ready) {
		config_defaults(&fuzz_cfg);
		log_threshold = LOG_ERROR;
		ready = 1;
	}
	if (size > BODY_MAX)
		return 0; /* nginx and request.c refuse larger bodies */
	body = json_parse((const char *)data, size, err, sizeof(err));
	if (body == NULL) {
		if (strlen(err) == 0)
			abort(); /* every refusal says why */
		return 0;
	}
	if (body->type == J_OBJECT) {
		fuzz_create(body);
		fuzz_update(body);
		fuzz_reply(body);
	}
	json_free(body);
	return 0;
}
