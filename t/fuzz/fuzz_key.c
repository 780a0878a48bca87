/* libFuzzer target for key_from_base64: any input must be rejected or
 * decode to a key that encodes back to the same 44 characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[AVPN_KEY_BASE64_LEN + 1];
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];

	if (key_from_base64(key, (const char *)data, size, &e) == -1)
		return 0;
	/* Strict parsing means exactly one text per key. */
	key_to_base64(text, key);
	if (size != AVPN_KEY_BASE64_LEN || memcmp(text, data, size) != 0)
		abort();
	return 0;
}
