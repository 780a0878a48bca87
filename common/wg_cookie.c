/*
 * mac1, mac2 and cookie replies: the handshake's defence against floods.
 * mac1 proves that the sender has our public key.  Under load, mac2 proves
 * that it received a cookie at its source address, which ties the message
 * to an address that a per-address rate limit can then count.
 */
#include <string.h>

#include <sodium.h>

#include "wg_internal.h"

/* Source address bytes that a cookie covers: address then port. */
#define WG_COOKIE_SOURCE_MAX (16 + 2)

/* Adds mac1 and mac2 to the last 32 bytes of a message for peer. */
void wg_macs_add(struct wg_peer *peer, uint8_t *msg, size_t len,
		 uint64_t now_ms)
{
	uint8_t *mac1 = msg + len - 2 * WG_MAC_LEN;
	uint8_t *mac2 = msg + len - WG_MAC_LEN;
	bool cookie_fresh;

	wg_mac(mac1, peer->mac1_key, WG_HASH_LEN, msg, len - 2 * WG_MAC_LEN);
	memcpy(peer->last_mac1, mac1, WG_MAC_LEN);
	peer->mac1_sent = true;

	cookie_fresh = peer->cookie_valid &&
		       now_ms - peer->cookie_received_ms <
			       WG_COOKIE_REFRESH_TIME_MS - WG_COOKIE_LATENCY_MS;
	if (cookie_fresh)
		wg_mac(mac2, peer->cookie, WG_MAC_LEN, msg, len - WG_MAC_LEN);
	else
		memset(mac2, 0, WG_MAC_LEN);
}

bool wg_mac1_valid(const struct wg_device *dev, const uint8_t *msg,
		   size_t len)
{
	uint8_t expected[WG_MAC_LEN];

	wg_mac(expected, dev->mac1_key, WG_HASH_LEN, msg,
	       len - 2 * WG_MAC_LEN);
	return sodium_memcmp(expected, msg + len - 2 * WG_MAC_LEN,
			     WG_MAC_LEN) == 0;
}

/* Writes the bytes of src that a cookie covers; returns their count or 0
 * for an endpoint that is neither IPv4 nor IPv6. */
static size_t wg_cookie_source(uint8_t out[WG_COOKIE_SOURCE_MAX],
			       const union endpoint *src)
{
	switch (src->sa.sa_family) {
	case AF_INET:
		memcpy(out, &src->in.sin_addr, 4);
		memcpy(out + 4, &src->in.sin_port, 2);
		return 6;
	case AF_INET6:
		memcpy(out, &src->in6.sin6_addr, 16);
		memcpy(out + 16, &src->in6.sin6_port, 2);
		return 18;
	}
	return 0;
}

/*
 * Computes the cookie for src: MAC(secret, address || port), under a
 * random secret replaced every WG_COOKIE_REFRESH_TIME_MS.  Returns -1 for
 * an unusable src.
 */
static int wg_cookie_make(struct wg_device *dev, const union endpoint *src,
			  uint64_t now_ms, uint8_t cookie[WG_MAC_LEN])
{
	uint8_t source[WG_COOKIE_SOURCE_MAX];
	size_t len;

	len = wg_cookie_source(source, src);
	if (len == 0)
		return -1;
	if (!dev->has_cookie_secret ||
	    now_ms - dev->cookie_secret_ms >= WG_COOKIE_REFRESH_TIME_MS) {
		randombytes_buf(dev->cookie_secret, sizeof(dev->cookie_secret));
		dev->cookie_secret_ms = now_ms;
		dev->has_cookie_secret = true;
	}
	wg_mac(cookie, dev->cookie_secret, sizeof(dev->cookie_secret), source,
	       len);
	return 0;
}

static bool wg_is_handshake(const uint8_t *msg, size_t len)
{
	int type = wg_message_type(msg, len);

	return type == WG_MSG_INITIATION || type == WG_MSG_RESPONSE;
}

int wg_check_macs(struct wg_device *dev, const uint8_t *msg, size_t len,
		  const union endpoint *src, uint64_t now_ms, bool under_load)
{
	uint8_t cookie[WG_MAC_LEN];
	uint8_t expected[WG_MAC_LEN];
	int match;

	if (!wg_is_handshake(msg, len))
		return WG_ERR_MALFORMED;
	if (!wg_mac1_valid(dev, msg, len))
		return WG_ERR_MAC1;
	if (!under_load)
		return WG_OK;
	if (wg_cookie_make(dev, src, now_ms, cookie) != 0)
		return WG_ERR_MALFORMED;
	wg_mac(expected, cookie, sizeof(cookie), msg, len - WG_MAC_LEN);
	match = sodium_memcmp(expected, msg + len - WG_MAC_LEN, WG_MAC_LEN);
	sodium_memzero(cookie, sizeof(cookie));
	return match == 0 ? WG_OK : WG_ERR_COOKIE_REQUIRED;
}

int wg_cookie_reply_create(struct wg_device *dev, const uint8_t *msg,
			   size_t len, const union endpoint *src,
			   uint64_t now_ms, uint8_t out[WG_COOKIE_REPLY_LEN])
{
	uint8_t cookie[WG_MAC_LEN];
	const uint8_t *mac1;

	if (!wg_is_handshake(msg, len))
		return WG_ERR_MALFORMED;
	if (!wg_mac1_valid(dev, msg, len))
		return WG_ERR_MAC1;
	if (wg_cookie_make(dev, src, now_ms, cookie) != 0)
		return WG_ERR_MALFORMED;

	memset(out, 0, WG_COOKIE_REPLY_LEN);
	out[0] = WG_MSG_COOKIE_REPLY;
	/* Both handshake messages carry their sender index at offset 4. */
	memcpy(out + WG_COOKIE_RECEIVER, msg + WG_INIT_SENDER, 4);
	randombytes_buf(out + WG_COOKIE_NONCE, WG_COOKIE_NONCE_LEN);
	/* The associated data is the message's mac1, so only the sender of
	 * that very message can use the reply. */
	mac1 = msg + len - 2 * WG_MAC_LEN;
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + WG_COOKIE_ENCRYPTED, NULL, cookie, sizeof(cookie), mac1,
		WG_MAC_LEN, NULL, out + WG_COOKIE_NONCE, dev->cookie_key);
	sodium_memzero(cookie, sizeof(cookie));
	return WG_OK;
}

int wg_cookie_reply_consume(struct wg_device *dev, const uint8_t *msg,
			    size_t len, uint64_t now_ms)
{
	struct wg_index *entry;
	struct wg_peer *peer;
	uint8_t cookie[WG_MAC_LEN];

	if (wg_message_type(msg, len) != WG_MSG_COOKIE_REPLY)
		return WG_ERR_MALFORMED;
	entry = wg_index_lookup(dev, wg_get_le32(msg + WG_COOKIE_RECEIVER));
	if (entry == NULL)
		return WG_ERR_UNKNOWN_INDEX;
	peer = entry->peer;
	if (!peer->mac1_sent)
		return WG_ERR_STATE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    cookie, NULL, NULL, msg + WG_COOKIE_ENCRYPTED,
		    WG_MAC_LEN + WG_TAG_LEN, peer->last_mac1, WG_MAC_LEN,
		    msg + WG_COOKIE_NONCE, peer->cookie_key) != 0)
		return WG_ERR_DECRYPT;
	memcpy(peer->cookie, cookie, WG_MAC_LEN);
	sodium_memzero(cookie, sizeof(cookie));
	peer->cookie_received_ms = now_ms;
	peer->cookie_valid = true;
	peer->mac1_sent = false;
	return WG_OK;
}
