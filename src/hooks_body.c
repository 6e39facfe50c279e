/* hooks_body.c — what a slack-format subscription is posted: a chat message
 * ({"text": ...}, which Slack's and Mattermost's incoming webhooks take as
 * it is).  The standard format posts the event exactly as the org stream
 * sends it, made once per event (hooks_read.c). */
#include "hooks.h"

#include <stdlib.h>
#include <string.h>

#define SLACK_REPLY_CHARS 300 /* of a reply's body, in the message */

/* The string member name of obj, or NULL. */
static const char *
member_str(const struct jval *obj, const char *name)
{
	size_t i;

	if (obj == NULL || obj->type != J_OBJECT)
		return NULL;
	for (i = 0; i < obj->u.obj.n; i++)
		if (json_key_is(obj, i, name) && obj->u.obj.vals[i]->type == J_STRING)
			return obj->u.obj.vals[i]->u.str.s;
	return NULL;
}

static const struct jval *
member(const struct jval *obj, const char *name)
{
	size_t i;

	if (obj == NULL || obj->type != J_OBJECT)
		return NULL;
	for (i = 0; i < obj->u.obj.n; i++)
		if (json_key_is(obj, i, name))
			return obj->u.obj.vals[i];
	return NULL;
}

static int64_t
member_int(const struct jval *obj, const char *name)
{
	const struct jval *v = member(obj, name);

	return v != NULL && v->type == J_NUMBER ? (int64_t)v->u.number : 0;
}

/* What each event type says first. */
static const struct {
	const char *type;
	const char *headline;
} headlines[] = {
    {"incident.created", "New incident"},
    {"incident.updated", "Incident updated"},
    {"incident.reply", "New reply on incident"},
    {"incident.deleted", "Incident deleted"},
};

static const char *
headline(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(headlines) / sizeof(headlines[0]); i++)
		if (strcmp(headlines[i].type, type) == 0)
			return headlines[i].headline;
	return type;
}

/* "New incident #12: Database down (investigating)\n<status page>" */
static char *
slack_text(const struct hook_event *ev, const struct jval *payload)
{
	const struct jval *inc = member(payload, "incident"), *reply = member(payload, "reply");
	const char *title = member_str(inc, "title"), *status = member_str(inc, "status");
	const char *token = member_str(inc, "customer_token"), *body = member_str(reply, "body");
	int64_t id = inc != NULL ? member_int(inc, "id") : member_int(payload, "incident_id");
	struct buf *b = buf_printf(buf_new(256), "%s", headline(ev->type));
	char *out;

	if (id > 0)
		b = buf_printf(b, " #%lld", (long long)id);
	if (title != NULL)
		b = buf_printf(b, ": %s", title);
	if (status != NULL)
		b = buf_printf(b, " (%s)", status);
	if (body != NULL && strcmp(ev->type, "incident.reply") == 0) {
		size_t len = strlen(body), cut = utf8_cut(body, len, SLACK_REPLY_CHARS);

		b = buf_printf(b, "\n%.*s%s", (int)cut, body, cut < len ? "…" : "");
	}
	if (token != NULL)
		b = buf_printf(b, "\n%s/incidents/status/%s", hooks.cfg->public_base_url, token);
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

char *
hook_slack_body(const struct hook_event *ev, size_t *len)
{
	char err[128];
	struct jval *payload = json_parse(ev->payload, strlen(ev->payload), err, sizeof(err));
	char *text = slack_text(ev, payload), *out;
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	jgen_key(g, "text");
	jgen_str(g, text);
	yajl_gen_map_close(g);
	out = jgen_finish(g, len);
	yajl_gen_free(g);
	free(text);
	json_free(payload);
	return out;
}
