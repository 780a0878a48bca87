/*
 * The registry's authorized-nodes file.  One node per line,
 * whitespace-separated:
 *
 *   PUBLIC-KEY  NAME  ROLE  SUBNETS  [HUBS]
 *
 * ROLE is "hub" or "spoke"; SUBNETS is a comma list of the subnets the node
 * may announce ("-" for none); HUBS, for spokes only, is a comma list of hub
 * names in order of preference.  '#' starts a comment.
 */
#ifndef AVPN_AUTHFILE_H
#define AVPN_AUTHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "avpn.h"
#include "error.h"
#include "key.h"
#include "state.h"
#include "subnet.h"

#define AUTH_MAX_HUBS 8

struct auth_node {
	uint8_t public_key[AVPN_KEY_LEN];
	char name[AVPN_NAME_MAX + 1];
	enum node_role role;
	struct subnet_list allowed;
	size_t hub_count;
	uint32_t hubs[AUTH_MAX_HUBS]; /* indexes into auth_list.nodes */
};

struct auth_list {
	size_t count;
	struct auth_node *nodes;
};

/*
 * Parses a whole authorized-nodes file.  Rejects duplicate keys or names, a
 * spoke naming an unknown node or a spoke as its hub, hubs on a hub line,
 * and every malformed field; the error names the path, line and field.
 * On error list is left empty.
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
