/* hooks_sub.c — one held subscription: its read-ahead of the org's event
 * log, the one request in flight and the retry schedule.  Order before
 * throughput: the event at the head is sent until it is delivered (or the
 * subscription given up), and what follows waits.  The cursor moves in
 * memory as events are delivered; hooks_write.c writes it, and the delivery
 * rows, behind them. */
#include "hooks.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct hook_sub *hook_subs;

/* Subscriptions with a request in flight whose next event is to be signed
 * ahead (sign_later), and the event that signs them. */
static struct hook_sub *to_sign;
static struct event *sign_ev;

/* The retry schedule after attempt n (DESIGN §9): 5 s, 30 s, 2 min, 10 min,
 * 1 h, then every 4 h, until HOOKS_RETRY_WINDOW from the first attempt. */
static const int64_t retry_delays[] = {5, 30, 120, 600, 3600, 14400};
#define NDELAYS (sizeof(retry_delays) / sizeof(retry_delays[0]))

int64_t
hook_retry_delay(int attempts)
{
	size_t i = attempts < 1 ? 0 : (size_t)attempts - 1;

	return retry_delays[i < NDELAYS ? i : NDELAYS - 1];
}

/* ±10 %, so subscriptions failing together do not retry together. */
static int64_t
jittered(int64_t delay)
{
	int64_t spread = delay / 5;

	return spread > 0 ? delay - spread / 2 + random() % (spread + 1) : delay;
}

size_t
hook_subs_count(void)
{
	size_t n = 0;
	struct hook_sub *s;

	for (s = hook_subs; s != NULL; s = s->next)
		n++;
	return n;
}

static void
queue_clear(struct hook_sub *s)
{
	size_t i;

	for (i = s->qhead; i < s->nqueue; i++)
		hook_event_unref(s->queue[i]);
	free(s->queue);
	s->queue = NULL;
	s->nqueue = s->qhead = 0;
}

static void
sub_free(struct hook_sub *s)
{
	size_t i;

	queue_clear(s);
	hook_results_free(s->results, s->nresults);
	for (i = 0; i < s->nevents; i++)
		free(s->events[i]);
	free(s->events);
	free(s->id);
	free(s->url);
	hook_signer_free(s->signer);
	hook_signer_free(s->previous_signer);
	hooks_http_channel_free(s->channel);
	free(s->signed_header);
	free(s->updated_at);
	free(s->disable_reason);
	free(s);
}

void
hook_sub_unref(struct hook_sub *s)
{
	if (--s->refs == 0 && s->gone)
		sub_free(s);
}

