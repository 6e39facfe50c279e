/* stream_status.c — what incidentd-sse tells the rest of its host: its state
 * and counters in one page of memory shared by the master, the FastCGI
 * workers (forked after the page was mapped) and incidentd-sse (which gets
 * the descriptor across exec with -s).  /healthz and /metrics read it, so the
 * state of the streams needs neither a query nor a socket.  Each field has
 * one writer at a time — incidentd-sse, or the master once it died — and is
 * a relaxed atomic: readers want a recent value, not a consistent snapshot.
 * The counters are added to in place, so a restarted incidentd-sse goes on
 * from where the last one stopped. */
#include "core.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

struct stream_status {
	_Atomic int64_t updated_at; /* unix seconds of the last report; 0: none yet */
	_Atomic int64_t pid;
	_Atomic int64_t streams;
	_Atomic int64_t redis_connected;
	_Atomic int64_t probe_deliveries;
	_Atomic int64_t open[STREAM_KINDS];
	_Atomic uint64_t counters[STREAM_COUNTERS];
};

static struct stream_status *shared;

static struct stream_status *
status_map(int fd)
{
	void *p = mmap(NULL, sizeof(struct stream_status), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
stream_status_create(void)
{
	int fd = memfd_create("incidentd-stream-status", 0); /* kept across exec */

	if (fd < 0 || ftruncate(fd, sizeof(struct stream_status)) != 0 ||
	    (shared = status_map(fd)) == NULL)
		fatal("cannot share the stream status page");
	return fd;
}

int
stream_status_attach(int fd)
{
	shared = status_map(fd);
	if (shared == NULL)
		return -1;
	stream_status_lost(); /* a new process holds no stream yet */
	return 0;
}

void
stream_status_report(int64_t now, size_t streams, int redis_connected, int64_t probe_deliveries)
{
	if (shared == NULL)
		return;
	atomic_store_explicit(&shared->pid, (int64_t)getpid(), memory_order_relaxed);
	atomic_store_explicit(&shared->streams, (int64_t)streams, memory_order_relaxed);
	atomic_store_explicit(&shared->redis_connected, redis_connected, memory_order_relaxed);
	atomic_store_explicit(&shared->probe_deliveries, probe_deliveries, memory_order_relaxed);
	atomic_store_explicit(&shared->updated_at, now, memory_order_relaxed);
}

/* One writer: a load and a store, no locked read-modify-write needed. */
void
stream_status_count(enum stream_counter c)
{
	_Atomic uint64_t *p;

	if (shared == NULL)
		return;
	p = &shared->counters[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

void
stream_status_open(enum stream_kind k, int delta)
{
	_Atomic int64_t *p;

	if (shared == NULL)
		return;
	p = &shared->open[k];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + delta,
	                      memory_order_relaxed);
}

void
stream_status_lost(void)
{
	int k;

	if (shared == NULL)
		return;
	for (k = 0; k < STREAM_KINDS; k++)
		atomic_store_explicit(&shared->open[k], 0, memory_order_relaxed);
}

int
stream_status_read(struct stream_status_view *v)
{
	int i;

	if (shared == NULL)
		return -1;
	v->updated_at = atomic_load_explicit(&shared->updated_at, memory_order_relaxed);
	v->pid = atomic_load_explicit(&shared->pid, memory_order_relaxed);
	v->streams = atomic_load_explicit(&shared->streams, memory_order_relaxed);
	v->redis_connected = atomic_load_explicit(&shared->redis_connected, memory_order_relaxed);
	v->probe_deliveries = atomic_load_explicit(&shared->probe_deliveries, memory_order_relaxed);
	for (i = 0; i < STREAM_KINDS; i++)
		v->open[i] = atomic_load_explicit(&shared->open[i], memory_order_relaxed);
	for (i = 0; i < STREAM_COUNTERS; i++)
		v->counters[i] = atomic_load_explicit(&shared->counters[i], memory_order_relaxed);
	return 0;
}
