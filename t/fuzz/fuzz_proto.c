/*
 * libFuzzer target for the control protocol codec.  The first input byte
 * picks the mode:
 *   even: the rest is a datagram for proto_peek, proto_open (fixed key)
 *         and proto_key_mismatch_parse, as the registry receives it;
 *   odd:  the next byte is the type and the rest a plaintext body that is
 *         sealed with the fixed key, so the body decoder behind the AEAD
 *         gets the fuzzed bytes.  A body that decodes must seal again and
 *         decode to the same message.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t shared[32];
static const uint8_t sender[32] = { 9, 9, 9 };
static const uint8_t recipient[32] = { 1, 2, 3, 4 };

static void fuzz_datagram(const uint8_t *data, size_t size)
{
	struct avpn_error err;
	struct proto_msg msg;
	uint8_t type, key[32];
	bool for_me;

	proto_peek(data, size, &type, key, recipient, &for_me);
	proto_open(&msg, data, size, shared, &err);
	proto_key_mismatch_parse(data, size, key);
}

/* Builds header and timestamps around body and seals it with the raw
 * AEAD.  Returns the datagram length, or 0 if the body is too long. */
static size_t seal_raw(uint8_t *out, uint8_t type, const uint8_t *body,
		       size_t body_len)
{
	uint8_t plain[AVPN_DATAGRAM_MAX];
	unsigned long long sealed_len;
	static const uint8_t stamps[PROTO_STAMP_LEN] = { 0, 0, 0, 0, 0, 0, 0, 7,
							 0, 0, 0, 0, 0, 0, 0, 0 };

	if (body_len > sizeof(plain) - PROTO_HEADER_LEN - PROTO_TAG_LEN -
			       PROTO_STAMP_LEN)
		return 0;
	memcpy(plain, stamps, sizeof(stamps));
	memcpy(plain + sizeof(stamps), body, body_len);
	memset(out, 0, PROTO_HEADER_LEN);
	out[0] = type;
	out[1] = PROTO_VERSION;
	memcpy(out + 4, sender, 32);
	memcpy(out + 36, recipient, 4);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + PROTO_HEADER_LEN, &sealed_len, plain,
		sizeof(stamps) + body_len, out, PROTO_HEADER_LEN, NULL, out + 40,
		shared);
	return PROTO_HEADER_LEN + sealed_len;
}

static void fuzz_body(const uint8_t *data, size_t size)
{
	uint8_t buf[AVPN_DATAGRAM_MAX], again[AVPN_DATAGRAM_MAX];
	struct proto_msg msg, msg_again;
	struct avpn_error err;
	size_t len;
	ssize_t len_again;

	if (size < 1)
		return;
	len = seal_raw(buf, data[0], data + 1, size - 1);
	if (len == 0 || proto_open(&msg, buf, len, shared, &err) == -1)
		return;
	len_again = proto_seal(again, sizeof(again), &msg, sender, recipient,
			       shared);
	/* An empty QUERY, as nodes before the padding send it, seals again
	 * with the padding. */
	if (len_again != (ssize_t)len &&
	    !(msg.type == MSG_QUERY && len == PROTO_MIN_LEN &&
	      len_again == PROTO_ERROR_LEN))
		abort();
	if (proto_open(&msg_again, again, len_again, shared, &err) == -1)
		abort();
	if (memcmp(&msg, &msg_again, sizeof(msg)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (shared[0] == 0) {
		if (sodium_init() < 0)
			abort();
		memset(shared, 0x5a, sizeof(shared));
	}
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_datagram(data + 1, size - 1);
	else
		fuzz_body(data + 1, size - 1);
	return 0;
}
