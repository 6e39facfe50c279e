/* util.c — allocation that dies on OOM, integer parsing, tokens and hashes. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("incidentd: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu bytes)", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu bytes)", size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory formatting a string");
	va_end(ap);
	return s;
}

size_t
int64_text(char *out, int64_t v)
{
	char digits[INT64_TEXT_MAX], *p = digits + sizeof(digits);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		*--p = '-';
	n = (size_t)(digits + sizeof(digits) - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

/* Whole-string decimal integer in [min, max]; no sign tricks, no spaces. */
int
parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

char *
random_token(size_t nbytes)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[64];
	char *out;
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		return NULL;
	out = xmalloc(nbytes * 4 / 3 + 4);
	for (i = 0; i < nbytes; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

int
sha256_hex(const char *s, size_t len, char out[65])
{
	/* Fetched and allocated once per process (each is single-threaded):
	 * EVP_Digest with EVP_sha256() looks the implementation up and builds
	 * a context on every call, and every request hashes its key.  A reused
	 * context with the same digest keeps its provider state. */
	static EVP_MD *sha256;
	static EVP_MD_CTX *ctx;
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex2(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, s, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/* The host and port of a numeric address libevent parsed; a port of 0
 * means none was given. */
static int
net_address_from_sockaddr(const struct sockaddr_storage *ss, int default_port,
                          char host[INET6_ADDRSTRLEN], struct net_address *out)
{
	const void *addr;
	int port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		addr = &in->sin_addr;
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		addr = &in6->sin6_addr;
		port = ntohs(in6->sin6_port);
	} else {
		return -1;
	}
	if (evutil_inet_ntop(ss->ss_family, addr, host, INET6_ADDRSTRLEN) == NULL)
		return -1;
	out->host = xstrdup(host);
	out->port = port != 0 ? port : default_port;
	return 0;
}

/* A numeric address (IPv4, or IPv6 in brackets) is parsed by libevent; a host
 * name is split at its one colon.  A bare IPv6 address without brackets is
 * refused: its last colon is not a port separator. */
int
net_address_parse(const char *s, int default_port, struct net_address *out)
{
	struct sockaddr_storage ss;
	int sslen = (int)sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	int64_t port = default_port;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0')
		return -1;
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] == '\0')
			return -1;
		out->unix_path = xstrdup(s + 5);
		return 0;
	}
	if (s[0] == '[' || strchr(s, ':') == NULL || strchr(s, ':') == strrchr(s, ':')) {
		if (evutil_parse_sockaddr_port(s, (struct sockaddr *)&ss, &sslen) == 0)
			return net_address_from_sockaddr(&ss, default_port, host, out);
	}
	if (s[0] == '[' || strchr(s, ':') != strrchr(s, ':'))
		return -1;
	colon = strchr(s, ':');
	if (colon != NULL && parse_int64(colon + 1, 1, 65535, &port) != 0)
		return -1;
	if (colon == s)
		return -1;
	out->host = colon != NULL ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	out->port = (int)port;
	return 0;
}

void
net_address_free(struct net_address *a)
{
	free(a->unix_path);
	free(a->host);
	memset(a, 0, sizeof(*a));
}
