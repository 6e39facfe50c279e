/* test_auth_cache.c — the key hash and a worker's remembered keys: found by hash with what
 * was stored, unknown hashes not found, forgotten on flush, and never more
 * than AUTH_CACHE_MAX held (the next key past the bound empties the cache
 * and is kept). */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
hash_of(int n, char out[65])
{
	snprintf(out, 65, "%064x", n);
}

static void
test_find_put(void)
{
	struct auth_cache c = {0};
	struct auth a = {.org_id = 7, .key_id = 42, .role = ROLE_WRITE, .key_name = "ops"};
	struct auth got = {0};
	char h[65], other[65];

	hash_of(1, h);
	hash_of(2, other);
	ok(auth_cache_find(&c, h, &got) != 0, "an empty cache finds nothing");
	auth_cache_put(&c, h, &a);
	ok(auth_cache_find(&c, h, &got) == 0, "a stored key is found");
	is_int(got.org_id, 7, "with its org");
	is_int(got.key_id, 42, "its id");
	is_int(got.role, ROLE_WRITE, "its role");
	is_str(got.key_name, "ops", "and a copy of its name");
	ok(got.key_name != a.key_name, "the name is the caller's to free");
	free(got.key_name);
	ok(auth_cache_find(&c, other, &got) != 0, "another hash is not found");
	is_int(c.count, 1, "one key held");
	auth_cache_flush(&c);
	is_int(c.count, 0, "flush forgets every key");
	ok(auth_cache_find(&c, h, &got) != 0, "a flushed key is not found");
}

static void
test_bound(void)
{
	struct auth_cache c = {0};
	struct auth a = {.org_id = 1, .key_id = 1, .role = ROLE_READ, .key_name = "k"};
	struct auth got = {0};
	char h[65];
	int i, all = 1;

	for (i = 0; i < AUTH_CACHE_MAX; i++) {
		hash_of(i, h);
		auth_cache_put(&c, h, &a);
	}
	is_int(c.count, AUTH_CACHE_MAX, "the cache fills to its bound");
	for (i = 0; i < AUTH_CACHE_MAX && all; i++) {
		hash_of(i, h);
		all = auth_cache_find(&c, h, &got) == 0;
		free(got.key_name);
		got.key_name = NULL;
	}
	ok(all, "every key up to the bound is found");
	hash_of(AUTH_CACHE_MAX, h);
	auth_cache_put(&c, h, &a);
	is_int(c.count, 1, "one more empties it and keeps the newcomer");
	ok(auth_cache_find(&c, h, &got) == 0, "the newcomer is found");
	free(got.key_name);
	hash_of(0, h);
	ok(auth_cache_find(&c, h, &got) != 0, "an earlier key is forgotten");
	auth_cache_flush(&c);
}

/* The cache's keys: SHA-256 in lower-case hex (FIPS 180-2 vectors). */
static void
test_hash(void)
{
	char h[65];

	memset(h, 'x', sizeof(h));
	ok(sha256_hex("abc", 3, h) == 0, "sha256_hex hashes");
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "of \"abc\"");
	ok(sha256_hex("", 0, h) == 0, "sha256_hex hashes nothing");
	is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "of \"\"");
}

void
test_auth_cache(void)
{
	test_hash();
	test_find_put();
	test_bound();
}
