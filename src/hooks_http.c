/* hooks_http.c — libcurl's multi interface on the process's libevent loop
 * (curl_multi_socket_action driven by socket and timer events, libcurl's
 * "multi-event" pattern), so no request ever blocks the loop: libcurl's
 * threaded resolver looks names up (Debian's libcurl4-openssl has it:
 * AsynchDNS).  Every request: http/https only, no redirects, no proxy from
 * the environment, TLS verified, a 10 s limit, at most 64 KiB of the answer
 * read, and (webhook_allow_private = no) no connection to a private address,
 * whatever the name resolved to. */
#include "hooks.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One subscription's way out, one request at a time: its libcurl handle
 * keeps the options set once (the safety rules below), and the headers and
 * body are copied into buffers the next request reuses.  libcurl's reset and
 * fresh options, and an allocation per header, were a tenth of the process's
 * time per delivery. */
struct hook_channel {
	CURL *easy;
	char *url;                    /* as last set on easy */
	CURLU *parsed;                /* url, parsed once (CURLOPT_CURLU) */
	struct curl_slist *headers;   /* nheaders nodes, data in hdata */
	size_t nheaders;
	char *hdata;
	size_t hdata_cap;
	char *body;
	size_t body_cap;
	size_t received;        /* bytes of the answer read */
	int refused_private;    /* the connect-time check said no */
	int busy;               /* a request is in flight */
	int64_t started_ms;
	hook_answer_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	struct hook_channel *prev, *next; /* every channel with a request in flight */
};

/* One per socket libcurl asks us to watch.  libcurl stops watching a
 * kept-alive connection between two requests and watches it again for the
 * next: the watches go back to a spare list rather than to free(). */
struct sock_watch {
	struct event *ev;
	struct sock_watch *next_spare;
};
static struct sock_watch *spare_watches;

static CURLM *multi;
static struct event_base *http_base;
static struct event *timer_ev;
/* starts the requests added, once the sockets ready in this pass are done */
static struct event *start_ev;
static struct event *again_ev; /* check_done once more, at the loop's next pass */
static struct hook_channel *requests;

static void check_done(void);

static void
on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	(void)arg;
	curl_multi_socket_action(multi, fd, flags, &running);
	check_done();
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	int running;

	(void)fd;
	(void)what;
	(void)arg;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer, else (re)arms it. */
static int
on_timer_update(CURLM *m, long timeout_ms, void *userp)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	(void)m;
	(void)userp;
	if (timeout_ms < 0)
		return evtimer_del(timer_ev);
	return evtimer_add(timer_ev, &tv);
}

/* CURLMOPT_SOCKETFUNCTION: what to watch on s. */
static int
on_socket_update(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct sock_watch *w = socketp;
	short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
	                     ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);

	(void)easy;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_del(w->ev);
			w->next_spare = spare_watches;
			spare_watches = w;
			curl_multi_assign(multi, s, NULL);
		}
		return 0;
	}
	if (w == NULL) {
		if ((w = spare_watches) != NULL) {
			spare_watches = w->next_spare;
		} else {
			w = xcalloc(1, sizeof(*w));
			if ((w->ev = event_new(http_base, -1, 0, NULL, NULL)) == NULL)
				fatal("out of memory creating an event");
		}
		curl_multi_assign(multi, s, w);
	} else {
		event_del(w->ev);
	}
	/* the same event, re-aimed: no allocation per change of direction */
	event_assign(w->ev, http_base, s, kind, on_socket_event, NULL);
	if (event_add(w->ev, NULL) != 0) {
		log_error(NULL, "msg=\"hooks: cannot watch a socket\"");
		return -1;
	}
	return 0;
}

/* The answer is read to 64 KiB and dropped; past that the transfer stops
 * (the status line is what counts). */
static size_t
on_body(char *data, size_t size, size_t n, void *userp)
{
	struct hook_channel *r = userp;

	(void)data;
	r->received += size * n;
	return r->received > HOOKS_BODY_MAX ? 0 : size * n;
}

