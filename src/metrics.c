/* metrics.c — GET /metrics: the whole host in Prometheus text exposition
 * format 0.0.4, whichever worker answers.
 *
 * The workers' counters live in one table the master maps (shared,
 * anonymous) before it forks: a head the master writes (live workers,
 * restarts) and one slot per worker.  A slot has a single writer, its
 * worker, so counting is a relaxed load and store with no lock; readers sum
 * every slot ever handed out.  A slot outlives its worker: the master gives a
 * dead worker's slot to its replacement, which adds on, so every counter
 * only grows.  incidentd-sse's figures come from its status page
 * (stream_status.c), incidentd-hooks's from its own (hooks_status.c): a
 * scrape reads memory, never PostgreSQL, and each host reports the
 * subscriptions it holds (Prometheus sums or maxes the hosts).
 *
 * Sizes are fixed when the table is made: a series per distinct route
 * pattern plus "none" (no route matched, so a raw path never becomes a
 * label), the statuses incidentd answers plus "other", 13 bucket bounds. */
#include "api.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Workers of two generations overlap during a reload (256 each at most);
 * slots past those ever used are never touched, so cost no memory. */
#define METRICS_SLOTS 1024

static const int statuses[] = {200, 201, 204, 304, 400, 401, 403, 404,
                               405, 409, 412, 413, 422, 429, 500, 503};
_Static_assert(sizeof(statuses) / sizeof(statuses[0]) + 1 == METRICS_NSTATUS,
               "METRICS_NSTATUS is the statuses and \"other\"");

/* Upper bounds of the duration buckets: 1 ms to 10 s. */
static const struct {
	int64_t ns;
	const char *le;
} bounds[] = {
	{1000000, "0.001"},    {2500000, "0.0025"},    {5000000, "0.005"},
	{10000000, "0.01"},    {25000000, "0.025"},    {50000000, "0.05"},
	{100000000, "0.1"},    {250000000, "0.25"},    {500000000, "0.5"},
	{1000000000, "1"},     {2500000000LL, "2.5"},  {5000000000LL, "5"},
	{10000000000LL, "10"},
};
_Static_assert(sizeof(bounds) / sizeof(bounds[0]) + 1 == METRICS_NBUCKETS,
               "METRICS_NBUCKETS is the bounds and +Inf");

static const struct {
	const char *name, *help;
} counter_names[METRIC_COUNTERS] = {
	[METRIC_DB_ERRORS] = {"incidentd_db_errors_total",
	                      "PostgreSQL connections and statements that failed (constraint "
	                      "conflicts answered 409 excluded)."},
	[METRIC_REDIS_ERRORS] = {"incidentd_redis_errors_total",
	                         "Redis connects and commands (PUBLISH, the health PING) that failed."},
	[METRIC_PUBLISH_FAILURES] = {"incidentd_publish_failures_total",
	                             "Committed events whose PUBLISH failed; streams get them from "
	                             "the event log instead."},
};

static const char *const restart_labels[RESTART_REASONS] = {
	[RESTART_DIED] = "died",
	[RESTART_MAX_REQUESTS] = "max_requests",
};

static const char *const stream_kinds[STREAM_KINDS] = {
	[STREAM_ORG] = "org",
	[STREAM_PUBLIC] = "public",
};

static const struct {
	const char *name, *help;
} stream_counters[] = {
	{"incidentd_sse_events_delivered_total",
	 "Events written to streams by incidentd-sse (one per stream, live or replayed)."},
	{"incidentd_sse_catchups_total",
	 "Catch-up reads of an organisation's event log (after a gap or a Redis reconnect)."},
	{"incidentd_sse_replays_total", "Streams resumed from a Last-Event-ID behind the current event."},
	{"incidentd_sse_redis_reconnects_total",
	 "Times incidentd-sse's Redis subscriber connected again after losing its connection."},
};

_Static_assert(sizeof(stream_counters) / sizeof(stream_counters[0]) == STREAM_DROPPED_BUFFER_CAP,
               "a name per stream counter before the drops");

static const char *const drop_reasons[] = {
	"buffer_cap", "limit", "revoked", "database", "shutdown",
};
_Static_assert(sizeof(drop_reasons) / sizeof(drop_reasons[0]) ==
                   STREAM_COUNTERS - STREAM_DROPPED_BUFFER_CAP,
               "a reason per STREAM_DROPPED_* counter");

struct metrics_head {
	_Atomic uint64_t workers;
	_Atomic uint64_t restarts[RESTART_REASONS];
	_Atomic uint64_t slots_used; /* slots handed out so far: readers stop there */
};

