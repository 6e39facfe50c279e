/*
 * sse_client.c — the load client of bench/sse: holds N Server-Sent Events
 * streams open through nginx, fires paced "creates" over one separate
 * keep-alive HTTP/1.1 connection, and measures how long each event takes to
 * reach every stream after the create's response arrived.
 *
 *	usage: sse_client [options]
 *	  --mode incidentd|nchan  what the creates are (see below) [incidentd]
 *	  --stream-url URL        http://127.0.0.1:PORT/path of the streams
 *	  --create-url URL        http://127.0.0.1:PORT/path the creates POST to
 *	  --key KEY               x-api-key on every request (incidentd)
 *	  --body-file FILE        incidentd: the POST body (seed 000's create);
 *	                          nchan: an event as incidentd publishes it, whose
 *	                          "seq" and incident "id" are rewritten per message
 *	  --streams N             streams to hold open [1000]
 *	  --creates N             measured creates, after one warm-up [200]
 *	  --rate R                creates per second [50]
 *	  --connect-window N      stream opens in flight at once [64]
 *	  --source-addresses N    spread the streams over N client addresses,
 *	                          127.0.0.1 .. 127.0.0.N (IPv4 loopback only) [1]:
 *	                          thousands of users come from many addresses, and
 *	                          incidentd's nginx caps streams per address
 *	  --rss-server PID,...    processes holding the streams (VmRSS summed)
 *	  --rss-proxy PID,...     processes relaying them (nginx workers), if any
 *	  --redis HOST:PORT       also SUBSCRIBE to --redis-channel there and note
 *	  --redis-channel NAME    when each event was published (incidentd mode)
 *	  --dump-event FILE       write the first event's data line there
 *	  --dump-creates FILE     one line per create: its times and the spread of
 *	                          its deliveries (ms since its response)
 *	  --label NAME            first word of the result line [sse]
 *	  --open-timeout S        for opening every stream [180]
 *	  --drain-timeout S       after the last create, for the last delivery [30]
 *	  --wait-go               once ready, wait for SIGUSR1 before creating, so
 *	                          two clients (two systems) can run interleaved
 *	  --offset-ms MS          send the first measured create MS after going [0]
 *
 * mode incidentd: POST --body-file to --create-url; the 201 carries the new
 *   incident's id; its incident.created event arrives on every stream with
 *   the org's seq.  A stream is ready once it got the first `id: N` frame
 *   (incidentd-sse sends it when the stream is live).
 * mode nchan: POST the --body-file event, renumbered, to nchan's publisher
 *   location; a stream is ready when its 200 head arrived.
 * Either way a warm-up create goes first and every stream must receive it
 * (so every subscriber is registered) before the measured creates start.
 *
 * Every received event is keyed by the "seq" in its data; its incident id
 * ties it to the create that caused it.  Receipt times are CLOCK_MONOTONIC,
 * taken right after the read() that brought the event's bytes.  Per
 * delivery (stream x create) the client reports, in ms:
 *	p50_ms, p99_ms, max_ms    receipt - when the create's response arrived
 *	                          (negative: the event beat the response)
 *	sent_p50_ms, sent_p99_ms  receipt - when the create's request was sent
 *	pub_p50_ms, pub_p99_ms    receipt - when its own Redis subscriber saw the
 *	                          event (--redis): incidentd-sse + nginx alone
 * plus the creates' response times, kB of VmRSS per stream of --rss-server
 * and --rss-proxy (the larger reading with the streams open less the reading
 * before any was opened), CPU us per delivery of those processes and of the
 * client between the first measured create and the last delivery, and the
 * CPUs' worth of other work the machine did meanwhile (other_cores: noise).
 * The result is one line
 *	LABEL: streams=N creates=C rate=R expected=E received=R missing=M ...
 * of key=value pairs on stdout.  It exits 0 only when every stream opened
 * and every expected event (streams x creates) arrived exactly once;
 * anything else is reported on stderr as ERROR and it exits 1 (2: usage or a
 * fatal error).
 *
 * Streams read their sockets with plain read() into one shared buffer and
 * are parsed in place (chunked transfer encoding or not), so the client
 * spends as little CPU per delivery as it can beside the servers it
 * measures; the create connection, the Redis subscriber and the pacing timer
 * run at a higher libevent priority so their timestamps are not taken after
 * thousands of stream reads.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -o sse_client sse_client.c -levent
 */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MODE_INCIDENTD 0
#define MODE_NCHAN 1
#define NCHAN_ID_BASE 1000000000LL

/* ---------------------------------------------------------------- utilities */

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sse_client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		die("out of memory");
	return p;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long
parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s must be a number in %ld..%ld, not '%s'", what, min, max, s);
	return v;
}

/* The decimal number after the first `key` in [p, p+len); -1 if none. */
static int64_t
number_after(const char *p, size_t len, const char *key)
{
	const char *hit = memmem(p, len, key, strlen(key));
	const char *end = p + len;
	int64_t v = 0;
	int digits = 0;

	if (hit == NULL)
		return -1;
	for (hit += strlen(key); hit < end && *hit >= '0' && *hit <= '9' && digits < 18; hit++) {
		v = v * 10 + (*hit - '0');
		digits++;
	}
	return digits > 0 ? v : -1;
}

struct url {
	char hostport[128];
	char path[1024];
	struct sockaddr_storage sa;
	int salen;
};

static void
parse_url(const char *s, struct url *u)
{
	const char *hp, *slash;

	if (strncmp(s, "http://", 7) != 0)
		die("only http:// URLs: %s", s);
	hp = s + 7;
	slash = strchr(hp, '/');
	if (slash == NULL || (size_t)(slash - hp) >= sizeof(u->hostport) ||
	    strlen(slash) >= sizeof(u->path))
		die("URL needs host:port and a path: %s", s);
	memcpy(u->hostport, hp, (size_t)(slash - hp));
	u->hostport[slash - hp] = '\0';
	strcpy(u->path, slash);
	u->salen = sizeof(u->sa);
	if (evutil_parse_sockaddr_port(u->hostport, (struct sockaddr *)&u->sa, &u->salen) != 0)
		die("URL host must be a numeric address with a port: %s", s);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot read %s: %s", path, strerror(errno));
	buf = xcalloc((size_t)n + 1, 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Sum of VmRSS (kB) over a comma list of pids; -1 if none given or unreadable. */
static long
rss_kb(const char *pids)
{
	char list[512], *tok, *save = NULL, path[64], line[256];
	long total = 0, kb;
	FILE *f;
	int found;

	if (pids == NULL || *pids == '\0')
		return -1;
	snprintf(list, sizeof(list), "%s", pids);
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/status", tok);
		if ((f = fopen(path, "r")) == NULL)
			return -1;
		found = 0;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
				total += kb;
				found = 1;
			}
		fclose(f);
		if (!found)
			return -1;
	}
	return total;
}

/* utime + stime (clock ticks) summed over a comma list of pids; -1 if
 * none given or unreadable. */
