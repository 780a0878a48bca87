/*
 * The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard runs it:
 * an initiation (ephemeral key, encrypted static key, encrypted TAI64N
 * timestamp) and a response (ephemeral key, empty AEAD payload), after
 * which both sides hold a pair of transport keys.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wg_internal.h"

int wg_message_type(const uint8_t *msg, size_t len)
{
	if (len < 4 || msg[1] != 0 || msg[2] != 0 || msg[3] != 0)
		return 0;
	switch (msg[0]) {
	case WG_MSG_INITIATION:
		return len == WG_INITIATION_LEN ? WG_MSG_INITIATION : 0;
	case WG_MSG_RESPONSE:
		return len == WG_RESPONSE_LEN ? WG_MSG_RESPONSE : 0;
	case WG_MSG_COOKIE_REPLY:
		return len == WG_COOKIE_REPLY_LEN ? WG_MSG_COOKIE_REPLY : 0;
	case WG_MSG_TRANSPORT:
		return len >= WG_TRANSPORT_MIN_LEN ? WG_MSG_TRANSPORT : 0;
	}
	return 0;
}

/* H = HASH(H || data) */
static void wg_mix_hash(uint8_t hash[WG_HASH_LEN], const uint8_t *data,
			size_t len)
{
	wg_hash(hash, hash, WG_HASH_LEN, data, len);
}

/* C = KDF1(C, data) */
static void wg_mix_key(uint8_t chaining_key[WG_HASH_LEN], const uint8_t *data,
		       size_t len)
{
	wg_kdf(chaining_key, NULL, NULL, chaining_key, data, len);
}

/* C = KDF1(C, DH(private, public)), or with key non-NULL
 * (C, key) = KDF2(C, DH(private, public)).  Returns -1 for a zero DH. */
