/* sse_event.c — an event as the streams send it: the SSE frame for
 * organisation streams and, for the public status-page stream, a frame that
 * carries only title, status and public timeline entries (DESIGN §6). */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

static const struct jval *
member(const struct jval *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->type != J_OBJECT)
		return NULL;
	for (i = 0; i < obj->u.obj.n; i++)
		if (strcmp(obj->u.obj.keys[i], key) == 0)
			return obj->u.obj.vals[i];
	return NULL;
}

static const char *
member_str(const struct jval *obj, const char *key)
{
	const struct jval *v = member(obj, key);

	return v != NULL && v->type == J_STRING ? v->u.str.s : NULL;
}

static int64_t
member_int(const struct jval *obj, const char *key)
{
	const struct jval *v = member(obj, key);

	return v != NULL && v->type == J_NUMBER ? (int64_t)v->u.number : -1;
}

static void
gen_public_reply(yajl_gen g, const struct jval *reply)
{
	jgen_key(g, "reply");
	yajl_gen_map_open(g);
	jgen_key(g, "body");
	jgen_str(g, member_str(reply, "body"));
	jgen_key(g, "status");
	jgen_str(g, member_str(reply, "status"));
	jgen_key(g, "created_at");
	jgen_str(g, member_str(reply, "created_at"));
	yajl_gen_map_close(g);
}

static int
reply_is_public(const struct jval *reply)
{
	const struct jval *internal = member(reply, "internal");

	return reply != NULL && reply->type == J_OBJECT && internal != NULL &&
	       internal->type == J_BOOL && !internal->u.boolean;
}

/* The public view's members after type/seq/at; 0 if the public sees nothing. */
static int
gen_public_members(yajl_gen g, const char *type, const struct jval *root, int *ends)
{
	const struct jval *incident = member(root, "incident");
	const struct jval *changes = member(root, "changes");
	const struct jval *reply = member(root, "reply");

	if (strcmp(type, "incident.deleted") == 0) {
		*ends = 1;
		return 1;
	}
	if (strcmp(type, "incident.reply") == 0) {
		if (!reply_is_public(reply))
			return 0;
		gen_public_reply(g, reply);
		return 1;
	}
	if (strcmp(type, "incident.updated") != 0 || incident == NULL)
		return 0;
	if (member(changes, "title") == NULL && member(changes, "status") == NULL &&
	    !reply_is_public(reply))
		return 0;
	jgen_key(g, "title");
	jgen_str(g, member_str(incident, "title"));
	jgen_key(g, "status");
	jgen_str(g, member_str(incident, "status"));
	jgen_key(g, "updated_at");
	jgen_str(g, member_str(incident, "updated_at"));
	if (reply_is_public(reply))
		gen_public_reply(g, reply);
	return 1;
}

/* The frame inside its chunk: one allocation, sent as is to every stream. */
static void
frame(struct sse_frame *f, int64_t seq, const char *type, const char *data, size_t len)
{
	char *text = xprintf("id: %lld\nevent: %s\ndata: %.*s\n\n", (long long)seq, type,
	                     (int)len, data);
	size_t n = strlen(text);

	f->chunk = xprintf("%zx\r\n%s\r\n", n, text);
	f->chunk_len = strlen(f->chunk);
	f->len = n;
	f->text = f->chunk + (f->chunk_len - n - 2);
	free(text);
}

static void
public_frame(struct sse_event *ev, const char *type, const struct jval *root)
{
	yajl_gen g = json_gen_new();
	char *data;
	size_t len;

	yajl_gen_map_open(g);
	jgen_key(g, "type");
	jgen_str(g, type);
	jgen_key(g, "seq");
	jgen_int(g, ev->seq);
	jgen_key(g, "at");
	jgen_str(g, member_str(root, "at"));
	if (gen_public_members(g, type, root, &ev->ends_public)) {
		yajl_gen_map_close(g);
		data = jgen_finish(g, &len);
		frame(&ev->public_frame, ev->seq, type, data, len);
		free(data);
	}
	yajl_gen_free(g);
}

struct sse_event *
sse_event_from_json(const char *json, size_t len)
{
	char err[128];
	struct jval *root = json_parse(json, len, err, sizeof(err));
	const char *type = member_str(root, "type");
	int64_t seq = member_int(root, "seq");
	struct sse_event *ev;

	/* one SSE data line: our generator never emits raw newlines */
	if (root == NULL || type == NULL || seq <= 0 || memchr(json, '\n', len) != NULL) {
		json_free(root);
		return NULL;
	}
	ev = xcalloc(1, sizeof(*ev));
	ev->refs = 1;
	ev->seq = seq;
	ev->incident_id = member_int(root, "incident_id");
	if (ev->incident_id < 0)
		ev->incident_id = member_int(member(root, "incident"), "id");
	frame(&ev->frame, seq, type, json, len);
	public_frame(ev, type, root);
	json_free(root);
	return ev;
}

struct sse_event *
sse_event_ref(struct sse_event *ev)
{
	ev->refs++;
	return ev;
}

void
sse_event_unref(struct sse_event *ev)
{
	if (ev == NULL || --ev->refs > 0)
		return;
	free(ev->frame.chunk);
	free(ev->public_frame.chunk);
	free(ev);
}
