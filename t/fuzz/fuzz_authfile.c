/* libFuzzer target for auth_list_parse: no crash, and on success every
 * spoke's hubs are valid hub indexes. */
#include <stdint.h>
#include <stdlib.h>

#include "authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_list list;
	size_t i, j;

	if (auth_list_parse(&list, (const char *)data, size, "fuzz",
			    NULL) == -1) {
		if (list.count != 0 || list.nodes != NULL)
			abort();
		return 0;
	}
	for (i = 0; i < list.count; i++) {
		for (j = 0; j < list.nodes[i].hub_count; j++) {
			if (list.nodes[i].hubs[j] >= list.count ||
			    list.nodes[list.nodes[i].hubs[j]].role != ROLE_HUB)
				abort();
		}
		if (list.count < 64)
			for (j = 0; j < list.count; j++)
				auth_may_reach(&list, i, j);
	}
	auth_list_free(&list);
	return 0;
}
