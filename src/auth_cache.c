/* auth_cache.c — the keys a worker has seen, so that a request costs no
 * key lookup in PostgreSQL.  The cache only ever answers "this key was
 * valid"; auth.c empties it whenever PostgreSQL says api_keys changed
 * (sql/006_api_keys_notify.sql) and re-checks a remembered key against the
 * first statement of every request.  Bounded: a worker holds at most
 * AUTH_CACHE_MAX keys and forgets them all when it would hold more. */
#include "api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cached_key {
	char hash[65];
	int64_t key_id, org_id;
	enum role role;
	char *name;
	struct cached_key *next;
};

/* FNV-1a: the hash is hex text, and any string must land somewhere. */
static size_t
bucket_of(const char *hash)
{
	uint32_t h = 2166136261u;

	for (; *hash != '\0'; hash++)
		h = (h ^ (unsigned char)*hash) * 16777619u;
	return h % AUTH_CACHE_BUCKETS;
}

int
auth_cache_find(const struct auth_cache *c, const char *hash, struct auth *out)
{
	const struct cached_key *k;

	for (k = c->buckets[bucket_of(hash)]; k != NULL; k = k->next) {
		if (strcmp(k->hash, hash) != 0)
			continue;
		out->key_id = k->key_id;
		out->org_id = k->org_id;
		out->role = k->role;
		out->key_name = xstrdup(k->name);
		return 0;
	}
	return -1;
}

void
auth_cache_put(struct auth_cache *c, const char *hash, const struct auth *a)
{
	struct cached_key *k;
	size_t b = bucket_of(hash);

	if (c->count >= AUTH_CACHE_MAX)
		auth_cache_flush(c);
	k = xcalloc(1, sizeof(*k));
	snprintf(k->hash, sizeof(k->hash), "%s", hash);
	k->key_id = a->key_id;
	k->org_id = a->org_id;
	k->role = a->role;
	k->name = xstrdup(a->key_name);
	k->next = c->buckets[b];
	c->buckets[b] = k;
	c->count++;
}

void
auth_cache_flush(struct auth_cache *c)
{
	size_t b;

	for (b = 0; b < AUTH_CACHE_BUCKETS; b++) {
		while (c->buckets[b] != NULL) {
			struct cached_key *k = c->buckets[b];

			c->buckets[b] = k->next;
			free(k->name);
			free(k);
		}
	}
	c->count = 0;
}