/* This process's view of the table (the master's, inherited by fork). */
static struct {
	struct metrics_head *head;
	_Atomic uint64_t *slots; /* METRICS_SLOTS × words */
	size_t map_len;
	size_t nseries;     /* distinct patterns, then "none" */
	size_t words;       /* per slot */
	size_t *series_of;  /* route index → series */
	const char **label; /* series → its route label */
	_Atomic uint64_t *mine; /* this worker's slot; NULL elsewhere */
} tab;

/* A slot's words: the counters, then requests[series][status], then
 * buckets[series][bucket] (each bucket its own, not cumulative), then
 * sum_ns[series]. */
static size_t
word_request(size_t series, int status_index)
{
	return METRIC_COUNTERS + series * METRICS_NSTATUS + (size_t)status_index;
}

static size_t
word_bucket(size_t series, int bucket)
{
	return METRIC_COUNTERS + tab.nseries * METRICS_NSTATUS + series * METRICS_NBUCKETS +
	       (size_t)bucket;
}

static size_t
word_sum(size_t series)
{
	return METRIC_COUNTERS + tab.nseries * (METRICS_NSTATUS + METRICS_NBUCKETS) + series;
}

/* Routes that share a pattern (one path, several methods or dialects)
 * share a series: the label is the pattern. */
static void
metrics_map_series(void)
{
	size_t n = route_count(), i, j;

	tab.series_of = xcalloc(n, sizeof(*tab.series_of));
	tab.label = xcalloc(n + 1, sizeof(*tab.label));
	tab.nseries = 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < tab.nseries; j++)
			if (strcmp(tab.label[j], route_at(i)->pattern) == 0)
				break;
		if (j == tab.nseries)
			tab.label[tab.nseries++] = route_at(i)->pattern;
		tab.series_of[i] = j;
	}
	tab.label[tab.nseries++] = "none";
}

