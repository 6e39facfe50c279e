/* test_hooks_http.c — hooks_http.c's libcurl-on-libevent loop against two
 * receivers in child processes: every answer reaches its callback, and a
 * subscription whose receiver has answered by the time libcurl looks does
 * not hold the loop while another subscription's answer waits. */
#include "tap.h"
#include "hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct hooks hooks; /* hooks_http.c reads hooks.cfg */

/* libcurl looks whether an answer is there right after sending a request
 * (poll with no wait).  Once slow_polls is set, every poll of this process
 * starts 2 ms late, so an answer made at once is always there by then, as
 * it often is when the receiver runs on another core. */
static int slow_polls;

int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	static int (*real_poll)(struct pollfd *, nfds_t, int);

	if (real_poll == NULL)
		*(void **)&real_poll = dlsym(RTLD_NEXT, "poll");
	if (slow_polls) {
		struct timespec late = {0, 2000000};

		nanosleep(&late, NULL);
	}
	return real_poll(fds, n, timeout);
}

/* ---- a receiver: a child process answering every POST 204, after
 * delay_ms; one connection at a time is enough (libcurl keeps one per
 * channel here) */

/* Answers every complete request in buf[0..*len), keeping a partial one. */
static int
answer_requests(int fd, char *buf, size_t *len, int delay_ms)
{
	static const char reply[] = "HTTP/1.1 204 No Content\r\n\r\n";
	char *end;

	while ((end = memmem(buf, *len, "\r\n\r\n", 4)) != NULL) {
		size_t head = (size_t)(end - buf) + 4, body = 0, whole;
		char *cl = memmem(buf, head, "\r\nContent-Length:", 17);

		if (cl != NULL)
			body = strtoul(cl + 17, NULL, 10);
		whole = head + body;
		if (whole > *len)
			break;
		if (delay_ms > 0) {
			struct timespec d = {0, (long)delay_ms * 1000000L};

			nanosleep(&d, NULL);
		}
		if (write(fd, reply, sizeof(reply) - 1) != (ssize_t)(sizeof(reply) - 1))
			return -1;
		memmove(buf, buf + whole, *len - whole);
		*len -= whole;
	}
	return 0;
}

static void
receiver_serve(int listener, int delay_ms)
{
	static char buf[65536];

	for (;;) {
		int fd = accept(listener, NULL, NULL);
		size_t len = 0;
		ssize_t n;

		if (fd < 0)
			_exit(errno == EINTR ? 0 : 1);
		while ((n = read(fd, buf + len, sizeof(buf) - len)) > 0) {
			len += (size_t)n;
			if (answer_requests(fd, buf, &len, delay_ms) != 0 || len == sizeof(buf))
				break;
		}
		close(fd);
	}
}

/* A receiver on 127.0.0.1: its pid, and its URL in url. */
static pid_t
receiver_start(int delay_ms, char *url, size_t urllen)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(listener, 16) != 0 || getsockname(listener, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	snprintf(url, urllen, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
	if ((pid = fork()) == 0)
		receiver_serve(listener, delay_ms);
	close(listener);
	return pid;
}

static void
receiver_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* ---- the subscriptions' side */

#define A_REQUESTS 30

static const char *const post_headers[] = {"Content-Type: application/json", NULL};
static const char post_body[] = "{\"type\":\"incident.updated\"}";

struct chain {
	struct hook_channel *ch;
	const char *url;
	int answered, ok;
	int limit;              /* requests to make one after another */
	struct chain *watch;    /* when this one is answered: how far watch had got */
	int watch_answered;
};

static int
chain_post(struct chain *c);

static void
on_chain_answer(void *arg, const struct hook_answer *a)
{
	struct chain *c = arg;

	c->answered++;
	c->ok += a->error == NULL && a->status == 204;
	if (c->watch != NULL)
		c->watch_answered = c->watch->answered;
	if (c->answered < c->limit && chain_post(c) != 0)
		c->limit = c->answered; /* counted as not answered below */
}

static int
chain_post(struct chain *c)
{
	return hooks_http_post(c->ch, c->url, post_headers, post_body, sizeof(post_body) - 1,
	                       on_chain_answer, c);
}

/* Runs the loop until every chain has its answers, or 10 s have passed. */
static void
run_until_answered(struct event_base *base, struct chain *const *chains, size_t n)
{
	time_t give_up = time(NULL) + 10;
	size_t i, done;

	do {
		event_base_loop(base, EVLOOP_ONCE);
		for (i = 0, done = 0; i < n; i++)
			done += chains[i]->answered >= chains[i]->limit;
	} while (done < n && time(NULL) < give_up);
}

void
test_hooks_http(void)
{
	struct config cfg = {0};
	struct event_base *base = event_base_new();
	char url_a[64], url_b[64];
	pid_t fast = receiver_start(0, url_a, sizeof(url_a));
	pid_t slow = receiver_start(20, url_b, sizeof(url_b));
	struct chain a = {0}, b = {0};
	struct chain *both[2] = {&a, &b};

	ok(base != NULL && fast > 0 && slow > 0, "two receivers, one answering 20 ms late");
	if (base == NULL || fast <= 0 || slow <= 0)
		goto out;
	cfg.webhook_allow_private = 1;
	hooks.cfg = &cfg;
	hooks_http_init(base);
	a.ch = hooks_http_channel_new();
	b.ch = hooks_http_channel_new();
	a.url = url_a;
	b.url = url_b;

	/* one request each: the connections libcurl keeps for the next */
	a.limit = b.limit = 1;
	ok(chain_post(&a) == 0 && chain_post(&b) == 0, "a request on each channel");
	run_until_answered(base, both, 2);
	is_int(a.ok + b.ok, 2, "both answered 204");

	/* a's receiver answers before libcurl looks, every time; b's answer
	 * comes 20 ms after its request, while a goes on */
	slow_polls = 1;
	a.answered = b.answered = a.ok = b.ok = 0;
	a.limit = A_REQUESTS;
	b.limit = 1;
	b.watch = &a;
	ok(chain_post(&a) == 0 && chain_post(&b) == 0, "a chain of requests on a, one on b");
	run_until_answered(base, both, 2);
	slow_polls = 0;
	is_int(a.ok, A_REQUESTS, "a: every request answered, one after another");
	is_int(b.ok, 1, "b: answered");
	ok(b.watch_answered < A_REQUESTS,
	   "b's answer was taken while a's chain went on (a had %d of %d answers)",
	   b.watch_answered, A_REQUESTS);

	hooks_http_channel_free(a.ch);
	hooks_http_channel_free(b.ch);
	hooks_http_free();
out:
	receiver_stop(fast);
	receiver_stop(slow);
	if (base != NULL)
		event_base_free(base);
}
