/* event.c — every committed change has an event: its row is appended in the
 * writing transaction (bumping orgs.event_seq last), and after COMMIT the same
 * JSON is published on incidentd:org:<id> for the stream processes. */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The end of every write: the answer is recorded under the request's
 * Idempotency-Key, the transaction commits, the event is published.  On
 * failure the answer becomes the database error (without the headers of
 * the answer it replaces). */
int
event_commit(struct request *req, struct event *ev)
{
	if (idempotency_record(req) != 0 || db_commit(req->worker->db) != 0) {
		event_discard(ev);
		request_clear_headers(req);
		request_fail_db(req);
		return -1;
	}
	event_publish(req, ev);
	return 0;
}
