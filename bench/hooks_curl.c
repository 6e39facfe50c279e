/* hooks_curl.c — bench/hooks's reference: the same POSTs incidentd-hooks
 * makes, from a plain libcurl multi loop (curl_multi_poll), with the same
 * concurrency rule: N chains, one request in flight per chain, each chain
 * sending E requests one after the other.  Prints "rate=R p99_ms=P" (requests
 * per second over the whole run; 99th percentile of one request's time).
 *
 *     hooks_curl URL CHAINS REQUESTS_PER_CHAIN BODY_FILE */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct chain {
	CURL *easy;
	long left;
	double started;
};

static char *body;
static long body_len;
static struct curl_slist *headers;
static const char *url;
static double *durations;
static long ndurations;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
drop(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

static void
start(CURLM *multi, struct chain *c)
{
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, body_len);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, drop);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	c->started = now_s();
	curl_multi_add_handle(multi, c->easy);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static char *
slurp(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	char *p;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (*len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (p = malloc((size_t)*len + 1)) == NULL ||
	    fread(p, 1, (size_t)*len, f) != (size_t)*len) {
		perror(path);
		exit(1);
	}
	fclose(f);
	return p;
}

int
main(int argc, char **argv)
{
	long nchains, per, i, total, failed = 0;
	struct chain *chains;
	CURLM *multi;
	int running = 1;
	double t0;

	if (argc != 5) {
		fprintf(stderr, "usage: hooks_curl URL CHAINS REQUESTS_PER_CHAIN BODY_FILE\n");
		return 2;
	}
	url = argv[1];
	nchains = atol(argv[2]);
	per = atol(argv[3]);
	body = slurp(argv[4], &body_len);
	total = nchains * per;
	durations = calloc((size_t)total, sizeof(*durations));
	chains = calloc((size_t)nchains, sizeof(*chains));
	if (nchains <= 0 || per <= 0 || durations == NULL || chains == NULL)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* the headers incidentd-hooks sends, signature-sized */
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: incidentd/bench");
	headers = curl_slist_append(headers, "webhook-id: 1-123456");
	headers = curl_slist_append(headers, "webhook-timestamp: 1795900000");
	headers = curl_slist_append(headers,
	                            "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=");
	headers = curl_slist_append(headers, "Expect:");
	multi = curl_multi_init();
	t0 = now_s();
	for (i = 0; i < nchains; i++) {
		chains[i].easy = curl_easy_init();
		chains[i].left = per;
		start(multi, &chains[i]);
	}
	while (running) {
		CURLMsg *m;
		int left;

		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &left)) != NULL) {
			struct chain *c;
			long status = 0;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (m->data.result != CURLE_OK || status < 200 || status >= 300)
				failed++;
			durations[ndurations++] = now_s() - c->started;
			curl_multi_remove_handle(multi, c->easy);
			if (--c->left > 0) {
				start(multi, c);
				running = 1;
			}
		}
		if (running)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	{
		double elapsed = now_s() - t0;

		size_t p99 = (size_t)((double)ndurations * 0.99);

		if (p99 >= (size_t)ndurations)
			p99 = (size_t)ndurations - 1;
		qsort(durations, (size_t)ndurations, sizeof(*durations), cmp);
		printf("rate=%.0f p99_ms=%.2f failed=%ld\n", (double)ndurations / elapsed,
		       durations[p99] * 1000.0, failed);
	}
	for (i = 0; i < nchains; i++)
		curl_easy_cleanup(chains[i].easy);
	curl_multi_cleanup(multi);
	curl_slist_free_all(headers);
	curl_global_cleanup();
	free(chains);
	free(durations);
	free(body);
	return failed > 0;
}