static long
cpu_ticks(const char *pids)
{
	char list[512], *tok, *save = NULL, path[64], stat[1024], *p;
	unsigned long ut, st;
	long total = 0;
	FILE *f;
	size_t n;

	if (pids == NULL || *pids == '\0')
		return -1;
	snprintf(list, sizeof(list), "%s", pids);
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/stat", tok);
		if ((f = fopen(path, "r")) == NULL)
			return -1;
		n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[n] = '\0';
		/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
		if ((p = strrchr(stat, ')')) == NULL ||
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
			return -1;
		total += (long)(ut + st);
	}
	return total;
}

/* Busy clock ticks of the whole machine (all CPUs) from /proc/stat. */
static long
machine_busy_ticks(void)
{
	unsigned long v[8];
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "cpu %lu %lu %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3], &v[4],
	           &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal: all but idle and iowait */
	return (long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

static double
own_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---------------------------------------------------------------- HTTP responses */

/* Reads one HTTP/1.1 response head, then its body (chunked, Content-Length
 * or until EOF) into `body` as the bytes arrive. */
enum hstate { H_STATUS, H_HEADERS, H_CHUNK_SIZE, H_CHUNK_DATA, H_CHUNK_CRLF, H_TRAILERS,
	      H_LENGTH, H_UNTIL_EOF, H_DONE };

struct http_in {
	enum hstate state;
	int status;
	int chunked;
	int have_length;
	int64_t left; /* of the chunk or the Content-Length body */
};

static void
http_in_reset(struct http_in *h)
{
	memset(h, 0, sizeof(*h));
	h->state = H_STATUS;
}

/* -1: malformed; 0: fine (h->state says how far). */
static int
http_in_feed(struct http_in *h, struct evbuffer *in, struct evbuffer *body)
{
	char *line;
	size_t n;

	while (h->state != H_DONE) {
		switch (h->state) {
		case H_STATUS:
		case H_HEADERS:
		case H_CHUNK_SIZE:
		case H_CHUNK_CRLF:
		case H_TRAILERS:
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (line == NULL)
				return evbuffer_get_length(in) > 65536 ? -1 : 0;
			break;
		case H_CHUNK_DATA:
		case H_LENGTH:
			n = evbuffer_get_length(in);
			if (n == 0)
				return 0;
			if ((int64_t)n > h->left)
				n = (size_t)h->left;
			evbuffer_remove_buffer(in, body, n);
			h->left -= (int64_t)n;
			if (h->left == 0)
				h->state = h->state == H_LENGTH ? H_DONE : H_CHUNK_CRLF;
			continue;
		case H_UNTIL_EOF:
			evbuffer_add_buffer(body, in);
			return 0;
		default:
			return -1;
		}
		switch (h->state) {
		case H_STATUS:
			if (sscanf(line, "HTTP/1.%*d %d", &h->status) != 1) {
				free(line);
				return -1;
			}
			h->state = H_HEADERS;
			break;
		case H_HEADERS:
			if (n == 0) {
				if (h->chunked)
					h->state = H_CHUNK_SIZE;
				else if (h->have_length)
					h->state = h->left > 0 ? H_LENGTH : H_DONE;
				else
					h->state = H_UNTIL_EOF;
			} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
			           strcasestr(line, "chunked") != NULL) {
				h->chunked = 1;
			} else if (strncasecmp(line, "Content-Length:", 15) == 0) {
				h->left = strtoll(line + 15, NULL, 10);
				h->have_length = h->left >= 0;
			}
			break;
		case H_CHUNK_SIZE:
			h->left = strtoll(line, NULL, 16);
			h->state = h->left > 0 ? H_CHUNK_DATA : H_TRAILERS;
			break;
		case H_CHUNK_CRLF:
			h->state = H_CHUNK_SIZE;
			break;
		case H_TRAILERS:
			if (n == 0)
				h->state = H_DONE;
			break;
		default:
			break;
		}
		free(line);
	}
	return 0;
}

/* ---------------------------------------------------------------- state */

enum sstate { S_IDLE, S_CONNECTING, S_HEAD, S_OPEN, S_READY, S_FAILED };
/* where a stream's response is: head, chunked body (size line, extension,
 * data, the CRLF after it, trailers), body without chunking, ended */
enum bstate { B_HEAD, B_CHUNK_SIZE, B_CHUNK_EXT, B_CHUNK_DATA, B_CHUNK_END, B_TRAILER, B_RAW,
	      B_DONE };

/* A stream reads its socket itself (no bufferevent): one read() into a
 * shared buffer per readiness, parsed in place, so the client spends as
 * little CPU per delivery as it can next to the servers it measures. */
struct stream {
	evutil_socket_t fd;
	struct event *ev;
	enum sstate state;
	enum bstate bs;
	int status, chunked;
	int64_t chunk_left;
	size_t trailer_len;
	char *line;            /* a line split across reads (or chunks) */
	size_t linelen, linecap;
	int64_t *recv;         /* per slot: receipt time in ns, 0 = not yet */
	int64_t last_seq;
	/* the frame being read */
	int has_data, has_id;
	int64_t f_seq, f_incident;
};

struct slot {
	int64_t seq;
	int64_t incident; /* -1 until an event of this seq carried one */
	int64_t count;    /* streams that received it */
	int64_t published; /* when the client's own Redis subscriber saw it, ns */
};

struct create {
	int64_t sent, resp; /* ns */
	int64_t incident;   /* id from the response (incidentd) or assigned (nchan) */
	int status;
};

static struct {
	int mode;
	struct url stream_url, create_url;
	const char *key;
	char *body;
	size_t body_len;
	long nstreams, ncreates, window;
	long sources; /* client addresses 127.0.0.1 .. 127.0.0.sources */
	double rate;
	const char *rss_server, *rss_proxy, *dump_event, *dump_creates, *label, *redis_channel;
	struct url redis;
	int have_redis;
	long open_timeout, drain_timeout;
	int wait_go;
	double offset_ms;
} opt = {.mode = MODE_INCIDENTD, .nstreams = 1000, .ncreates = 200, .window = 64, .sources = 1,
	 .rate = 50, .label = "sse", .open_timeout = 180, .drain_timeout = 30};

static struct event_base *base;
static struct stream *streams;
static long next_to_open, opening, nready, nfailed_connect, nfailed_status, ndropped;
static struct slot *slots;
static long nslots, max_slots;
static long *slot_index; /* open addressing: seq -> slot + 1 */
static size_t slot_mask;
static long nunexpected, nduplicates, nout_of_order, nreceived;
static struct create *creates; /* [0] is the warm-up */
static long ncreate_errors;
static int dumped;

enum phase { P_OPENING, P_WARMUP, P_READY, P_CREATING, P_DRAINING, P_DONE };
static enum phase phase;
static int64_t phase_started, open_started, open_finished;
static long rss_server_before, rss_proxy_before, rss_server_open, rss_proxy_open;
static struct event *tick_ev;
/* CPU over the measured creates and their deliveries: ticks and seconds */
static long cpu_server[2], cpu_proxy[2], cpu_machine[2];
static double cpu_client[2];
static int64_t cpu_wall[2];
static int failed_loudly;

static void loud(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
loud(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "sse_client: ERROR: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failed_loudly = 1;
}

static void
progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "sse_client: %s: ", opt.label);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---------------------------------------------------------------- slots */

static long
slot_for(int64_t seq)
{
	size_t i = ((uint64_t)seq * 0x9E3779B97F4A7C15ULL) & slot_mask;

	for (;; i = (i + 1) & slot_mask) {
		if (slot_index[i] == 0)
			break;
		if (slots[slot_index[i] - 1].seq == seq)
			return slot_index[i] - 1;
	}
	if (nslots == max_slots)
		return -1;
	slots[nslots].seq = seq;
	slots[nslots].incident = -1;
	slot_index[i] = ++nslots;
	return nslots - 1;
}

static long
slot_of_incident(int64_t incident)
{
	long i;

	for (i = 0; i < nslots; i++)
		if (slots[i].incident == incident)
			return i;
	return -1;
}

/* ---------------------------------------------------------------- streams */

static void open_more(void);
static void check_phase(void);

static void
stream_close(struct stream *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd >= 0)
		evutil_closesocket(s->fd);
	s->fd = -1;
}