void
metrics_create(void)
{
	void *p;

	metrics_map_series();
	tab.words = word_sum(tab.nseries);
	tab.map_len = sizeof(struct metrics_head) + METRICS_SLOTS * tab.words * sizeof(uint64_t);
	p = mmap(NULL, tab.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("cannot map the metrics table (%zu bytes)", tab.map_len);
	tab.head = p;
	tab.slots = (_Atomic uint64_t *)(tab.head + 1);
}

void
metrics_free(void)
{
	if (tab.head != NULL)
		munmap(tab.head, tab.map_len);
	free(tab.series_of);
	free(tab.label);
	memset(&tab, 0, sizeof(tab));
}

size_t
metrics_slots(void)
{
	return tab.head != NULL ? METRICS_SLOTS : SIZE_MAX;
}

static void
add(_Atomic uint64_t *p, uint64_t n)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

void
metrics_slot_reserve(size_t i)
{
	if (tab.head != NULL && i >= atomic_load_explicit(&tab.head->slots_used, memory_order_relaxed))
		atomic_store_explicit(&tab.head->slots_used, i + 1, memory_order_relaxed);
}

void
metrics_slot_use(size_t i)
{
	if (tab.head != NULL && i < METRICS_SLOTS)
		tab.mine = tab.slots + i * tab.words;
}

void
metrics_set_workers(size_t live)
{
	if (tab.head != NULL)
		atomic_store_explicit(&tab.head->workers, live, memory_order_relaxed);
}

void
metrics_restart(enum restart_reason why)
{
	if (tab.head != NULL)
		add(&tab.head->restarts[why], 1);
}

void
metrics_count(enum metric_counter c)
{
	if (tab.mine != NULL)
		add(&tab.mine[c], 1);
}

int
metrics_status_index(int status)
{
	int i;

	for (i = 0; i < METRICS_NSTATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return METRICS_NSTATUS - 1;
}

int
metrics_bucket_index(int64_t ns)
{
	int i;

	for (i = 0; i < METRICS_NBUCKETS - 1; i++)
		if (ns <= bounds[i].ns)
			return i;
	return METRICS_NBUCKETS - 1;
}

void
metrics_request(const struct route *r, int status, int64_t duration_ns)
{
	size_t series;

	if (tab.mine == NULL)
		return;
	series = r != NULL ? tab.series_of[route_index(r)] : tab.nseries - 1;
	if (duration_ns < 0)
		duration_ns = 0;
	add(&tab.mine[word_request(series, metrics_status_index(status))], 1);
	add(&tab.mine[word_bucket(series, metrics_bucket_index(duration_ns))], 1);
	add(&tab.mine[word_sum(series)], (uint64_t)duration_ns);
}

/* Every slot handed out, summed; t points into sums (words long). */
static void
metrics_collect(struct metrics_totals *t, uint64_t *sums)
{
	size_t used = atomic_load_explicit(&tab.head->slots_used, memory_order_relaxed);
	size_t s, w;
	int i;

	for (s = 0; s < used && s < METRICS_SLOTS; s++)
		for (w = 0; w < tab.words; w++)
			sums[w] += atomic_load_explicit(&tab.slots[s * tab.words + w], memory_order_relaxed);
	memset(t, 0, sizeof(*t));
	t->nroutes = tab.nseries;
	t->route = tab.label;
	for (i = 0; i < METRIC_COUNTERS; i++)
		t->counters[i] = sums[i];
	t->requests = sums + word_request(0, 0);
	t->buckets = sums + word_bucket(0, 0);
	t->sum_ns = sums + word_sum(0);
	t->workers = atomic_load_explicit(&tab.head->workers, memory_order_relaxed);
	for (i = 0; i < RESTART_REASONS; i++)
		t->restarts[i] = atomic_load_explicit(&tab.head->restarts[i], memory_order_relaxed);
}

/* ---- the exposition (pure: unit-tested) ---- */

static struct buf *
family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static struct buf *
label_value(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			b = buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			b = buf_puts(b, "\\n");
		else
			b = buf_append(b, s, 1);
	}
	return b;
}

static struct buf *
render_requests(struct buf *b, const struct metrics_totals *t)
{
	size_t r;
	int k;

	b = family(b, "incidentd_http_requests_total", "counter",
	           "Requests the FastCGI workers answered, by route pattern (none: no route "
	           "matched) and HTTP status (other: one not listed).");
	for (r = 0; r < t->nroutes; r++) {
		for (k = 0; k < METRICS_NSTATUS; k++) {
			uint64_t n = t->requests[r * METRICS_NSTATUS + (size_t)k];

			if (n == 0)
				continue;
			b = buf_puts(b, "incidentd_http_requests_total{route=\"");
			b = label_value(b, t->route[r]);
			if (k < METRICS_NSTATUS - 1)
				b = buf_printf(b, "\",status=\"%d\"} %" PRIu64 "\n", statuses[k], n);
			else
				b = buf_printf(b, "\",status=\"other\"} %" PRIu64 "\n", n);
		}
	}
	return b;
}

static struct buf *
render_histogram(struct buf *b, const struct metrics_totals *t, size_t r)
{
	const uint64_t *own = t->buckets + r * METRICS_NBUCKETS;
	const char *name = "incidentd_http_request_duration_seconds";
	uint64_t cumulative = 0;
	int i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cumulative += own[i];
		b = buf_printf(b, "%s_bucket{route=\"", name);
		b = label_value(b, t->route[r]);
		b = buf_printf(b, "\",le=\"%s\"} %" PRIu64 "\n",
		               i < METRICS_NBUCKETS - 1 ? bounds[i].le : "+Inf", cumulative);
	}
	b = buf_printf(b, "%s_sum{route=\"", name);
	b = label_value(b, t->route[r]);
	b = buf_printf(b, "\"} %" PRIu64 ".%09" PRIu64 "\n", t->sum_ns[r] / 1000000000u,
	               t->sum_ns[r] % 1000000000u);
	b = buf_printf(b, "%s_count{route=\"", name);
	b = label_value(b, t->route[r]);
	/* the +Inf bucket, from the same reads: the two always agree */
	return buf_printf(b, "\"} %" PRIu64 "\n", cumulative);
}

static struct buf *
render_durations(struct buf *b, const struct metrics_totals *t)
{
	size_t r;
	int i;

	b = family(b, "incidentd_http_request_duration_seconds", "histogram",
	           "Time from reading a request to writing its response, by route pattern.");
	for (r = 0; r < t->nroutes; r++) {
		uint64_t n = 0;

		for (i = 0; i < METRICS_NBUCKETS; i++)
			n += t->buckets[r * METRICS_NBUCKETS + (size_t)i];
		if (n > 0)
			b = render_histogram(b, t, r);
	}
	return b;
}

