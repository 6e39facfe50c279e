/* master.c — the incidentd master: opens the FastCGI socket, forks the
 * workers and starts the stream process (incidentd-sse) and the webhook
 * delivery processes (incidentd-hooks, hooks_processes of them), restarts any
 * child that dies, replaces the workers on SIGHUP (passing it on to those
 * processes) and drains
 * everything on SIGTERM.  Signal handlers only set flags; this
 * loop does the work. */
#include "api.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define RESPAWN_HOLDOFF_SEC 1 /* a worker that dies this young is restarted after a pause */

static volatile sig_atomic_t got_stop, got_reload, got_child;

static void
master_on_signal(int sig)
{
	if (sig == SIGTERM || sig == SIGINT)
		got_stop = 1;
	else if (sig == SIGHUP)
		got_reload = 1;
	else if (sig == SIGCHLD)
		got_child = 1;
}

struct child {
	pid_t pid;
	int generation;
	time_t started;
};

struct master {
	struct config *cfg;
	const char *config_path;
	int listen_fd;
	int generation;
	struct child *children; /* index i: the worker using metrics slot i */
	size_t nchildren;
	time_t respawn_after;
	char *sse_program;
	int sse_status_fd; /* stream_status page, passed to incidentd-sse */
	struct child sse;
	time_t sse_respawn_after;
	char *hooks_program;
	int hooks_status_fd; /* hooks_status page, passed to incidentd-hooks */
	struct child hooks[HOOKS_PROCESSES_MAX]; /* index: its slot in the page */
	time_t hooks_respawn_after[HOOKS_PROCESSES_MAX];
	int draining; /* workers that exit now are not replaced */
};

static int
master_open_socket(const struct config *cfg)
{
	mode_t old_umask;
	int fd;

	/* a socket file left by a crashed master would make bind fail */
	if (unlink(cfg->listen) != 0 && errno != ENOENT)
		fatal("cannot remove stale socket %s: %s", cfg->listen, strerror(errno));
	/* bind creates the file with 0777 minus the umask: never let it be
	 * wider than socket_mode, not even until the chmod below */
	old_umask = umask((mode_t)~cfg->socket_mode & 0777);
	fd = FCGX_OpenSocket(cfg->listen, LISTEN_BACKLOG);
	umask(old_umask);
	if (fd < 0)
		fatal("cannot listen on %s", cfg->listen);
	if (chmod(cfg->listen, (mode_t)cfg->socket_mode) != 0)
		fatal("cannot chmod %s: %s", cfg->listen, strerror(errno));
	return fd;
}

static void
master_spawn(struct master *m, struct child *slot)
{
	size_t index = (size_t)(slot - m->children);
	pid_t pid;

	metrics_slot_reserve(index);
	pid = fork();

	if (pid < 0) {
		log_error(NULL, "msg=\"fork failed\" error=\"%s\"", strerror(errno));
		slot->pid = 0;
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGCHLD, SIG_DFL);
		metrics_slot_use(index);
		_exit(worker_run(m->cfg, m->listen_fd));
	}
	slot->pid = pid;
	slot->generation = m->generation;
	slot->started = time(NULL);
	log_debug(NULL, "msg=\"worker started\" pid=%ld", (long)pid);
}

/* In an exec'd child (incidentd-sse, incidentd-hooks), before execv: the
 * stop and reload signals stay blocked (the mask survives execve) until the
 * program has its handlers in place and unblocks them (sse_main.c,
 * hooks_main.c), so a SIGTERM that comes while it is still starting is
 * handled then, as a stop, instead of killing it by the default action. */
