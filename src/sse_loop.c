/* sse_loop.c — the libevent loop incidentd-sse and incidentd-hooks run. */
#include "sse.h"

#include <event2/event.h>

/* epoll's changelist: the changes a loop pass makes to a descriptor's
 * events reach the kernel as one epoll_ctl at the next wait, and none
 * when they cancel out (a write enabled and done within one pass). */
struct event_base *
sse_loop_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL || event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0)
		fatal("cannot configure the event loop");
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (base == NULL)
		fatal("cannot create the event loop");
	return base;
}
