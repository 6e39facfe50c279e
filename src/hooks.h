/*
 * hooks.h — incidentd-hooks, the webhook delivery process (DESIGN §9): one
 * libevent loop with libcurl's multi interface, async libpq (sse_pg.c) and
 * the Redis subscriber (sse_redis.c) on it.  Every subscription whose lease
 * this process holds is sent its organisation's events, in seq order, one
 * request in flight at a time, from the cursor stored in PostgreSQL.
 * Builds on core.h and the stream process's loop-side helpers (sse.h: the
 * PostgreSQL queue, DNS on the loop, the Redis subscriber); never api.h.
 */
#ifndef INCIDENTD_HOOKS_H
#define INCIDENTD_HOOKS_H

#include "core.h"
#include "sse.h"

#define HOOKS_TICK_SEC 1          /* leases, due retries, wake-ups without Redis */
#define HOOKS_LEASE_SEC 20        /* a dead host's subscriptions move after this */
#define HOOKS_RENEW_SEC 5         /* held leases are renewed this often */
#define HOOKS_TIMEOUT_MS 10000    /* no answer within this: a failed attempt */
#define HOOKS_BODY_MAX (64 * 1024) /* of a response: read, then dropped */
#define HOOKS_KEEP_CONNECTIONS 1024 /* idle connections libcurl keeps open */
#define HOOKS_FETCH_ROWS 500      /* events per read of the log */
#define HOOKS_FETCH_ROWS_TEXT "500"
#define HOOKS_READ_AHEAD_LOW 250  /* the next read starts when this few are left */
/* Results written at once when this many wait.  A statement costs
 * PostgreSQL a fixed part (executor set-up, commit) beside its rows, and
 * while it runs it holds a CPU the host's other processes wait for: with
 * 64, PostgreSQL's CPU per delivery was half as much again (bench/hooks). */
#define HOOKS_WRITE_BATCH 256
#define HOOKS_WRITE_DELAY_MS 50   /* else at most this long after they came */
#define HOOKS_WRITE_ROWS 4096     /* results (rows, run elements) per statement, at most */
#define HOOKS_RETRY_WINDOW (3 * 86400) /* then the subscription is disabled */
#define HOOKS_ERROR_MAX 200       /* last_error's length */

/* ---- hooks_main.c: the process ---- */
struct hooks {
	struct event_base *base;
	struct config *cfg;
	const char *config_path;
	struct sse_pg *pg;      /* leases and writes */
	struct sse_pg *pg_read; /* read-ahead of the event log: never queued behind a write */
	struct sse_redis *redis;
	char *owner; /* the lease owner: host name, pid, start time */
	int stopping;
	int closed; /* the loop is over: start nothing */
};
extern struct hooks hooks;
/* "Now" for the retry schedule: the clock, moved by the test clock file
 * (<config>.clock: seconds to add) in --enable-test-clock builds. */
int64_t hooks_now(void);

/* ---- hooks_sub.c: one held subscription ---- */
struct hook_event {
	int refs; /* the read and the queues holding it (hooks_read.c) */
	int64_t seq;
	int64_t at;
	char *type;
	char *payload; /* JSON object without type/seq/at, as in the log */
	char *body;    /* the standard format's body (the org stream's message):
	                * NULL until hook_event_body makes it */
	size_t body_len;
};
/* One attempt's outcome, waiting to be written with the cursor. */
struct hook_result {
	int64_t seq;
	char *event;
	int attempts;
	int64_t first_attempt_at;
	int status;            /* 0: no HTTP answer */
	char *error;           /* NULL when delivered */
	int64_t next_attempt_at; /* TIME_NONE: none */
	int64_t delivered_at;    /* TIME_NONE: not delivered */
	int duration_ms;
};
struct hook_sub {
	struct hook_sub *next;
	char *id;
	int64_t org_id;
	char *url;
	struct hook_signer *signer; /* keyed with the secret; NULL: malformed */
	struct hook_signer *previous_signer; /* the rotated secret, or NULL */
	int64_t previous_until; /* it signs too until then (hooks_now) */
	struct hook_channel *channel; /* made at the first request */
	char **events; /* subscribed types; none: every type */
	size_t nevents;
	int slack;
	char *updated_at; /* the row's version as read: a change means re-read */
	int64_t persisted;  /* cursor_seq as stored */
	int64_t cursor;     /* done up to here (ahead of persisted until written) */
	struct hook_event **queue; /* read-ahead events after cursor */
	size_t nqueue, qhead;
	struct hook_result *results; /* to write */
	size_t nresults;
	char *disable_reason; /* to write: the subscription is given up */
	int fetching, writing, sending, more;
	int stale;   /* a write found the row changed: wait for the next read */
	int gone;    /* no longer held: freed once nothing refers to it */
	int seen;    /* in the latest lease read */
	/* over this process's share (hooks_lease.c): sends nothing more, and
	 * its lease is given up once nothing is in flight or unwritten */
	int releasing, giving_up;
	int refs;    /* queries and the request in flight */
	int64_t epoch; /* bumped by a reset: older answers are ignored */
	/* earlier attempts at the event after the stored cursor, read once
	 * from webhook_deliveries when s starts from it (hooks_read.c) */
	enum { PRIOR_UNREAD, PRIOR_READING, PRIOR_READ } prior;
	int64_t prior_seq; /* 0: none */
	int prior_attempts;
	int64_t prior_first_attempt_at, prior_next_attempt_at;
	/* webhook_deliveries and webhook_delivery_runs may hold seqs of s up
	 * to this one (read with the prior attempts, raised by each
	 * statement's results): a result after it is new, inserted without the
	 * upsert's conflict check, into a run when delivered at the first try */
	int64_t rows_upto;
	/* the event being sent */
	int attempts;
	int64_t first_attempt_at;
	int64_t next_attempt_at; /* TIME_NONE: not waiting */
	/* the next event's webhook-signature header, made while the request
	 * before it was in flight: used if it is sent within the same second */
	char *signed_header;
	int64_t signed_seq, signed_at;
	struct hook_sub *next_to_sign; /* in the list of those waiting for it */
	int to_sign;
};
extern struct hook_sub *hook_subs;
size_t hook_subs_count(void);
void hook_sub_kick(struct hook_sub *s);
/* s's secrets changed: a signature made ahead is dropped. */
void hook_sub_forget_signed(struct hook_sub *s);
/* Starts again from cursor (the row's): read-ahead and unwritten results dropped. */
void hook_sub_reread(struct hook_sub *s, int64_t cursor);
void hook_sub_drop(struct hook_sub *s);
void hook_sub_unref(struct hook_sub *s);
/* A query or request of s is over: its reference dropped, s kicked on. */
void hook_sub_done(struct hook_sub *s);
void hook_subs_wake_org(int64_t org_id);
void hook_subs_tick(void);
/* The oldest undelivered head event's age among held subscriptions (0: none). */
int64_t hook_subs_oldest_pending(int64_t now);
void hook_subs_free_all(void);
/* The retry delay after attempt n (1-based), before jitter, in seconds. */
int64_t hook_retry_delay(int attempts);

