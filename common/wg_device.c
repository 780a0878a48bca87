/* The device, its peers and the table of receiver indexes. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wg_internal.h"

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
static const char label_mac1[] = "mac1----";
static const char label_cookie[] = "cookie--";

const char *wg_result_name(int result)
{
	switch (result) {
	case WG_OK:
		return "ok";
	case WG_ERR_MALFORMED:
		return "malformed message";
	case WG_ERR_MAC1:
		return "invalid mac1";
	case WG_ERR_COOKIE_REQUIRED:
		return "cookie required";
	case WG_ERR_DECRYPT:
		return "authentication failed";
	case WG_ERR_UNKNOWN_PEER:
		return "unknown peer";
	case WG_ERR_UNKNOWN_INDEX:
		return "unknown receiver index";
	case WG_ERR_REPLAY:
		return "replayed message";
	case WG_ERR_FLOOD:
		return "initiation flood";
	case WG_ERR_STATE:
		return "unexpected message";
	case WG_ERR_WEAK_KEY:
		return "weak key";
	case WG_ERR_NO_KEYPAIR:
		return "no session";
	case WG_ERR_EXPIRED:
		return "session expired";
	case WG_ERR_BUFFER:
		return "buffer too small";
	case WG_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown result";
}

/* HASH(label || key), the mac1 and cookie keys of one public key. */
static void wg_label_key(uint8_t out[WG_HASH_LEN], const char *label,
			 const uint8_t key[WG_KEY_LEN])
{
	wg_hash(out, (const uint8_t *)label, strlen(label), key, WG_KEY_LEN);
}

/* Derives everything that depends on the device's private key alone. */
static int wg_device_load_key(struct wg_device *dev,
			      const uint8_t private_key[WG_KEY_LEN])
{
	uint8_t public_key[WG_KEY_LEN];
	uint8_t h0[WG_HASH_LEN];

	if (crypto_scalarmult_base(public_key, private_key) != 0 ||
	    sodium_is_zero(public_key, WG_KEY_LEN))
		return -1;
	memcpy(dev->private_key, private_key, WG_KEY_LEN);
	memcpy(dev->public_key, public_key, WG_KEY_LEN);

	wg_hash(dev->initial_chaining_key, (const uint8_t *)construction,
		strlen(construction), NULL, 0);
	wg_hash(h0, dev->initial_chaining_key, WG_HASH_LEN,
		(const uint8_t *)identifier, strlen(identifier));
	wg_hash(dev->initial_hash, h0, sizeof(h0), public_key, WG_KEY_LEN);
	wg_label_key(dev->mac1_key, label_mac1, public_key);
	wg_label_key(dev->cookie_key, label_cookie, public_key);
	return 0;
}

struct wg_device *wg_device_new(const uint8_t private_key[WG_KEY_LEN],
				struct avpn_error *err)
{
	struct wg_device *dev;

	if (sodium_init() < 0) {
		error_set(err, "libsodium failed to initialise");
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		error_set(err, "out of memory for the WireGuard device");
		return NULL;
	}
	if (wg_device_load_key(dev, private_key) != 0) {
		free(dev);
		error_set(err, "invalid private key: its public key is zero");
		return NULL;
	}
	return dev;
}

void wg_device_free(struct wg_device *dev)
{
	if (dev == NULL)
		return;
	while (dev->peers != NULL)
		wg_peer_remove(dev, dev->peers);
	sodium_memzero(dev, sizeof(*dev));
	free(dev);
}

void wg_device_public_key(const struct wg_device *dev,
			  uint8_t public_key[WG_KEY_LEN])
{
	memcpy(public_key, dev->public_key, WG_KEY_LEN);
}

/* Computes what a peer's handshakes need from both static keys. */
static void wg_peer_precompute(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	uint8_t h0[WG_HASH_LEN];

	peer->static_static_valid =
		wg_dh(peer->static_static, dev->private_key,
		      peer->public_key) == 0 &&
		sodium_memcmp(peer->public_key, dev->public_key,
			      WG_KEY_LEN) != 0;
	wg_hash(h0, dev->initial_chaining_key, WG_HASH_LEN,
		(const uint8_t *)identifier, strlen(identifier));
	wg_hash(peer->initial_hash, h0, sizeof(h0), peer->public_key,
		WG_KEY_LEN);
}