/* CURLOPT_OPENSOCKETFUNCTION: every address libcurl connects to, checked
 * after resolution, so a name pointing at 127.0.0.1 is refused too. */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct hook_channel *r = clientp;

	(void)purpose;
	if (!hooks.cfg->webhook_allow_private && sockaddr_is_private(&addr->addr)) {
		r->refused_private = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static void
request_unlink(struct hook_channel *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		requests = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->busy = 0;
}

/* Why an attempt failed, for last_error: never the URL. */
static const char *
request_error(struct hook_channel *r, CURLcode rc, long status)
{
	if (r->refused_private)
		return "refused: the destination is a private address (webhook_allow_private = no)";
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return "timeout: no answer within 10 s";
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status > 0))
		return r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);
	if (status >= 300 && status < 400)
		return "redirect: not followed";
	return "HTTP status not 2xx";
}

static void
finish(struct hook_channel *r, CURLcode rc)
{
	struct hook_answer a;
	long status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	a.status = (int)status;
	a.duration_ms = (int)(clock_monotonic_ms() - r->started_ms);
	/* a 2xx whose body was cut at 64 KiB was still answered */
	a.error = (status >= 200 && status < 300 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR))
	              ? NULL
	              : request_error(r, rc, status);
	curl_multi_remove_handle(multi, r->easy);
	request_unlink(r);
	r->cb(r->arg, &a); /* may free r (the subscription is gone) */
}

/* Finished transfers are answered; the requests their callbacks make
 * (each subscription's next event) start from start_ev. */
static void
check_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		struct hook_channel *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		finish(r, msg->data.result);
	}
}

/* The requests added start together, after the sockets ready in this pass
 * of the loop were read, rather than one at a time between them (one
 * libcurl call for all, one burst for the receiver) or at the next pass,
 * when libcurl's timer would fire.  A transfer can end within that call,
 * when the answer is there already; it is answered at the loop's next
 * pass, after the sockets ready by then.  Answered here, in a loop, one
 * subscription whose receiver kept answering at once held the process for
 * a hundred requests in a row, while every other subscription's answer
 * waited (bench/hooks, 100 subscriptions: some finished in a third of the
 * time of others). */
static void
on_start(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval next_pass = {0, 0};
	int running;

	(void)fd;
	(void)what;
	(void)arg;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	if (evtimer_add(again_ev, &next_pass) != 0)
		fatal("cannot add a timer");
}

static void
on_again(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	check_done();
}

void
hooks_http_init(struct event_base *base)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (multi = curl_multi_init()) == NULL)
		fatal("cannot initialise libcurl");
	http_base = base;
	timer_ev = evtimer_new(base, on_timeout, NULL);
	start_ev = evtimer_new(base, on_start, NULL);
	again_ev = evtimer_new(base, on_again, NULL);
	if (timer_ev == NULL || start_ev == NULL || again_ev == NULL)
		fatal("out of memory creating a timer");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket_update);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer_update);
	/* keep a connection per subscription's host alive between requests */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)HOOKS_KEEP_CONNECTIONS);
}

/* Requests still in flight when the loop stops are abandoned (their
 * channels are freed with their subscriptions). */
void
hooks_http_free(void)
{
	if (multi == NULL)
		return;
	while (requests != NULL) {
		struct hook_channel *r = requests;

		curl_multi_remove_handle(multi, r->easy);
		request_unlink(r);
	}
	curl_multi_cleanup(multi);
	multi = NULL;
	while (spare_watches != NULL) {
		struct sock_watch *w = spare_watches;

		spare_watches = w->next_spare;
		event_free(w->ev);
		free(w);
	}
	event_free(timer_ev);
	event_free(start_ev);
	event_free(again_ev);
	curl_global_cleanup();
}

/* Options that hold for every request (DESIGN §9's safety rules), set once
 * per channel: libcurl keeps them from one transfer to the next. */