static int wg_mix_dh(uint8_t chaining_key[WG_HASH_LEN], uint8_t *key,
		     const uint8_t private_key[WG_KEY_LEN],
		     const uint8_t public_key[WG_KEY_LEN])
{
	uint8_t shared[WG_KEY_LEN];

	if (wg_dh(shared, private_key, public_key) != 0)
		return -1;
	wg_kdf(chaining_key, key, NULL, chaining_key, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

/*
 * Derives the transport keys from the final chaining key:
 * (T_send_i = T_recv_r, T_recv_i = T_send_r) = KDF2(C, empty).
 */
static struct wg_keypair *wg_keypair_derive(struct wg_peer *peer,
					    const uint8_t *chaining_key,
					    bool initiator, uint64_t now_ms)
{
	struct wg_keypair *kp;
	uint8_t first[WG_KEY_LEN];
	uint8_t second[WG_KEY_LEN];

	kp = calloc(1, sizeof(*kp));
	if (kp == NULL)
		return NULL;
	wg_kdf(first, second, NULL, chaining_key, NULL, 0);
	memcpy(kp->send_key, initiator ? first : second, WG_KEY_LEN);
	memcpy(kp->receive_key, initiator ? second : first, WG_KEY_LEN);
	sodium_memzero(first, sizeof(first));
	sodium_memzero(second, sizeof(second));
	kp->index.kind = WG_INDEX_KEYPAIR;
	kp->index.peer = peer;
	kp->index.keypair = kp;
	kp->initiator = initiator;
	kp->created_ms = now_ms;
	return kp;
}

/* Writes the encrypted static key and timestamp of an initiation. */
static int wg_initiation_encrypt(struct wg_device *dev, struct wg_peer *peer,
				 uint64_t wall_ns, uint8_t *out)
{
	struct wg_handshake *hs = &peer->handshake;
	uint8_t key[WG_KEY_LEN];
	uint8_t timestamp[WG_TIMESTAMP_LEN];

	if (wg_mix_dh(hs->chaining_key, key, hs->ephemeral_private,
		      peer->public_key) != 0)
		return WG_ERR_WEAK_KEY;
	wg_aead_encrypt(out + WG_INIT_STATIC, key, 0, dev->public_key,
			WG_KEY_LEN, hs->hash, WG_HASH_LEN);
	wg_mix_hash(hs->hash, out + WG_INIT_STATIC, WG_KEY_LEN + WG_TAG_LEN);

	wg_kdf(hs->chaining_key, key, NULL, hs->chaining_key,
	       peer->static_static, WG_KEY_LEN);
	wg_tai64n(timestamp, wall_ns);
	wg_aead_encrypt(out + WG_INIT_TIMESTAMP, key, 0, timestamp,
			sizeof(timestamp), hs->hash, WG_HASH_LEN);
	wg_mix_hash(hs->hash, out + WG_INIT_TIMESTAMP,
		    WG_TIMESTAMP_LEN + WG_TAG_LEN);
	sodium_memzero(key, sizeof(key));
	return WG_OK;
}

int wg_handshake_create_initiation(struct wg_device *dev,
				   struct wg_peer *peer, uint64_t now_ms,
				   uint64_t wall_ns,
				   uint8_t out[WG_INITIATION_LEN])
{
	struct wg_handshake *hs = &peer->handshake;
	uint8_t *ephemeral = out + WG_INIT_EPHEMERAL;
	int result;

	if (!peer->static_static_valid)
		return WG_ERR_WEAK_KEY;
	wg_handshake_clear(dev, hs);
	memset(out, 0, WG_INITIATION_LEN);
	out[0] = WG_MSG_INITIATION;

	memcpy(hs->chaining_key, dev->initial_chaining_key, WG_HASH_LEN);
	memcpy(hs->hash, peer->initial_hash, WG_HASH_LEN);
	wg_dh_generate(hs->ephemeral_private, ephemeral);
	wg_mix_key(hs->chaining_key, ephemeral, WG_KEY_LEN);
	wg_mix_hash(hs->hash, ephemeral, WG_KEY_LEN);
	result = wg_initiation_encrypt(dev, peer, wall_ns, out);
	if (result != WG_OK) {
		wg_handshake_clear(dev, hs);
		return result;
	}

	wg_index_insert(dev, &hs->index);
	wg_put_le32(out + WG_INIT_SENDER, hs->index.id);
	wg_macs_add(peer, out, WG_INITIATION_LEN, now_ms);
	hs->state = WG_HANDSHAKE_INITIATION_CREATED;
	wg_timers_handshake_sent(peer, now_ms, true);
	return WG_OK;
}

/*
 * Checks the timestamp and the rate of a decrypted initiation from peer.
 * The timestamp must grow, so a recorded initiation cannot be replayed,
 * and a peer gets at most one initiation consumed per
 * WG_INITIATION_MIN_INTERVAL_MS, so a flood of fresh ones costs little.
 */
static int wg_initiation_acceptable(const struct wg_peer *peer,
				    const uint8_t *timestamp, uint64_t now_ms)
{
	if (memcmp(timestamp, peer->last_timestamp, WG_TIMESTAMP_LEN) <= 0)
		return WG_ERR_REPLAY;
	if (peer->has_consumed_initiation &&
	    now_ms - peer->last_initiation_consumed_ms <
		    WG_INITIATION_MIN_INTERVAL_MS)
		return WG_ERR_FLOOD;
	return WG_OK;
}

/* The Noise state of a received initiation, before it is accepted. */
struct wg_initiation_state {
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t timestamp[WG_TIMESTAMP_LEN];
	struct wg_peer *peer;
};

/* Decrypts an initiation into st and finds its peer. */
static int wg_initiation_decrypt(struct wg_device *dev, const uint8_t *msg,
				 struct wg_initiation_state *st)
{
	const uint8_t *ephemeral = msg + WG_INIT_EPHEMERAL;
	uint8_t key[WG_KEY_LEN];
	uint8_t static_public[WG_KEY_LEN];
	int result = WG_ERR_DECRYPT;

	memcpy(st->chaining_key, dev->initial_chaining_key, WG_HASH_LEN);
	memcpy(st->hash, dev->initial_hash, WG_HASH_LEN);
	wg_mix_key(st->chaining_key, ephemeral, WG_KEY_LEN);
	wg_mix_hash(st->hash, ephemeral, WG_KEY_LEN);
	if (wg_mix_dh(st->chaining_key, key, dev->private_key, ephemeral) != 0)
		return WG_ERR_WEAK_KEY;
	if (wg_aead_decrypt(static_public, key, 0, msg + WG_INIT_STATIC,
			    WG_KEY_LEN + WG_TAG_LEN, st->hash,
			    WG_HASH_LEN) != 0)
		goto out;
	wg_mix_hash(st->hash, msg + WG_INIT_STATIC, WG_KEY_LEN + WG_TAG_LEN);

	st->peer = wg_peer_lookup(dev, static_public);
	result = WG_ERR_UNKNOWN_PEER;
	if (st->peer == NULL || !st->peer->static_static_valid)
		goto out;
	wg_kdf(st->chaining_key, key, NULL, st->chaining_key,
	       st->peer->static_static, WG_KEY_LEN);
	result = WG_ERR_DECRYPT;
	if (wg_aead_decrypt(st->timestamp, key, 0, msg + WG_INIT_TIMESTAMP,
			    WG_TIMESTAMP_LEN + WG_TAG_LEN, st->hash,
			    WG_HASH_LEN) != 0)
		goto out;
	wg_mix_hash(st->hash, msg + WG_INIT_TIMESTAMP,
		    WG_TIMESTAMP_LEN + WG_TAG_LEN);
	result = WG_OK;
out:
	sodium_memzero(key, sizeof(key));
	return result;
}

int wg_handshake_consume_initiation(struct wg_device *dev, const uint8_t *msg,
				    size_t len, uint64_t now_ms,
				    struct wg_peer **peer_out)
{
	struct wg_initiation_state st;
	struct wg_handshake *hs;
	struct wg_peer *peer;
	int result;

	if (wg_message_type(msg, len) != WG_MSG_INITIATION)
		return WG_ERR_MALFORMED;
	if (!wg_mac1_valid(dev, msg, len))
		return WG_ERR_MAC1;
	memset(&st, 0, sizeof(st));
	result = wg_initiation_decrypt(dev, msg, &st);
	if (result == WG_OK)
		result = wg_initiation_acceptable(st.peer, st.timestamp,
						  now_ms);
	if (result != WG_OK)
		goto out;

	peer = st.peer;
	memcpy(peer->last_timestamp, st.timestamp, WG_TIMESTAMP_LEN);
	peer->last_initiation_consumed_ms = now_ms;
	peer->has_consumed_initiation = true;
	/* A handshake we started ourselves gives way to the peer's. */
	hs = &peer->handshake;
	wg_handshake_clear(dev, hs);
	hs->state = WG_HANDSHAKE_INITIATION_CONSUMED;
	hs->remote_index = wg_get_le32(msg + WG_INIT_SENDER);
	memcpy(hs->remote_ephemeral, msg + WG_INIT_EPHEMERAL, WG_KEY_LEN);
	memcpy(hs->chaining_key, st.chaining_key, WG_HASH_LEN);
	memcpy(hs->hash, st.hash, WG_HASH_LEN);
	wg_timers_authenticated_received(peer, now_ms);
	*peer_out = peer;
out:
	sodium_memzero(&st, sizeof(st));
	return result;
}

/*
 * Mixes the responder's ephemeral DH results and the preshared key into
 * chaining_key and hash and returns the key for the empty payload:
 * C = KDF1(C, DH(e, e')), C = KDF1(C, DH(e, s')) from the responder's
 * side, then (C, tau, key) = KDF3(C, psk) and H = HASH(H || tau).
 */
static int wg_response_keys(uint8_t *chaining_key, uint8_t *hash,
			    uint8_t key[WG_KEY_LEN],
			    const uint8_t *preshared_key,
			    const uint8_t *private_a, const uint8_t *public_a,
			    const uint8_t *private_b, const uint8_t *public_b)
{
	uint8_t tau[WG_HASH_LEN];

	if (wg_mix_dh(chaining_key, NULL, private_a, public_a) != 0 ||
	    wg_mix_dh(chaining_key, NULL, private_b, public_b) != 0)
		return WG_ERR_WEAK_KEY;
	wg_kdf(chaining_key, tau, key, chaining_key, preshared_key,
	       WG_KEY_LEN);
	wg_mix_hash(hash, tau, sizeof(tau));
	sodium_memzero(tau, sizeof(tau));
	return WG_OK;
}

int wg_handshake_create_response(struct wg_device *dev, struct wg_peer *peer,
				 uint64_t now_ms,
				 uint8_t out[WG_RESPONSE_LEN])
{
	struct wg_handshake *hs = &peer->handshake;
	uint8_t *ephemeral = out + WG_RESP_EPHEMERAL;
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t key[WG_KEY_LEN];
	struct wg_keypair *kp;
	int result;

	if (hs->state != WG_HANDSHAKE_INITIATION_CONSUMED)
		return WG_ERR_STATE;
	memset(out, 0, WG_RESPONSE_LEN);
	out[0] = WG_MSG_RESPONSE;
	wg_dh_generate(ephemeral_private, ephemeral);
	wg_mix_key(hs->chaining_key, ephemeral, WG_KEY_LEN);
	wg_mix_hash(hs->hash, ephemeral, WG_KEY_LEN);
	result = wg_response_keys(hs->chaining_key, hs->hash, key,
				  peer->preshared_key, ephemeral_private,
				  hs->remote_ephemeral, ephemeral_private,
				  peer->public_key);
	sodium_memzero(ephemeral_private, sizeof(ephemeral_private));
	if (result != WG_OK)
		goto fail;
	wg_aead_encrypt(out + WG_RESP_EMPTY, key, 0, NULL, 0, hs->hash,
			WG_HASH_LEN);
	wg_mix_hash(hs->hash, out + WG_RESP_EMPTY, WG_TAG_LEN);

	result = WG_ERR_NOMEM;
	kp = wg_keypair_derive(peer, hs->chaining_key, false, now_ms);
	if (kp == NULL)
		goto fail;
	kp->remote_index = hs->remote_index;
	wg_index_insert(dev, &kp->index);
	wg_put_le32(out + WG_RESP_SENDER, kp->index.id);
	wg_put_le32(out + WG_RESP_RECEIVER, hs->remote_index);
	wg_macs_add(peer, out, WG_RESPONSE_LEN, now_ms);
	wg_handshake_clear(dev, hs);
	wg_keypair_install(peer, kp);
	wg_timers_handshake_sent(peer, now_ms, false);
	wg_timers_session_derived(peer, now_ms);
	result = WG_OK;
fail:
	sodium_memzero(key, sizeof(key));
	if (result != WG_OK)
		wg_handshake_clear(dev, hs);
	return result;
}

/* Decrypts a response to peer's pending initiation and leaves the final
 * chaining key in chaining_key.  Changes no state. */
static int wg_response_decrypt(struct wg_device *dev, struct wg_peer *peer,
			       const uint8_t *msg,
			       uint8_t chaining_key[WG_HASH_LEN])
{
	struct wg_handshake *hs = &peer->handshake;
	const uint8_t *ephemeral = msg + WG_RESP_EPHEMERAL;
	uint8_t hash[WG_HASH_LEN];
	uint8_t key[WG_KEY_LEN];
	uint8_t empty[1];
	int result;

	memcpy(chaining_key, hs->chaining_key, WG_HASH_LEN);
	memcpy(hash, hs->hash, WG_HASH_LEN);
	wg_mix_key(chaining_key, ephemeral, WG_KEY_LEN);
	wg_mix_hash(hash, ephemeral, WG_KEY_LEN);
	result = wg_response_keys(chaining_key, hash, key,
				  peer->preshared_key, hs->ephemeral_private,
				  ephemeral, dev->private_key, ephemeral);
	if (result == WG_OK &&
	    wg_aead_decrypt(empty, key, 0, msg + WG_RESP_EMPTY, WG_TAG_LEN,
			    hash, WG_HASH_LEN) != 0)
		result = WG_ERR_DECRYPT;
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(key, sizeof(key));
	return result;
}

int wg_handshake_consume_response(struct wg_device *dev, const uint8_t *msg,
				  size_t len, uint64_t now_ms,
				  struct wg_peer **peer_out)
{
	uint8_t chaining_key[WG_HASH_LEN];
	struct wg_index *entry;
	struct wg_peer *peer;
	struct wg_keypair *kp;
	int result;

	if (wg_message_type(msg, len) != WG_MSG_RESPONSE)
		return WG_ERR_MALFORMED;
	if (!wg_mac1_valid(dev, msg, len))
		return WG_ERR_MAC1;
	entry = wg_index_lookup(dev, wg_get_le32(msg + WG_RESP_RECEIVER));
	if (entry == NULL || entry->kind != WG_INDEX_HANDSHAKE)
		return WG_ERR_UNKNOWN_INDEX;
	peer = entry->peer;
	if (peer->handshake.state != WG_HANDSHAKE_INITIATION_CREATED)
		return WG_ERR_STATE;
	result = wg_response_decrypt(dev, peer, msg, chaining_key);
	if (result != WG_OK)
		goto out;

	result = WG_ERR_NOMEM;
	kp = wg_keypair_derive(peer, chaining_key, true, now_ms);
	if (kp == NULL)
		goto out;
	kp->remote_index = wg_get_le32(msg + WG_RESP_SENDER);
	/* The responder sends to the index our initiation announced. */
	kp->index.id = peer->handshake.index.id;
	wg_index_remove(dev, &peer->handshake.index);
	wg_index_link(dev, &kp->index);
	wg_handshake_clear(dev, &peer->handshake);
	wg_keypair_install(peer, kp);
	wg_timers_authenticated_received(peer, now_ms);
	wg_timers_session_derived(peer, now_ms);
	wg_timers_handshake_complete(peer, now_ms);
	/* Confirm the session to the responder at once: it cannot send on
	 * it until our first transport message arrives. */
	peer->keepalive_at = now_ms;
	*peer_out = peer;
	result = WG_OK;
out:
	sodium_memzero(chaining_key, sizeof(chaining_key));
	return result;
}
