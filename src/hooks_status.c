/* hooks_status.c — what incidentd-hooks tells the rest of its host, as
 * stream_status.c does for incidentd-sse: counters and the oldest pending
 * event's age in one shared page, mapped by the master before it forks the
 * workers (which render /metrics from it) and by incidentd-hooks through the
 * descriptor it is given (-s).  The counters live in the master's page, so
 * they go on across incidentd-hooks restarts; one writer at a time, relaxed
 * atomics. */
#include "core.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

struct hooks_status {
	_Atomic int64_t updated_at;
	_Atomic int64_t oldest_pending;
	_Atomic int64_t held;
	_Atomic uint64_t counters[HOOKS_COUNTERS];
};

static struct hooks_status *page;

static struct hooks_status *
page_map(int fd)
{
	void *p = mmap(NULL, sizeof(struct hooks_status), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
hooks_status_create(void)
{
	int fd = memfd_create("incidentd-hooks-status", 0); /* kept across exec */

	if (fd < 0 || ftruncate(fd, sizeof(struct hooks_status)) != 0 ||
	    (page = page_map(fd)) == NULL)
		fatal("cannot share the webhook status page");
	return fd;
}

int
hooks_status_attach(int fd)
{
	page = page_map(fd);
	return page == NULL ? -1 : 0;
}

void
hooks_status_report(int64_t now, int64_t held, int64_t oldest_pending)
{
	if (page == NULL)
		return;
	atomic_store_explicit(&page->held, held, memory_order_relaxed);
	atomic_store_explicit(&page->oldest_pending, oldest_pending, memory_order_relaxed);
	atomic_store_explicit(&page->updated_at, now, memory_order_relaxed);
}

void
hooks_status_count(enum hooks_counter c)
{
	_Atomic uint64_t *p;

	if (page == NULL)
		return;
	p = &page->counters[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

void
hooks_status_lost(void)
{
	if (page == NULL)
		return;
	atomic_store_explicit(&page->held, 0, memory_order_relaxed);
	atomic_store_explicit(&page->oldest_pending, 0, memory_order_relaxed);
}

int
hooks_status_read(struct hooks_status_view *v)
{
	int i;

	if (page == NULL)
		return -1;
	v->updated_at = atomic_load_explicit(&page->updated_at, memory_order_relaxed);
	v->oldest_pending = atomic_load_explicit(&page->oldest_pending, memory_order_relaxed);
	v->held = atomic_load_explicit(&page->held, memory_order_relaxed);
	for (i = 0; i < HOOKS_COUNTERS; i++)
		v->counters[i] = atomic_load_explicit(&page->counters[i], memory_order_relaxed);
	return 0;
}
