/* libFuzzer target for the UAPI request framing and parser: no crash, a
 * request length within the input, and parsed allowed IPs with their host
 * bits cleared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when no bit below the prefix is set. */
static int host_bits_clear(const struct subnet *net)
{
	unsigned i, bits = net->family == AF_INET ? 32 : 128;

	for (i = net->prefix; i < bits; i++) {
		if (net->addr[i / 8] & (0x80 >> (i % 8)))
			return 0;
	}
	return 1;
}

static void check_request(const struct uapi_request *req)
{
	size_t i, j;

	for (i = 0; i < req->peer_count; i++) {
		for (j = 0; j < req->peers[i].allowed_count; j++) {
			if (!host_bits_clear(&req->peers[i].allowed[j]))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	struct uapi_request req;
	int errno_value;
	ssize_t len;

	if (!initialised) {
		if (sodium_init() == -1)
			abort();
		initialised = 1;
	}
	len = uapi_request_len((const char *)data, size);
	if (len > (ssize_t)size)
		abort();
	if (len <= 0)
		return 0;
	if (uapi_request_parse(&req, (const char *)data, (size_t)len,
			       &errno_value, NULL) == 0) {
		check_request(&req);
		uapi_request_free(&req);
	} else if (errno_value == 0) {
		abort();
	}
	return 0;
}