static void
stream_fail(struct stream *s, int connect_error)
{
	if (s->state == S_FAILED)
		return;
	if (s->state == S_READY) {
		ndropped++;
		nready--;
	} else {
		opening--;
		if (connect_error)
			nfailed_connect++;
		else
			nfailed_status++;
	}
	s->state = S_FAILED;
	stream_close(s);
	open_more();
}

static void
stream_ready(struct stream *s)
{
	if (s->state == S_READY)
		return;
	s->state = S_READY;
	opening--;
	nready++;
	open_more();
}

static void
record(struct stream *s, int64_t t)
{
	long sl;

	if (s->f_seq < 0) {
		nunexpected++;
		return;
	}
	sl = slot_for(s->f_seq);
	if (sl < 0) {
		nunexpected++;
		return;
	}
	if (slots[sl].incident < 0)
		slots[sl].incident = s->f_incident;
	if (s->f_seq <= s->last_seq)
		nout_of_order++;
	else
		s->last_seq = s->f_seq;
	if (s->recv[sl] != 0) {
		nduplicates++;
		return;
	}
	s->recv[sl] = t;
	slots[sl].count++;
	nreceived++;
}

static void
on_data_line(struct stream *s, const char *p, size_t len)
{
	FILE *f;

	if (!s->has_data) {
		s->f_seq = number_after(p, len, "\"seq\":");
		s->f_incident = number_after(p, len, "\"incident\":{\"id\":");
		if (s->f_incident < 0)
			s->f_incident = number_after(p, len, "\"incident_id\":");
	}
	s->has_data = 1;
	if (!dumped && opt.dump_event != NULL && s->f_seq > 0 && s->f_incident > 0) {
		dumped = 1;
		if ((f = fopen(opt.dump_event, "w")) != NULL) {
			fwrite(p, 1, len, f);
			fputc('\n', f);
			fclose(f);
		}
	}
}

/* One SSE line, without its line end; a blank line ends a frame. */
static void
sse_line(struct stream *s, const char *line, size_t n, int64_t t)
{
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (s->has_data)
			record(s, t);
		else if (s->has_id && opt.mode == MODE_INCIDENTD && s->state == S_OPEN)
			stream_ready(s);
		s->has_data = s->has_id = 0;
	} else if (line[0] == ':') {
		/* a comment: heartbeat */
	} else if (n >= 5 && memcmp(line, "data:", 5) == 0) {
		/* one space after the colon is not part of the value */
		on_data_line(s, line + 5 + (n > 5 && line[5] == ' '), n - 5 - (n > 5 && line[5] == ' '));
	} else if (n >= 3 && memcmp(line, "id:", 3) == 0) {
		s->has_id = 1;
	}
	/* event: and retry: need nothing */
}

static void
line_append(struct stream *s, const char *p, size_t n)
{
	if (s->linelen + n > s->linecap) {
		s->linecap = (s->linelen + n) * 2;
		s->line = realloc(s->line, s->linecap);
		if (s->line == NULL)
			die("out of memory");
	}
	memcpy(s->line + s->linelen, p, n);
	s->linelen += n;
}

/* Body bytes, cut into SSE lines: whole lines are parsed where they lie,
 * only a line split across reads is copied. */
static void
sse_bytes(struct stream *s, const char *p, size_t n, int64_t t)
{
	const char *nl;

	while (n > 0 && (nl = memchr(p, '\n', n)) != NULL) {
		size_t len = (size_t)(nl - p);

		if (s->linelen > 0) {
			line_append(s, p, len);
			sse_line(s, s->line, s->linelen, t);
			s->linelen = 0;
		} else {
			sse_line(s, p, len, t);
		}
		p = nl + 1;
		n -= len + 1;
	}
	if (n > 0)
		line_append(s, p, n);
}

/* A line of the response head (without its line end). */
static void
head_line(struct stream *s, const char *line, size_t n)
{
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (s->status == 0) {
		if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (s->status = atoi(line + 9)) <= 0) {
			loud("stream %ld: not an HTTP response: %.*s", (long)(s - streams), (int)n, line);
			stream_fail(s, 0);
		}
		return;
	}
	if (n == 0) {
		if (s->status != 200) {
			if (nfailed_status < 3)
				loud("stream %ld: status %d", (long)(s - streams), s->status);
			stream_fail(s, 0);
			return;
		}
		s->bs = s->chunked ? B_CHUNK_SIZE : B_RAW;
		s->state = S_OPEN;
		if (opt.mode == MODE_NCHAN)
			stream_ready(s);
		return;
	}
	if (n > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
	    memmem(line, n, "chunked", 7) != NULL)
		s->chunked = 1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Bytes off the socket: head, then the body, de-chunked as needed. */
