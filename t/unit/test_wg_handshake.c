/*
 * Two WireGuard devices in memory: handshakes both ways, transport data,
 * the replay window, mac1 and cookies, rekeying and the timers, all driven
 * with made-up clock values.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "unit.h"
#include "wg_internal.h"

/* Arbitrary start times: monotonic ms and wall-clock ns. */
#define T0 1000000
#define WALL0 (UINT64_C(1700000000) * 1000000000)

struct pair {
	struct wg_device *a, *b;
	struct wg_peer *a_to_b; /* a's peer entry for b */
	struct wg_peer *b_to_a; /* b's peer entry for a */
	union endpoint a_addr, b_addr;
	uint64_t wall; /* the initiators' wall clock, always advancing */
};

static void pair_init(struct pair *p)
{
	uint8_t a_key[32], b_key[32], a_pub[32], b_pub[32];
	uint8_t ephemeral_public[32];

	memset(p, 0, sizeof(*p));
	wg_dh_generate(a_key, ephemeral_public);
	wg_dh_generate(b_key, ephemeral_public);
	p->a = wg_device_new(a_key, NULL);
	p->b = wg_device_new(b_key, NULL);
	if (p->a == NULL || p->b == NULL) {
		printf("Bail out! wg_device_new failed\n");
		exit(1);
	}
	wg_device_public_key(p->a, a_pub);
	wg_device_public_key(p->b, b_pub);
	p->a_to_b = wg_peer_add(p->a, b_pub, NULL);
	p->b_to_a = wg_peer_add(p->b, a_pub, NULL);
	if (p->a_to_b == NULL || p->b_to_a == NULL) {
		printf("Bail out! wg_peer_add failed\n");
		exit(1);
	}
	endpoint_parse(&p->a_addr, "192.0.2.1:40000", 0, NULL);
	endpoint_parse(&p->b_addr, "198.51.100.2:40001", 0, NULL);
	p->wall = WALL0;
	sodium_memzero(a_key, sizeof(a_key));
	sodium_memzero(b_key, sizeof(b_key));
}

static void pair_free(struct pair *p)
{
	wg_device_free(p->a);
	wg_device_free(p->b);
}

/* Sends len bytes of data from one peer entry and decrypts them at the
 * other device; returns wg_decrypt's result. */
static ssize_t send_data(struct wg_peer *from, struct wg_device *to,
			 uint64_t now, const char *text,
			 struct wg_peer **got_peer)
{
	uint8_t buf[256], plain[256];
	size_t len = strlen(text);
	ssize_t n;

	n = wg_encrypt(from, now, buf, sizeof(buf), (const uint8_t *)text,
		       len);
	if (n < 0)
		return n;
	n = wg_decrypt(to, buf, (size_t)n, now, plain, got_peer);
	if (n >= (ssize_t)len && memcmp(plain, text, len) != 0)
		return -100;
	return n;
}

/*
 * Runs a whole handshake between the pair at time now, started by a or by
 * b, including the initiator's confirming keepalive.  Returns 0 or the
 * first failing result.
 */
static int handshake(struct pair *p, bool a_initiates, uint64_t now)
{
	struct wg_device *r = a_initiates ? p->b : p->a;
	struct wg_device *i = a_initiates ? p->a : p->b;
	struct wg_peer *i_peer = a_initiates ? p->a_to_b : p->b_to_a;
	uint8_t init[WG_INITIATION_LEN], resp[WG_RESPONSE_LEN];
	uint8_t buf[64], plain[64];
	struct wg_peer *got;
	ssize_t n;
	int rc;

	p->wall += 1000000000;
	rc = wg_handshake_create_initiation(i, i_peer, now, p->wall, init);
	if (rc == WG_OK)
		rc = wg_handshake_consume_initiation(r, init, sizeof(init), now,
						     &got);
	if (rc == WG_OK)
		rc = wg_handshake_create_response(r, got, now, resp);
	if (rc == WG_OK)
		rc = wg_handshake_consume_response(i, resp, sizeof(resp), now,
						   &got);
	if (rc != WG_OK)
		return rc;
	n = wg_encrypt(i_peer, now, buf, sizeof(buf), NULL, 0);
	if (n < 0)
		return (int)n;
	n = wg_decrypt(r, buf, (size_t)n, now, plain, &got);
	return n < 0 ? (int)n : 0;
}