int wg_device_set_private_key(struct wg_device *dev,
			      const uint8_t private_key[WG_KEY_LEN],
			      struct avpn_error *err)
{
	struct wg_peer *peer;

	if (wg_device_load_key(dev, private_key) != 0)
		return error_set(err, "invalid private key: its public key "
				 "is zero");
	for (peer = dev->peers; peer != NULL; peer = peer->list_next) {
		wg_peer_clear_keys(peer);
		wg_peer_precompute(peer);
		peer->cookie_valid = false;
		peer->mac1_sent = false;
	}
	return 0;
}

static size_t wg_peer_bucket(const uint8_t public_key[WG_KEY_LEN])
{
	/* Public keys are uniformly random, so their first bytes hash well. */
	return wg_get_le32(public_key) & (WG_PEER_BUCKETS - 1);
}

struct wg_peer *wg_peer_lookup(const struct wg_device *dev,
			       const uint8_t public_key[WG_KEY_LEN])
{
	struct wg_peer *peer;

	peer = dev->peer_buckets[wg_peer_bucket(public_key)];
	for (; peer != NULL; peer = peer->bucket_next)
		if (memcmp(peer->public_key, public_key, WG_KEY_LEN) == 0)
			return peer;
	return NULL;
}

static void wg_peer_timers_init(struct wg_peer *peer)
{
	peer->retransmit_at = WG_TIMER_OFF;
	peer->new_handshake_at = WG_TIMER_OFF;
	peer->keepalive_at = WG_TIMER_OFF;
	peer->persistent_keepalive_at = WG_TIMER_OFF;
	peer->wipe_at = WG_TIMER_OFF;
}

struct wg_peer *wg_peer_add(struct wg_device *dev,
			    const uint8_t public_key[WG_KEY_LEN],
			    struct avpn_error *err)
{
	struct wg_peer *peer;
	size_t bucket;

	if (wg_peer_lookup(dev, public_key) != NULL) {
		error_set(err, "duplicate peer public key");
		return NULL;
	}
	if (memcmp(public_key, dev->public_key, WG_KEY_LEN) == 0) {
		error_set(err, "peer public key is the device's own key");
		return NULL;
	}
	peer = calloc(1, sizeof(*peer));
	if (peer == NULL) {
		error_set(err, "out of memory for a peer");
		return NULL;
	}
	peer->dev = dev;
	memcpy(peer->public_key, public_key, WG_KEY_LEN);
	wg_peer_precompute(peer);
	if (!peer->static_static_valid) {
		sodium_memzero(peer, sizeof(*peer));
		free(peer);
		error_set(err, "invalid peer public key: a low-order point");
		return NULL;
	}
	wg_label_key(peer->mac1_key, label_mac1, public_key);
	wg_label_key(peer->cookie_key, label_cookie, public_key);
	wg_peer_timers_init(peer);
	peer->handshake.index.kind = WG_INDEX_HANDSHAKE;
	peer->handshake.index.peer = peer;

	bucket = wg_peer_bucket(public_key);
	peer->bucket_next = dev->peer_buckets[bucket];
	dev->peer_buckets[bucket] = peer;
	peer->list_next = dev->peers;
	dev->peers = peer;
	return peer;
}

