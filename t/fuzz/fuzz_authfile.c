/*
 * libFuzzer target for auth_list_parse.  It must not crash, and it must
 * return an empty list on error.  On success every node's slices lie
 * inside the subnet and hub pools and every spoke's hubs are hub indexes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_node(const struct auth_list *list, size_t i)
{
	const struct auth_node *node = &list->nodes[i];
	const uint32_t *hubs = auth_node_hubs(list, node);
	size_t j;

	if (node->subnet_first + (size_t)node->subnet_count >
	    list->subnet_total ||
	    node->hub_first + (size_t)node->hub_count > list->hub_total ||
	    node->subnet_count > AVPN_MAX_SUBNETS ||
	    node->hub_count > AUTH_MAX_HUBS ||
	    (node->role == ROLE_HUB && node->hub_count != 0) ||
	    (node->role == ROLE_SPOKE && node->hub_count == 0))
		abort();
	for (j = 0; j < node->hub_count; j++) {
		if (hubs[j] >= list->count ||
		    list->nodes[hubs[j]].role != ROLE_HUB)
			abort();
	}
	if (list->count < 64)
		for (j = 0; j < list->count; j++)
			auth_may_reach(list, i, j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_list list;
	size_t i;

	if (auth_list_parse(&list, (const char *)data, size, "fuzz",
			    NULL) == -1) {
		if (list.count != 0 || list.nodes != NULL ||
		    list.subnets != NULL || list.hubs != NULL)
			abort();
		return 0;
	}
	if (list.nodes == NULL ||
	    list.subnets == NULL || list.hubs == NULL)
		abort();
	for (i = 0; i < list.count; i++) {
		check_node(&list, i);
	}
	auth_list_free(&list);
	return 0;
}
