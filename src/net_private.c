/* net_private.c — is an address one a webhook may not be sent to?  Loopback,
 * private, link-local, carrier-grade NAT, multicast, reserved and the
 * unspecified address, in IPv4 and IPv6 (with IPv4 inside IPv6 judged as the
 * IPv4 address it carries).  Used when a subscription is created (an IP
 * literal in its URL) and by incidentd-hooks on the address it connects to,
 * so a host name that resolves inward is refused too. */
#include "core.h"

#include <arpa/inet.h>
#include <string.h>

struct v4_range {
	uint32_t net;
	int bits;
};

/* IANA special-purpose IPv4 blocks not reachable on the public internet */
static const struct v4_range v4_private[] = {
    {0x00000000, 8},  /* 0.0.0.0/8 "this network" */
    {0x0a000000, 8},  /* 10/8 */
    {0x64400000, 10}, /* 100.64/10 carrier-grade NAT */
    {0x7f000000, 8},  /* 127/8 loopback */
    {0xa9fe0000, 16}, /* 169.254/16 link-local (cloud metadata) */
    {0xac100000, 12}, /* 172.16/12 */
    {0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments */
    {0xc0000200, 24}, /* 192.0.2/24 documentation */
    {0xc0a80000, 16}, /* 192.168/16 */
    {0xc6120000, 15}, /* 198.18/15 benchmarking */
    {0xc6336400, 24}, /* 198.51.100/24 documentation */
    {0xcb007100, 24}, /* 203.0.113/24 documentation */
    {0xe0000000, 4},  /* 224/4 multicast */
    {0xf0000000, 4},  /* 240/4 reserved, and the broadcast address */
};

static int
v4_is_private(uint32_t a)
{
	size_t i;

	for (i = 0; i < sizeof(v4_private) / sizeof(v4_private[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - v4_private[i].bits);

		if ((a & mask) == v4_private[i].net)
			return 1;
	}
	return 0;
}

static uint32_t
v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
v6_is_private(const unsigned char *a)
{
	static const unsigned char zero[12], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
	                                    nat64[12] = {0, 0x64, 0xff, 0x9b};

	/* ::/96 (the unspecified and loopback addresses, IPv4-compatible),
	 * ::ffff:0:0/96 (IPv4-mapped) and 64:ff9b::/96 (NAT64) carry IPv4 */
	if (memcmp(a, zero, 12) == 0)
		return 1;
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_is_private(v4_at(a + 12));
	return (a[0] & 0xfe) == 0xfc ||                   /* fc00::/7 unique local */
	       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
	       (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) || /* fec0::/10 site-local */
	       a[0] == 0xff ||                            /* ff00::/8 multicast */
	       (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8); /* 2001:db8::/32 */
}

int
sockaddr_is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_is_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_is_private(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return 1; /* a unix socket or anything else is not the internet */
}

int
ip_text_is_private(const char *text)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, text, a) == 1)
		return v4_is_private(v4_at(a));
	if (inet_pton(AF_INET6, text, a) == 1)
		return v6_is_private(a);
	return -1;
}
