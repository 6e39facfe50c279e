/* loop_child.c — the command line, configuration and signals of
 * incidentd-sse and incidentd-hooks (loop_child.h). */
#include "loop_child.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
loop_child_usage(const char *program, int slots)
{
	fprintf(stderr, "usage: %s [-c config-file] [-s status-fd]%s\n", program,
	        slots ? " [-i slot]" : "");
	exit(2);
}

void
loop_child_args(int argc, char **argv, const char *program, const char **config_path,
                int64_t *status_fd, int64_t *slot)
{
	int opt;

	while ((opt = getopt(argc, argv, "c:s:i:h")) != -1) {
		if (opt == 'c')
			*config_path = optarg;
		else if (opt == 's' && parse_int64(optarg, 0, INT32_MAX, status_fd) == 0)
			continue;
		else if (opt == 'i' && slot != NULL &&
		         parse_int64(optarg, 0, HOOKS_PROCESSES_MAX - 1, slot) == 0)
			continue;
		else
			loop_child_usage(program, slot != NULL);
	}
	if (optind != argc)
		loop_child_usage(program, slot != NULL);
}

struct config *
loop_child_config(const char *path)
{
	struct config *cfg = xmalloc(sizeof(*cfg));
	char err[512];

	config_defaults(cfg);
	if (config_load(cfg, path, err, sizeof(err)) != 0)
		fatal("%s", err);
	log_threshold = cfg->log_level;
	return cfg;
}

static const int loop_signal_numbers[3] = {SIGTERM, SIGINT, SIGHUP};

static void
loop_signals_mask(int how)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < 3; i++)
		sigaddset(&set, loop_signal_numbers[i]);
	sigprocmask(how, &set, NULL);
}

void
loop_signals_start(struct loop_signals *ls, struct event_base *base, event_callback_fn on_stop,
                   event_callback_fn on_reload)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		int sig = loop_signal_numbers[i];

		ls->ev[i] = evsignal_new(base, sig, sig == SIGHUP ? on_reload : on_stop, NULL);
		if (ls->ev[i] == NULL || event_add(ls->ev[i], NULL) != 0)
			fatal("cannot handle signals");
	}
	/* the master starts us with them blocked (master.c): a stop that came
	 * while we were starting is handled now */
	loop_signals_mask(SIG_UNBLOCK);
}

void
loop_signals_end(struct loop_signals *ls)
{
	size_t i;

	/* the master repeats SIGTERM while it waits, and freeing the signal
	 * events restores the default action: blocked, it waits for the exit */
	loop_signals_mask(SIG_BLOCK);
	for (i = 0; i < 3; i++) {
		event_free(ls->ev[i]);
		ls->ev[i] = NULL;
	}
}

int
loop_config_reload(struct config **cfg, const char *path, const char *who)
{
	struct config *next = xmalloc(sizeof(*next));
	char err[512];

	if (config_reload(*cfg, next, path, err, sizeof(err)) != 0) {
		log_error(NULL, "msg=\"%s: reload failed; keeping the configuration\" error=%s", who,
		          LOG_QUOTE(err));
		config_free(next);
		free(next);
		return -1;
	}
	config_free(*cfg);
	free(*cfg);
	*cfg = next;
	log_threshold = next->log_level;
	log_info(NULL, "msg=\"%s: configuration reloaded\"", who);
	return 0;
}

/* epoll's changelist: the changes a loop pass makes to a descriptor's
 * events reach the kernel as one epoll_ctl at the next wait, and none
 * when they cancel out (a write enabled and done within one pass). */
struct event_base *
loop_base_new(void)
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
