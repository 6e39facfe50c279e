/* test_webhook.c — what a webhook subscription may hold (webhook_rules.c,
 * shared by the API and incidentctl), a JSON body onto its fields
 * (webhook_validate.c), its secret, the webhook_allow_private key and the
 * routes under /v1/webhooks. */
#include "tap.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* The errors webhook_url_check collects for url, as errors_summary writes them. */
static void
url_is(const char *url, int allow_private, const char *want)
{
	struct errors e = {0};
	char got[256];

	webhook_url_check(url, strlen(url), allow_private, &e);
	errors_summary(&e, got, sizeof(got));
	is_str(got, want, "url %s%s: %s", url, allow_private ? " (private allowed)" : "",
	       *want ? want : "accepted");
	errors_clear(&e);
}

static void
test_urls(void)
{
	static const struct {
		const char *url;
		const char *want;
	} cases[] = {
	    {"https://hooks.example.com/incidentd", ""},
	    {"http://hooks.example.com:8080/a/b?c=d&e=f", ""},
	    {"HTTPS://Hooks.Example.com/", ""},
	    {"https://8.8.8.8/x", ""},
	    {"https://[2606:4700::1111]:443/x", ""},
	    {"https://hooks.example.com:65535/", ""},
	    {"ftp://hooks.example.com/", "invalid_value@url"},
	    {"javascript:alert(1)", "invalid_value@url"},
	    {"hooks.example.com/x", "invalid_value@url"},
	    {"/relative/path", "invalid_value@url"},
	    {"https:hooks.example.com", "invalid_value@url"},
	    {"https:///x", "invalid_value@url"},
	    {"https://user:pass@hooks.example.com/", "invalid_value@url"},
	    {"https://user@hooks.example.com/", "invalid_value@url"},
	    {"https://@hooks.example.com/", "invalid_value@url"},
	    {"https://hooks.example.com/#frag", "invalid_value@url"},
	    {"https://hooks.example.com/#", "invalid_value@url"},
	    {"https://hooks.example.com:0/", "invalid_value@url"},
	    {"https://hooks.example.com:65536/", "invalid_value@url"},
	    {"https://hooks.example.com/a b", "invalid_value@url"},
	    {"https://hooks.example.com/\xc3\xa9", "invalid_value@url"},
	    {"https://%31%32%37.0.0.1/", "invalid_value@url"},
	    {"", "invalid_value@url"},
	    {"http://127.0.0.1:9000/hook", "private_destination@url"},
	    {"http://10.1.2.3/", "private_destination@url"},
	    {"http://169.254.169.254/latest/meta-data", "private_destination@url"},
	    {"http://[::1]/", "private_destination@url"},
	    {"http://[fe80::1]/", "private_destination@url"},
	    {"http://[::ffff:192.168.0.1]/", "private_destination@url"},
	    /* what resolvers read as IPv4, not names */
	    {"http://127.1/", "private_destination@url"},
	    {"http://2130706433/", "private_destination@url"},
	    {"http://0x7f000001/", "private_destination@url"},
	    /* names are judged where they resolve (incidentd-hooks) */
	    {"http://localhost/", ""},
	    {"http://cafe.be/", ""},
	};
	char *longest = wrap("https://e.com/", "a", WEBHOOK_URL_MAX - 14, "");
	char *too_long = wrap("https://e.com/", "a", WEBHOOK_URL_MAX - 13, "");
	struct errors e = {0};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		url_is(cases[i].url, 0, cases[i].want);
	url_is("http://127.0.0.1:9000/hook", 1, "");
	url_is("http://[::1]/", 1, "");
	url_is("https://user:pass@127.0.0.1/", 1, "invalid_value@url");
	url_is(longest, 0, "");
	url_is(too_long, 0, "too_long@url");
	free(longest);
	free(too_long);
	webhook_url_check("https://e.com/\0x", 16, 0, &e);
	is_int(e.n, 1, "a NUL inside the url is refused");
	errors_clear(&e);
}

/* webhook_events_parse over a comma-free list of items. */
static void
events_are(const char *const *items, size_t n, unsigned want_mask, const char *want)
{
	struct webhook_text t[8] = {{NULL, 0}};
	struct errors e = {0};
	unsigned mask = 99;
	char got[256];
	size_t i;

	for (i = 0; i < n; i++) {
		t[i].s = items[i];
		t[i].len = strlen(items[i]);
	}
	webhook_events_parse(t, n, &mask, &e);
	errors_summary(&e, got, sizeof(got));
	is_str(got, want, "events %s%s (%zu items): %s", n ? items[0] : "", n > 1 ? ",..." : "", n,
	       *want ? want : "accepted");
	if (!*want)
		is_int(mask, want_mask, "... mask %u", want_mask);
	else
		is_int(mask, 99, "... the mask is left alone");
	errors_clear(&e);
}

