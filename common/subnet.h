/* IP subnets in CIDR notation, such as 10.2.0.0/24 or 2001:db8::/64. */
#ifndef AVPN_SUBNET_H
#define AVPN_SUBNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avpn.h"
#include "error.h"

struct subnet {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* 0-32 or 0-128 */
	uint8_t addr[16];
};

/* "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128" plus a NUL. */
#define SUBNET_STRLEN 48

/*
 * Parses "ADDR/PREFIX".  Rejects host bits set below the prefix, naming the
 * network address to use instead (10.2.0.1/24 -> use 10.2.0.0/24).  A bare
 * address without "/PREFIX" is rejected too.
 */
int subnet_parse(struct subnet *net, const char *s, struct avpn_error *err);

void subnet_format(char out[SUBNET_STRLEN], const struct subnet *net);

/* True when addr (4 or 16 bytes of the subnet's family) lies inside net. */
bool subnet_contains_addr(const struct subnet *net, int family,
			  const void *addr);

/* True when inner lies entirely inside outer. */
bool subnet_within(const struct subnet *inner, const struct subnet *outer);

struct subnet_list {
	size_t count;
	struct subnet nets[AVPN_MAX_SUBNETS];
};

/*
 * Parses a comma-separated list ("10.2.0.0/24,10.3.0.0/16"); "-" and ""
 * are the empty list.  Appends to list, so repeated options accumulate;
 * rejects duplicates and more than AVPN_MAX_SUBNETS entries.
 */
int subnet_list_parse(struct subnet_list *list, const char *s,
		      struct avpn_error *err);

/* Writes the list comma-separated, or "-" when empty.  Returns the length
 * that was needed, like snprintf. */
int subnet_list_format(char *out, size_t size, const struct subnet_list *list);

#endif