static void
stream_bytes(struct stream *s, const char *p, size_t n, int64_t t)
{
	const char *nl;
	size_t k;
	int h;

	while (n > 0 && s->state != S_FAILED) {
		switch (s->bs) {
		case B_HEAD:
			if ((nl = memchr(p, '\n', n)) == NULL) {
				line_append(s, p, n);
				return;
			}
			k = (size_t)(nl - p);
			line_append(s, p, k);
			p = nl + 1;
			n -= k + 1;
			k = s->linelen;
			s->linelen = 0;
			head_line(s, s->line, k);
			break;
		case B_CHUNK_SIZE:
			if (*p == '\n') {
				s->bs = s->chunk_left > 0 ? B_CHUNK_DATA : B_TRAILER;
				s->trailer_len = 0;
			} else if ((h = hexval(*p)) >= 0) {
				s->chunk_left = s->chunk_left * 16 + h;
			} else if (*p != '\r') {
				s->bs = B_CHUNK_EXT;
			}
			p++;
			n--;
			break;
		case B_CHUNK_EXT:
			if (*p == '\n') {
				s->bs = s->chunk_left > 0 ? B_CHUNK_DATA : B_TRAILER;
				s->trailer_len = 0;
			}
			p++;
			n--;
			break;
		case B_CHUNK_DATA:
			k = n < (size_t)s->chunk_left ? n : (size_t)s->chunk_left;
			sse_bytes(s, p, k, t);
			s->chunk_left -= (int64_t)k;
			p += k;
			n -= k;
			if (s->chunk_left == 0)
				s->bs = B_CHUNK_END;
			break;
		case B_CHUNK_END:
			if (*p == '\n')
				s->bs = B_CHUNK_SIZE;
			p++;
			n--;
			break;
		case B_TRAILER:
			if (*p == '\n') {
				if (s->trailer_len == 0)
					s->bs = B_DONE;
				s->trailer_len = 0;
			} else if (*p != '\r') {
				s->trailer_len++;
			}
			p++;
			n--;
			break;
		case B_RAW:
			sse_bytes(s, p, n, t);
			return;
		case B_DONE:
			return;
		}
	}
}

static void
stream_read(evutil_socket_t fd, short what, void *arg)
{
	static char buf[65536];
	struct stream *s = arg;
	int64_t t;
	ssize_t r;

	(void)what;
	r = read(fd, buf, sizeof(buf));
	t = now_ns();
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		stream_bytes(s, buf, (size_t)r, t);
		if (s->bs != B_DONE || s->state == S_FAILED)
			return;
	}
	if (s->state == S_READY && phase < P_DONE && ndropped < 3)
		loud("stream %ld: %s", (long)(s - streams),
		     r == 0 ? "closed by the server" : s->bs == B_DONE ? "ended by the server" :
		                                         strerror(errno));
	else if (s->state != S_READY && nfailed_status < 3)
		loud("stream %ld: connection %s before the stream was ready", (long)(s - streams),
		     r == 0 ? "closed" : "failed");
	stream_fail(s, 0);
}

/* Connected (or not): send the request, then wait for the response. */
static void
stream_connected(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	char req[2048];
	int n, err = 0;
	socklen_t len = sizeof(err);

	(void)what;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		if (nfailed_connect < 3)
			loud("stream %ld: connect failed: %s", (long)(s - streams), strerror(err));
		stream_fail(s, 1);
		return;
	}
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
	             "Cache-Control: no-cache\r\n%s%s%s\r\n",
	             opt.stream_url.path, opt.stream_url.hostport, opt.key ? "x-api-key: " : "",
	             opt.key ? opt.key : "", opt.key ? "\r\n" : "");
	/* a fresh socket's buffer takes a request this small in one write */
	if (write(fd, req, (size_t)n) != n) {
		if (nfailed_connect < 3)
			loud("stream %ld: cannot send the request: %s", (long)(s - streams),
			     strerror(errno));
		stream_fail(s, 1);
		return;
	}
	s->state = S_HEAD;
	if (event_assign(s->ev, base, fd, EV_READ | EV_PERSIST, stream_read, s) != 0 ||
	    event_priority_set(s->ev, 1) != 0 || event_add(s->ev, NULL) != 0)
		die("cannot watch a stream");
}

/* Stream i comes from 127.0.0.(1 + i % sources); a single source keeps the
 * kernel's choice. */
static int
stream_bind_source(const struct stream *s)
{
	struct sockaddr_in src;

	if (opt.sources <= 1)
		return 0;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)((s - streams) % opt.sources));
	return bind(s->fd, (struct sockaddr *)&src, sizeof(src));
}

static void
stream_open(struct stream *s)
{
	s->recv = xcalloc((size_t)max_slots, sizeof(*s->recv));
	s->last_seq = -1;
	s->bs = B_HEAD;
	s->state = S_CONNECTING;
	opening++;
	s->fd = socket(opt.stream_url.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || stream_bind_source(s) != 0 || (connect(s->fd, (struct sockaddr *)&opt.stream_url.sa,
	                          (socklen_t)opt.stream_url.salen) != 0 &&
	                  errno != EINPROGRESS)) {
		if (nfailed_connect < 3)
			loud("stream %ld: connect failed: %s", (long)(s - streams), strerror(errno));
		stream_fail(s, 1);
		return;
	}
	s->ev = event_new(base, s->fd, EV_WRITE, stream_connected, s);
	if (s->ev == NULL || event_priority_set(s->ev, 1) != 0 || event_add(s->ev, NULL) != 0)
		die("cannot watch a stream");
}

static void
open_more(void)
{
	static int in_open_more;

	if (in_open_more)
		return; /* a failure inside stream_open: the outer loop goes on */
	in_open_more = 1;
	while (phase == P_OPENING && next_to_open < opt.nstreams && opening < opt.window)
		stream_open(&streams[next_to_open++]);
	in_open_more = 0;
}

/* ---------------------------------------------------------------- creates */

static struct {
	struct bufferevent *bev;
	int connected, busy;
	struct http_in h;
	struct evbuffer *body;
	long next;     /* index of the next create to send */
	long inflight; /* its index while busy */
	int64_t t0;    /* pacing origin */
} cr;

static void create_send(long i);

static void
creator_close(void)
{
	if (cr.bev != NULL)
		bufferevent_free(cr.bev);
	cr.bev = NULL;
	cr.connected = 0;
}

/* The nchan message for create i: the template event, renumbered. */
static struct evbuffer *
nchan_message(long i)
{
	struct evbuffer *b = evbuffer_new();
	const char *p = opt.body, *end = opt.body + opt.body_len;
	const char *keys[2] = {"\"seq\":", "\"incident\":{\"id\":"};
	int k;

	for (k = 0; k < 2; k++) {
		const char *hit = memmem(p, (size_t)(end - p), keys[k], strlen(keys[k]));

		if (hit == NULL)
			die("--body-file has no %s to renumber", keys[k]);
		hit += strlen(keys[k]);
		evbuffer_add(b, p, (size_t)(hit - p));
		evbuffer_add_printf(b, "%lld", NCHAN_ID_BASE + i);
		for (p = hit; p < end && *p >= '0' && *p <= '9'; p++)
			;
	}
	evbuffer_add(b, p, (size_t)(end - p));
	return b;
}