static void
test_events(void)
{
	static const char *const all[] = {"*"};
	static const char *const two[] = {"incident.reply", "incident.created"};
	static const char *const four[] = {"incident.created", "incident.updated", "incident.reply",
	                                   "incident.deleted"};
	static const char *const five[] = {"incident.created", "incident.updated", "incident.reply",
	                                   "incident.deleted", "incident.created"};
	static const char *const dup[] = {"incident.reply", "incident.reply"};
	static const char *const unknown[] = {"incident.closed"};
	static const char *const star_and[] = {"*", "incident.reply"};
	static const char *const cased[] = {"Incident.Created"};
	char *text;

	events_are(all, 1, 0, "");
	events_are(two, 2, 5, "");
	events_are(four, 4, 15, "");
	events_are(NULL, 0, 0, "invalid_value@events");
	events_are(five, 5, 0, "too_long@events");
	events_are(dup, 2, 0, "invalid_value@events");
	events_are(unknown, 1, 0, "invalid_value@events");
	events_are(star_and, 2, 0, "invalid_value@events");
	events_are(cased, 1, 0, "invalid_value@events");
	text = webhook_events_text(5);
	is_str(text, "incident.created,incident.reply", "a mask as its stored list");
	free(text);
	text = webhook_events_text(0);
	is_str(text, "", "every type is the empty list ('{}')");
	free(text);
	is_int(webhook_events_mask("incident.reply,incident.deleted"), 12, "a stored list's mask");
	is_int(webhook_events_mask(""), 0, "the empty list: every type");
}

static void
test_formats_and_descriptions(void)
{
	struct errors e = {0};
	char *longest = str_repeat("\xc3\xa9", WEBHOOK_DESCRIPTION_MAX);
	char *too_long = str_repeat("a", WEBHOOK_DESCRIPTION_MAX + 1);
	char got[256];

	ok(webhook_format_lookup("slack", 5) == webhook_formats[1], "slack is a format");
	ok(webhook_format_lookup("Slack", 5) == NULL, "formats are case-sensitive");
	webhook_format_check("teams", 5, &e);
	webhook_description_check(longest, strlen(longest), &e);
	webhook_description_check(too_long, strlen(too_long), &e);
	webhook_description_check("a\0b", 3, &e);
	webhook_description_check("\xff", 1, &e);
	errors_summary(&e, got, sizeof(got));
	is_str(got, "invalid_value@format too_long@description invalid_value@description "
	            "invalid_value@description",
	       "500 two-byte characters pass; 501, a NUL and bad UTF-8 do not");
	errors_clear(&e);
	free(longest);
	free(too_long);
}

static void
test_secret(void)
{
	char *a = webhook_secret_new(), *b = webhook_secret_new();
	unsigned char raw[48];

	ok(a != NULL && strncmp(a, "whsec_", 6) == 0 && strlen(a) == 6 + 44, "whsec_ + 44 characters");
	ok(a != NULL && EVP_DecodeBlock(raw, (const unsigned char *)a + 6, 44) == 33 &&
	       a[6 + 43] == '=' && a[6 + 42] != '=',
	   "standard base64 of 32 bytes (one padding character)");
	ok(a != NULL && b != NULL && strcmp(a, b) != 0, "two secrets differ");
	free(a);
	free(b);
}

/* A body onto fields; the errors as errors_summary writes them. */
static void
body_is(struct webhook_fields *w, const char *json, int creating, int allow_private,
        const char *want)
{
	struct errors e = {0};
	char err[128], got[256];
	struct jval *v = json_parse(json, strlen(json), err, sizeof(err));

	if (v == NULL) {
		ok(0, "test body parses: %s", err);
		return;
	}
	webhook_apply_body(w, v, creating, allow_private, &e);
	errors_summary(&e, got, sizeof(got));
	is_str(got, want, "%s %s", creating ? "create" : "patch", json);
	errors_clear(&e);
	json_free(v);
}