void wg_peer_remove(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **p;

	wg_peer_clear_keys(peer);
	for (p = &dev->peer_buckets[wg_peer_bucket(peer->public_key)];
	     *p != NULL; p = &(*p)->bucket_next) {
		if (*p == peer) {
			*p = peer->bucket_next;
			break;
		}
	}
	for (p = &dev->peers; *p != NULL; p = &(*p)->list_next) {
		if (*p == peer) {
			*p = peer->list_next;
			break;
		}
	}
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

struct wg_peer *wg_peer_next(const struct wg_device *dev,
			     const struct wg_peer *peer)
{
	return peer == NULL ? dev->peers : peer->list_next;
}

void wg_peer_set_preshared_key(struct wg_peer *peer,
			       const uint8_t psk[WG_KEY_LEN])
{
	if (psk == NULL) {
		sodium_memzero(peer->preshared_key, WG_KEY_LEN);
		peer->has_preshared_key = false;
		return;
	}
	memcpy(peer->preshared_key, psk, WG_KEY_LEN);
	peer->has_preshared_key = true;
}

void wg_peer_set_persistent_keepalive(struct wg_peer *peer,
				      uint16_t seconds)
{
	peer->persistent_keepalive = seconds;
	/* Deadline 0 has passed at any time, so the first keepalive goes out
	 * on the next call of wg_peer_timers(), opening the NAT at once. */
	peer->persistent_keepalive_at = seconds != 0 ? 0 : WG_TIMER_OFF;
}

void wg_peer_set_user(struct wg_peer *peer, void *user)
{
	peer->user = user;
}

void *wg_peer_user(const struct wg_peer *peer)
{
	return peer->user;
}

void wg_peer_info(const struct wg_peer *peer, struct wg_peer_info *info)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->public_key, peer->public_key, WG_KEY_LEN);
	info->has_preshared_key = peer->has_preshared_key;
	info->persistent_keepalive = peer->persistent_keepalive;
	info->last_handshake_ms = peer->last_handshake_ms;
	info->rx_bytes = peer->rx_bytes;
	info->tx_bytes = peer->tx_bytes;
}

static size_t wg_index_bucket(uint32_t id)
{
	/* Indexes are random, so their low bits are a fair hash. */
	return id & (WG_INDEX_BUCKETS - 1);
}

struct wg_index *wg_index_lookup(const struct wg_device *dev, uint32_t id)
{
	struct wg_index *entry;

	entry = dev->index_buckets[wg_index_bucket(id)];
	for (; entry != NULL; entry = entry->next)
		if (entry->id == id)
			return entry;
	return NULL;
}

/*
 * Gives entry a fresh random index that no other entry has and links it
 * into the table.  Random indexes keep one session's index from telling
 * an observer anything about another's.
 */
void wg_index_insert(struct wg_device *dev, struct wg_index *entry)
{
	uint32_t id;

	if (entry->in_table)
		wg_index_remove(dev, entry);
	do {
		id = randombytes_random();
	} while (wg_index_lookup(dev, id) != NULL);
	entry->id = id;
	wg_index_link(dev, entry);
}

/* Links entry into the table under the index it already has. */
void wg_index_link(struct wg_device *dev, struct wg_index *entry)
{
	size_t bucket = wg_index_bucket(entry->id);

	entry->next = dev->index_buckets[bucket];
	dev->index_buckets[bucket] = entry;
	entry->in_table = true;
}

void wg_index_remove(struct wg_device *dev, struct wg_index *entry)
{
	struct wg_index **p;

	if (!entry->in_table)
		return;
	for (p = &dev->index_buckets[wg_index_bucket(entry->id)];
	     *p != NULL; p = &(*p)->next) {
		if (*p == entry) {
			*p = entry->next;
			break;
		}
	}
	entry->in_table = false;
	entry->next = NULL;
}

/* Ends a handshake in progress and wipes its ephemeral secrets. */
void wg_handshake_clear(struct wg_device *dev, struct wg_handshake *hs)
{
	struct wg_peer *peer = hs->index.peer;

	wg_index_remove(dev, &hs->index);
	sodium_memzero(hs, sizeof(*hs));
	hs->index.kind = WG_INDEX_HANDSHAKE;
	hs->index.peer = peer;
}

void wg_keypair_free(struct wg_device *dev, struct wg_keypair *kp)
{
	if (kp == NULL)
		return;
	wg_index_remove(dev, &kp->index);
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

/* Wipes every session and the handshake in progress of a peer. */
void wg_peer_clear_keys(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;

	wg_keypair_free(dev, peer->current);
	wg_keypair_free(dev, peer->previous);
	wg_keypair_free(dev, peer->next);
	peer->current = NULL;
	peer->previous = NULL;
	peer->next = NULL;
	wg_handshake_clear(dev, &peer->handshake);
}
