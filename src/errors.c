/* errors.c — every 4xx/5xx body comes from errors_render(): the DESIGN §3
 * envelope with all errors of the request. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct status_type {
	int status;
	const char *type;
	const char *default_code;
	const char *default_message;
};

static const struct status_type status_types[] = {
	{400, "invalid_request_error", "invalid_request", "The request is malformed"},
	{401, "authentication_error", "missing_authorization_material",
	 "No authorization material provided in request"},
	{403, "authorization_error", "insufficient_role", "The API key's role does not allow this"},
	{404, "not_found_error", "not_found", "Not found"},
	{405, "invalid_request_error", "method_not_allowed", "Method not allowed"},
	{409, "conflict_error", "conflict", "The request conflicts with the current state"},
	{412, "precondition_failed_error", "etag_mismatch", "The resource has changed"},
	{413, "invalid_request_error", "body_too_large", "The request body exceeds 64 KiB"},
	{422, "validation_error", "invalid_value", "The request failed validation"},
	{429, "rate_limit_error", "rate_limited", "Too many requests"},
	{500, "internal_error", "internal_error", "Internal error"},
	{502, "service_unavailable_error", "bad_gateway", "The upstream is unavailable"},
	{503, "service_unavailable_error", "service_unavailable", "Service unavailable"},
	{504, "service_unavailable_error", "gateway_timeout", "The upstream timed out"},
};

static const struct status_type *
status_type_find(int status)
{
	size_t i;

	for (i = 0; i < sizeof(status_types) / sizeof(status_types[0]); i++)
		if (status_types[i].status == status)
			return &status_types[i];
	/* an unlisted status renders as the generic one of its class */
	return status_type_find(status >= 500 ? 500 : 400);
}

const char *
error_type_for_status(int status)
{
	return status_type_find(status)->type;
}

void
errors_add(struct errors *e, const char *code, const char *source_kind,
           const char *source_name, const char *fmt, ...)
{
	struct error_item *it;
	va_list ap;

	/* Bounded: a body with thousands of bad items yields a bounded envelope. */
	if (e->n >= ERRORS_MAX) {
		e->dropped++;
		return;
	}
	it = &e->items[e->n++];
	it->code = code;
	va_start(ap, fmt);
	if (vasprintf(&it->message, fmt, ap) < 0)
		fatal("out of memory formatting an error");
	va_end(ap);
	it->source_kind = source_kind;
	it->source_name = source_name != NULL ? xstrdup(source_name) : NULL;
}

int
errors_about(const struct errors *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (e->items[i].source_name != NULL && strcmp(e->items[i].source_name, name) == 0)
			return 1;
	return 0;
}

void
errors_clear(struct errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->items[i].message);
		free(e->items[i].source_name);
	}
	e->n = 0;
	e->dropped = 0;
}

static void
render_item(yajl_gen g, const struct error_item *it)
{
	yajl_gen_map_open(g);
	jgen_key(g, "code");
	jgen_str(g, it->code);
	jgen_key(g, "message");
	jgen_str(g, it->message);
	if (it->source_kind != NULL) {
		jgen_key(g, "source");
		yajl_gen_map_open(g);
		jgen_key(g, it->source_kind);
		jgen_str(g, it->source_name);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

char *
errors_render(const struct errors *e, int status, const char *request_id,
              const char *const *extra, size_t *len)
{
	const struct status_type *st = status_type_find(status);
	yajl_gen g = json_gen_new();
	struct error_item fallback = {st->default_code, (char *)st->default_message, NULL, NULL};
	char *out;
	size_t i;

	yajl_gen_map_open(g);
	jgen_key(g, "type");
	jgen_str(g, st->type);
	jgen_key(g, "status");
	jgen_int(g, status);
	jgen_key(g, "request_id");
	jgen_str(g, request_id != NULL ? request_id : "");
	jgen_key(g, "errors");
	yajl_gen_array_open(g);
	for (i = 0; i < e->n; i++)
		render_item(g, &e->items[i]);
	if (e->n == 0)
		render_item(g, &fallback);
	yajl_gen_array_close(g);
	if (e->dropped > 0) {
		jgen_key(g, "errors_omitted");
		jgen_int(g, (int64_t)e->dropped);
	}
	for (i = 0; extra != NULL && extra[i] != NULL && extra[i + 1] != NULL; i += 2) {
		jgen_key(g, extra[i]);
		jgen_str(g, extra[i + 1]);
	}
	yajl_gen_map_close(g);
	out = jgen_finish(g, len);
	yajl_gen_free(g);
	return out;
}
