/* The allowed-IPs table of route.h: a binary trie per address family. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "route.h"

struct allowed_ips_node {
	struct allowed_ips_node *child[2];
	void *owner; /* owner of the subnet ending here, or NULL */
};

static int addr_bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1;
}

static struct allowed_ips_node **table_root(struct allowed_ips *table,
					    int family)
{
	return family == AF_INET ? &table->root4 : &table->root6;
}

void allowed_ips_init(struct allowed_ips *table)
{
	memset(table, 0, sizeof(*table));
}

static void node_free(struct allowed_ips_node *node)
{
	if (node == NULL)
		return;
	node_free(node->child[0]);
	node_free(node->child[1]);
	free(node);
}

void allowed_ips_free(struct allowed_ips *table)
{
	node_free(table->root4);
	node_free(table->root6);
	allowed_ips_init(table);
}

int allowed_ips_insert(struct allowed_ips *table, const struct subnet *net,
		       void *owner, void **previous, struct avpn_error *err)
{
	struct allowed_ips_node **slot = table_root(table, net->family);
	unsigned depth;

	for (depth = 0;; depth++) {
		if (*slot == NULL) {
			*slot = calloc(1, sizeof(**slot));
			if (*slot == NULL)
				return error_set(err, "out of memory");
		}
		if (depth == net->prefix)
			break;
		slot = &(*slot)->child[addr_bit(net->addr, depth)];
	}
	if (previous != NULL)
		*previous = (*slot)->owner;
	if ((*slot)->owner == NULL)
		table->count++;
	(*slot)->owner = owner;
	return 0;
}

/* Frees node when it holds neither an owner nor children. */
static void node_prune(struct allowed_ips_node **slot)
{
	struct allowed_ips_node *node = *slot;

	if (node->owner == NULL && node->child[0] == NULL &&
	    node->child[1] == NULL) {
		free(node);
		*slot = NULL;
	}
}

static bool node_remove(struct allowed_ips_node **slot,
			const struct subnet *net, unsigned depth,
			const void *owner)
{
	bool removed = false;

	if (*slot == NULL)
		return false;
	if (depth == net->prefix) {
		if ((*slot)->owner == owner) {
			(*slot)->owner = NULL;
			removed = true;
		}
	} else {
		removed = node_remove(
			&(*slot)->child[addr_bit(net->addr, depth)], net,
			depth + 1, owner);
	}
	node_prune(slot);
	return removed;
}

bool allowed_ips_remove(struct allowed_ips *table, const struct subnet *net,
			const void *owner)
{
	if (!node_remove(table_root(table, net->family), net, 0, owner))
		return false;
	table->count--;
	return true;
}

static size_t node_remove_owner(struct allowed_ips_node **slot,
				const void *owner)
{
	size_t removed = 0;

	if (*slot == NULL)
		return 0;
	removed += node_remove_owner(&(*slot)->child[0], owner);
	removed += node_remove_owner(&(*slot)->child[1], owner);
	if ((*slot)->owner == owner) {
		(*slot)->owner = NULL;
		removed++;
	}
	node_prune(slot);
	return removed;
}

size_t allowed_ips_remove_owner(struct allowed_ips *table, const void *owner)
{
	size_t removed;

	removed = node_remove_owner(&table->root4, owner);
	removed += node_remove_owner(&table->root6, owner);
	table->count -= removed;
	return removed;
}

void *allowed_ips_lookup(const struct allowed_ips *table, int family,
			 const uint8_t *addr)
{
	const struct allowed_ips_node *node;
	unsigned depth, bits;
	void *best = NULL;

	if (family == AF_INET) {
		node = table->root4;
		bits = 32;
	} else {
		node = table->root6;
		bits = 128;
	}
	for (depth = 0; node != NULL; depth++) {
		if (node->owner != NULL)
			best = node->owner;
		if (depth == bits)
			break;
		node = node->child[addr_bit(addr, depth)];
	}
	return best;
}

struct walk_state {
	const void *owner;
	int (*fn)(const struct subnet *net, void *arg);
	void *arg;
	struct subnet net; /* the path so far */
};

static int node_walk(const struct allowed_ips_node *node, unsigned depth,
		     struct walk_state *walk)
{
	uint8_t mask;
	int rc, bit;

	if (node == NULL)
		return 0;
	if (node->owner != NULL && node->owner == walk->owner) {
		walk->net.prefix = (uint8_t)depth;
		rc = walk->fn(&walk->net, walk->arg);
		if (rc != 0)
			return rc;
	}
	mask = (uint8_t)(0x80 >> (depth % 8));
	for (bit = 0; bit < 2; bit++) {
		if (node->child[bit] == NULL)
			continue;
		if (bit)
			walk->net.addr[depth / 8] |= mask;
		else
			walk->net.addr[depth / 8] &= (uint8_t)~mask;
		rc = node_walk(node->child[bit], depth + 1, walk);
		walk->net.addr[depth / 8] &= (uint8_t)~mask;
		if (rc != 0)
			return rc;
	}
	return 0;
}

int allowed_ips_walk(const struct allowed_ips *table, const void *owner,
		     int (*fn)(const struct subnet *net, void *arg),
		     void *arg)
{
	struct walk_state walk;
	int rc;

	memset(&walk, 0, sizeof(walk));
	walk.owner = owner;
	walk.fn = fn;
	walk.arg = arg;
	walk.net.family = AF_INET;
	rc = node_walk(table->root4, 0, &walk);
	if (rc != 0)
		return rc;
	memset(&walk.net, 0, sizeof(walk.net));
	walk.net.family = AF_INET6;
	return node_walk(table->root6, 0, &walk);
}
