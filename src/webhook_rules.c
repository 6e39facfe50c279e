/* webhook_rules.c — what a webhook subscription may hold: its URL, the
 * event types it takes, its format and description.  Pure rules over text,
 * shared by the API (webhook_validate.c walks the JSON body onto them) and
 * incidentctl, so both refuse the same subscriptions with the same words.
 * Errors name the field ("url", "events", ...) as the API reports them. */
#include "core.h"

#include <arpa/inet.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* The events table's types (DESIGN §5), in the order a mask's bits take. */
const char *const webhook_event_types[] = {"incident.created", "incident.updated",
                                           "incident.reply", "incident.deleted", NULL};
const char *const webhook_formats[] = {"standard", "slack", NULL};

#define URL_FORM_MESSAGE "url must be an absolute http:// or https:// URL"

/* The scheme, case aside: only what incidentd-hooks sends to. */
static int
scheme_allowed(const char *scheme)
{
	return scheme != NULL && (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
}

/* Whether host (as libevent gives it, an IPv6 literal in brackets) is an IP
 * literal in a private range: 1 yes, 0 no, -1 a bracketed text that is no
 * IPv6 address.  inet_aton also reads the forms resolvers accept for IPv4
 * (127.1, 2130706433, 0x7f.1), which would otherwise slip past as names. */
static int
host_is_private(const char *host)
{
	char text[INET6_ADDRSTRLEN];
	struct in_addr v4;
	size_t len = strlen(host);

	if (host[0] == '[') {
		if (len < 3 || len - 2 >= sizeof(text) || host[len - 1] != ']')
			return -1;
		memcpy(text, host + 1, len - 2);
		text[len - 2] = '\0';
		return ip_text_is_private(text);
	}
	if (strspn(host, "0123456789abcdefxABCDEFX.") == len && inet_aton(host, &v4) != 0 &&
	    inet_ntop(AF_INET, &v4, text, sizeof(text)) != NULL)
		return ip_text_is_private(text) == 1;
	return 0;
}

/* The parts libevent found: one error for the first rule broken. */
static void
url_parts_check(const struct evhttp_uri *u, int allow_private, struct errors *e)
{
	const char *host = evhttp_uri_get_host(u);
	int private;

	if (!scheme_allowed(evhttp_uri_get_scheme(u))) {
		field_error(e, "invalid_value", "url", URL_FORM_MESSAGE);
	} else if (host == NULL || *host == '\0' || strchr(host, '%') != NULL) {
		field_error(e, "invalid_value", "url", "url must name a host");
	} else if (evhttp_uri_get_userinfo(u) != NULL) {
		/* proxies and logs on the way would keep the password */
		field_error(e, "invalid_value", "url",
		            "url must not carry a user name or password (user:password@)");
	} else if (evhttp_uri_get_fragment(u) != NULL) {
		field_error(e, "invalid_value", "url", "url must not have a fragment (#...)");
	} else if (evhttp_uri_get_port(u) == 0) {
		field_error(e, "invalid_value", "url", "url's port must be between 1 and 65535");
	} else if ((private = host_is_private(host)) < 0) {
		field_error(e, "invalid_value", "url", "url must name a host");
	} else if (private && !allow_private) {
		field_error(e, "private_destination", "url",
		            "url is a loopback, link-local or private address; webhooks are not sent "
		            "there unless webhook_allow_private = yes");
	}
}

void
webhook_url_check(const char *url, size_t len, int allow_private, struct errors *e)
{
	struct evhttp_uri *u;

	if (len == 0 || memchr(url, '\0', len) != NULL) {
		field_error(e, "invalid_value", "url", URL_FORM_MESSAGE);
		return;
	}
	/* the strict parser admits ASCII only, so bytes are characters here */
	if (len > WEBHOOK_URL_MAX) {
		field_error(e, "too_long", "url", "url must be at most %d characters", WEBHOOK_URL_MAX);
		return;
	}
	u = evhttp_uri_parse_with_flags(url, 0);
	if (u == NULL) {
		field_error(e, "invalid_value", "url", URL_FORM_MESSAGE);
		return;
	}
	url_parts_check(u, allow_private, e);
	evhttp_uri_free(u);
}

/* The bit of one type, 0 if it is none. */
static unsigned
event_type_bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; webhook_event_types[i] != NULL; i++)
		if (strlen(webhook_event_types[i]) == len && memcmp(webhook_event_types[i], s, len) == 0)
			return 1u << i;
	return 0;
}

/* A text shown in a message: at most 64 bytes, a whole character, no NUL. */
#define SHOWN(s, len) (int)utf8_cut((s), strnlen((s), (len)), 64), (s)

int
webhook_events_parse(const struct webhook_text *items, size_t n, unsigned *mask, struct errors *e)
{
	size_t before = e->n + e->dropped, i;
	unsigned m = 0;

	if (n == 0)
		field_error(e, "invalid_value", "events",
		            "events must name at least one type, or be [\"*\"] for every type");
	else if (n > WEBHOOK_EVENTS_MAX)
		field_error(e, "too_long", "events", "events must hold at most %d types",
		            WEBHOOK_EVENTS_MAX);
	else if (n == 1 && items[0].len == 1 && items[0].s[0] == '*')
		n = 0; /* every type */
	for (i = 0; i < n && e->n + e->dropped == before; i++) {
		unsigned bit = event_type_bit(items[i].s, items[i].len);

		if (bit == 0)
			field_error(e, "invalid_value", "events",
			            "events has an unknown type \"%.*s\" (known: incident.created, "
			            "incident.updated, incident.reply, incident.deleted, or \"*\" alone)",
			            SHOWN(items[i].s, items[i].len));
		else if (m & bit)
			field_error(e, "invalid_value", "events", "events names \"%.*s\" twice",
			            SHOWN(items[i].s, items[i].len));
		m |= bit;
	}
	if (e->n + e->dropped != before)
		return -1;
	*mask = m;
	return 0;
}

char *
webhook_events_text(unsigned mask)
{
	struct buf *b = buf_new(80);
	char *out;
	size_t i;

	for (i = 0; webhook_event_types[i] != NULL; i++)
		if (mask & (1u << i))
			b = buf_printf(b, "%s%s", b->len ? "," : "", webhook_event_types[i]);
	out = xstrdup(b->data);
	buf_free(b);
	return out;
}

unsigned
webhook_events_mask(const char *list)
{
	unsigned m = 0;

	while (list != NULL && *list != '\0') {
		size_t len = strcspn(list, ",");

		m |= event_type_bit(list, len);
		list += len + (list[len] == ',');
	}
	return m;
}

const char *
webhook_format_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; webhook_formats[i] != NULL; i++)
		if (strlen(webhook_formats[i]) == len && memcmp(webhook_formats[i], s, len) == 0)
			return webhook_formats[i];
	return NULL;
}

void
webhook_format_check(const char *s, size_t len, struct errors *e)
{
	if (webhook_format_lookup(s, len) == NULL)
		field_error(e, "invalid_value", "format", "format must be standard or slack");
}

void
webhook_description_check(const char *s, size_t len, struct errors *e)
{
	if (memchr(s, '\0', len) != NULL || !utf8_valid(s, len))
		field_error(e, "invalid_value", "description",
		            "description must be UTF-8 text without NUL characters");
	else if (utf8_chars(s, len) > WEBHOOK_DESCRIPTION_MAX)
		field_error(e, "too_long", "description", "description must be at most %d characters",
		            WEBHOOK_DESCRIPTION_MAX);
}
