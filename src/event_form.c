/* event_form.c — an event as it travels: the JSON that is published on Redis,
 * stored in the log and sent on the streams, and the Redis channel of its
 * organisation.  Shared by the writers (event.c) and incidentd-sse, which
 * must agree on both exactly. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

char *
event_channel(int64_t org_id)
{
	return xprintf(EVENT_CHANNEL_PREFIX "%lld", (long long)org_id);
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
