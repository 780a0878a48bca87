/*
 * Interface configuration through rtnetlink (addresses, MTU, link state,
 * routes), and the allowed-IPs table that cryptokey routing looks packets
 * up in.
 */
#ifndef AVPN_ROUTE_H
#define AVPN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "subnet.h"

/*
 * An interface address such as 10.9.0.1/24: unlike a subnet, the host
 * bits are kept.  The address goes to ifaddr->addr, the prefix length to
 * ifaddr->prefix.
 */
int route_ifaddr_parse(struct subnet *ifaddr, const char *s,
		       struct avpn_error *err);

/*
 * Parses ADDR/PREFIX as route_ifaddr_parse does; errors call the value
 * what ("allowed IP", for instance).
 */
int route_prefix_parse(struct subnet *ifaddr, const char *s,
		       const char *what, struct avpn_error *err);

/* Opens an rtnetlink socket (close-on-exec); returns it or -1. */
int route_open(struct avpn_error *err);

/* Each request below waits for the kernel's acknowledgement and returns 0,
 * or -1 with err naming the interface, the object and the kernel's error. */

/* Sets the MTU of interface ifindex and brings its link up. */
int route_link_up(int nl, unsigned ifindex, unsigned mtu,
		  struct avpn_error *err);

/* Adds an address to interface ifindex; an existing one is kept. */
int route_addr_add(int nl, unsigned ifindex, const struct subnet *ifaddr,
		   struct avpn_error *err);

/*
 * Adds a route to net through interface ifindex in the main table (link
 * scope, no gateway, metric 0).  A route of the same subnet and metric
 * that exists already, through any interface, is kept, and the call fails.
 */
int route_add(int nl, unsigned ifindex, const struct subnet *net,
	      struct avpn_error *err);

/* Deletes that route; a route that is already gone is not an error. */
int route_del(int nl, unsigned ifindex, const struct subnet *net,
	      struct avpn_error *err);

/*
 * The allowed-IPs table: subnets mapped to an owner (a peer), looked up by
 * longest prefix.  One binary trie per address family, one level per
 * address bit, so a lookup costs at most 32 or 128 steps and needs no
 * balancing.  A subnet has at most one owner: inserting it again moves it.
 */
struct allowed_ips_node;

struct allowed_ips {
	struct allowed_ips_node *root4;
	struct allowed_ips_node *root6;
	size_t count; /* subnets stored */
};

void allowed_ips_init(struct allowed_ips *table);
void allowed_ips_free(struct allowed_ips *table);

/*
 * Maps net to owner (not NULL), replacing any earlier owner of exactly
 * that subnet; previous receives that earlier owner or NULL.  Returns -1
 * only when memory runs out.
 */
int allowed_ips_insert(struct allowed_ips *table, const struct subnet *net,
		       void *owner, void **previous, struct avpn_error *err);

/* Removes net if owner holds it; returns true when it did. */
bool allowed_ips_remove(struct allowed_ips *table, const struct subnet *net,
			const void *owner);

/* Removes every subnet of owner; returns how many there were. */
size_t allowed_ips_remove_owner(struct allowed_ips *table, const void *owner);

/* Returns the owner of the longest prefix containing addr (4 or 16 bytes
 * of family), or NULL. */
void *allowed_ips_lookup(const struct allowed_ips *table, int family,
			 const uint8_t *addr);

/*
 * Calls fn for each subnet of owner, IPv4 first, in address order.  Stops
 * and returns fn's value when it is non-zero.
 */
int allowed_ips_walk(const struct allowed_ips *table, const void *owner,
		     int (*fn)(const struct subnet *net, void *arg),
		     void *arg);

#endif
