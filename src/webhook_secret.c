/* webhook_secret.c — a subscription's signing secret, as the Standard
 * Webhooks spec writes one: "whsec_" and the standard base64 of 32 random
 * bytes (OpenSSL's RAND_bytes); the HMAC key is those bytes, decoded. */
#include "core.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_BYTES 32
#define SECRET_PREFIX "whsec_"
/* base64 of 32 bytes: 44 characters with its one padding "=" */
#define SECRET_B64_CHARS (4 * ((SECRET_BYTES + 2) / 3))

char *
webhook_secret_new(void)
{
	unsigned char raw[SECRET_BYTES];
	size_t prefix = strlen(SECRET_PREFIX);
	char *out;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	out = xmalloc(prefix + SECRET_B64_CHARS + 1);
	memcpy(out, SECRET_PREFIX, prefix);
	if (EVP_EncodeBlock((unsigned char *)out + prefix, raw, sizeof(raw)) != SECRET_B64_CHARS) {
		free(out);
		out = NULL;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return out;
}
