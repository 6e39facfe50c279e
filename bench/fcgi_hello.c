/*
 * fcgi_hello.c — the floor for one FastCGI request through nginx, for
 * bench/crud: the same process model as incidentd (a master opens the unix
 * socket, forks WORKERS prefork children, each a blocking FCGX_Accept_r
 * loop) but every request is answered 200 {"ok":true} without reading the
 * body, touching a database or logging.  incidentd's GET by id is compared
 * with this.
 *
 *	usage: fcgi_hello SOCKET WORKERS
 *
 * SIGTERM or SIGINT stops the workers and removes the socket.  Build:
 *	cc -O2 -Wall -Wextra -Werror -o fcgi_hello fcgi_hello.c -lfcgi
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024 /* as incidentd's master.c */
#define WORKERS_MAX 64

static const char response[] = "Status: 200 OK\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 11\r\n"
                               "\r\n"
                               "{\"ok\":true}";

static volatile sig_atomic_t stopping, child_exited;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		child_exited = 1;
	else
		stopping = 1;
}

static void
die(const char *what)
{
	fprintf(stderr, "fcgi_hello: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
worker(int listen_fd)
{
	FCGX_Request req;

	if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
		return 1;
	/* SIGTERM's default action ends the worker between requests or inside one;
	 * the benchmark is over by then. */
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(response, (int)sizeof(response) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	pid_t pids[WORKERS_MAX];
	struct sigaction sa;
	sigset_t block, old;
	int fd, i, n;

	if (argc != 3 || (n = atoi(argv[2])) < 1 || n > WORKERS_MAX) {
		fprintf(stderr, "usage: fcgi_hello SOCKET WORKERS (1..%d)\n", WORKERS_MAX);
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "fcgi_hello: FCGX_Init failed\n");
		return 1;
	}
	if (unlink(argv[1]) != 0 && errno != ENOENT)
		die("unlink");
	if ((fd = FCGX_OpenSocket(argv[1], LISTEN_BACKLOG)) < 0) {
		fprintf(stderr, "fcgi_hello: cannot listen on %s\n", argv[1]);
		return 1;
	}
	if (chmod(argv[1], 0666) != 0)
		die("chmod");

	/* Block the stop signals until the master waits for them, so one that
	 * arrives while it forks is not lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGCHLD, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			_exit(worker(fd));
		}
	}
	/* A worker that dies early is a broken benchmark: stop everything. */
	while (!stopping && !child_exited)
		sigsuspend(&old);
	if (!stopping)
		fprintf(stderr, "fcgi_hello: a worker exited; stopping\n");
	for (i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	unlink(argv[1]);
	return stopping ? 0 : 1;
}