static void test_message_type(void)
{
	uint8_t msg[WG_INITIATION_LEN] = { 0 };

	msg[0] = WG_MSG_INITIATION;
	CHECK(wg_message_type(msg, WG_INITIATION_LEN) == WG_MSG_INITIATION,
	      "message type of an initiation");
	CHECK(wg_message_type(msg, WG_INITIATION_LEN - 1) == 0,
	      "message type rejects a short initiation");
	msg[2] = 1;
	CHECK(wg_message_type(msg, WG_INITIATION_LEN) == 0,
	      "message type rejects non-zero reserved bytes");
	msg[2] = 0;
	msg[0] = WG_MSG_TRANSPORT;
	CHECK(wg_message_type(msg, WG_TRANSPORT_MIN_LEN) == WG_MSG_TRANSPORT,
	      "message type of a keepalive");
	CHECK(wg_message_type(msg, WG_TRANSPORT_MIN_LEN - 1) == 0,
	      "message type rejects a short transport message");
	msg[0] = 0x10;
	CHECK(wg_message_type(msg, 100) == 0,
	      "message type rejects a control message");
	CHECK(wg_message_type(msg, 2) == 0, "message type rejects 2 bytes");
}

static void test_handshake_steps(void)
{
	struct pair p;
	uint8_t init[WG_INITIATION_LEN], resp[WG_RESPONSE_LEN];
	uint8_t buf[64], plain[64];
	struct wg_peer *got = NULL;
	uint64_t next;
	ssize_t n;

	pair_init(&p);
	CHECK(wg_handshake_create_initiation(p.a, p.a_to_b, T0, WALL0,
					     init) == WG_OK,
	      "initiation created");
	CHECK(wg_check_macs(p.b, init, sizeof(init), &p.a_addr, T0, false) ==
		      WG_OK,
	      "initiation mac1 valid");
	CHECK(wg_handshake_consume_initiation(p.b, init, sizeof(init), T0,
					      &got) == WG_OK,
	      "initiation consumed");
	CHECK(got == p.b_to_a, "initiation names the initiator's peer");
	CHECK(wg_handshake_create_response(p.b, got, T0, resp) == WG_OK,
	      "response created");
	CHECK(wg_handshake_create_response(p.b, got, T0, resp) ==
		      WG_ERR_STATE,
	      "second response to one initiation rejected");
	CHECK(wg_check_macs(p.a, resp, sizeof(resp), &p.b_addr, T0, false) ==
		      WG_OK,
	      "response mac1 valid");
	got = NULL;
	CHECK(wg_handshake_consume_response(p.a, resp, sizeof(resp), T0,
					    &got) == WG_OK,
	      "response consumed");
	CHECK(got == p.a_to_b, "response names the responder's peer");
	CHECK(wg_handshake_consume_response(p.a, resp, sizeof(resp), T0,
					    &got) == WG_ERR_UNKNOWN_INDEX,
	      "replayed response rejected");
	CHECK(wg_peer_can_send(p.a_to_b, T0), "initiator can send at once");
	CHECK(!wg_peer_can_send(p.b_to_a, T0),
	      "responder waits for confirmation");
	CHECK(wg_peer_timers(p.a_to_b, T0, &next) & WG_TIMER_SEND_KEEPALIVE,
	      "initiator timers ask for a confirming keepalive");

	n = wg_encrypt(p.a_to_b, T0, buf, sizeof(buf), NULL, 0);
	CHECK(n == WG_TRANSPORT_MIN_LEN, "keepalive is 32 bytes");
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0, plain, &got) == 0,
	      "keepalive decrypts to 0 bytes");
	CHECK(got == p.b_to_a, "keepalive names the sender");
	CHECK(wg_peer_can_send(p.b_to_a, T0), "responder confirmed");
	pair_free(&p);
}

static void test_data_both_ways(void)
{
	struct pair p;
	struct wg_peer *got = NULL;
	struct wg_peer_info info;
	uint8_t buf[128];
	ssize_t n;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake from a to b");
	n = send_data(p.a_to_b, p.b, T0 + 1, "hello from a", &got);
	CHECK(n == 16, "data a to b padded to 16 bytes");
	CHECK(got == p.b_to_a, "data a to b names a");
	n = send_data(p.b_to_a, p.a, T0 + 2, "hello from b", &got);
	CHECK(n == 16, "data b to a padded to 16 bytes");
	CHECK(got == p.a_to_b, "data b to a names b");

	CHECK(handshake(&p, false, T0 + 10000) == 0, "handshake from b to a");
	n = send_data(p.b_to_a, p.a, T0 + 10001, "after b initiated", &got);
	CHECK(n == 32, "data b to a after b initiated");
	n = send_data(p.a_to_b, p.b, T0 + 10002, "answer", &got);
	CHECK(n == 16, "data a to b after b initiated");

	/* In place: the packet already sits after the header. */
	memcpy(buf + WG_TRANSPORT_HEADER_LEN, "in place", 8);
	n = wg_encrypt(p.a_to_b, T0 + 10003, buf, sizeof(buf),
		       buf + WG_TRANSPORT_HEADER_LEN, 8);
	CHECK(n == WG_TRANSPORT_LEN(8), "in-place encryption length");
	n = wg_decrypt(p.b, buf, (size_t)n, T0 + 10003,
		       buf + WG_TRANSPORT_HEADER_LEN, &got);
	CHECK(n == 16, "in-place decryption length");
	CHECK(memcmp(buf + WG_TRANSPORT_HEADER_LEN, "in place", 8) == 0,
	      "in-place decryption content");
	CHECK(wg_encrypt(p.a_to_b, T0, buf, 40, buf, 30) == WG_ERR_BUFFER,
	      "encrypt rejects a small buffer");

	wg_peer_info(p.a_to_b, &info);
	CHECK(info.tx_bytes > 0, "sent byte counter moves");
	CHECK(info.rx_bytes > 0, "received byte counter moves");
	CHECK(info.last_handshake_ms == T0 + 10000,
	      "last handshake time recorded");
	pair_free(&p);
}