static void
creator_read(struct bufferevent *bev, void *arg)
{
	struct create *c = &creates[cr.inflight];
	int64_t t = now_ns();
	size_t len;
	const char *body;

	(void)arg;
	if (!cr.busy) {
		evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (http_in_feed(&cr.h, bufferevent_get_input(bev), cr.body) != 0)
		die("malformed response to a create");
	if (cr.h.state != H_DONE)
		return;
	c->resp = t;
	c->status = cr.h.status;
	len = evbuffer_get_length(cr.body);
	body = (const char *)evbuffer_pullup(cr.body, -1);
	if (opt.mode == MODE_INCIDENTD) {
		if (c->status != 201) {
			if (ncreate_errors++ < 3)
				loud("create %ld: status %d: %.*s", cr.inflight, c->status, (int)len, body);
		} else if ((c->incident = number_after(body, len, "\"id\":")) < 0) {
			loud("create %ld: no id in the response", cr.inflight);
			ncreate_errors++;
		}
	} else if (c->status < 200 || c->status > 299) {
		if (ncreate_errors++ < 3)
			loud("publish %ld: status %d: %.*s", cr.inflight, c->status, (int)len, body);
	}
	evbuffer_drain(cr.body, len);
	cr.busy = 0;
	if (phase == P_CREATING && cr.next <= opt.ncreates &&
	    now_ns() >= cr.t0 + (int64_t)((double)(cr.next - 1) * 1e9 / opt.rate))
		create_send(cr.next++);
	check_phase();
}

static void
creator_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		cr.connected = 1;
		return;
	}
	creator_close();
	if (cr.busy)
		die("the create connection %s during create %ld",
		    (what & BEV_EVENT_EOF) ? "was closed" : "failed", cr.inflight);
}