static struct buf *
render_process(struct buf *b, const struct metrics_totals *t)
{
	int i;

	b = family(b, "incidentd_workers", "gauge",
	           "FastCGI worker processes alive (during a reload, the retiring ones too).");
	b = buf_printf(b, "incidentd_workers %" PRIu64 "\n", t->workers);
	b = family(b, "incidentd_worker_restarts_total", "counter",
	           "Workers the master replaced: reason=\"died\" (killed by a signal or exited "
	           "with an error), reason=\"max_requests\" (exited after serving max_requests).");
	for (i = 0; i < RESTART_REASONS; i++)
		b = buf_printf(b, "incidentd_worker_restarts_total{reason=\"%s\"} %" PRIu64 "\n",
		               restart_labels[i], t->restarts[i]);
	for (i = 0; i < METRIC_COUNTERS; i++) {
		b = family(b, counter_names[i].name, "counter", counter_names[i].help);
		b = buf_printf(b, "%s %" PRIu64 "\n", counter_names[i].name, t->counters[i]);
	}
	return b;
}

static struct buf *
render_streams(struct buf *b, const struct stream_status_view *v)
{
	size_t i;

	b = family(b, "incidentd_sse_streams", "gauge",
	           "Streams incidentd-sse holds, by kind (org: API key; public: status page).");
	for (i = 0; i < STREAM_KINDS; i++)
		b = buf_printf(b, "incidentd_sse_streams{kind=\"%s\"} %" PRId64 "\n", stream_kinds[i],
		               v->open[i]);
	for (i = 0; i < STREAM_DROPPED_BUFFER_CAP; i++) {
		b = family(b, stream_counters[i].name, "counter", stream_counters[i].help);
		b = buf_printf(b, "%s %" PRIu64 "\n", stream_counters[i].name, v->counters[i]);
	}
	b = family(b, "incidentd_sse_clients_dropped_total", "counter",
	           "Streams incidentd-sse ended or refused, by reason: buffer_cap (a slow client "
	           "over client_buffer_cap), limit (refused over max_streams_per_key or "
	           "max_connections), revoked (its API key was revoked), database (PostgreSQL "
	           "failed it), shutdown.");
	for (i = 0; i < sizeof(drop_reasons) / sizeof(drop_reasons[0]); i++)
		b = buf_printf(b, "incidentd_sse_clients_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
		               drop_reasons[i], v->counters[STREAM_DROPPED_BUFFER_CAP + i]);
	return b;
}

struct buf *
metrics_render(struct buf *b, const struct metrics_totals *t,
               const struct stream_status_view *streams)
{
	b = render_requests(b, t);
	b = render_durations(b, t);
	b = render_process(b, t);
	if (streams != NULL)
		b = render_streams(b, streams);
	return b;
}

/* incidentd-hooks: deliveries by outcome, and how long the oldest event a
 * held subscription has yet to deliver has waited. */
static const char *const hooks_outcomes[HOOKS_COUNTERS] = {"delivered", "failed", "disabled"};

static struct buf *
render_hooks(struct buf *b, const struct hooks_status_view *v)
{
	size_t i;

	b = family(b, "incidentd_webhook_deliveries_total", "counter",
	           "Webhook attempts by outcome: delivered (answered 2xx), failed (anything else; "
	           "retried), disabled (a subscription given up after its 3-day retry window).");
	for (i = 0; i < HOOKS_COUNTERS; i++)
		b = buf_printf(b, "incidentd_webhook_deliveries_total{outcome=\"%s\"} %" PRIu64 "\n",
		               hooks_outcomes[i], v->counters[i]);
	b = family(b, "incidentd_webhook_oldest_pending_seconds", "gauge",
	           "Age of the oldest event a subscription held by this host has not yet delivered "
	           "(0: none waits).");
	return buf_printf(b, "incidentd_webhook_oldest_pending_seconds %" PRId64 "\n",
	                  v->oldest_pending);
}

/* ---- the handler ---- */

void
metrics_scrape(struct request *req)
{
	struct metrics_totals t;
	struct stream_status_view streams;
	struct hooks_status_view hooks;
	uint64_t *sums;
	struct buf *b;
	char *body;
	size_t len;

	if (tab.head == NULL) {
		request_fail(req, 503, "service_unavailable", "Metrics are not available");
		return;
	}
	sums = xcalloc(tab.words, sizeof(*sums));
	metrics_collect(&t, sums);
	b = metrics_render(buf_new(16384), &t, stream_status_read(&streams) == 0 ? &streams : NULL);
	free(sums);
	if (hooks_status_read(&hooks) == 0)
		b = render_hooks(b, &hooks);
	len = b->len;
	body = xstrndup(b->data, len);
	buf_free(b);
	request_header(req, "Cache-Control: no-store");
	request_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}