/* Encrypts "x" with a's current session at a chosen counter. */
static ssize_t send_at_counter(struct pair *p, uint64_t counter,
			       uint8_t *buf, size_t size)
{
	p->a_to_b->current->send_counter = counter;
	return wg_encrypt(p->a_to_b, T0, buf, size, (const uint8_t *)"x", 1);
}

static ssize_t receive(struct pair *p, const uint8_t *buf, ssize_t len)
{
	uint8_t plain[64];
	struct wg_peer *got;

	return wg_decrypt(p->b, buf, (size_t)len, T0, plain, &got);
}

static void test_replay_window(void)
{
	struct pair p;
	uint8_t m1[64], m2[64], m3[64], old[64], edge[64];
	ssize_t l1, l2, l3, lold, ledge;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake for replay tests");
	l1 = send_at_counter(&p, 20000, m1, sizeof(m1));
	CHECK(receive(&p, m1, l1) == 16, "counter 20000 accepted");
	CHECK(receive(&p, m1, l1) == WG_ERR_REPLAY,
	      "replayed transport message rejected");

	l2 = send_at_counter(&p, 19990, m2, sizeof(m2));
	l3 = send_at_counter(&p, 19995, m3, sizeof(m3));
	CHECK(receive(&p, m2, l2) == 16, "out of order 19990 accepted");
	CHECK(receive(&p, m3, l3) == 16, "out of order 19995 accepted");
	CHECK(receive(&p, m2, l2) == WG_ERR_REPLAY,
	      "out of order 19990 replay rejected");

	ledge = send_at_counter(&p, 20000 - (WG_REPLAY_WINDOW - 1), edge,
				sizeof(edge));
	lold = send_at_counter(&p, 20000 - WG_REPLAY_WINDOW, old, sizeof(old));
	CHECK(receive(&p, edge, ledge) == 16,
	      "oldest counter inside the window accepted");
	CHECK(receive(&p, old, lold) == WG_ERR_REPLAY,
	      "counter one behind the window rejected");

	l1 = send_at_counter(&p, 1000000, m1, sizeof(m1));
	CHECK(receive(&p, m1, l1) == 16, "jump far ahead accepted");
	CHECK(receive(&p, m3, l3) == WG_ERR_REPLAY,
	      "counter far behind the window rejected");
	l2 = send_at_counter(&p, 1000000 - 1, m2, sizeof(m2));
	CHECK(receive(&p, m2, l2) == 16,
	      "counter just behind after a jump accepted");

	l1 = send_at_counter(&p, WG_REJECT_AFTER_MESSAGES - 1, m1,
			     sizeof(m1));
	CHECK(receive(&p, m1, l1) == 16, "last usable counter accepted");
	CHECK(send_at_counter(&p, WG_REJECT_AFTER_MESSAGES, m1, sizeof(m1)) ==
		      WG_ERR_NO_KEYPAIR,
	      "sender stops at REJECT_AFTER_MESSAGES");
	pair_free(&p);
}

static void test_replay_bitmap(void)
{
	struct wg_replay r;
	uint64_t c;
	bool all = true;

	memset(&r, 0, sizeof(r));
	CHECK(wg_replay_update(&r, 0), "replay counter 0 accepted");
	CHECK(!wg_replay_update(&r, 0), "replay counter 0 twice rejected");
	for (c = 1; c < 3 * WG_REPLAY_BITS; c += 2)
		all = all && wg_replay_update(&r, c);
	CHECK(all, "replay odd counters in order accepted");
	all = true;
	for (c = 3 * WG_REPLAY_BITS - WG_REPLAY_WINDOW + 1;
	     c < 3 * WG_REPLAY_BITS; c += 2)
		all = all && !wg_replay_check(&r, c);
	CHECK(all, "replay odd counters in the window all seen");
	all = true;
	for (c = 3 * WG_REPLAY_BITS - WG_REPLAY_WINDOW + 1;
	     c < 3 * WG_REPLAY_BITS; c += 2)
		all = all && wg_replay_update(&r, c - 1);
	CHECK(all, "replay even counters in the window accepted late");
}