/* No longer held: out of the list now, freed once no answer is awaited. */
void
hook_sub_drop(struct hook_sub *s)
{
	struct hook_sub **pp;

	for (pp = &hook_subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->gone = 1;
	s->epoch++;
	if (s->refs == 0)
		sub_free(s);
}

void
hook_subs_free_all(void)
{
	/* the loop has stopped: the held subscriptions in the list are freed
	 * below, and one no longer held with its last reference here */
	while (to_sign != NULL) {
		struct hook_sub *s = to_sign;

		to_sign = s->next_to_sign;
		if (s->gone)
			hook_sub_unref(s);
	}
	if (sign_ev != NULL)
		event_free(sign_ev);
	sign_ev = NULL;
	hook_writes_free();
	hook_reads_free();
	while (hook_subs != NULL) {
		struct hook_sub *s = hook_subs;

		hook_subs = s->next;
		sub_free(s); /* the loop has stopped: nothing will answer */
	}
}

static int
wants(const struct hook_sub *s, const char *type)
{
	size_t i;

	if (s->nevents == 0)
		return 1;
	for (i = 0; i < s->nevents; i++)
		if (strcmp(s->events[i], type) == 0)
			return 1;
	return 0;
}

static void
queue_pop(struct hook_sub *s)
{
	hook_event_unref(s->queue[s->qhead++]);
	s->attempts = 0;
	s->first_attempt_at = 0;
	s->next_attempt_at = TIME_NONE;
}

/* A query or request of s is over: drop its reference, and go on unless s
 * is no longer held (then the reference may have been the last). */
void
hook_sub_done(struct hook_sub *s)
{
	if (s->gone) {
		hook_sub_unref(s);
		return;
	}
	hook_sub_unref(s);
	hook_sub_kick(s);
}

/* ---- a query or request under way ---- */

struct sub_call {
	struct hook_sub *s;
	int64_t epoch;
	int64_t cursor; /* a request: the seq it sends */
};

static struct sub_call *
call_new(struct hook_sub *s)
{
	struct sub_call *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->epoch = s->epoch;
	s->refs++;
	return c;
}

/* Events read after what s has (hooks_read.c), behind what it still has
 * queued, which moves to the front; full: there may be more. */
void
hook_sub_append(struct hook_sub *s, struct hook_event *const *evs, size_t n, int full)
{
	size_t i;

	if (s->qhead > 0)
		memmove(s->queue, s->queue + s->qhead, (s->nqueue - s->qhead) * sizeof(*s->queue));
	s->nqueue -= s->qhead;
	s->qhead = 0;
	s->queue = xrealloc(s->queue, (s->nqueue + n + 1) * sizeof(*s->queue));
	for (i = 0; i < n; i++) {
		evs[i]->refs++;
		s->queue[s->nqueue++] = evs[i];
	}
	s->more = s->more || full;
}

/* ---- sending ---- */

/* last_error: at most HOOKS_ERROR_MAX bytes of printable ASCII (library
 * messages may hold anything; the column takes only valid UTF-8). */
static char *
error_text(const char *e)
{
	size_t i, n = strnlen(e, HOOKS_ERROR_MAX);
	char *out = xstrndup(e, n);

	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	return out;
}

static void
result_add(struct hook_sub *s, const struct hook_event *ev, const struct hook_answer *a,
           int64_t next_attempt_at)
{
	struct hook_result *r;

	s->results = xrealloc(s->results, (s->nresults + 1) * sizeof(*s->results));
	r = &s->results[s->nresults++];
	r->seq = ev->seq;
	r->event = xstrdup(ev->type);
	r->attempts = s->attempts;
	r->first_attempt_at = s->first_attempt_at;
	r->status = a->status;
	r->error = a->error != NULL ? error_text(a->error) : NULL;
	r->next_attempt_at = next_attempt_at;
	r->delivered_at = a->error == NULL ? hooks_now() : TIME_NONE;
	r->duration_ms = a->duration_ms;
}

/* An attempt failed: the next one is scheduled, or the subscription given
 * up once the window from the first attempt has passed. */
static void
sub_failed(struct hook_sub *s, const struct hook_event *ev, const struct hook_answer *a)
{
	int64_t now = hooks_now();

	log_warn(NULL, "msg=\"hooks: delivery failed\" webhook=%s seq=%lld attempt=%d status=%d error=%s",
	         s->id, (long long)ev->seq, s->attempts, a->status, LOG_QUOTE(a->error));
	if (now - s->first_attempt_at >= HOOKS_RETRY_WINDOW) {
		char *why = error_text(a->error);

		s->disable_reason = xprintf("event %lld not delivered after %d attempts over 3 days: %s",
		                            (long long)ev->seq, s->attempts, why);
		free(why);
		result_add(s, ev, a, TIME_NONE);
		hooks_status_count(HOOKS_FAILED);
		hooks_status_count(HOOKS_DISABLED);
		return;
	}
	s->next_attempt_at = now + jittered(hook_retry_delay(s->attempts));
	result_add(s, ev, a, s->next_attempt_at);
	hooks_status_count(HOOKS_FAILED);
}

static void
on_answer(void *arg, const struct hook_answer *a)
{
	struct sub_call *c = arg;
	struct hook_sub *s = c->s;
	const struct hook_event *ev;

	s->sending = 0;
	if (s->gone || c->epoch != s->epoch || s->qhead == s->nqueue ||
	    s->queue[s->qhead]->seq != c->cursor) {
		free(c);
		hook_sub_done(s);
		return;
	}
	ev = s->queue[s->qhead];
	s->attempts++;
	if (a->error == NULL) {
		result_add(s, ev, a, TIME_NONE);
		hooks_status_count(HOOKS_DELIVERED);
		s->cursor = ev->seq;
		queue_pop(s);
	} else {
		sub_failed(s, ev, a);
	}
	free(c);
	hook_sub_done(s);
}

/* The parts one after the other into out (cap bytes, cut short as snprintf
 * would): the headers without printf, which cost more than the HMAC per
 * delivery. */
static void
concat(char *out, size_t cap, const char *const *parts)
{
	size_t at = 0;

	for (; *parts != NULL; parts++) {
		size_t n = strlen(*parts);

		if (n > cap - 1 - at)
			n = cap - 1 - at;
		memcpy(out + at, *parts, n);
		at += n;
	}
	out[at] = '\0';
}

/* "<org>-<seq>": the webhook-id, the same for every attempt. */
static void
webhook_id(char *id, size_t cap, const struct hook_sub *s, const struct hook_event *ev)
{
	char org[INT64_TEXT_MAX], seq[INT64_TEXT_MAX];

	int64_text(org, s->org_id);
	int64_text(seq, ev->seq);
	concat(id, cap, (const char *const[]){org, "-", seq, NULL});
}

#define SIG_HEADER_MAX 192 /* two signatures: 114 bytes */

/* The webhook-signature header of body sent at ts into out; -1 when the
 * secret is malformed. */
static int
sig_header(struct hook_sub *s, const char *id, int64_t ts, const char *body, size_t len,
           char *out)
{
	char *sig = s->signer != NULL ? hook_sign(s->signer, id, ts, body, len) : NULL;
	char *old = NULL;

	if (sig == NULL)
		return -1;
	if (s->previous_signer != NULL && ts < s->previous_until)
		old = hook_sign(s->previous_signer, id, ts, body, len);
	/* a rotated secret's signature after the new one's: a receiver checks
	 * each (space-separated) until one verifies */
	concat(out, SIG_HEADER_MAX,
	       (const char *const[]){"webhook-signature: ", sig, old != NULL ? " " : "",
	                             old != NULL ? old : "", NULL});
	free(sig);
	free(old);
	return 0;
}

/* ---- signing the next event ahead ---- */

/* The signing runs from the loop once the callback that started the
 * request has returned: after an answer, libcurl has sent the next request
 * by then (hooks_http.c's check_done), so the HMAC and the body are made
 * while the receiver answers, not between its answer and the request after
 * it, which is what one subscription's rate is made of. */

void
hook_sub_forget_signed(struct hook_sub *s)
{
	free(s->signed_header);
	s->signed_header = NULL;
	s->signed_seq = 0;
}

/* The first event after the one in flight that s sends. */
static struct hook_event *
next_to_send(const struct hook_sub *s)
{
	size_t i;

	for (i = s->qhead + 1; i < s->nqueue; i++)
		if (wants(s, s->queue[i]->type))
			return s->queue[i];
	return NULL;
}

static void
sign_ahead(struct hook_sub *s)
{
	struct hook_event *ev = next_to_send(s);
	char id[2 * INT64_TEXT_MAX + 1], header[SIG_HEADER_MAX];
	int64_t ts = hooks_now();
	const char *body;
	size_t len;

	if (ev == NULL || s->slack || s->signed_seq == ev->seq)
		return;
	hook_sub_forget_signed(s);
	body = hook_event_body(ev, &len);
	webhook_id(id, sizeof(id), s, ev);
	if (sig_header(s, id, ts, body, len, header) != 0)
		return;
	s->signed_header = xstrdup(header);
	s->signed_seq = ev->seq;
	s->signed_at = ts;
}

static void
on_sign(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	while (to_sign != NULL) {
		struct hook_sub *s = to_sign;

		to_sign = s->next_to_sign;
		s->to_sign = 0;
		if (!s->gone && s->sending)
			sign_ahead(s);
		hook_sub_unref(s);
	}
}

static void
sign_later(struct hook_sub *s)
{
	if (s->to_sign || s->slack)
		return;
	if (sign_ev == NULL && (sign_ev = event_new(hooks.base, -1, 0, on_sign, NULL)) == NULL)
		return; /* signed when sent instead */
	s->to_sign = 1;
	s->refs++;
	s->next_to_sign = to_sign;
	to_sign = s;
	event_active(sign_ev, EV_TIMEOUT, 1);
}

/* ---- sending ---- */

/* The header signed ahead if it is for ev at ts (never for the slack
 * format, whose body is made at send time), else one made now. */
static int
send_sig_header(struct hook_sub *s, const char *id, int64_t ts, const struct hook_event *ev,
                const char *body, size_t len, char *out)
{
	int rc = 0;

	if (s->signed_header != NULL && s->signed_seq == ev->seq && s->signed_at == ts)
		concat(out, SIG_HEADER_MAX, (const char *const[]){s->signed_header, NULL});
	else
		rc = sig_header(s, id, ts, body, len, out);
	hook_sub_forget_signed(s);
	return rc;
}

static void
sub_send(struct hook_sub *s, struct hook_event *ev)
{
	int64_t ts = hooks_now();
	size_t len;
	char *slack = s->slack ? hook_slack_body(ev, &len) : NULL;
	const char *body = slack != NULL ? slack : hook_event_body(ev, &len);
	char stamp[INT64_TEXT_MAX], id[2 * INT64_TEXT_MAX + 1], h_id[64], h_ts[48];
	char h_sig[SIG_HEADER_MAX];
	/* Expect: empty — no 100-continue round trip before the body */
	const char *headers[] = {"Content-Type: application/json", "User-Agent: incidentd/" VERSION,
	                         h_id, h_ts, h_sig, "Expect:", NULL};
	struct sub_call *c = call_new(s);
	int signed_ok;

	int64_text(stamp, ts);
	webhook_id(id, sizeof(id), s, ev);
	signed_ok = send_sig_header(s, id, ts, ev, body, len, h_sig) == 0;
	concat(h_id, sizeof(h_id), (const char *const[]){"webhook-id: ", id, NULL});
	concat(h_ts, sizeof(h_ts), (const char *const[]){"webhook-timestamp: ", stamp, NULL});
	c->cursor = ev->seq;
	if (s->attempts == 0)
		s->first_attempt_at = ts;
	s->next_attempt_at = TIME_NONE;
	s->sending = 1;
	if (s->channel == NULL)
		s->channel = hooks_http_channel_new();
	if (!signed_ok || s->channel == NULL ||
	    hooks_http_post(s->channel, s->url, headers, body, len, on_answer, c) != 0) {
		struct hook_answer a = {0, !signed_ok ? "the signing secret is malformed"
		                                      : "the request could not be made", 0};

		/* as an answer from the loop would: the attempt failed */
		s->sending = 0;
		s->attempts++;
		sub_failed(s, ev, &a);
		free(c);
		s->refs--;
	} else {
		sign_later(s);
	}
	free(slack);
}

/* Drops what was read ahead and written behind: the row says where to go on. */
static void
sub_reset(struct hook_sub *s, int64_t cursor)
{
	s->epoch++;
	queue_clear(s);
	hook_results_free(s->results, s->nresults);
	s->results = NULL;
	s->nresults = 0;
	s->cursor = s->persisted = cursor;
	s->attempts = 0;
	s->next_attempt_at = TIME_NONE;
	s->more = 1;
	s->stale = 0;
	s->prior = PRIOR_UNREAD;
	s->prior_seq = 0;
	hook_sub_forget_signed(s);
}

void
hook_sub_reread(struct hook_sub *s, int64_t cursor)
{
	sub_reset(s, cursor);
}

/* Over the share: what was done is written, then the lease given up, so
 * whoever takes it next starts after the last delivery, not before it. */
static void
sub_release(struct hook_sub *s)
{
	if (s->sending || s->writing || s->giving_up)
		return;
	if (hook_writes_pending(s))
		hook_writes_due(s);
	else
		hook_lease_give_up(s);
}

/* Whatever is next: skip, send, wait for a retry, read ahead, write behind. */
void
hook_sub_kick(struct hook_sub *s)
{
	struct hook_event *ev;

	if (s->gone || s->stale || hooks.closed)
		return;
	if (s->releasing) {
		sub_release(s);
		return;
	}
	while (!s->sending && s->qhead < s->nqueue && !wants(s, s->queue[s->qhead]->type)) {
		s->cursor = s->queue[s->qhead]->seq; /* not this subscription's type */
		queue_pop(s);
	}
	if (!s->fetching && s->more && s->nqueue - s->qhead <= HOOKS_READ_AHEAD_LOW &&
	    s->disable_reason == NULL && !hooks.stopping)
		hook_read_ahead(s); /* before the queue runs dry: no wait between batches */
	if (s->prior == PRIOR_UNREAD && !hooks.stopping)
		hook_read_prior(s);
	/* an empty queue: a read is under way, or there is nothing to send */
	if (!s->sending && s->disable_reason == NULL && !hooks.stopping && s->qhead < s->nqueue &&
	    s->prior == PRIOR_READ) {
		ev = s->queue[s->qhead];
		if (s->attempts == 0 && ev->seq == s->prior_seq) {
			/* an earlier process's attempts at this event go on */
			s->attempts = s->prior_attempts;
			s->first_attempt_at = s->prior_first_attempt_at;
			s->next_attempt_at =
			    s->prior_next_attempt_at > 0 ? s->prior_next_attempt_at : TIME_NONE;
			s->prior_seq = 0;
		}
		if (s->next_attempt_at == TIME_NONE || hooks_now() >= s->next_attempt_at)
			sub_send(s, ev);
	}
	hook_writes_due(s);
}

void
hook_subs_wake_org(int64_t org_id)
{
	struct hook_sub *s, *next;

	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		if (s->org_id == org_id) {
			s->more = 1;
			hook_sub_kick(s);
		}
	}
}

void
hook_subs_tick(void)
{
	struct hook_sub *s, *next;

	for (s = hook_subs; s != NULL; s = next) {
		next = s->next;
		hook_sub_kick(s);
	}
}

int64_t
hook_subs_oldest_pending(int64_t now)
{
	int64_t oldest = 0;
	struct hook_sub *s;

	for (s = hook_subs; s != NULL; s = s->next) {
		size_t i;

		for (i = s->qhead; i < s->nqueue; i++) {
			if (!wants(s, s->queue[i]->type))
				continue;
			if (now - s->queue[i]->at > oldest)
				oldest = now - s->queue[i]->at;
			break;
		}
	}
	return oldest;
}