static int
channel_setup(struct hook_channel *r)
{
	CURL *e = r->easy;

	return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
	       /* no proxy for any host: also spares libcurl its two getenv()
	        * calls per request for no_proxy (1 % of the process's work) */
	       curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)HOOKS_TIMEOUT_MS) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK
	           ? -1
	           : 0;
}

struct hook_channel *
hooks_http_channel_new(void)
{
	struct hook_channel *r = xcalloc(1, sizeof(*r));

	if ((r->easy = curl_easy_init()) == NULL || channel_setup(r) != 0) {
		hooks_http_channel_free(r);
		return NULL;
	}
	return r;
}

void
hooks_http_channel_free(struct hook_channel *r)
{
	if (r == NULL)
		return;
	if (r->busy) {
		curl_multi_remove_handle(multi, r->easy);
		request_unlink(r);
	}
	curl_easy_cleanup(r->easy);
	curl_url_cleanup(r->parsed);
	free(r->url);
	free(r->headers);
	free(r->hdata);
	free(r->body);
	free(r);
}

static void
grow(char **p, size_t *cap, size_t need)
{
	if (need > *cap) {
		*p = xrealloc(*p, need);
		*cap = need;
	}
}

/* The headers, packed into hdata, one list node each. */
static void
channel_headers(struct hook_channel *r, const char *const *headers)
{
	size_t n, need = 0, at = 0, i;

	for (n = 0; headers[n] != NULL; n++)
		need += strlen(headers[n]) + 1;
	grow(&r->hdata, &r->hdata_cap, need);
	if (n > r->nheaders) {
		r->headers = xrealloc(r->headers, n * sizeof(*r->headers));
		r->nheaders = n;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(headers[i]) + 1;

		memcpy(r->hdata + at, headers[i], len);
		r->headers[i].data = r->hdata + at;
		r->headers[i].next = i + 1 < n ? &r->headers[i + 1] : NULL;
		at += len;
	}
}

/* The URL, handed to libcurl parsed: given as a string it was parsed again
 * for every request (9 % of the process's instructions per delivery).  One
 * our parse refuses goes as the string, and libcurl's own refusal at the
 * attempt says why in last_error. */
static int
channel_url(struct hook_channel *r, const char *url)
{
	free(r->url);
	r->url = NULL; /* set again next time, unless all goes well */
	if (r->parsed == NULL && (r->parsed = curl_url()) == NULL)
		return -1;
	if (curl_url_set(r->parsed, CURLUPART_URL, url, 0) == CURLUE_OK) {
		if (curl_easy_setopt(r->easy, CURLOPT_CURLU, r->parsed) != CURLE_OK)
			return -1;
	} else if (curl_easy_setopt(r->easy, CURLOPT_CURLU, NULL) != CURLE_OK ||
	           curl_easy_setopt(r->easy, CURLOPT_URL, url) != CURLE_OK) {
		return -1;
	}
	r->url = xstrdup(url);
	return 0;
}

int
hooks_http_post(struct hook_channel *r, const char *url, const char *const *headers,
                const char *body, size_t len, hook_answer_cb cb, void *arg)
{
	if (r->busy || headers[0] == NULL)
		return -1;
	if ((r->url == NULL || strcmp(r->url, url) != 0) && channel_url(r, url) != 0)
		return -1;
	channel_headers(r, headers);
	grow(&r->body, &r->body_cap, len + 1);
	memcpy(r->body, body, len);
	r->body[len] = '\0';
	r->received = 0;
	r->refused_private = 0;
	r->errbuf[0] = '\0';
	r->cb = cb;
	r->arg = arg;
	if (curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
	    curl_multi_add_handle(multi, r->easy) != CURLM_OK)
		return -1;
	r->started_ms = clock_monotonic_ms();
	r->busy = 1;
	event_active(start_ev, EV_TIMEOUT, 1);
	r->next = requests;
	if (requests != NULL)
		requests->prev = r;
	requests = r;
	return 0;
}
