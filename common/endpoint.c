#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "endpoint.h"

int port_parse(uint16_t *port, const char *s, struct avpn_error *err)
{
	const char *errstr;
	long long n;
	size_t i;

	/* strtonum alone would accept a sign and leading blanks. */
	if (s[0] == '\0')
		return error_set(err, "invalid port \"\": expected 1-65535");
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return error_set(err, "invalid port \"%.16s\": "
					 "expected a number 1-65535", s);
	}
	n = strtonum(s, 1, 65535, &errstr);
	if (errstr != NULL)
		return error_set(err, "invalid port \"%.16s\": %s, expected "
				 "1-65535", s, errstr);
	*port = (uint16_t)n;
	return 0;
}

static void endpoint_set_v4(union endpoint *ep, const struct in_addr *addr)
{
	memset(ep, 0, sizeof(*ep));
	ep->in.sin_family = AF_INET;
	ep->in.sin_addr = *addr;
}

static void endpoint_set_v6(union endpoint *ep, const struct in6_addr *addr)
{
	memset(ep, 0, sizeof(*ep));
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_addr = *addr;
}

/* Parses a numeric address of either family into ep, port left 0. */
static int endpoint_parse_addr(union endpoint *ep, const char *host, int v6)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (v6) {
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
		endpoint_set_v6(ep, &a6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4) != 1)
		return -1;
	endpoint_set_v4(ep, &a4);
	return 0;
}

/*
 * Splits s into a host and an optional port.  "[V6]:PORT", "[V6]",
 * "V4:PORT", "V4" and a bare IPv6 address (two or more colons) are the
 * forms.  host receives the address without brackets; *port_str points
 * into s or is NULL; *v6 is set to the family the syntax implies.
 */
static int endpoint_split(const char *s, char *host, size_t size,
			  const char **port_str, int *v6,
			  struct avpn_error *err)
{
	const char *end, *colon;
	size_t len;

	*port_str = NULL;
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return error_set(err, "invalid endpoint \"%.64s\": "
					 "missing ']'", s);
		if (end[1] != '\0' && end[1] != ':')
			return error_set(err, "invalid endpoint \"%.64s\": "
					 "expected ':' after ']'", s);
		if (end[1] == ':')
			*port_str = end + 2;
		s++;
		len = (size_t)(end - s);
		*v6 = 1;
	} else {
		colon = strchr(s, ':');
		len = strlen(s);
		*v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
		if (colon != NULL && !*v6) {
			*port_str = colon + 1;
			len = (size_t)(colon - s);
		}
	}
	if (len == 0 || len >= size)
		return error_set(err, "invalid endpoint \"%.64s\": bad address "
				 "length", s);
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

/* Sets the port of ep from port_str, or to default_port when it is NULL. */
static int endpoint_parse_port(union endpoint *ep, const char *s,
			       const char *port_str, uint16_t default_port,
			       struct avpn_error *err)
{
	struct avpn_error why;
	uint16_t port;

	if (port_str == NULL) {
		if (default_port == 0)
			return error_set(err, "invalid endpoint \"%.64s\": "
					 "missing port", s);
		endpoint_set_port(ep, default_port);
		return 0;
	}
	if (port_parse(&port, port_str, &why) == -1)
		return error_set(err, "invalid endpoint \"%.64s\": %s", s,
				 why.text);
	endpoint_set_port(ep, port);
	return 0;
}

int endpoint_parse(union endpoint *ep, const char *s, uint16_t default_port,
		   struct avpn_error *err)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_str;
	union endpoint tmp;
	int v6;

	if (endpoint_split(s, host, sizeof(host), &port_str, &v6, err) == -1)
		return -1;
	if (endpoint_parse_addr(&tmp, host, v6) == -1)
		return error_set(err, "invalid endpoint \"%.64s\": \"%s\" is "
				 "not a numeric %s address", s, host,
				 v6 ? "IPv6" : "IPv4");
	if (endpoint_parse_port(&tmp, s, port_str, default_port, err) == -1)
		return -1;
	*ep = tmp;
	return 0;
}

/* Resolves host with getaddrinfo and takes the first IPv4 address, else
 * the first IPv6 address. */
