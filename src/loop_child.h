/*
 * loop_child.h — what incidentd-sse and incidentd-hooks, the two event-loop
 * programs the master execs (master.c), share: their command line, their
 * configuration and their signals.  SIGTERM and SIGINT stop, SIGHUP reloads
 * the configuration, each through libevent so its work happens in the loop
 * (a signal only wakes it).  Builds on core.h.
 */
#ifndef INCIDENTD_LOOP_CHILD_H
#define INCIDENTD_LOOP_CHILD_H

#include "core.h"

#include <event2/event.h>

/* -c FILE into *config_path, -s FD (the status page) into *status_fd and,
 * where slot is not NULL, -i N (the process's slot in it) into *slot, as the
 * master passes them; anything else exits 2 with program's usage. */
void loop_child_args(int argc, char **argv, const char *program, const char **config_path,
                     int64_t *status_fd, int64_t *slot);
/* The file at path (NULL: the defaults) and the environment, with the log
 * level set; fatal when it is bad (start-up).  Free with config_free, free. */
struct config *loop_child_config(const char *path);

/* The event loop, with epoll's changelist; fatal when none can be made. */
struct event_base *loop_base_new(void);

struct loop_signals {
	struct event *ev[3]; /* SIGTERM, SIGINT, SIGHUP */
};
/* Handles SIGTERM and SIGINT with on_stop, SIGHUP with on_reload, on base;
 * then unblocks the three, which the master execs us with blocked
 * (master.c).  Fatal when libevent cannot: only at start-up. */
void loop_signals_start(struct loop_signals *ls, struct event_base *base,
                        event_callback_fn on_stop, event_callback_fn on_reload);
/* After the loop: blocks the three again and frees their events. */
void loop_signals_end(struct loop_signals *ls);
/* SIGHUP's common part: the file at path (and the environment) replaces
 * *cfg, but for the keys that need a restart (config_reload), and sets the
 * log level.  0 when reloaded; -1 when the running configuration stays
 * (logged, with who: "sse", "hooks"). */
int loop_config_reload(struct config **cfg, const char *path, const char *who);

#endif
