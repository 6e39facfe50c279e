/* hooks_sign.c — the Standard Webhooks signature: HMAC-SHA256 (OpenSSL's,
 * nothing home-made) of "<webhook-id>.<webhook-timestamp>.<body>" keyed with
 * the bytes the secret's base64 after "whsec_" stands for. */
#include "hooks.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"
#define KEY_MAX 256

/* The key bytes, or -1 when the secret is not whsec_ + standard base64. */
static int
secret_key(const char *secret, unsigned char *key, size_t keymax)
{
	size_t plen = strlen(SECRET_PREFIX), blen;
	const char *b64;
	int n, pad = 0;

	if (strncmp(secret, SECRET_PREFIX, plen) != 0)
		return -1;
	b64 = secret + plen;
	blen = strlen(b64);
	if (blen == 0 || blen % 4 != 0 || blen / 4 * 3 > keymax)
		return -1;
	n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)blen);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding's bytes as zeros: take them off */
	if (b64[blen - 1] == '=')
		pad++;
	if (b64[blen - 2] == '=')
		pad++;
	return n - pad;
}

/* A subscription's HMAC, keyed once: each signature starts it again from
 * the key it holds (the fetch of the algorithm and the keying cost more
 * than hashing a 1 KB body). */
struct hook_signer {
	EVP_MAC_CTX *keyed;
};

struct hook_signer *
hook_signer_new(const char *secret)
{
	unsigned char key[KEY_MAX];
	int keylen = secret_key(secret, key, sizeof(key));
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
	                       OSSL_PARAM_construct_end()};
	struct hook_signer *k = NULL;
	EVP_MAC *hmac;
	EVP_MAC_CTX *ctx = NULL;

	if (keylen <= 0)
		return NULL;
	if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL) {
		ctx = EVP_MAC_CTX_new(hmac); /* holds its own reference */
		EVP_MAC_free(hmac);
	}
	if (ctx != NULL && EVP_MAC_init(ctx, key, (size_t)keylen, params) == 1) {
		k = xcalloc(1, sizeof(*k));
		k->keyed = ctx;
	} else {
		EVP_MAC_CTX_free(ctx);
	}
	OPENSSL_cleanse(key, sizeof(key));
	return k;
}

void
hook_signer_free(struct hook_signer *k)
{
	if (k == NULL)
		return;
	EVP_MAC_CTX_free(k->keyed);
	free(k);
}

char *
hook_sign(struct hook_signer *k, const char *id, int64_t timestamp, const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char *out = xmalloc(3 + 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1);
	char prefix[INT64_TEXT_MAX + 2];
	size_t maclen = 0, plen;

	/* ".<timestamp>." without printf: this runs for every delivery */
	prefix[0] = '.';
	plen = 1 + int64_text(prefix + 1, timestamp);
	prefix[plen++] = '.';
	/* no key: again from the one it was keyed with */
	if (EVP_MAC_init(k->keyed, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(k->keyed, (const unsigned char *)id, strlen(id)) != 1 ||
	    EVP_MAC_update(k->keyed, (const unsigned char *)prefix, plen) != 1 ||
	    EVP_MAC_update(k->keyed, (const unsigned char *)body, len) != 1 ||
	    EVP_MAC_final(k->keyed, mac, &maclen, sizeof(mac)) != 1) {
		free(out);
		return NULL;
	}
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
	return out;
}