static int endpoint_lookup(union endpoint *ep, const char *host,
			   struct avpn_error *err)
{
	struct addrinfo hints, *res, *ai, *pick = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return error_set(err, "cannot resolve \"%.64s\": %s", host,
				 gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
		if (ai->ai_family == AF_INET6 && pick == NULL)
			pick = ai;
	}
	if (pick == NULL) {
		freeaddrinfo(res);
		return error_set(err, "cannot resolve \"%.64s\": no IPv4 or "
				 "IPv6 address", host);
	}
	memset(ep, 0, sizeof(*ep));
	memcpy(ep, pick->ai_addr, pick->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int endpoint_resolve(union endpoint *ep, const char *s, uint16_t default_port,
		     struct avpn_error *err)
{
	char host[256];
	const char *port_str;
	union endpoint tmp;
	int v6;

	if (endpoint_split(s, host, sizeof(host), &port_str, &v6, err) == -1)
		return -1;
	if (endpoint_parse_addr(&tmp, host, v6) == -1 &&
	    endpoint_lookup(&tmp, host, err) == -1)
		return -1;
	if (endpoint_parse_port(&tmp, s, port_str, default_port, err) == -1)
		return -1;
	*ep = tmp;
	return 0;
}

/* Names the kind of address that no datagram should go to, or NULL. */
static const char *endpoint_v4_bad_kind(const struct in_addr *addr)
{
	uint32_t a = ntohl(addr->s_addr);

	if (a >> 24 == 0)
		return "an address of 0.0.0.0/8 (this host)";
	if (a == 0xffffffffu)
		return "the broadcast address";
	if (a >> 28 == 0xe)
		return "a multicast address";
	return NULL;
}

int endpoint_check_unicast(const union endpoint *ep, struct avpn_error *err)
{
	const struct in6_addr *a6 = &ep->in6.sin6_addr;
	char text[ENDPOINT_STRLEN];
	const char *kind = NULL;
	struct in_addr a4;

	if (ep->sa.sa_family == AF_INET) {
		kind = endpoint_v4_bad_kind(&ep->in.sin_addr);
	} else if (ep->sa.sa_family == AF_INET6) {
		if (IN6_IS_ADDR_UNSPECIFIED(a6))
			kind = "the unspecified address";
		else if (IN6_IS_ADDR_MULTICAST(a6))
			kind = "a multicast address";
		else if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(&a4, &a6->s6_addr[12], sizeof(a4));
			kind = endpoint_v4_bad_kind(&a4);
		}
	} else {
		return error_set(err, "endpoint is unset");
	}
	if (kind == NULL)
		return 0;
	endpoint_format(text, ep);
	return error_set(err, "endpoint %s is %s, not a unicast address", text,
			 kind);
}

void endpoint_format(char out[ENDPOINT_STRLEN], const union endpoint *ep)
{
	char addr[INET6_ADDRSTRLEN];

	switch (ep->sa.sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &ep->in.sin_addr, addr, sizeof(addr));
		snprintf(out, ENDPOINT_STRLEN, "%s:%u", addr,
			 ntohs(ep->in.sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &ep->in6.sin6_addr, addr, sizeof(addr));
		snprintf(out, ENDPOINT_STRLEN, "[%s]:%u", addr,
			 ntohs(ep->in6.sin6_port));
		break;
	default:
		snprintf(out, ENDPOINT_STRLEN, "-");
		break;
	}
}

bool endpoint_is_set(const union endpoint *ep)
{
	return ep->sa.sa_family == AF_INET || ep->sa.sa_family == AF_INET6;
}

bool endpoint_equal(const union endpoint *a, const union endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	case AF_INET6:
		return a->in6.sin6_port == b->in6.sin6_port &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr,
			      sizeof(a->in6.sin6_addr)) == 0;
	default:
		/* Two unset endpoints are equal. */
		return true;
	}
}

uint16_t endpoint_port(const union endpoint *ep)
{
	switch (ep->sa.sa_family) {
	case AF_INET:
		return ntohs(ep->in.sin_port);
	case AF_INET6:
		return ntohs(ep->in6.sin6_port);
	default:
		return 0;
	}
}

void endpoint_set_port(union endpoint *ep, uint16_t port)
{
	if (ep->sa.sa_family == AF_INET)
		ep->in.sin_port = htons(port);
	else if (ep->sa.sa_family == AF_INET6)
		ep->in6.sin6_port = htons(port);
}

socklen_t endpoint_len(const union endpoint *ep)
{
	switch (ep->sa.sa_family) {
	case AF_INET:
		return sizeof(ep->in);
	case AF_INET6:
		return sizeof(ep->in6);
	default:
		return 0;
	}
}
