/*
 * The registry's authorized-nodes file.  One node per line,
 * whitespace-separated:
 *
 *   PUBLIC-KEY  NAME  ROLE  SUBNETS  [HUBS]
 *
 * ROLE is "hub" or "spoke"; SUBNETS is a comma list of the subnets the node
 * may announce ("-" for none); HUBS, for spokes only, is a comma list of hub
 * names in order of preference.  '#' starts a comment.  Fields are
 * separated by spaces or tabs.  Lines end in LF, and a carriage return
 * anywhere is rejected.
 */
#ifndef AVPN_AUTHFILE_H
#define AVPN_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avpn.h"
#include "error.h"
#include "key.h"
#include "state.h"
#include "subnet.h"

#define AUTH_MAX_HUBS 8

/*
 * One authorized node.  Its allowed subnets and, for a spoke, its hubs are
 * slices of the pools in struct auth_list, so every node costs the same 76
 * bytes whatever the number of subnets it may announce.
 */
struct auth_node {
	uint8_t public_key[AVPN_KEY_LEN];
	char name[AVPN_NAME_MAX + 1];
	uint8_t role;          /* enum node_role */
	uint8_t subnet_count;  /* at most AVPN_MAX_SUBNETS */
	uint8_t hub_count;     /* at most AUTH_MAX_HUBS; 0 for a hub */
	uint32_t subnet_first; /* index into auth_list.subnets */
	uint32_t hub_first;    /* index into auth_list.hubs */
};

/*
 * The parsed file.  After a successful parse the three arrays are never
 * NULL, even when empty, so a node's slice is always a valid pointer.
 */
struct auth_list {
	size_t count;
	struct auth_node *nodes;
	struct subnet *subnets; /* the allowed subnets of all nodes in order */
	size_t subnet_total;
	uint32_t *hubs;         /* every spoke's hubs as indexes into nodes */
	size_t hub_total;
};

/* Returns the node's allowed subnets, node->subnet_count of them. */
static inline const struct subnet *
auth_node_subnets(const struct auth_list *list, const struct auth_node *node)
{
	return &list->subnets[node->subnet_first];
}

/* Returns a spoke's hubs in order of preference, node->hub_count of them. */
static inline const uint32_t *auth_node_hubs(const struct auth_list *list,
					     const struct auth_node *node)
{
	return &list->hubs[node->hub_first];
}

/* Copies the allowed subnets of node i into out. */
void auth_node_allowed(const struct auth_list *list, size_t i,
		       struct subnet_list *out);

/*
 * True when key is an X25519 point of small order (1, 2, 4 or 8).  The
 * Diffie-Hellman result with such a point is all-zero for every private
 * key, so no shared key exists and libsodium's crypto_scalarmult returns
 * -1.  The top bit is ignored, as X25519 ignores it.
 */
bool auth_key_is_weak(const uint8_t key[AVPN_KEY_LEN]);

/*
 * Parses a whole authorized-nodes file.  Rejects duplicate keys or names, a
 * weak (small-order) public key, a spoke naming an unknown node or a spoke
 * as its hub, hubs on a hub line, a carriage return (DOS line endings) and
 * every malformed field.  The error names the path, line and field.  On
 * error list is left empty, with count 0 and every pointer NULL.
 */
int auth_list_load(struct auth_list *list, const char *path,
		   struct avpn_error *err);

/* Same, from a buffer; name is used in error messages. */
int auth_list_parse(struct auth_list *list, const char *text, size_t len,
		    const char *name, struct avpn_error *err);

void auth_list_free(struct auth_list *list);

/*
 * True when node a should learn node b: a spoke learns the hubs it names, a
 * hub learns every other hub and every spoke that names it.
 */
int auth_may_reach(const struct auth_list *list, size_t a, size_t b);

#endif