static void test_tampering(void)
{
	struct pair p;
	uint8_t buf[64], plain[64];
	struct wg_peer *got;
	ssize_t n;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake for tamper tests");
	n = wg_encrypt(p.a_to_b, T0, buf, sizeof(buf), (const uint8_t *)"x",
		       1);
	buf[20] ^= 1;
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0, plain, &got) ==
		      WG_ERR_DECRYPT,
	      "tampered ciphertext rejected");
	buf[20] ^= 1;
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0, plain, &got) == 16,
	      "a failed forgery does not consume the counter");
	buf[4] ^= 1;
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0, plain, &got) ==
		      WG_ERR_UNKNOWN_INDEX,
	      "unknown receiver index rejected");
	buf[0] = 5;
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0, plain, &got) ==
		      WG_ERR_MALFORMED,
	      "unknown message type rejected");
	pair_free(&p);
}

static void test_mac1_and_replayed_initiation(void)
{
	struct pair p;
	uint8_t init[WG_INITIATION_LEN], bad[WG_INITIATION_LEN];
	uint8_t resp[WG_RESPONSE_LEN];
	struct wg_peer *got;

	pair_init(&p);
	wg_handshake_create_initiation(p.a, p.a_to_b, T0, WALL0, init);
	memcpy(bad, init, sizeof(bad));
	bad[WG_INIT_MAC1] ^= 1;
	CHECK(wg_check_macs(p.b, bad, sizeof(bad), &p.a_addr, T0, false) ==
		      WG_ERR_MAC1,
	      "bad mac1 rejected by check_macs");
	CHECK(wg_handshake_consume_initiation(p.b, bad, sizeof(bad), T0,
					      &got) == WG_ERR_MAC1,
	      "bad mac1 rejected by consume");
	memcpy(bad, init, sizeof(bad));
	bad[WG_INIT_STATIC] ^= 1;
	CHECK(wg_handshake_consume_initiation(p.b, bad, sizeof(bad), T0,
					      &got) == WG_ERR_MAC1,
	      "changed body fails mac1");

	CHECK(wg_handshake_consume_initiation(p.b, init, sizeof(init), T0,
					      &got) == WG_OK,
	      "initiation consumed once");
	CHECK(wg_handshake_create_response(p.b, got, T0, resp) == WG_OK,
	      "response to the first initiation");
	CHECK(wg_handshake_consume_initiation(p.b, init, sizeof(init),
					      T0 + 60000, &got) ==
		      WG_ERR_REPLAY,
	      "replayed initiation rejected");

	wg_handshake_create_initiation(p.a, p.a_to_b, T0 + 5,
				       WALL0 + 1000000000, init);
	CHECK(wg_handshake_consume_initiation(p.b, init, sizeof(init), T0 + 5,
					      &got) == WG_ERR_FLOOD,
	      "initiation within 20 ms rejected");
	CHECK(wg_handshake_consume_initiation(
		      p.b, init, sizeof(init),
		      T0 + WG_INITIATION_MIN_INTERVAL_MS, &got) == WG_OK,
	      "same initiation after 20 ms accepted");
	pair_free(&p);
}

static void test_unknown_peer(void)
{
	struct pair p, q;
	uint8_t b_pub[32], init[WG_INITIATION_LEN];
	struct wg_peer *stranger, *got;

	pair_init(&p);
	pair_init(&q);
	/* q.a has b's key as a peer, but b has no peer entry for q.a. */
	wg_device_public_key(p.b, b_pub);
	stranger = wg_peer_add(q.a, b_pub, NULL);
	wg_handshake_create_initiation(q.a, stranger, T0, WALL0, init);
	CHECK(wg_check_macs(p.b, init, sizeof(init), &p.a_addr, T0, false) ==
		      WG_OK,
	      "stranger's mac1 is valid");
	CHECK(wg_handshake_consume_initiation(p.b, init, sizeof(init), T0,
					      &got) == WG_ERR_UNKNOWN_PEER,
	      "initiation from an unknown key rejected");
	CHECK(wg_peer_add(p.a, b_pub, NULL) == NULL, "duplicate peer rejected");
	pair_free(&p);
	pair_free(&q);
}

static void test_preshared_key(void)
{
	struct pair p;
	uint8_t psk[32], other[32];

	randombytes_buf(psk, sizeof(psk));
	randombytes_buf(other, sizeof(other));
	pair_init(&p);
	wg_peer_set_preshared_key(p.a_to_b, psk);
	wg_peer_set_preshared_key(p.b_to_a, psk);
	CHECK(handshake(&p, true, T0) == 0, "handshake with equal psk");
	wg_peer_set_preshared_key(p.b_to_a, other);
	CHECK(handshake(&p, true, T0 + 10000) == WG_ERR_DECRYPT,
	      "handshake with different psk fails");
	wg_peer_set_preshared_key(p.b_to_a, NULL);
	wg_peer_set_preshared_key(p.a_to_b, NULL);
	CHECK(handshake(&p, true, T0 + 20000) == 0,
	      "handshake after psk removed");
	pair_free(&p);
}

