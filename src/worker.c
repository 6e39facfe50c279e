/* worker.c — a FastCGI worker: blocking accept loop, one request at a time,
 * one PostgreSQL and one Redis connection.  Here a request is read, routed,
 * authenticated and handed to its handler; the answer is written back. */
#include "api.h"

#include <errno.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t worker_stopping;

static void
worker_on_signal(int sig)
{
	(void)sig;
	worker_stopping = 1;
}

struct reason {
	int status;
	const char *text;
};

static const struct reason reasons[] = {
	{200, "OK"}, {201, "Created"}, {204, "No Content"}, {304, "Not Modified"},
	{400, "Bad Request"},
	{401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
	{405, "Method Not Allowed"}, {409, "Conflict"}, {412, "Precondition Failed"},
	{413, "Content Too Large"}, {422, "Unprocessable Content"}, {429, "Too Many Requests"},
	{500, "Internal Server Error"}, {503, "Service Unavailable"},
};

static const char *
reason_phrase(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "Unknown";
}

/* Reads the body up to BODY_MAX; -1 if it is larger (nginx also caps it). */
static int
request_read_body(struct request *req, FCGX_Request *fr)
{
	const char *cl = request_param(req, "CONTENT_LENGTH");
	int64_t declared = 0;
	int n;

	if (cl != NULL && *cl != '\0' && parse_int64(cl, 0, INT64_MAX, &declared) != 0)
		return -1;
	if (declared > BODY_MAX)
		return -1;
	/* nginx always declares the length of the body it buffered */
	req->body = xmalloc((size_t)declared + 1);
	n = declared > 0 ? FCGX_GetStr(req->body, (int)declared, fr->in) : 0;
	if (n < 0)
		return -1;
	req->body_len = (size_t)n;
	req->body[n] = '\0';
	return 0;
}

static void
request_init(struct request *req, struct worker *w, FCGX_Request *fr)
{
	const char *rid;

	memset(req, 0, sizeof(*req));
	req->worker = w;
	req->fcgi = fr;
	req->env = fr->envp;
	req->method = request_param(req, "REQUEST_METHOD");
	req->path = request_param(req, "DOCUMENT_URI");
	req->query = request_param(req, "QUERY_STRING");
	if (req->method == NULL)
		req->method = "GET";
	if (req->path == NULL)
		req->path = "/";
	rid = request_param(req, "REQUEST_ID");
	/* nginx sets $request_id (hex); without one (direct FastCGI), or with one
	 * that could not go bare into a log line, make our own */
	req->request_id = log_is_token(rid, 64) ? xstrdup(rid) : random_token(16);
	if (req->request_id == NULL)
		req->request_id = xstrdup("-");
	req->now = request_now(req);
}

static void
worker_dispatch(struct request *req)
{
	char allow[64];

	switch (route_match(req->method, req->path, req->worker->api_v1, &req->route, &req->params,
	                    allow, sizeof(allow))) {
	case ROUTE_NOT_FOUND:
		request_fail(req, 404, "not_found", "There is nothing at this path");
		return;
	case ROUTE_METHOD_NOT_ALLOWED:
		request_header(req, "Allow: %s", allow);
		request_fail(req, 405, "method_not_allowed", "%.16s is not allowed here; allowed: %s",
		             req->method, allow);
		return;
	case ROUTE_FOUND:
		break;
	}
	if (req->route->role != ROLE_NONE && auth_authenticate(req, req->route->role) != 0)
		return;
	req->route->handler(req);
	auth_settle(req);
	if (req->status == 0) {
		/* a handler that answered nothing is a bug; never leave the client hanging */
		log_error(req->request_id, "msg=\"handler gave no response\" route=%s",
		          req->route->pattern);
		request_fail(req, 500, "internal_error", "Internal error");
	}
}

static void
worker_write_response(struct request *req, FCGX_Request *fr)
{
	int head_only = strcmp(req->method, "HEAD") == 0;
	char head[256];
	int n;

	/* formatted here: libfcgi's own printf lacks modifiers such as %zu; a
	 * 204 or 304 has no body and must not claim a length (RFC 9110 §8.6) */
	if (req->status == 204 || req->status == 304)
		n = snprintf(head, sizeof(head), "Status: %d %s\r\n", req->status,
		             reason_phrase(req->status));
	else
		n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Length: %zu\r\n",
		             req->status, reason_phrase(req->status), req->out_len);
	FCGX_PutStr(head, n, fr->out);
	if (req->content_type != NULL) {
		FCGX_PutS("Content-Type: ", fr->out);
		FCGX_PutS(req->content_type, fr->out);
		FCGX_PutS("\r\n", fr->out);
	}
	if (req->headers != NULL)
		FCGX_PutStr(req->headers->data, (int)req->headers->len, fr->out);
	FCGX_PutS("\r\n", fr->out);
	if (!head_only && req->out_len > 0)
		FCGX_PutStr(req->out, (int)req->out_len, fr->out);
}

