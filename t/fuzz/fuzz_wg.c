/*
 * libFuzzer target for the WireGuard core: every consume function on
 * fuzzed bytes.  The first input byte picks a mode.  Fuzzed bytes almost
 * never carry a valid mac1 or receiver index, so some modes fix those up
 * first to let the fuzzer reach the Noise decryption, the replay window
 * and the timers behind them.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wg_internal.h"

struct fuzz_state {
	struct wg_device *a, *b;
	struct wg_peer *a_to_b, *b_to_a;
	uint64_t now;
	uint64_t wall;
};

static struct fuzz_state st;

/* Runs a full handshake from a to b so that transport modes have a
 * session to aim at. */
static void fuzz_handshake(void)
{
	uint8_t init[WG_INITIATION_LEN], resp[WG_RESPONSE_LEN], buf[64];
	uint8_t plain[64];
	struct wg_peer *got;
	ssize_t n;

	st.now += WG_REKEY_TIMEOUT_MS;
	st.wall += 1000000000;
	if (wg_handshake_create_initiation(st.a, st.a_to_b, st.now, st.wall,
					   init) != WG_OK ||
	    wg_handshake_consume_initiation(st.b, init, sizeof(init), st.now,
					    &got) != WG_OK ||
	    wg_handshake_create_response(st.b, got, st.now, resp) != WG_OK ||
	    wg_handshake_consume_response(st.a, resp, sizeof(resp), st.now,
					  &got) != WG_OK)
		abort();
	n = wg_encrypt(st.a_to_b, st.now, buf, sizeof(buf), NULL, 0);
	if (n < 0 || wg_decrypt(st.b, buf, (size_t)n, st.now, plain, &got) != 0)
		abort();
}

static void fuzz_init(void)
{
	uint8_t a_key[32], b_key[32], a_pub[32], b_pub[32];

	if (sodium_init() < 0)
		abort();
	/* NOTE: static keys are fixed, but ephemeral keys and indexes come
	 * from randombytes, so a crash may not reproduce on the first rerun. */
	memset(a_key, 0x11, sizeof(a_key));
	memset(b_key, 0x22, sizeof(b_key));
	st.a = wg_device_new(a_key, NULL);
	st.b = wg_device_new(b_key, NULL);
	if (st.a == NULL || st.b == NULL)
		abort();
	wg_device_public_key(st.a, a_pub);
	wg_device_public_key(st.b, b_pub);
	st.a_to_b = wg_peer_add(st.a, b_pub, NULL);
	st.b_to_a = wg_peer_add(st.b, a_pub, NULL);
	if (st.a_to_b == NULL || st.b_to_a == NULL)
		abort();
	st.now = 1000000;
	st.wall = UINT64_C(1700000000) * 1000000000;
	fuzz_handshake();
}

/* Feeds msg to every consume function of device b. */
static void fuzz_consume_all(uint8_t *msg, size_t len)
{
	uint8_t plain[2048];
	union endpoint src;
	struct wg_peer *got;

	memset(&src, 0, sizeof(src));
	src.in.sin_family = AF_INET;
	src.in.sin_port = htons(40000);
	wg_message_type(msg, len);
	wg_check_macs(st.b, msg, len, &src, st.now, len & 1);
	if (wg_handshake_consume_initiation(st.b, msg, len, st.now, &got) ==
	    WG_OK) {
		uint8_t resp[WG_RESPONSE_LEN];

		wg_handshake_create_response(st.b, got, st.now, resp);
	}
	wg_handshake_consume_response(st.b, msg, len, st.now, &got);
	wg_cookie_reply_consume(st.b, msg, len, st.now);
	if (len <= sizeof(plain) + WG_TRANSPORT_MIN_LEN)
		wg_decrypt(st.b, msg, len, st.now, plain, &got);
}

/* A handshake message with a correct mac1, so decryption runs. */
static void fuzz_handshake_message(const uint8_t *data, size_t size)
{
	uint8_t msg[WG_INITIATION_LEN];
	size_t len = (size & 1) ? WG_RESPONSE_LEN : WG_INITIATION_LEN;

	memset(msg, 0, sizeof(msg));
	memcpy(msg, data, size < len ? size : len);
	msg[0] = (size & 1) ? WG_MSG_RESPONSE : WG_MSG_INITIATION;
	msg[1] = msg[2] = msg[3] = 0;
	wg_mac(msg + len - 2 * WG_MAC_LEN, st.b->mac1_key, WG_HASH_LEN, msg,
	       len - 2 * WG_MAC_LEN);
	fuzz_consume_all(msg, len);
}

/* A transport message to b's live session, fuzzed counter and body. */
static void fuzz_transport_message(const uint8_t *data, size_t size)
{
	uint8_t msg[2048];
	size_t len = WG_TRANSPORT_HEADER_LEN + size;
	struct wg_keypair *kp = st.b_to_a->current;

	if (kp == NULL || len > sizeof(msg) || len < WG_TRANSPORT_MIN_LEN)
		return;
	memcpy(msg + WG_DATA_COUNTER, data, size);
	memset(msg, 0, WG_DATA_COUNTER);
	msg[0] = WG_MSG_TRANSPORT;
	wg_put_le32(msg + WG_DATA_RECEIVER, kp->index.id);
	fuzz_consume_all(msg, len);
}

/* Encrypts the input and checks that it decrypts to the same bytes. */
static void fuzz_round_trip(const uint8_t *data, size_t size)
{
	uint8_t msg[2048], plain[2048];
	struct wg_peer *got;
	ssize_t n, m;

	if (size > 1024)
		return;
	n = wg_encrypt(st.a_to_b, st.now, msg, sizeof(msg), data, size);
	if (n < 0)
		return;
	m = wg_decrypt(st.b, msg, (size_t)n, st.now, plain, &got);
	if (m != (ssize_t)WG_PADDED_LEN(size) || got != st.b_to_a ||
	    memcmp(plain, data, size) != 0)
		abort();
}

/* Each byte is an event: advance the clock, send, receive, run the
 * timers or rekey; deadlines returned must lie in the future.  Events and
 * handshakes are capped so that long inputs stay cheap. */
static void fuzz_timers(const uint8_t *data, size_t size)
{
	uint8_t buf[64], plain[64];
	struct wg_peer *got;
	uint64_t next;
	int handshakes = 0;
	size_t i;
	ssize_t n;

	if (size > 64)
		size = 64;
	for (i = 0; i < size; i++) {
		st.now += (uint64_t)(data[i] >> 2) * 997;
		switch (data[i] & 3) {
		case 0:
			wg_peer_timers(st.a_to_b, st.now, &next);
			if (next <= st.now)
				abort();
			break;
		case 1:
			n = wg_encrypt(st.a_to_b, st.now, buf, sizeof(buf),
				       data, 1);
			if (n > 0)
				wg_decrypt(st.b, buf, (size_t)n, st.now, plain,
					   &got);
			break;
		case 2:
			wg_peer_timers(st.b_to_a, st.now, &next);
			break;
		default:
			if (handshakes++ < 2)
				fuzz_handshake();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t copy[2048];

	if (st.a == NULL)
		fuzz_init();
	if (size < 1 || size > sizeof(copy))
		return 0;
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 5) {
	case 0:
		fuzz_consume_all(copy, size - 1);
		break;
	case 1:
		fuzz_handshake_message(data + 1, size - 1);
		break;
	case 2:
		fuzz_transport_message(data + 1, size - 1);
		break;
	case 3:
		fuzz_round_trip(data + 1, size - 1);
		break;
	default:
		fuzz_timers(data + 1, size - 1);
	}
	return 0;
}