static void test_cookie_under_load(void)
{
	struct pair p;
	uint8_t init[WG_INITIATION_LEN], init2[WG_INITIATION_LEN];
	uint8_t resp[WG_RESPONSE_LEN], reply[WG_COOKIE_REPLY_LEN];
	uint8_t zero[WG_MAC_LEN] = { 0 };
	struct wg_peer *got;
	uint64_t t = T0;

	pair_init(&p);
	wg_handshake_create_initiation(p.a, p.a_to_b, t, p.wall, init);
	CHECK(wg_check_macs(p.b, init, sizeof(init), &p.a_addr, t, true) ==
		      WG_ERR_COOKIE_REQUIRED,
	      "under load an initiation without mac2 needs a cookie");
	CHECK(wg_cookie_reply_create(p.b, init, sizeof(init), &p.a_addr, t,
				     reply) == WG_OK,
	      "cookie reply created");
	CHECK(wg_message_type(reply, sizeof(reply)) == WG_MSG_COOKIE_REPLY,
	      "cookie reply has its type and length");
	CHECK(wg_cookie_reply_consume(p.a, reply, sizeof(reply), t + 1) ==
		      WG_OK,
	      "cookie reply consumed");
	CHECK(wg_cookie_reply_consume(p.a, reply, sizeof(reply), t + 1) ==
		      WG_ERR_STATE,
	      "cookie reply consumed twice rejected");

	t += WG_REKEY_TIMEOUT_MS;
	p.wall += 5000000000;
	wg_handshake_create_initiation(p.a, p.a_to_b, t, p.wall, init2);
	CHECK(memcmp(init2 + WG_INIT_MAC2, zero, WG_MAC_LEN) != 0,
	      "retried initiation carries mac2");
	CHECK(wg_check_macs(p.b, init2, sizeof(init2), &p.b_addr, t, true) ==
		      WG_ERR_COOKIE_REQUIRED,
	      "mac2 from another source address rejected");
	CHECK(wg_check_macs(p.b, init2, sizeof(init2), &p.a_addr, t, true) ==
		      WG_OK,
	      "mac2 from the cookie's address accepted under load");
	CHECK(wg_cookie_reply_consume(p.a, reply, sizeof(reply), t) ==
		      WG_ERR_UNKNOWN_INDEX,
	      "old cookie reply for a dropped handshake rejected");
	CHECK(wg_handshake_consume_initiation(p.b, init2, sizeof(init2), t,
					      &got) == WG_OK &&
		      wg_handshake_create_response(p.b, got, t, resp) ==
			      WG_OK &&
		      wg_handshake_consume_response(p.a, resp, sizeof(resp), t,
						    &got) == WG_OK,
	      "handshake completes after the cookie");

	/* A cookie is used for WG_COOKIE_REFRESH_TIME_MS less 5 s. */
	t += WG_COOKIE_REFRESH_TIME_MS - WG_COOKIE_LATENCY_MS;
	p.wall += 200000000000;
	wg_handshake_create_initiation(p.a, p.a_to_b, t, p.wall, init);
	CHECK(memcmp(init + WG_INIT_MAC2, zero, WG_MAC_LEN) == 0,
	      "stale cookie gives an empty mac2");
	CHECK(wg_check_macs(p.b, init, sizeof(init), &p.a_addr, t, true) ==
		      WG_ERR_COOKIE_REQUIRED,
	      "stale cookie needs a new one");
	CHECK(wg_check_macs(p.b, init, sizeof(init), &p.a_addr, t, false) ==
		      WG_OK,
	      "without load mac2 is not checked");
	pair_free(&p);
}