static void
exec_child_signals(void)
{
	sigset_t starting;

	sigemptyset(&starting);
	sigaddset(&starting, SIGTERM);
	sigaddset(&starting, SIGINT);
	sigaddset(&starting, SIGHUP);
	sigprocmask(SIG_SETMASK, &starting, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

/* incidentd-sse and incidentd-hooks live next to incidentd (same build,
 * same install dir). */
static char *
helper_program_path(const char *name)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return xstrdup(name);
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		slash[1] = '\0';
	return xprintf("%s%s", slash != NULL ? self : "", name);
}

/* Forks and execs incidentd-sse or incidentd-hooks (name, at path
 * program) into c, handing it its status page (-s status_fd), its slot in
 * it (-i slot, unless slot < 0) and the master's configuration file. */
static void
master_spawn_helper(struct master *m, struct child *c, const char *program, const char *name,
                    int status_fd, int slot)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error(NULL, "msg=\"fork failed\" error=\"%s\"", strerror(errno));
		return;
	}
	if (pid == 0) {
		char fd[16], index[16];
		char *argv[8];
		int n = 0;

		snprintf(fd, sizeof(fd), "%d", status_fd);
		snprintf(index, sizeof(index), "%d", slot);
		argv[n++] = (char *)name;
		argv[n++] = "-s";
		argv[n++] = fd;
		if (slot >= 0) {
			argv[n++] = "-i";
			argv[n++] = index;
		}
		if (m->config_path != NULL) {
			argv[n++] = "-c";
			argv[n++] = (char *)m->config_path;
		}
		argv[n] = NULL;
		if (config_pin_restart_keys(m->cfg) != 0) {
			log_error(NULL, "msg=\"cannot set the environment of %s\" error=\"%s\"", name,
			          strerror(errno));
			_exit(127);
		}
		exec_child_signals();
		close(m->listen_fd);
		execv(program, argv);
		log_error(NULL, "msg=\"cannot run %s\" program=%s error=\"%s\"", name,
		          LOG_VALUE(program), strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	c->started = time(NULL);
	log_debug(NULL, "msg=\"%s started\" pid=%ld", name, (long)pid);
}

/* incidentd-sse when sse_listen is set; hooks_processes incidentd-hooks
 * unless webhook_delivery = no (every host delivers, the leases share the
 * work out).  Each unless it runs or died young a moment ago. */
static void
master_spawn_helpers(struct master *m)
{
	time_t now = time(NULL);
	int i;

	if (m->cfg->sse_listen[0] != '\0' && m->sse.pid <= 0 && now >= m->sse_respawn_after)
		master_spawn_helper(m, &m->sse, m->sse_program, "incidentd-sse", m->sse_status_fd, -1);
	for (i = 0; m->cfg->webhook_delivery && i < m->cfg->hooks_processes; i++)
		if (m->hooks[i].pid <= 0 && now >= m->hooks_respawn_after[i])
			master_spawn_helper(m, &m->hooks[i], m->hooks_program, "incidentd-hooks",
			                    m->hooks_status_fd, i);
}

/* incidentd-sse and every incidentd-hooks: sig. */
static void
master_signal_helpers(const struct master *m, int sig)
{
	int i;

	if (m->sse.pid > 0)
		kill(m->sse.pid, sig);
	for (i = 0; i < HOOKS_PROCESSES_MAX; i++)
		if (m->hooks[i].pid > 0)
			kill(m->hooks[i].pid, sig);
}

/* For /metrics: workers alive, of every generation. */
static void
master_count_workers(const struct master *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].pid > 0)
			n++;
	metrics_set_workers(n);
}

/* Brings the current generation up to cfg->workers live workers. */
static void
master_fill(struct master *m)
{
	size_t i, live = 0;

	if (time(NULL) < m->respawn_after)
		return;
	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].pid > 0 && m->children[i].generation == m->generation)
			live++;
	for (i = 0; live < (size_t)m->cfg->workers; i++) {
		if (i == m->nchildren) {
			if (i == metrics_slots()) {
				/* only reloads faster than workers drain get here */
				log_warn(NULL, "msg=\"no free metrics slot; waiting for retiring workers\"");
				return;
			}
			m->children = xrealloc(m->children, (m->nchildren + 1) * sizeof(struct child));
			m->children[m->nchildren++].pid = 0;
		}
		if (m->children[i].pid == 0) {
			master_spawn(m, &m->children[i]);
			if (m->children[i].pid == 0)
				return;
			live++;
		}
	}
	master_count_workers(m);
}

