/* event.c — every committed change has an event: its row is appended in the
 * writing transaction (bumping orgs.event_seq last), and after COMMIT the same
 * JSON is published on incidentd:org:<id> for the stream processes. */
#include "incidentd.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
event_channel(int64_t org_id)
{
	return xprintf("incidentd:org:%lld", (long long)org_id);
}

int
event_append(struct request *req, const char *type, int64_t incident_id, char *payload,
             struct event *ev)
{
	char org[24], incident[24], at[24];
	const char *params[5] = {org, type, incident, payload, at};
	PGresult *res;

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->at = req->now;
	ev->payload = payload;
	snprintf(org, sizeof(org), "%lld", (long long)req->auth.org_id);
	snprintf(incident, sizeof(incident), "%lld", (long long)incident_id);
	snprintf(at, sizeof(at), "%lld", (long long)req->now);
	res = db_exec(req->worker->db, STMT_EVENT_APPEND, 5, params);
	if (res == NULL)
		return -1;
	ev->seq = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return ev->seq > 0 ? 0 : -1;
}

/* The envelope members come first; the payload object's members follow. */
char *
event_message(const struct event *ev, size_t *len)
{
	yajl_gen g = json_gen_new();
	char *head, *msg;
	size_t headlen, plen = strlen(ev->payload);

	yajl_gen_map_open(g);
	jgen_key(g, "type");
	jgen_str(g, ev->type);
	jgen_key(g, "seq");
	jgen_int(g, ev->seq);
	jgen_key(g, "at");
	jgen_time(g, ev->at);
	yajl_gen_map_close(g);
	head = jgen_finish(g, &headlen);
	yajl_gen_free(g);
	/* head is {...}; payload is {...} from our own generator: splice them. */
	if (plen <= 2) {
		*len = headlen;
		return head;
	}
	msg = xprintf("%.*s,%s", (int)(headlen - 1), head, ev->payload + 1);
	free(head);
	*len = strlen(msg);
	return msg;
}

void
event_publish(struct request *req, struct event *ev)
{
	char *channel, *msg;
	size_t len;

	if (ev->payload == NULL || ev->seq <= 0) {
		event_discard(ev);
		return;
	}
	channel = event_channel(req->auth.org_id);
	msg = event_message(ev, &len);
	if (publisher_publish(req->worker->pub, channel, msg, len, req->request_id) != 0)
		log_warn(req->request_id, "msg=\"event not published; streams will catch up\" seq=%lld",
		         (long long)ev->seq);
	free(msg);
	free(channel);
	event_discard(ev);
}

void
event_discard(struct event *ev)
{
	free(ev->payload);
	ev->payload = NULL;
}