static int64_t
elapsed_ns(const struct timespec *start)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	return (int64_t)(end.tv_sec - start->tv_sec) * 1000000000 + (end.tv_nsec - start->tv_nsec);
}

static void
worker_handle(struct request *req)
{
	FCGX_Request *fr = req->fcgi;
	struct timespec start;
	int64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (request_read_body(req, fr) != 0)
		request_fail(req, 413, "body_too_large", "The request body exceeds 64 KiB");
	else
		worker_dispatch(req);
	worker_write_response(req, fr);
	ns = elapsed_ns(&start);
	/* counted before FCGX_Finish_r sends the response on: a client that has
	 * its answer finds it counted by the next scrape */
	metrics_request(req->route, req->status, ns);
	log_info(req->request_id, "method=%s route=%s status=%d duration_ms=%.2f",
	         LOG_VALUE(req->method), req->route != NULL ? req->route->pattern : "-",
	         req->status, (double)ns / 1e6);
}

/* Expired Idempotency-Key records go in bounded batches, after a request
 * that used a key (only those grow the table), at most one batch a second
 * per worker; "expired" is relative to that request's now. */
static void
worker_prune_idempotency(struct worker *w, int64_t now)
{
	int64_t ms = clock_monotonic_ms();

	if (w->idempotency_pruned_ms != 0 && ms - w->idempotency_pruned_ms < 1000)
		return;
	w->idempotency_pruned_ms = ms;
	if (idempotency_prune(w->db, now) < 0)
		log_warn(NULL, "msg=\"idempotency keys not pruned\" error=%s",
		         LOG_QUOTE(db_last_error(w->db)));
}

static void
worker_signals(sigset_t *during_request)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a signal must interrupt accept() */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(during_request);
	sigaddset(during_request, SIGTERM);
	sigaddset(during_request, SIGINT);
}

int
worker_run(const struct config *cfg, int listen_fd)
{
	struct worker w;
	FCGX_Request fr;
	sigset_t during_request;
	int64_t prune_at;
	int served = 0;

	worker_signals(&during_request);
	/* A list response is ~40 KiB: keep freed memory for the next request
	 * instead of returning it to the kernel each time (measured 10-15 % of
	 * a list's worker CPU in brk/munmap and TLB shootdowns). */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	/* a worker lives with one config (a reload replaces it) */
	w.api_v1 = dialect_named(cfg->api_v1);
	w.db = db_open(cfg->database);
	auth_listen(&w);
	w.pub = publisher_new(cfg->redis);
	if (w.pub == NULL)
		fatal("redis must be host[:port] or unix:/path, not \"%s\"", cfg->redis);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatal("cannot initialise libfcgi");
	while (!worker_stopping && served < cfg->max_requests) {
		struct request req;
		int rc = FCGX_Accept_r(&fr);

		if (rc < 0) {
			if (worker_stopping || rc == -EINTR)
				continue;
			log_error(NULL, "msg=\"accept failed\" rc=%d", rc);
			break;
		}
		/* Signals wait until the request is answered: libfcgi's reads and
		 * writes do not retry after EINTR. */
		sigprocmask(SIG_BLOCK, &during_request, NULL);
		request_init(&req, &w, &fr);
		worker_handle(&req);
		prune_at = request_param(&req, "HTTP_IDEMPOTENCY_KEY") != NULL ? req.now : 0;
		request_reset(&req);
		FCGX_Finish_r(&fr);
		if (prune_at != 0)
			worker_prune_idempotency(&w, prune_at);
		served++;
		sigprocmask(SIG_UNBLOCK, &during_request, NULL);
	}
	FCGX_Free(&fr, 1);
	auth_cache_flush(&w.keys);
	db_close(w.db);
	publisher_free(w.pub);
	return 0;
}