/* Events read after what s has, behind its queue; full: there may be more. */
void hook_sub_append(struct hook_sub *s, struct hook_event *const *evs, size_t n, int full);

/* ---- hooks_read.c: the organisation's log, read ahead ---- */
/* Events after s's last queued one (or its cursor): from a read of the
 * org's log kept or under way after the same seq, else a new one. */
void hook_read_ahead(struct hook_sub *s);
/* The earlier attempts at the event after s's cursor, before it sends. */
void hook_read_prior(struct hook_sub *s);
void hook_reads_free(void);
void hook_event_unref(struct hook_event *ev);
/* ev's standard body, made at the first call. */
const char *hook_event_body(struct hook_event *ev, size_t *len);

/* ---- hooks_write.c: the cursors and delivery rows, written behind ---- */
/* s has results or a cursor to write: now, or within HOOKS_WRITE_DELAY_MS. */
void hook_writes_due(struct hook_sub *s);
/* s has a cursor, results or a disable not yet written. */
int hook_writes_pending(const struct hook_sub *s);
void hook_writes_free(void);
void hook_results_free(struct hook_result *r, size_t n);

/* ---- hooks_lease.c: taking, renewing and giving up leases ---- */
void hook_leases_refresh(void);
/* s is releasing and idle: its lease is freed for another process, then
 * s is dropped. */
void hook_lease_give_up(struct hook_sub *s);
/* SIGTERM: gives every lease up, then calls done (from the loop). */
void hook_leases_release(void (*done)(void));

/* ---- hooks_http.c: libcurl multi on the loop ---- */
struct hook_channel; /* one subscription's requests, one at a time */
struct hook_answer {
	int status;           /* HTTP status, 0 when none */
	const char *error;    /* NULL on a 2xx */
	int duration_ms;
};
typedef void (*hook_answer_cb)(void *arg, const struct hook_answer *a);
void hooks_http_init(struct event_base *base);
void hooks_http_free(void);
/* NULL when libcurl cannot make a handle.  Freeing a channel with a request
 * in flight abandons it (its callback never runs). */
struct hook_channel *hooks_http_channel_new(void);
void hooks_http_channel_free(struct hook_channel *ch);
/* POSTs body to url with headers (a NULL-terminated list of "Name: value")
 * on ch; cb runs once, from the loop, with the outcome.  Copies what it
 * needs.  -1: not sent (ch already has a request in flight, or libcurl said
 * no). */
int hooks_http_post(struct hook_channel *ch, const char *url, const char *const *headers,
                    const char *body, size_t len, hook_answer_cb cb, void *arg);

/* ---- hooks_sign.c: the Standard Webhooks signature ---- */
/* The key after whsec_ decoded and the HMAC keyed once per secret:
 * hook_signer_new is NULL when the secret is malformed.  hook_sign makes
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>"; caller frees. */
struct hook_signer *hook_signer_new(const char *secret);
char *hook_sign(struct hook_signer *k, const char *id, int64_t timestamp, const char *body,
                size_t len);
void hook_signer_free(struct hook_signer *k);

/* ---- hooks_body.c: what is posted ---- */
/* The slack format's body, {"text": ...}; caller frees.  (The standard
 * format posts ev->body, the event exactly as on the org stream.) */
char *hook_slack_body(const struct hook_event *ev, size_t *len);

#endif