static void
master_log_exit(const char *kind, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warn(NULL, "msg=\"%s %ld killed by signal %d\"", kind, (long)pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warn(NULL, "msg=\"%s %ld exited with status %d\"", kind, (long)pid,
		         WEXITSTATUS(status));
	else
		log_debug(NULL, "msg=\"%s %ld exited\"", kind, (long)pid);
}

/* A child that died young (and not cleanly) is restarted after a pause. */
static int
died_young(const struct child *c, int status)
{
	return time(NULL) - c->started < RESPAWN_HOLDOFF_SEC &&
	       (!WIFEXITED(status) || WEXITSTATUS(status) != 0);
}

/* incidentd-sse or incidentd-hooks (kind, in the log) ended with status:
 * it starts again at once unless it died young.  (The caller marks its
 * status page gone.) */
static void
helper_exited(struct child *c, const char *kind, int status, time_t *respawn_after)
{
	master_log_exit(kind, c->pid, status);
	c->pid = 0;
	if (died_young(c, status))
		*respawn_after = time(NULL) + RESPAWN_HOLDOFF_SEC;
}

/* 1 when pid was one of the incidentd-hooks. */
static int
master_reap_hooks(struct master *m, pid_t pid, int status)
{
	int i;

	for (i = 0; i < HOOKS_PROCESSES_MAX; i++) {
		if (m->hooks[i].pid != pid)
			continue;
		helper_exited(&m->hooks[i], "hooks", status, &m->hooks_respawn_after[i]);
		hooks_status_lost(i);
		return 1;
	}
	return 0;
}

static void
master_reap(struct master *m)
{
	pid_t pid;
	int status;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->sse.pid) {
			helper_exited(&m->sse, "sse", status, &m->sse_respawn_after);
			stream_status_lost();
			continue;
		}
		if (master_reap_hooks(m, pid, status))
			continue;
		master_log_exit("worker", pid, status);
		for (i = 0; i < m->nchildren; i++) {
			if (m->children[i].pid != pid)
				continue;
			m->children[i].pid = 0;
			if (!m->draining && m->children[i].generation == m->generation)
				metrics_restart(WIFEXITED(status) && WEXITSTATUS(status) == 0
				                    ? RESTART_MAX_REQUESTS
				                    : RESTART_DIED);
			if (died_young(&m->children[i], status))
				m->respawn_after = time(NULL) + RESPAWN_HOLDOFF_SEC;
		}
	}
	master_count_workers(m);
}

static void
master_signal_children(struct master *m, int sig, int only_old_generation)
{
	size_t i;

	for (i = 0; i < m->nchildren; i++) {
		if (m->children[i].pid <= 0)
			continue;
		if (only_old_generation && m->children[i].generation == m->generation)
			continue;
		kill(m->children[i].pid, sig);
	}
}

static size_t
master_live(const struct master *m)
{
	size_t i, n = m->sse.pid > 0;

	for (i = 0; i < HOOKS_PROCESSES_MAX; i++)
		n += m->hooks[i].pid > 0;
	for (i = 0; i < m->nchildren; i++)
		if (m->children[i].pid > 0)
			n++;
	return n;
}

/* After a reload: the incidentd-hooks over hooks_processes (all of them
 * when webhook_delivery = no) stop as on SIGTERM, handing their leases to
 * the others; master_spawn_helpers starts the ones now missing. */
static void
master_stop_extra_hooks(const struct master *m)
{
	int i, keep = m->cfg->webhook_delivery ? m->cfg->hooks_processes : 0;

	for (i = keep; i < HOOKS_PROCESSES_MAX; i++)
		if (m->hooks[i].pid > 0)
			kill(m->hooks[i].pid, SIGTERM);
}

