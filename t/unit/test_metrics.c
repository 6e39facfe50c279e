/* test_metrics.c — the /metrics exposition: status and duration buckets,
 * the text of each family (counters, a cumulative histogram ending in +Inf
 * equal to its count, exact sums, escaped labels, unobserved series left
 * out) and incidentd-sse's families only when it reports. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void
test_indexes(void)
{
	is_int(metrics_status_index(200), 0, "200 is the first status");
	is_int(metrics_status_index(304), 3, "304 has its own series");
	is_int(metrics_status_index(503), METRICS_NSTATUS - 2, "503 is the last listed");
	is_int(metrics_status_index(418), METRICS_NSTATUS - 1, "an unlisted status is other");
	is_int(metrics_status_index(0), METRICS_NSTATUS - 1, "0 is other");
	is_int(metrics_bucket_index(0), 0, "0 ns: the 1 ms bucket");
	is_int(metrics_bucket_index(1000000), 0, "1 ms exactly: le=0.001 (bounds are inclusive)");
	is_int(metrics_bucket_index(1000001), 1, "just over 1 ms: le=0.0025");
	is_int(metrics_bucket_index(10000000000LL), METRICS_NBUCKETS - 2, "10 s: le=10");
	is_int(metrics_bucket_index(10000000001LL), METRICS_NBUCKETS - 1, "over 10 s: +Inf only");
}

/* Whether text holds line as a whole line. */
static int
has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *p;

	for (p = strstr(text, line); p != NULL; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return 1;
	return 0;
}

static char *
render(const struct metrics_totals *t, const struct stream_status_view *streams)
{
	struct buf *b = metrics_render(buf_new(64), t, streams);
	char *text = xstrdup(b->data);

	buf_free(b);
	return text;
}

static void
test_http_families(void)
{
	static const char *const routes[] = {"/v1/:coll", "/a\"b\\c", "none"};
	uint64_t requests[3 * METRICS_NSTATUS] = {0};
	uint64_t buckets[3 * METRICS_NBUCKETS] = {0};
	uint64_t sum_ns[3] = {1500000000u, 0, 42};
	struct metrics_totals t = {3, routes, requests, buckets, sum_ns, {7, 8, 9}, 4, {2, 3}};
	char *text;

	requests[metrics_status_index(201)] = 5;
	requests[metrics_status_index(422)] = 2;
	requests[2 * METRICS_NSTATUS + metrics_status_index(404)] = 1;
	requests[2 * METRICS_NSTATUS + metrics_status_index(418)] = 1;
	buckets[0] = 3;                    /* le=0.001 */
	buckets[2] = 1;                    /* le=0.005 */
	buckets[METRICS_NBUCKETS - 1] = 3; /* over 10 s */
	buckets[2 * METRICS_NBUCKETS + 1] = 2;
	text = render(&t, NULL);

	ok(strncmp(text, "# HELP incidentd_http_requests_total ", 37) == 0, "HELP comes first");
	ok(has_line(text, "# TYPE incidentd_http_requests_total counter"), "requests: TYPE counter");
	ok(has_line(text, "incidentd_http_requests_total{route=\"/v1/:coll\",status=\"201\"} 5"),
	   "requests by route and status");
	ok(has_line(text, "incidentd_http_requests_total{route=\"/v1/:coll\",status=\"422\"} 2"),
	   "another status of the route");
	ok(has_line(text, "incidentd_http_requests_total{route=\"none\",status=\"404\"} 1"),
	   "unmatched paths under route=none");
	ok(has_line(text, "incidentd_http_requests_total{route=\"none\",status=\"other\"} 1"),
	   "an unlisted status under status=other");
	ok(strstr(text, "status=\"200\"") == NULL, "series never observed are left out");

	ok(has_line(text, "# TYPE incidentd_http_request_duration_seconds histogram"),
	   "durations: TYPE histogram");
	ok(has_line(text, "incidentd_http_request_duration_seconds_bucket{route=\"/v1/:coll\",le=\"0.001\"} 3"),
	   "first bucket");
	ok(has_line(text, "incidentd_http_request_duration_seconds_bucket{route=\"/v1/:coll\",le=\"0.0025\"} 3"),
	   "buckets are cumulative (an empty one repeats the last)");
	ok(has_line(text, "incidentd_http_request_duration_seconds_bucket{route=\"/v1/:coll\",le=\"10\"} 4"),
	   "le=10 holds everything up to 10 s");
	ok(has_line(text, "incidentd_http_request_duration_seconds_bucket{route=\"/v1/:coll\",le=\"+Inf\"} 7"),
	   "+Inf holds everything");
	ok(has_line(text, "incidentd_http_request_duration_seconds_count{route=\"/v1/:coll\"} 7"),
	   "_count equals +Inf");
	ok(has_line(text, "incidentd_http_request_duration_seconds_sum{route=\"/v1/:coll\"} 1.500000000"),
	   "_sum in seconds, exact to the nanosecond");
	ok(has_line(text, "incidentd_http_request_duration_seconds_sum{route=\"none\"} 0.000000042"),
	   "a sum under a second");
	ok(strstr(text, "_bucket{route=\"/a\\\"b\\\\c\"") == NULL,
	   "a route with no request has no histogram");

	ok(has_line(text, "incidentd_workers 4"), "workers gauge");
	ok(has_line(text, "# TYPE incidentd_workers gauge"), "workers: TYPE gauge");
	ok(has_line(text, "incidentd_worker_restarts_total{reason=\"died\"} 2"), "restarts: died");
	ok(has_line(text, "incidentd_worker_restarts_total{reason=\"max_requests\"} 3"),
	   "restarts: max_requests");
	ok(has_line(text, "incidentd_db_errors_total 7"), "db errors");
	ok(has_line(text, "incidentd_redis_errors_total 8"), "redis errors");
	ok(has_line(text, "incidentd_publish_failures_total 9"), "publish failures");
	ok(strstr(text, "incidentd_sse_") == NULL, "no incidentd-sse: no stream families");
	ok(text[strlen(text) - 1] == '\n', "the text ends with a newline");
	free(text);
}

