/* hooks_status.c — what incidentd-hooks tells the rest of its host, as
 * stream_status.c does for incidentd-sse: counters and the oldest pending
 * event's age in one shared page, mapped by the master before it forks the
 * workers (which render /metrics from it) and by each incidentd-hooks
 * through the descriptor it is given (-s), in the slot it is given (-i).
 * The counters live in the master's page, so they go on across
 * incidentd-hooks restarts; one writer per slot, relaxed atomics. */
#include "core.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct hooks_status {
	_Atomic int64_t oldest_pending;
	_Atomic uint64_t counters[HOOKS_COUNTERS];
};

/* One slot per incidentd-hooks process (hooks_processes); each writes its
 * own, /metrics reads them all. */
static struct hooks_status *page;
static struct hooks_status *mine;
#define STATUS_BYTES (HOOKS_PROCESSES_MAX * sizeof(struct hooks_status))

static struct hooks_status *
page_map(int fd)
{
	void *p = mmap(NULL, STATUS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
hooks_status_create(void)
{
	int fd = memfd_create("incidentd-hooks-status", 0); /* kept across exec */

	if (fd < 0 || ftruncate(fd, STATUS_BYTES) != 0 || (page = page_map(fd)) == NULL)
		fatal("cannot share the webhook status page");
	return fd;
}

int
hooks_status_attach(int fd, int slot)
{
	if (slot < 0 || slot >= HOOKS_PROCESSES_MAX || (page = page_map(fd)) == NULL)
		return -1;
	mine = &page[slot];
	return 0;
}

void
hooks_status_report(int64_t oldest_pending)
{
	if (mine == NULL)
		return;
	atomic_store_explicit(&mine->oldest_pending, oldest_pending, memory_order_relaxed);
}

void
hooks_status_count(enum hooks_counter c)
{
	_Atomic uint64_t *p;

	if (mine == NULL)
		return;
	p = &mine->counters[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

void
hooks_status_lost(int slot)
{
	if (page == NULL || slot < 0 || slot >= HOOKS_PROCESSES_MAX)
		return;
	atomic_store_explicit(&page[slot].oldest_pending, 0, memory_order_relaxed);
}

int
hooks_status_read(struct hooks_status_view *v)
{
	int slot, i;

	if (page == NULL)
		return -1;
	memset(v, 0, sizeof(*v));
	for (slot = 0; slot < HOOKS_PROCESSES_MAX; slot++) {
		const struct hooks_status *p = &page[slot];
		int64_t oldest = atomic_load_explicit(&p->oldest_pending, memory_order_relaxed);

		if (oldest > v->oldest_pending)
			v->oldest_pending = oldest;
		for (i = 0; i < HOOKS_COUNTERS; i++)
			v->counters[i] += atomic_load_explicit(&p->counters[i], memory_order_relaxed);
	}
	return 0;
}
