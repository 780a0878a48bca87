/*
 * libFuzzer target for auth_list_parse.  It must not crash, and it must
 * return an empty list on error.  On success the input has no carriage
 * return, every node's slices lie inside the subnet and hub pools, every
 * spoke's hubs are hub indexes, and libsodium accepts the first keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A scalar multiplication costs about 65 us, so only the first nodes of
 * an input get one. */
#define KEYS_CHECKED 4

static void check_key(const uint8_t key[AVPN_KEY_LEN])
{
	static const uint8_t scalar[32] = { 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	uint8_t out[32];

	if (crypto_scalarmult(out, scalar, key) != 0)
		abort();
}

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

	if (sodium_init() == -1)
		abort();
	if (auth_list_parse(&list, (const char *)data, size, "fuzz",
			    NULL) == -1) {
		if (list.count != 0 || list.nodes != NULL ||
		    list.subnets != NULL || list.hubs != NULL)
			abort();
		return 0;
	}
	if (memchr(data, '\r', size) != NULL || list.nodes == NULL ||
	    list.subnets == NULL || list.hubs == NULL)
		abort();
	for (i = 0; i < list.count; i++) {
		check_node(&list, i);
		if (i < KEYS_CHECKED)
			check_key(list.nodes[i].public_key);
	}
	auth_list_free(&list);
	return 0;
}
