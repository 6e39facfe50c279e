/* hooks_sign.c — the Standard Webhooks signature: HMAC-SHA256 (OpenSSL's,
 * nothing home-made) of "<webhook-id>.<webhook-timestamp>.<body>" keyed with
 * the bytes the secret's base64 after "whsec_" stands for. */
#include "hooks.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
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

char *
hook_signature(const char *secret, const char *id, int64_t timestamp, const char *body,
               size_t len)
{
	unsigned char key[KEY_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int maclen = 0;
	int keylen = secret_key(secret, key, sizeof(key));
	struct buf *signed_text;
	char *out = NULL;

	if (keylen <= 0)
		return NULL;
	signed_text = buf_printf(buf_new(len + 64), "%s.%lld.", id, (long long)timestamp);
	signed_text = buf_append(signed_text, body, len);
	if (HMAC(EVP_sha256(), key, keylen, (const unsigned char *)signed_text->data,
	         signed_text->len, mac, &maclen) != NULL) {
		EVP_EncodeBlock(b64, mac, (int)maclen);
		out = xprintf("v1,%s", (const char *)b64);
	}
	OPENSSL_cleanse(key, sizeof(key));
	buf_free(signed_text);
	return out;
}
