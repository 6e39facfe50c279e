/* sse_dns.c — host names resolved without blocking the loop: libevent's
 * evdns (its own resolver, reading resolv_conf and /etc/hosts), where libpq
 * and hiredis would call getaddrinfo and stop every stream while a slow DNS
 * server answers.  Callers connect to the numeric address they are given.
 * The callback always runs from the loop, never inside sse_dns_resolve, and
 * never after sse_dns_cancel. */
#include "sse.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct sse_dns_lookup {
	char *name;
	sse_resolved_cb cb;
	void *arg;
	int calling;  /* inside evdns_getaddrinfo: its answer must wait for the loop */
	char *addr;   /* numeric, or NULL */
	const char *error;
};

static struct event_base *dns_loop;
static struct evdns_base *dns;

void
sse_dns_init(struct event_base *base, const char *resolv_conf)
{
	int rc;

	dns_loop = base;
	dns = evdns_base_new(base, 0);
	if (dns == NULL)
		fatal("cannot create the DNS resolver");
	rc = evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, resolv_conf);
	/* a missing file leaves libevent's defaults (127.0.0.1): names may
	 * still come from /etc/hosts */
	if (rc != 0 && rc != 1)
		log_warn(NULL, "msg=\"sse: cannot read resolv_conf; resolving with defaults\" file=%s error=%d",
		         LOG_QUOTE(resolv_conf), rc);
	if (rc != 0 && evdns_base_load_hosts(dns, NULL) != 0)
		log_warn(NULL, "msg=\"sse: cannot read /etc/hosts\"");
}

void
sse_dns_free(void)
{
	if (dns != NULL)
		evdns_base_free(dns, 1); /* lookups in flight fail: their callbacks run */
	dns = NULL;
}

int
sse_dns_is_numeric(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return evutil_inet_pton(AF_INET, host, &a4) == 1 || evutil_inet_pton(AF_INET6, host, &a6) == 1;
}

static void
lookup_finish(struct sse_dns_lookup *l)
{
	if (l->addr == NULL && l->cb != NULL)
		log_warn(NULL, "msg=\"sse: cannot resolve a host name\" host=%s error=%s", LOG_VALUE(l->name),
		         LOG_QUOTE(l->error));
	if (l->cb != NULL)
		l->cb(l->arg, l->addr);
	free(l->addr);
	free(l->name);
	free(l);
}

static void
lookup_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lookup_finish(arg);
}

static void
lookup_answered(int result, struct evutil_addrinfo *res, void *arg)
{
	struct sse_dns_lookup *l = arg;
	char text[INET6_ADDRSTRLEN];
	const void *addr = NULL;
	struct timeval now = {0, 0};

	if (result == 0 && res != NULL && res->ai_family == AF_INET)
		addr = &((struct sockaddr_in *)res->ai_addr)->sin_addr;
	else if (result == 0 && res != NULL && res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	if (addr != NULL && evutil_inet_ntop(res->ai_family, addr, text, sizeof(text)) != NULL)
		l->addr = xstrdup(text);
	else
		l->error = result != 0 ? evutil_gai_strerror(result) : "no address";
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (l->calling && event_base_once(dns_loop, -1, EV_TIMEOUT, lookup_deferred, l, &now) == 0)
		return;
	lookup_finish(l);
}

struct sse_dns_lookup *
sse_dns_resolve(const char *name, sse_resolved_cb cb, void *arg)
{
	struct sse_dns_lookup *l = xcalloc(1, sizeof(*l));
	struct evutil_addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	l->name = xstrdup(name);
	l->cb = cb;
	l->arg = arg;
	l->calling = 1;
	/* NULL return: answered (or failed) already, through lookup_answered */
	evdns_getaddrinfo(dns, name, NULL, &hints, lookup_answered, l);
	l->calling = 0;
	return l;
}

/* The lookup finishes (and is freed) on its own; its callback will not run. */
void
sse_dns_cancel(struct sse_dns_lookup *l)
{
	l->cb = NULL;
}
