/* test_hooks_sign.c — incidentd-hooks's webhook-signature against the
 * Standard Webhooks spec's own example, and what a malformed secret gets. */
#include "tap.h"
#include "hooks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One message signed with a signer of its own (NULL: the secret is malformed). */
static char *
sign_once(const char *secret, const char *id, int64_t timestamp, const char *body)
{
	struct hook_signer *k = hook_signer_new(secret);
	char *out = k != NULL ? hook_sign(k, id, timestamp, body, strlen(body)) : NULL;

	hook_signer_free(k);
	return out;
}

/* A signer keyed once signs one message after another, each as if alone. */
static void
test_hooks_signer(const char *secret, const char *body)
{
	struct hook_signer *k = hook_signer_new(secret);
	char *first, *second;

	ok(k != NULL, "a signer for the spec's secret");
	if (k == NULL)
		return;
	first = hook_sign(k, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body));
	second = hook_sign(k, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body));
	is_str(first, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "signs the spec's example");
	is_str(second, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "and again, the same");
	free(first);
	free(second);
	hook_signer_free(k);
	ok(hook_signer_new("whsec_!!!!") == NULL, "no signer for a malformed secret");
}

/* The decimal text the signed ".<timestamp>." and the webhook-id are made of. */
static void
test_int64_text(void)
{
	static const struct {
		int64_t v;
		const char *text;
	} cases[] = {{0, "0"}, {7, "7"}, {-1, "-1"}, {1614265330, "1614265330"},
	             {INT64_MAX, "9223372036854775807"}, {INT64_MIN, "-9223372036854775808"}};
	char out[INT64_TEXT_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = int64_text(out, cases[i].v);

		is_str(out, cases[i].text, "int64_text %s", cases[i].text);
		ok(n == strlen(cases[i].text), "and its length");
	}
}

void
test_hooks_sign(void)
{
	/* the example of the spec (standard-webhooks.md, "Signature scheme") */
	const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	const char *body = "{\"test\": 2432232314}";
	char *sig = sign_once(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
	char *other;

	is_str(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "the spec's example signature");
	other = sign_once(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body);
	ok(other != NULL && strcmp(sig, other) != 0, "another timestamp, another signature");
	free(sig);
	free(other);
	ok(sign_once("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, "{}") == NULL,
	   "a secret without whsec_ is refused");
	ok(sign_once("whsec_!!!!", "id", 1, "{}") == NULL, "as is one that is not base64");
	ok(sign_once("whsec_", "id", 1, "{}") == NULL, "or empty");
	ok(sign_once("whsec_abc", "id", 1, "{}") == NULL, "or not padded to 4");
	test_hooks_signer(secret, body);
	test_int64_text();
}
