/* sse_keys.c — how many org streams each API key holds here, so one key (a
 * leaked one, or a dashboard reconnecting in a loop) cannot take every
 * stream of the process: past max_streams_per_key a new stream gets 429.
 * A small chained hash of key id → count; entries go when they reach 0. */
#include "sse.h"

#include <stdlib.h>

#define KEY_BUCKETS 1024

struct key_streams {
	int64_t key_id;
	int count;
	struct key_streams *next;
};

static struct key_streams *key_buckets[KEY_BUCKETS];

static struct key_streams **
key_slot(int64_t key_id)
{
	struct key_streams **pp = &key_buckets[(uint64_t)key_id % KEY_BUCKETS];

	while (*pp != NULL && (*pp)->key_id != key_id)
		pp = &(*pp)->next;
	return pp;
}

int
sse_keys_streams(int64_t key_id)
{
	struct key_streams *k = *key_slot(key_id);

	return k != NULL ? k->count : 0;
}

void
sse_keys_add(int64_t key_id, int delta)
{
	struct key_streams **pp = key_slot(key_id), *k = *pp;

	if (k == NULL) {
		if (delta <= 0)
			return;
		k = *pp = xcalloc(1, sizeof(*k));
		k->key_id = key_id;
	}
	k->count += delta;
	if (k->count <= 0) {
		*pp = k->next;
		free(k);
	}
}