/* SIGHUP: new configuration (socket settings excepted), new workers. */
static void
master_reload(struct master *m)
{
	struct config *next = xmalloc(sizeof(*next));
	char err[512];

	if (config_reload(m->cfg, next, m->config_path, err, sizeof(err)) != 0) {
		log_error(NULL, "msg=\"reload failed; keeping the running configuration\" error=%s",
		          LOG_QUOTE(err));
		config_free(next);
		free(next);
		return;
	}
	log_threshold = next->log_level;
	/* retiring workers hold their own copy (fork), so the master's can go */
	config_free(m->cfg);
	free(m->cfg);
	m->cfg = next;
	m->generation++;
	master_signal_children(m, SIGTERM, 1);
	master_signal_helpers(m, SIGHUP);
	master_stop_extra_hooks(m);
	log_info(NULL, "msg=\"configuration reloaded; replacing workers\"");
}

/* Waits up to one second for a signal, with signals unblocked only here. */
static void
master_wait(const sigset_t *unblocked)
{
	struct timespec tick = {1, 0};

	if (!got_stop && !got_reload && !got_child)
		pselect(0, NULL, NULL, NULL, &tick, unblocked);
}

/* First SIGTERM: workers finish their request and exit; after
 * shutdown_timeout (or a second SIGTERM) the rest are killed. */
static void
master_drain(struct master *m, const sigset_t *unblocked)
{
	time_t deadline = time(NULL) + m->cfg->shutdown_timeout;

	log_info(NULL, "msg=\"stopping; draining %zu children\"", master_live(m));
	got_stop = 0;
	m->draining = 1;
	while (master_live(m) > 0) {
		/* repeated: a worker signalled just before it entered accept() waits there */
		master_signal_children(m, SIGTERM, 0);
		master_signal_helpers(m, SIGTERM);
		master_wait(unblocked);
		got_child = 0;
		master_reap(m);
		if (got_stop || time(NULL) >= deadline) {
			log_warn(NULL, "msg=\"killing children that did not stop\"");
			master_signal_children(m, SIGKILL, 0);
			master_signal_helpers(m, SIGKILL);
			got_stop = 0;
		}
	}
}

int
master_run(struct config *cfg, const char *config_path)
{
	struct master m;
	struct sigaction sa;
	sigset_t blocked, unblocked;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.config_path = config_path;
	m.listen_fd = master_open_socket(cfg);

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, &unblocked);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info(NULL, "msg=\"incidentd started\" listen=%s workers=%d", LOG_VALUE(cfg->listen),
	         cfg->workers);
	m.sse_program = helper_program_path("incidentd-sse");
	m.hooks_program = helper_program_path("incidentd-hooks");
	m.hooks_status_fd = hooks_status_create(); /* before any worker is forked */
	m.sse_status_fd = -1;
	if (cfg->sse_listen[0] != '\0')
		m.sse_status_fd = stream_status_create(); /* before any worker is forked */
	metrics_create(); /* the workers share it too: before the first fork */
	while (!got_stop) {
		master_fill(&m);
		master_spawn_helpers(&m);
		master_wait(&unblocked);
		if (got_child) {
			got_child = 0;
			master_reap(&m);
		}
		if (got_reload) {
			got_reload = 0;
			master_reload(&m);
		}
	}
	master_drain(&m, &unblocked);
	close(m.listen_fd);
	if (m.sse_status_fd >= 0)
		close(m.sse_status_fd);
	close(m.hooks_status_fd);
	unlink(m.cfg->listen);
	free(m.children);
	free(m.sse_program);
	free(m.hooks_program);
	metrics_free();
	log_info(NULL, "msg=\"incidentd stopped\"");
	config_free(m.cfg);
	free(m.cfg);
	return 0;
}