static void test_rekey_rotation(void)
{
	struct pair p;
	uint8_t old_packet[64], plain[64];
	uint32_t first_a, first_b;
	struct wg_peer *got;
	uint64_t next, t = T0 + WG_REKEY_AFTER_TIME_MS;
	ssize_t n;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "first handshake");
	first_a = p.a_to_b->current->index.id;
	first_b = p.b_to_a->current->index.id;

	CHECK(send_data(p.b_to_a, p.a, t, "responder data", &got) == 16,
	      "responder sends at REKEY_AFTER_TIME");
	CHECK(!(wg_peer_timers(p.b_to_a, t, &next) &
		WG_TIMER_SEND_INITIATION),
	      "responder does not rekey on age");
	CHECK(send_data(p.a_to_b, p.b, t - 1, "not yet", &got) == 16,
	      "initiator sends just before REKEY_AFTER_TIME");
	CHECK(!(wg_peer_timers(p.a_to_b, t - 1, &next) &
		WG_TIMER_SEND_INITIATION),
	      "no rekey before REKEY_AFTER_TIME");
	n = wg_encrypt(p.a_to_b, t, old_packet, sizeof(old_packet),
		       (const uint8_t *)"in flight", 9);
	CHECK(n > 0, "initiator sends at REKEY_AFTER_TIME");
	CHECK(wg_peer_timers(p.a_to_b, t, &next) & WG_TIMER_SEND_INITIATION,
	      "initiator rekeys at REKEY_AFTER_TIME");

	CHECK(handshake(&p, true, t + 1) == 0, "rekey handshake");
	CHECK(p.a_to_b->current->index.id != first_a,
	      "initiator has a new current session");
	CHECK(p.a_to_b->previous != NULL, "initiator has a previous session");
	CHECK(p.a_to_b->previous->index.id == first_a,
	      "initiator keeps the old session as previous");
	CHECK(p.b_to_a->current->index.id != first_b,
	      "responder has a new current session");
	CHECK(p.b_to_a->previous->index.id == first_b,
	      "responder keeps the old session as previous");
	CHECK(memcmp(p.a_to_b->current->send_key,
		     p.a_to_b->previous->send_key, WG_KEY_LEN) != 0,
	      "new session has new keys");
	CHECK(wg_decrypt(p.b, old_packet, (size_t)n, t + 2, plain, &got) ==
		      16,
	      "packet from the old session still accepted");
	CHECK(send_data(p.b_to_a, p.a, t + 3, "new keys", &got) == 16,
	      "responder sends on the new session");

	CHECK(handshake(&p, true, t + 10000) == 0, "second rekey");
	CHECK(wg_index_lookup(p.a, first_a) == NULL,
	      "oldest session left the index table");
	CHECK(wg_decrypt(p.b, old_packet, (size_t)n, t + 10001, plain,
			 &got) == WG_ERR_UNKNOWN_INDEX,
	      "packet from a dropped session rejected");
	pair_free(&p);
}

static void test_reject_after_time(void)
{
	struct pair p;
	uint8_t late[64], plain[64];
	struct wg_peer *got;
	uint64_t next, end = T0 + WG_REJECT_AFTER_TIME_MS;
	unsigned actions;
	ssize_t n;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake before expiry");
	n = wg_encrypt(p.a_to_b, end - 1, late, sizeof(late),
		       (const uint8_t *)"late", 4);
	CHECK(n > 0, "sending allowed just before REJECT_AFTER_TIME");
	CHECK(wg_decrypt(p.b, late, (size_t)n, end, plain, &got) ==
		      WG_ERR_EXPIRED,
	      "receiving rejected at REJECT_AFTER_TIME");
	CHECK(!wg_peer_can_send(p.a_to_b, end),
	      "sending rejected at REJECT_AFTER_TIME");

	wg_peer_timers(p.b_to_a, end, &next);
	CHECK(p.b_to_a->current == NULL, "timers free the expired current");
	CHECK(p.b_to_a->previous == NULL, "no previous session remains");
	CHECK(wg_decrypt(p.b, late, (size_t)n, end, plain, &got) ==
		      WG_ERR_UNKNOWN_INDEX,
	      "expired session left the index table");
	CHECK(wg_encrypt(p.a_to_b, end, late, sizeof(late), NULL, 0) ==
		      WG_ERR_NO_KEYPAIR,
	      "encrypt without a session fails");
	actions = wg_peer_timers(p.a_to_b, end, &next);
	CHECK(actions & WG_TIMER_SEND_INITIATION,
	      "a packet without a session asks for a handshake");
	CHECK(next >= end + WG_REKEY_TIMEOUT_MS, "retry due after the request");
	CHECK(next <= end + WG_REKEY_TIMEOUT_MS + WG_REKEY_TIMEOUT_JITTER_MS,
	      "retry due within REKEY_TIMEOUT plus jitter");

	/* The test never sends that initiation, so by the wipe the attempt
	 * has long failed. */
	actions = wg_peer_timers(p.a_to_b, T0 + WG_WIPE_AFTER_MS, &next);
	CHECK(actions & WG_TIMER_KEYS_WIPED,
	      "keys wiped 3 * REJECT_AFTER_TIME after the session");
	CHECK(actions & WG_TIMER_HANDSHAKE_FAILED,
	      "unanswered handshake given up");
	CHECK(p.a_to_b->current == NULL, "no session after the wipe");
	actions = wg_peer_timers(p.b_to_a, T0 + WG_WIPE_AFTER_MS, &next);
	CHECK(actions == WG_TIMER_KEYS_WIPED, "responder keys wiped too");
	CHECK(next == WG_TIMER_OFF, "nothing pending after the wipe");
	pair_free(&p);
}