static void
test_escaping(void)
{
	static const char *const routes[] = {"/a\"b\\c\nd"};
	uint64_t requests[METRICS_NSTATUS] = {0};
	uint64_t buckets[METRICS_NBUCKETS] = {0};
	uint64_t sum_ns[1] = {0};
	struct metrics_totals t = {1, routes, requests, buckets, sum_ns, {0}, 0, {0}};
	char *text;

	requests[0] = 1;
	text = render(&t, NULL);
	ok(has_line(text, "incidentd_http_requests_total{route=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 1"),
	   "quote, backslash and newline escaped in a label value");
	free(text);
}

static void
test_stream_families(void)
{
	static const char *const routes[] = {"none"};
	uint64_t requests[METRICS_NSTATUS] = {0};
	uint64_t buckets[METRICS_NBUCKETS] = {0};
	uint64_t sum_ns[1] = {0};
	struct metrics_totals t = {1, routes, requests, buckets, sum_ns, {0}, 1, {0}};
	struct stream_status_view v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.open[STREAM_ORG] = 3;
	v.open[STREAM_PUBLIC] = 1;
	v.counters[STREAM_EVENTS_DELIVERED] = 11;
	v.counters[STREAM_CATCHUPS] = 12;
	v.counters[STREAM_REPLAYS] = 13;
	v.counters[STREAM_REDIS_RECONNECTS] = 14;
	v.counters[STREAM_DROPPED_BUFFER_CAP] = 15;
	v.counters[STREAM_DROPPED_SHUTDOWN] = 16;
	text = render(&t, &v);
	ok(has_line(text, "# TYPE incidentd_sse_streams gauge"), "streams: TYPE gauge");
	ok(has_line(text, "incidentd_sse_streams{kind=\"org\"} 3"), "org streams");
	ok(has_line(text, "incidentd_sse_streams{kind=\"public\"} 1"), "public streams");
	ok(has_line(text, "incidentd_sse_events_delivered_total 11"), "events delivered");
	ok(has_line(text, "incidentd_sse_catchups_total 12"), "catch-ups");
	ok(has_line(text, "incidentd_sse_replays_total 13"), "replays");
	ok(has_line(text, "incidentd_sse_redis_reconnects_total 14"), "Redis reconnects");
	ok(has_line(text, "incidentd_sse_clients_dropped_total{reason=\"buffer_cap\"} 15"),
	   "dropped: buffer_cap");
	ok(has_line(text, "incidentd_sse_clients_dropped_total{reason=\"limit\"} 0"),
	   "dropped: limit, 0 but present");
	ok(has_line(text, "incidentd_sse_clients_dropped_total{reason=\"shutdown\"} 16"),
	   "dropped: shutdown");
	ok(has_line(text, "# TYPE incidentd_sse_clients_dropped_total counter"), "dropped: TYPE counter");
	free(text);
}

void
test_metrics(void)
{
	test_indexes();
	test_http_families();
	test_escaping();
	test_stream_families();
}