static void
creator_connect(void)
{
	int one = 1;

	cr.bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (cr.bev == NULL)
		die("cannot create a bufferevent");
	if (cr.body == NULL && (cr.body = evbuffer_new()) == NULL)
		die("cannot create a buffer");
	bufferevent_priority_set(cr.bev, 0);
	bufferevent_setcb(cr.bev, creator_read, NULL, creator_event, NULL);
	bufferevent_enable(cr.bev, EV_READ);
	if (bufferevent_socket_connect(cr.bev, (struct sockaddr *)&opt.create_url.sa,
	                               opt.create_url.salen) != 0)
		die("cannot connect to %s", opt.create_url.hostport);
	setsockopt(bufferevent_getfd(cr.bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
create_send(long i)
{
	struct evbuffer *out, *msg = NULL;
	size_t len = opt.body_len;

	if (cr.bev == NULL)
		creator_connect(); /* the write is queued until it connects */
	out = bufferevent_get_output(cr.bev);
	if (opt.mode == MODE_NCHAN) {
		msg = nchan_message(i);
		len = evbuffer_get_length(msg);
		creates[i].incident = NCHAN_ID_BASE + i;
	}
	evbuffer_add_printf(out,
	                    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	                    "Content-Length: %zu\r\n%s%s%s\r\n",
	                    opt.create_url.path, opt.create_url.hostport, len,
	                    opt.key ? "x-api-key: " : "", opt.key ? opt.key : "", opt.key ? "\r\n" : "");
	if (msg != NULL) {
		evbuffer_add_buffer(out, msg);
		evbuffer_free(msg);
	} else {
		evbuffer_add(out, opt.body, opt.body_len);
	}
	http_in_reset(&cr.h);
	cr.busy = 1;
	cr.inflight = i;
	creates[i].sent = now_ns();
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (phase == P_CREATING && !cr.busy && cr.next <= opt.ncreates &&
	    now_ns() >= cr.t0 + (int64_t)((double)(cr.next - 1) * 1e9 / opt.rate))
		create_send(cr.next++);
	check_phase();
}

/* ---------------------------------------------------------------- Redis */

/* The client's own subscriber on the org's channel: when it sees an event is
 * (within a loopback hop) when incidentd PUBLISHed it, so receipt minus that
 * is what incidentd-sse and nginx add. */
static struct bufferevent *redis_bev;
static int redis_subscribed;

/* One RESP bulk string at p (`$len\r\n...\r\n`): its length and start;
 * 0 if incomplete, -1 if malformed, else the bytes it takes. */
static long
resp_bulk(const char *p, size_t avail, const char **str, long *len)
{
	const char *crlf = memmem(p, avail, "\r\n", 2);
	long n;

	if (crlf == NULL)
		return 0;
	if (p[0] != '$' && p[0] != ':')
		return -1;
	n = strtol(p + 1, NULL, 10);
	if (p[0] == ':') { /* an integer: the subscription count */
		*str = p + 1;
		*len = crlf - p - 1;
		return crlf + 2 - p;
	}
	if (n < 0 || (size_t)(crlf + 2 - p) + (size_t)n + 2 > avail)
		return n < 0 ? -1 : 0;
	*str = crlf + 2;
	*len = n;
	return (crlf + 2 - p) + n + 2;
}

static void
redis_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	int64_t t = now_ns();

	(void)arg;
	for (;;) {
		size_t avail = evbuffer_get_length(in), off;
		const char *p, *crlf, *el[3] = {NULL, NULL, NULL};
		long len[3] = {0, 0, 0}, used, i, n;

		if (avail == 0)
			return;
		p = (const char *)evbuffer_pullup(in, -1);
		if ((crlf = memmem(p, avail, "\r\n", 2)) == NULL)
			return;
		if (p[0] != '*' || (n = strtol(p + 1, NULL, 10)) != 3)
			die("unexpected reply from Redis: %.*s", (int)(crlf - p), p);
		off = (size_t)(crlf + 2 - p);
		for (i = 0; i < 3; i++) {
			used = resp_bulk(p + off, avail - off, &el[i], &len[i]);
			if (used < 0)
				die("malformed reply from Redis");
			if (used == 0)
				return; /* the rest is still on its way */
			off += (size_t)used;
		}
		if (len[0] == 9 && memcmp(el[0], "subscribe", 9) == 0) {
			redis_subscribed = 1;
		} else if (len[0] == 7 && memcmp(el[0], "message", 7) == 0) {
			int64_t seq = number_after(el[2], (size_t)len[2], "\"seq\":");
			long sl = seq > 0 ? slot_for(seq) : -1;

			if (sl >= 0 && slots[sl].published == 0)
				slots[sl].published = t;
		}
		evbuffer_drain(in, off);
	}
}

static void
redis_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	die("the Redis subscriber connection %s", (what & BEV_EVENT_EOF) ? "was closed" : "failed");
}

static void
redis_connect(void)
{
	redis_bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (redis_bev == NULL)
		die("cannot create a bufferevent");
	bufferevent_priority_set(redis_bev, 0);
	bufferevent_setcb(redis_bev, redis_read, NULL, redis_event, NULL);
	bufferevent_enable(redis_bev, EV_READ);
	if (bufferevent_socket_connect(redis_bev, (struct sockaddr *)&opt.redis.sa, opt.redis.salen) !=
	    0)
		die("cannot connect to Redis at %s", opt.redis.hostport);
	evbuffer_add_printf(bufferevent_get_output(redis_bev),
	                    "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", strlen(opt.redis_channel),
	                    opt.redis_channel);
}

/* ---------------------------------------------------------------- phases */

static int
warmup_arrived(void)
{
	long sl;

	if (cr.busy || creates[0].resp == 0)
		return 0;
	sl = slot_of_incident(creates[0].incident);
	return sl >= 0 && slots[sl].count >= nready;
}

static void
enter(enum phase p)
{
	int k = p == P_CREATING ? 0 : 1;

	if (p == P_CREATING || (p == P_DONE && phase >= P_CREATING)) {
		cpu_server[k] = cpu_ticks(opt.rss_server);
		cpu_proxy[k] = cpu_ticks(opt.rss_proxy);
		cpu_client[k] = own_cpu_s();
		cpu_machine[k] = machine_busy_ticks();
		cpu_wall[k] = now_ns();
	}
	phase = p;
	phase_started = now_ns();
}

/* µs of CPU per delivery between the start of the creates and the end. */
static double
cpu_us_per_delivery(const long *ticks, size_t deliveries)
{
	if (ticks[0] < 0 || ticks[1] < 0 || deliveries == 0)
		return -1;
	return (double)(ticks[1] - ticks[0]) / (double)sysconf(_SC_CLK_TCK) * 1e6 /
	       (double)deliveries;
}

/* Start the measured creates: the first --offset-ms after t, then paced. */
static void
go(int64_t t)
{
	progress("creating %ld at %g/s", opt.ncreates, opt.rate);
	enter(P_CREATING);
	cr.next = 1;
	cr.t0 = t + (int64_t)(opt.offset_ms * 1e6);
	on_tick(-1, 0, NULL);
}

static void
on_go(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	if (phase == P_READY)
		go(now_ns());
}

static void
check_phase(void)
{
	int64_t t = now_ns();

	switch (phase) {
	case P_OPENING:
		if (nready + nfailed_connect + nfailed_status + ndropped < opt.nstreams) {
			if (t - phase_started > (int64_t)opt.open_timeout * 1000000000) {
				loud("only %ld of %ld streams opened within %lds", nready, opt.nstreams,
				     opt.open_timeout);
				enter(P_DONE);
			}
			return;
		}
		open_finished = t;
		progress("%ld streams open in %.2fs (%ld connect errors, %ld refused)", nready,
		         (double)(open_finished - open_started) / 1e9, nfailed_connect, nfailed_status);
		if (nready == 0) {
			loud("no stream opened");
			enter(P_DONE);
			return;
		}
		enter(P_WARMUP);
		create_send(0);
		return;
	case P_WARMUP:
		if (warmup_arrived() && (!opt.have_redis || redis_subscribed)) {
			if (creates[0].status < 200 || creates[0].status > 299) {
				enter(P_DONE);
				return;
			}
			rss_server_open = rss_kb(opt.rss_server);
			rss_proxy_open = rss_kb(opt.rss_proxy);
			progress("warm-up event reached all %ld streams in %.1f ms", nready,
			         (double)(t - creates[0].resp) / 1e6);
			enter(P_READY);
			if (opt.wait_go) {
				progress("ready; waiting for SIGUSR1");
				return;
			}
			go(t);
		} else if (t - phase_started > 30 * (int64_t)1000000000) {
			loud("the warm-up event did not reach every stream within 30s");
			enter(P_DONE);
		}
		return;
	case P_READY:
		if (t - phase_started > (int64_t)opt.open_timeout * 1000000000) {
			loud("no SIGUSR1 within %lds of being ready", opt.open_timeout);
			enter(P_DONE);
		}
		return;
	case P_CREATING:
		if (cr.next > opt.ncreates && !cr.busy)
			enter(P_DRAINING);
		else
			return;
		/* fall through */
	case P_DRAINING:
		/* every ready stream has the warm-up and every create (anything
		 * unexpected only ends the wait early; the report counts it) */
		if (nreceived >= (int64_t)nready * (opt.ncreates + 1) ||
		    t - phase_started > (int64_t)opt.drain_timeout * 1000000000)
			enter(P_DONE);
		return;
	case P_DONE:
		return;
	}
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	check_phase();
	if (phase == P_DONE)
		event_base_loopbreak(base);
}

/* ---------------------------------------------------------------- report */

/* CPUs' worth of work done meanwhile by processes other than the ones
 * measured (the machine's other jobs, PostgreSQL, Redis, incidentd workers):
 * large values mean a noisy run. */
static double
other_cores(void)
{
	double hz = (double)sysconf(_SC_CLK_TCK), wall = (double)(cpu_wall[1] - cpu_wall[0]) / 1e9;
	double ours = cpu_client[1] - cpu_client[0];

	if (cpu_machine[0] < 0 || cpu_machine[1] < 0 || wall <= 0)
		return -1;
	if (cpu_server[0] >= 0 && cpu_server[1] >= 0)
		ours += (double)(cpu_server[1] - cpu_server[0]) / hz;
	if (cpu_proxy[0] >= 0 && cpu_proxy[1] >= 0)
		ours += (double)(cpu_proxy[1] - cpu_proxy[0]) / hz;
	return ((double)(cpu_machine[1] - cpu_machine[0]) / hz - ours) / wall;
}

/* Creates per second actually sent: the next one waits for the previous
 * response, so a slow response (nchan answers after its own fan-out) lowers
 * the rate below --rate. */
static double
achieved_rate(void)
{
	int64_t first = creates[1].sent, last = creates[opt.ncreates].sent;

	if (opt.ncreates < 2 || first == 0 || last <= first)
		return -1;
	return (double)(opt.ncreates - 1) * 1e9 / (double)(last - first);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n], in ms. */
static double
pct(const int64_t *v, size_t n, double q)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (size_t)(q * (double)n + 0.999999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1e6;
}

static double
mean_ms(const int64_t *v, size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += (double)v[i];
	return n > 0 ? sum / (double)n / 1e6 : 0;
}

/* kB of RSS per stream: the larger of the two readings with the streams
 * open, less the reading before any was opened; -1 without readings. */
static double
kb_per_stream(long before, long open, long after)
{
	long peak = after > open ? after : open;

	if (before < 0 || peak < 0)
		return -1;
	return (double)(peak - before) / (double)opt.nstreams;
}

/* One line per measured create: ms since the first create's response of
 * its send, response and publication, then its deliveries' min, p50, p99
 * and max in ms since its response. */
static void
dump_creates(const long *create_slot)
{
	FILE *f = fopen(opt.dump_creates, "w");
	int64_t *v = xcalloc((size_t)opt.nstreams, sizeof(*v)), t0 = creates[1].resp;
	long i, j, sl;
	size_t k;

	if (f == NULL) {
		loud("cannot write %s: %s", opt.dump_creates, strerror(errno));
		free(v);
		return;
	}
	fprintf(f, "# create sent_ms resp_ms pub_ms received min p50 p99 max (ms after its response)\n");
	for (i = 1; i <= opt.ncreates; i++) {
		sl = create_slot[i];
		for (k = 0, j = 0; j < opt.nstreams && sl >= 0; j++)
			if (streams[j].recv != NULL && streams[j].recv[sl] != 0)
				v[k++] = streams[j].recv[sl] - creates[i].resp;
		qsort(v, k, sizeof(*v), cmp_i64);
		fprintf(f, "%ld %.3f %.3f %.3f %zu %.3f %.3f %.3f %.3f\n", i,
		        (double)(creates[i].sent - t0) / 1e6, (double)(creates[i].resp - t0) / 1e6,
		        sl >= 0 && slots[sl].published ? (double)(slots[sl].published - t0) / 1e6 : -1.0,
		        k, k ? (double)v[0] / 1e6 : 0.0, pct(v, k, 0.5), pct(v, k, 0.99), pct(v, k, 1.0));
	}
	fclose(f);
	free(v);
}

static int
report(void)
{
	int64_t expected = (int64_t)opt.nstreams * opt.ncreates, missing;
	size_t n = 0, napi = 0, cells = (size_t)opt.nstreams * (size_t)opt.ncreates + 1;
	int64_t *lat = xcalloc(cells, sizeof(*lat)), *lat_sent = xcalloc(cells, sizeof(*lat_sent));
	int64_t *api = xcalloc((size_t)opt.ncreates + 1, sizeof(*api));
	int64_t *lat_pub = xcalloc(cells, sizeof(*lat_pub));
	size_t npub = 0;
	long *create_slot = xcalloc((size_t)opt.ncreates + 1, sizeof(*create_slot));
	long i, j, sl, negative = 0, streams_short = 0, failed_creates = 0, rss_s, rss_p;
	int ok;

	rss_s = rss_kb(opt.rss_server);
	rss_p = rss_kb(opt.rss_proxy);
	for (i = 0; i <= opt.ncreates; i++) {
		create_slot[i] = creates[i].resp != 0 ? slot_of_incident(creates[i].incident) : -1;
		if (i > 0 && (creates[i].resp == 0 || creates[i].incident < 0 ||
		              creates[i].status < 200 || creates[i].status > 299))
			failed_creates++;
		else if (i > 0)
			api[napi++] = creates[i].resp - creates[i].sent;
	}
	for (j = 0; j < opt.nstreams; j++) {
		const struct stream *s = &streams[j];
		long got = 0;

		for (i = 1; i <= opt.ncreates; i++) {
			sl = create_slot[i];
			if (s->recv == NULL || sl < 0 || s->recv[sl] == 0)
				continue;
			got++;
			lat[n] = s->recv[sl] - creates[i].resp;
			lat_sent[n] = s->recv[sl] - creates[i].sent;
			if (slots[sl].published != 0)
				lat_pub[npub++] = s->recv[sl] - slots[sl].published;
			negative += lat[n] < 0;
			n++;
		}
		streams_short += got < opt.ncreates;
	}
	missing = expected - (int64_t)n;
	if (opt.dump_creates != NULL)
		dump_creates(create_slot);
	/* events that no create of this run (nor the warm-up) caused */
	for (sl = 0; sl < nslots; sl++) {
		int mine = 0;

		for (i = 0; i <= opt.ncreates && !mine; i++)
			mine = create_slot[i] == sl;
		if (!mine)
			nunexpected += slots[sl].count;
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	qsort(lat_sent, n, sizeof(*lat_sent), cmp_i64);
	qsort(api, napi, sizeof(*api), cmp_i64);
	qsort(lat_pub, npub, sizeof(*lat_pub), cmp_i64);
	if (opt.have_redis && npub < n)
		loud("the Redis subscriber saw %zu of %zu events' publications", npub, n);

	if (nfailed_connect > 0)
		loud("%ld of %ld streams could not connect", nfailed_connect, opt.nstreams);
	if (nfailed_status > 0)
		loud("%ld of %ld streams were refused or broke before they were ready",
		     nfailed_status, opt.nstreams);
	if (ndropped > 0)
		loud("%ld streams were closed while the run went on", ndropped);
	if (failed_creates > 0)
		loud("%ld of %ld creates failed", failed_creates, opt.ncreates);
	if (missing > 0)
		loud("MISSING DELIVERIES: %" PRId64 " of %" PRId64 " expected events never arrived "
		     "(%ld of %ld streams short)", missing, expected, streams_short, opt.nstreams);
	if (nduplicates > 0)
		loud("%ld duplicate deliveries", nduplicates);
	if (nout_of_order > 0)
		loud("%ld deliveries out of seq order", nout_of_order);
	if (nunexpected > 0)
		loud("%ld unexpected events (no create of this run caused them)", nunexpected);

	printf("%s: streams=%ld creates=%ld rate=%g expected=%" PRId64 " received=%zu"
	       " missing=%" PRId64 " duplicates=%ld out_of_order=%ld unexpected=%ld"
	       " connect_errors=%ld refused=%ld dropped=%ld create_errors=%ld"
	       " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f mean_ms=%.3f negative=%ld"
	       " sent_p50_ms=%.3f sent_p99_ms=%.3f api_p50_ms=%.3f api_p99_ms=%.3f"
	       " open_s=%.2f rss_before_kb=%ld rss_open_kb=%ld rss_after_kb=%ld"
	       " kb_per_stream=%.2f proxy_rss_before_kb=%ld proxy_rss_after_kb=%ld"
	       " proxy_kb_per_stream=%.2f cpu_us_per_delivery=server:%.2f,proxy:%.2f,client:%.2f"
	       " measured_s=%.2f achieved_rate=%.2f other_cores=%.2f"
	       " pub_p50_ms=%.3f pub_p99_ms=%.3f pub_max_ms=%.3f\n",
	       opt.label, opt.nstreams, opt.ncreates, opt.rate, expected, n, missing, nduplicates,
	       nout_of_order, nunexpected, nfailed_connect, nfailed_status, ndropped,
	       failed_creates, pct(lat, n, 0.50), pct(lat, n, 0.99), pct(lat, n, 1.0),
	       n > 0 ? (double)lat[0] / 1e6 : 0.0, mean_ms(lat, n), negative,
	       pct(lat_sent, n, 0.50), pct(lat_sent, n, 0.99), pct(api, napi, 0.50),
	       pct(api, napi, 0.99), (double)(open_finished - open_started) / 1e9,
	       rss_server_before, rss_server_open, rss_s,
	       kb_per_stream(rss_server_before, rss_server_open, rss_s), rss_proxy_before, rss_p,
	       kb_per_stream(rss_proxy_before, rss_proxy_open, rss_p),
	       cpu_us_per_delivery(cpu_server, n), cpu_us_per_delivery(cpu_proxy, n),
	       n > 0 ? (cpu_client[1] - cpu_client[0]) * 1e6 / (double)n : -1.0,
	       (double)(cpu_wall[1] - cpu_wall[0]) / 1e9, achieved_rate(), other_cores(), npub ? pct(lat_pub, npub, 0.50) : -1.0,
	       npub ? pct(lat_pub, npub, 0.99) : -1.0, npub ? pct(lat_pub, npub, 1.0) : -1.0);
	fflush(stdout);
	ok = !failed_loudly && missing == 0 && nduplicates == 0 && nunexpected == 0;
	free(lat);
	free(lat_sent);
	free(api);
	free(create_slot);
	free(lat_pub);
	return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: sse_client --stream-url URL --create-url URL --body-file FILE\n"
	        "         [--mode incidentd|nchan] [--key KEY] [--streams N] [--creates N]\n"
	        "         [--rate R] [--connect-window N] [--source-addresses N]\n"
	        "         [--rss-server PIDS] [--rss-proxy PIDS]\n"
	        "         [--dump-event FILE] [--label NAME] [--open-timeout S] [--drain-timeout S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"mode", required_argument, NULL, 'm'},       {"stream-url", required_argument, NULL, 's'},
	    {"create-url", required_argument, NULL, 'c'}, {"key", required_argument, NULL, 'k'},
	    {"body-file", required_argument, NULL, 'b'},  {"streams", required_argument, NULL, 'n'},
	    {"creates", required_argument, NULL, 'C'},    {"rate", required_argument, NULL, 'r'},
	    {"connect-window", required_argument, NULL, 'w'},
	    {"source-addresses", required_argument, NULL, 'A'},
	    {"rss-server", required_argument, NULL, 'S'}, {"rss-proxy", required_argument, NULL, 'P'},
	    {"dump-event", required_argument, NULL, 'd'}, {"label", required_argument, NULL, 'l'},
	    {"open-timeout", required_argument, NULL, 'o'},
	    {"drain-timeout", required_argument, NULL, 't'}, {"redis", required_argument, NULL, 'R'},
	    {"redis-channel", required_argument, NULL, 'H'},
	    {"dump-creates", required_argument, NULL, 'D'}, {"wait-go", no_argument, NULL, 'g'},
	    {"offset-ms", required_argument, NULL, 'O'},   {NULL, 0, NULL, 0}};
	const char *stream_url = NULL, *create_url = NULL, *body_file = NULL, *redis_addr = NULL;
	struct timeval tick = {0, 1000}, check = {0, 20000};
	struct event *check_ev, *go_ev;
	char *end;
	int ch, rc;
	long i;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "incidentd") == 0)
				opt.mode = MODE_INCIDENTD;
			else if (strcmp(optarg, "nchan") == 0)
				opt.mode = MODE_NCHAN;
			else
				usage();
			break;
		case 's': stream_url = optarg; break;
		case 'c': create_url = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'b': body_file = optarg; break;
		case 'n': opt.nstreams = parse_long(optarg, 1, 100000, "--streams"); break;
		case 'C': opt.ncreates = parse_long(optarg, 1, 100000, "--creates"); break;
		case 'r':
			opt.rate = strtod(optarg, &end);
			if (*end != '\0' || !(opt.rate > 0 && opt.rate <= 100000))
				die("--rate must be a positive number");
			break;
		case 'w': opt.window = parse_long(optarg, 1, 100000, "--connect-window"); break;
		case 'A': opt.sources = parse_long(optarg, 1, 250, "--source-addresses"); break;
		case 'S': opt.rss_server = optarg; break;
		case 'P': opt.rss_proxy = optarg; break;
		case 'd': opt.dump_event = optarg; break;
		case 'l': opt.label = optarg; break;
		case 'o': opt.open_timeout = parse_long(optarg, 1, 3600, "--open-timeout"); break;
		case 't': opt.drain_timeout = parse_long(optarg, 1, 3600, "--drain-timeout"); break;
		case 'R': redis_addr = optarg; break;
		case 'H': opt.redis_channel = optarg; break;
		case 'D': opt.dump_creates = optarg; break;
		case 'g': opt.wait_go = 1; break;
		case 'O':
			opt.offset_ms = strtod(optarg, &end);
			if (*end != '\0' || !(opt.offset_ms >= 0 && opt.offset_ms <= 3600000))
				die("--offset-ms must be a number of milliseconds");
			break;
		default: usage();
		}
	}
	if (optind != argc || stream_url == NULL || create_url == NULL || body_file == NULL)
		usage();
	parse_url(stream_url, &opt.stream_url);
	parse_url(create_url, &opt.create_url);
	if ((redis_addr == NULL) != (opt.redis_channel == NULL))
		die("--redis and --redis-channel go together");
	if (redis_addr != NULL) {
		char u[256];

		snprintf(u, sizeof(u), "http://%s/", redis_addr);
		parse_url(u, &opt.redis);
		opt.have_redis = 1;
	}
	opt.body = read_file(body_file, &opt.body_len);
	signal(SIGPIPE, SIG_IGN);

	max_slots = opt.ncreates + 1 + 64;
	slots = xcalloc((size_t)max_slots, sizeof(*slots));
	for (slot_mask = 1; slot_mask < (size_t)max_slots * 4; slot_mask <<= 1)
		;
	slot_index = xcalloc(slot_mask, sizeof(*slot_index));
	slot_mask--;
	creates = xcalloc((size_t)opt.ncreates + 1, sizeof(*creates));
	for (i = 0; i <= opt.ncreates; i++)
		creates[i].incident = -2; /* matches no slot */
	streams = xcalloc((size_t)opt.nstreams, sizeof(*streams));
	for (i = 0; i < opt.nstreams; i++)
		streams[i].fd = -1;

	base = event_base_new();
	if (base == NULL || event_base_priority_init(base, 2) != 0)
		die("cannot create the event loop");
	/* the create connection and the pacing timer first, so a response's
	 * time is not taken after thousands of stream reads */
	tick_ev = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	check_ev = event_new(base, -1, EV_PERSIST, on_check, NULL);
	if (tick_ev == NULL || check_ev == NULL)
		die("cannot create timers");
	event_priority_set(tick_ev, 0);
	event_priority_set(check_ev, 1);
	event_add(tick_ev, &tick);
	event_add(check_ev, &check);
	go_ev = evsignal_new(base, SIGUSR1, on_go, NULL);
	if (go_ev == NULL || event_priority_set(go_ev, 0) != 0 || event_add(go_ev, NULL) != 0)
		die("cannot handle SIGUSR1");
	creator_connect();
	if (opt.have_redis)
		redis_connect();

	rss_server_before = rss_kb(opt.rss_server);
	rss_proxy_before = rss_kb(opt.rss_proxy);
	rss_server_open = rss_server_before;
	rss_proxy_open = rss_proxy_before;
	progress("opening %ld streams to %s%s (%ld at a time)", opt.nstreams,
	         opt.stream_url.hostport, opt.stream_url.path, opt.window);
	open_started = now_ns();
	enter(P_OPENING);
	open_more();

	event_base_dispatch(base);

	rc = report();
	for (i = 0; i < opt.nstreams; i++) {
		stream_close(&streams[i]);
		free(streams[i].line);
		free(streams[i].recv);
	}
	creator_close();
	if (redis_bev != NULL)
		bufferevent_free(redis_bev);
	evbuffer_free(cr.body);
	event_free(tick_ev);
	event_free(check_ev);
	event_free(go_ev);
	event_base_free(base);
	free(streams);
	free(slots);
	free(slot_index);
	free(creates);
	free(opt.body);
	return rc;
}