static void test_retransmit_and_give_up(void)
{
	struct pair p;
	uint8_t init[WG_INITIATION_LEN];
	uint64_t now = T0, next;
	unsigned actions;
	int sent = 1, rounds = 0;

	pair_init(&p);
	wg_handshake_create_initiation(p.a, p.a_to_b, now, p.wall, init);
	actions = wg_peer_timers(p.a_to_b, now, &next);
	CHECK(actions == 0, "no action right after an initiation");
	CHECK(next >= now + WG_REKEY_TIMEOUT_MS,
	      "retry due no sooner than REKEY_TIMEOUT");
	CHECK(next <= now + WG_REKEY_TIMEOUT_MS + WG_REKEY_TIMEOUT_JITTER_MS,
	      "retry jitter at most 333 ms");
	CHECK(wg_peer_timers(p.a_to_b, next - 1, &next) == 0,
	      "no retry before the deadline");
	for (;;) {
		now = next;
		actions = wg_peer_timers(p.a_to_b, now, &next);
		if (actions & WG_TIMER_HANDSHAKE_FAILED || ++rounds > 40)
			break;
		if (actions & WG_TIMER_SEND_INITIATION) {
			p.wall += 5000000000;
			wg_handshake_create_initiation(p.a, p.a_to_b, now,
						       p.wall, init);
			sent++;
			/* Sending moved the deadlines: ask again. */
			wg_peer_timers(p.a_to_b, now, &next);
		}
	}
	CHECK(actions & WG_TIMER_HANDSHAKE_FAILED, "handshake gives up");
	CHECK(now >= T0 + WG_REKEY_ATTEMPT_TIME_MS,
	      "gives up no sooner than REKEY_ATTEMPT_TIME");
	CHECK(now <= T0 + WG_REKEY_ATTEMPT_TIME_MS + WG_REKEY_TIMEOUT_MS +
			     WG_REKEY_TIMEOUT_JITTER_MS,
	      "gives up within one retry of REKEY_ATTEMPT_TIME");
	CHECK(sent >= 17, "at least 17 initiations sent");
	CHECK(sent <= 19, "at most 19 initiations sent");
	CHECK(!(wg_peer_timers(p.a_to_b, now + 60000, &next) &
		WG_TIMER_SEND_INITIATION),
	      "no initiation after giving up");
	pair_free(&p);
}

/* A daemon that cannot send (no endpoint yet) and keeps only the
 * deadline that wg_peer_timers() returns still sees the retries and the
 * end of the attempt. */
static void test_retry_without_sending(void)
{
	struct pair p;
	uint8_t buf[64];
	uint64_t now = T0, next;
	unsigned actions = 0;
	int requested = 0, rounds = 0;

	pair_init(&p);
	CHECK(wg_encrypt(p.a_to_b, now, buf, sizeof(buf), NULL, 0) ==
		      WG_ERR_NO_KEYPAIR,
	      "no session to send with");
	for (next = now; next != WG_TIMER_OFF && rounds++ < 40;) {
		now = next;
		actions = wg_peer_timers(p.a_to_b, now, &next);
		if (actions & WG_TIMER_SEND_INITIATION)
			requested++;
		if (actions & WG_TIMER_HANDSHAKE_FAILED)
			break;
	}
	CHECK(actions & WG_TIMER_HANDSHAKE_FAILED,
	      "unsent handshake still gives up");
	CHECK(requested >= 17, "initiation requested at every retry");
	CHECK(now >= T0 + WG_REKEY_ATTEMPT_TIME_MS,
	      "unsent handshake gives up after REKEY_ATTEMPT_TIME");
	pair_free(&p);
}