static void
test_bodies(void)
{
	struct webhook_fields w, stored;

	webhook_fields_defaults(&w);
	body_is(&w, "{\"url\":\"https://e.com/h\",\"events\":[\"incident.reply\"],"
	            "\"description\":\"chat\",\"format\":\"slack\"}", 1, 0, "");
	ok(w.url && strcmp(w.url, "https://e.com/h") == 0 && w.events == 4 && w.description &&
	       strcmp(w.description, "chat") == 0 && strcmp(w.format, "slack") == 0 && w.enabled,
	   "every member lands in its field");
	webhook_fields_defaults(&stored);
	stored.url = xstrdup(w.url);
	stored.description = xstrdup("chat");
	stored.events = 4;
	stored.format = "slack";
	ok(webhook_fields_equal(&w, &stored), "equal fields compare equal");
	body_is(&w, "{\"description\":null,\"events\":null,\"format\":null,\"enabled\":false}", 0, 0,
	        "");
	ok(w.description == NULL && w.events == 0 && strcmp(w.format, "standard") == 0 && !w.enabled,
	   "null clears description, events (every type) and format (standard)");
	ok(!webhook_fields_equal(&w, &stored), "changed fields differ");
	webhook_fields_free(&w);
	webhook_fields_free(&stored);

	webhook_fields_defaults(&w);
	body_is(&w, "{}", 1, 0, "is_required@url");
	body_is(&w, "{\"url\":null}", 1, 0, "is_required@url");
	body_is(&w, "{\"url\":42,\"events\":\"incident.reply\",\"format\":\"teams\","
	            "\"description\":7,\"enabled\":\"yes\",\"secret\":\"x\"}", 1, 0,
	        "invalid_value@url invalid_value@events invalid_value@format "
	        "invalid_value@description invalid_value@enabled unknown_field@secret");
	body_is(&w, "{\"url\":\"http://10.0.0.1/\",\"events\":[1]}", 1, 0,
	        "private_destination@url invalid_value@events");
	ok(w.url == NULL, "a refused url is not taken");
	body_is(&w, "{\"url\":\"http://10.0.0.1/\"}", 1, 1, "");
	body_is(&w, "{\"events\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}", 0, 0, "too_long@events");
	webhook_fields_free(&w);
}

static void
test_config_key(void)
{
	struct config cfg;
	char err[128];

	config_defaults(&cfg);
	is_int(cfg.webhook_allow_private, 0, "webhook_allow_private is no by default");
	ok(config_set(&cfg, "webhook_allow_private", "yes", err, sizeof(err)) == 0 &&
	       cfg.webhook_allow_private == 1,
	   "webhook_allow_private = yes");
	ok(config_set(&cfg, "webhook_allow_private", "off", err, sizeof(err)) == 0 &&
	       cfg.webhook_allow_private == 0,
	   "webhook_allow_private = off");
	ok(config_set(&cfg, "webhook_allow_private", "maybe", err, sizeof(err)) == -1 &&
	       cfg.webhook_allow_private == 0,
	   "webhook_allow_private takes yes/no words only, and a bad one changes nothing");
	is_str(err, "invalid value for webhook_allow_private: \"maybe\"", "its message");
	config_free(&cfg);
}

static void
route_is(const char *method, const char *path, handler_fn want, const char *uuid)
{
	const struct route *r = NULL;
	struct route_params p;
	char allow[64];
	enum route_result res = route_match(method, path, &dialect_alert24, &r, &p, allow, sizeof(allow));

	if (want == NULL) {
		is_int(res, ROUTE_NOT_FOUND, "%s %s: no route", method, path);
		return;
	}
	ok(res == ROUTE_FOUND && r->handler == want && r->role == ROLE_ADMIN, "%s %s: admin route",
	   method, path);
	if (uuid != NULL && res == ROUTE_FOUND)
		is_str(p.uuid, uuid, "... its id, lower case");
}

static void
test_routes(void)
{
	static const char id[] = "0b5e2f0c-8d3a-4c1e-9f00-1234567890ab";

	route_is("GET", "/v1/webhooks", webhook_list, NULL);
	route_is("POST", "/v1/webhooks", webhook_create, NULL);
	route_is("GET", "/v1/webhooks/0B5E2F0C-8D3A-4C1E-9F00-1234567890AB", webhook_get, id);
	route_is("PATCH", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890ab", webhook_update, id);
	route_is("DELETE", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890ab", webhook_delete, id);
	route_is("POST", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890ab/rotate-secret",
	         webhook_rotate_secret, id);
	route_is("GET", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890ab/deliveries",
	         webhook_deliveries, id);
	route_is("POST", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890ab/replay", webhook_replay,
	         id);
	route_is("GET", "/v1/webhooks/42", NULL, NULL);
	route_is("GET", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890a", NULL, NULL);
	route_is("GET", "/v1/webhooks/0b5e2f0c-8d3a-4c1e-9f00-1234567890abc", NULL, NULL);
}

void
test_webhook(void)
{
	test_urls();
	test_events();
	test_formats_and_descriptions();
	test_secret();
	test_bodies();
	test_config_key();
	test_routes();
}
