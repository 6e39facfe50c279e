/* test_net_private.c — which destinations a webhook is refused: every private,
 * loopback, link-local, CGNAT, multicast and reserved block at its edges, in
 * IPv4 and IPv6 (with IPv4 carried inside IPv6), and public addresses next
 * to them let through. */
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void
test_literals(void)
{
	static const struct {
		const char *ip;
		int private;
	} cases[] = {
	    {"127.0.0.1", 1},       {"127.255.255.255", 1}, {"128.0.0.1", 0},
	    {"10.0.0.0", 1},        {"10.255.255.255", 1},  {"11.0.0.0", 0},
	    {"9.255.255.255", 0},   {"172.16.0.1", 1},      {"172.31.255.255", 1},
	    {"172.15.255.255", 0},  {"172.32.0.0", 0},      {"192.168.1.1", 1},
	    {"192.169.0.0", 0},     {"169.254.169.254", 1}, {"100.64.0.1", 1},
	    {"100.127.255.255", 1}, {"100.128.0.0", 0},     {"0.0.0.0", 1},
	    {"224.0.0.1", 1},       {"255.255.255.255", 1}, {"198.18.0.1", 1},
	    {"8.8.8.8", 0},         {"1.1.1.1", 0},         {"203.0.113.9", 1},
	    {"::1", 1},             {"::", 1},              {"fe80::1", 1},
	    {"febf::1", 1},         {"fc00::1", 1},         {"fdff::1", 1},
	    {"ff02::1", 1},         {"2001:db8::1", 1},     {"2606:4700::1111", 0},
	    {"::ffff:127.0.0.1", 1}, {"::ffff:10.1.1.1", 1}, {"::ffff:8.8.8.8", 0},
	    {"64:ff9b::a9fe:a9fe", 1}, {"64:ff9b::808:808", 0}, {"::127.0.0.1", 1},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(ip_text_is_private(cases[i].ip), cases[i].private, "%s is %s", cases[i].ip,
		       cases[i].private ? "refused" : "allowed");
	is_int(ip_text_is_private("example.com"), -1, "a host name is not an IP literal");
	is_int(ip_text_is_private("127.1"), -1, "nor is a shortened IPv4 form");
	is_int(ip_text_is_private(""), -1, "nor the empty string");
}

static void
test_sockaddrs(void)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	struct sockaddr un = {.sa_family = AF_UNIX};

	memset(&v4, 0, sizeof(v4));
	v4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.168.0.10", &v4.sin_addr);
	is_int(sockaddr_is_private((struct sockaddr *)&v4), 1, "a private IPv4 sockaddr");
	inet_pton(AF_INET, "93.184.216.34", &v4.sin_addr);
	is_int(sockaddr_is_private((struct sockaddr *)&v4), 0, "a public IPv4 sockaddr");
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:169.254.169.254", &v6.sin6_addr);
	is_int(sockaddr_is_private((struct sockaddr *)&v6), 1, "IPv4-mapped metadata address");
	inet_pton(AF_INET6, "2a00:1450:4001::1", &v6.sin6_addr);
	is_int(sockaddr_is_private((struct sockaddr *)&v6), 0, "a public IPv6 sockaddr");
	is_int(sockaddr_is_private(&un), 1, "a unix socket is never a destination");
}

void
test_net_private(void)
{
	test_literals();
	test_sockaddrs();
}