static void test_keepalive_timers(void)
{
	struct pair p;
	uint8_t buf[64], plain[64];
	struct wg_peer *got;
	uint64_t next;
	ssize_t n;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake for keepalives");
	send_data(p.b_to_a, p.a, T0 + 100, "ping", &got);
	CHECK(!(wg_peer_timers(p.a_to_b, T0 + 10099, &next) &
		WG_TIMER_SEND_KEEPALIVE),
	      "no keepalive before KEEPALIVE_TIMEOUT");
	CHECK(wg_peer_timers(p.a_to_b, T0 + 10100, &next) &
		      WG_TIMER_SEND_KEEPALIVE,
	      "keepalive KEEPALIVE_TIMEOUT after unanswered data");
	n = wg_encrypt(p.a_to_b, T0 + 10100, buf, sizeof(buf), NULL, 0);
	CHECK(wg_decrypt(p.b, buf, (size_t)n, T0 + 10100, plain, &got) == 0,
	      "keepalive delivered");
	CHECK(!(wg_peer_timers(p.b_to_a, T0 + 16000, &next) &
		WG_TIMER_SEND_INITIATION),
	      "an answered sender does not rekey");

	send_data(p.b_to_a, p.a, T0 + 20000, "ping", &got);
	send_data(p.a_to_b, p.b, T0 + 21000, "pong", &got);
	CHECK(!(wg_peer_timers(p.a_to_b, T0 + 30000, &next) &
		WG_TIMER_SEND_KEEPALIVE),
	      "data sent cancels the keepalive");

	n = wg_encrypt(p.b_to_a, T0 + 40000, buf, sizeof(buf),
		       (const uint8_t *)"lost", 4);
	CHECK(n > 0, "data sent and lost");
	CHECK(!(wg_peer_timers(p.b_to_a, T0 + 54999, &next) &
		WG_TIMER_SEND_INITIATION),
	      "no handshake before KEEPALIVE plus REKEY_TIMEOUT");
	CHECK(wg_peer_timers(p.b_to_a, T0 + 55000 + WG_REKEY_TIMEOUT_JITTER_MS,
			     &next) &
		      WG_TIMER_SEND_INITIATION,
	      "handshake after unanswered data");
	pair_free(&p);
}

static void test_persistent_keepalive(void)
{
	struct pair p;
	uint8_t buf[64];
	uint64_t next;

	pair_init(&p);
	wg_peer_set_persistent_keepalive(p.a_to_b, 25);
	CHECK(wg_peer_timers(p.a_to_b, T0, &next) & WG_TIMER_SEND_KEEPALIVE,
	      "persistent keepalive fires at once");
	CHECK(next == T0 + 25000, "next persistent keepalive already due");
	CHECK(wg_encrypt(p.a_to_b, T0, buf, sizeof(buf), NULL, 0) ==
		      WG_ERR_NO_KEYPAIR,
	      "keepalive without a session fails");
	CHECK(wg_peer_timers(p.a_to_b, T0, &next) & WG_TIMER_SEND_INITIATION,
	      "keepalive without a session asks for a handshake");
	CHECK(handshake(&p, true, T0) == 0, "handshake for persistent test");
	CHECK(!(wg_peer_timers(p.a_to_b, T0 + 24999, &next) &
		WG_TIMER_SEND_KEEPALIVE),
	      "no persistent keepalive before the interval");
	CHECK(wg_peer_timers(p.a_to_b, T0 + 25000, &next) &
		      WG_TIMER_SEND_KEEPALIVE,
	      "persistent keepalive after the interval");
	wg_peer_set_persistent_keepalive(p.a_to_b, 0);
	CHECK(!(wg_peer_timers(p.a_to_b, T0 + 90000, &next) &
		WG_TIMER_SEND_KEEPALIVE),
	      "persistent keepalive off");
	pair_free(&p);
}

static void test_private_key_change(void)
{
	struct pair p;
	uint8_t key[32], pub[32], a_pub[32];
	struct wg_peer *peer;
	int count = 0;

	pair_init(&p);
	CHECK(handshake(&p, true, T0) == 0, "handshake before key change");
	wg_dh_generate(key, pub);
	CHECK(wg_device_set_private_key(p.a, key, NULL) == 0,
	      "private key changed");
	CHECK(!wg_peer_can_send(p.a_to_b, T0), "key change drops sessions");
	CHECK(handshake(&p, true, T0 + 10000) == WG_ERR_UNKNOWN_PEER,
	      "old peer entry does not match the new key");
	wg_peer_remove(p.b, p.b_to_a);
	wg_device_public_key(p.a, a_pub);
	CHECK(memcmp(a_pub, pub, 32) == 0, "new public key derived");
	p.b_to_a = wg_peer_add(p.b, a_pub, NULL);
	CHECK(handshake(&p, true, T0 + 20000) == 0,
	      "handshake with the new key");
	for (peer = wg_peer_next(p.b, NULL); peer != NULL;
	     peer = wg_peer_next(p.b, peer))
		count++;
	CHECK(count == 1, "one peer after remove and add");
	sodium_memzero(key, sizeof(key));
	pair_free(&p);
}

int main(void)
{
	if (sodium_init() < 0) {
		printf("Bail out! sodium_init failed\n");
		return 1;
	}
	test_message_type();
	test_handshake_steps();
	test_data_both_ways();
	test_replay_window();
	test_replay_bitmap();
	test_tampering();
	test_mac1_and_replayed_initiation();
	test_unknown_peer();
	test_preshared_key();
	test_cookie_under_load();
	test_rekey_rotation();
	test_reject_after_time();
	test_retransmit_and_give_up();
	test_retry_without_sending();
	test_keepalive_timers();
	test_persistent_keepalive();
	test_private_key_change();
	return unit_done();
}
