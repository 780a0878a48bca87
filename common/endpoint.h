/* UDP endpoints: an IPv4 or IPv6 address and a port. */
#ifndef AVPN_ENDPOINT_H
#define AVPN_ENDPOINT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

union endpoint {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* "203.0.113.28:9350" or "[2001:db8::1]:9350" plus a NUL. */
#define ENDPOINT_STRLEN 64

/*
 * Parses a numeric endpoint, "A.B.C.D:PORT" or "[IPV6]:PORT".  With
 * default_port non-zero the port may be left out ("A.B.C.D", "[IPV6]" or a
 * bare IPv6 address).  Port 0 is rejected.  No name lookup is done.
 */
int endpoint_parse(union endpoint *ep, const char *s, uint16_t default_port,
		   struct avpn_error *err);

/*
 * Like endpoint_parse, but a host name is resolved with getaddrinfo (first
 * IPv4 answer, else first IPv6).  For operator input such as a registry.
 */
int endpoint_resolve(union endpoint *ep, const char *s, uint16_t default_port,
		     struct avpn_error *err);

/*
 * Checks that ep is a unicast address that datagrams can be sent to.
 * Rejects an unset endpoint, 0.0.0.0/8 (sending to 0.0.0.0 reaches this
 * host), 255.255.255.255, multicast (224.0.0.0/4, ff00::/8) and the IPv6
 * unspecified address ::, also in their IPv4-mapped IPv6 forms.  The error
 * names the endpoint.  endpoint_parse accepts them, because a listening
 * address may be 0.0.0.0.
 */
int endpoint_check_unicast(const union endpoint *ep, struct avpn_error *err);

/* Writes the canonical form; an unset endpoint (family 0) is "-". */
void endpoint_format(char out[ENDPOINT_STRLEN], const union endpoint *ep);

bool endpoint_is_set(const union endpoint *ep);
bool endpoint_equal(const union endpoint *a, const union endpoint *b);
uint16_t endpoint_port(const union endpoint *ep);
void endpoint_set_port(union endpoint *ep, uint16_t port);
socklen_t endpoint_len(const union endpoint *ep);

/* Parses a port number 1-65535 (strict decimal, no sign, no junk). */
int port_parse(uint16_t *port, const char *s, struct avpn_error *err);

#endif
