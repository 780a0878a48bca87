/*
 * Internals of the WireGuard core shared by common/wg_*.c and their unit
 * tests.  The daemon uses wg.h only.
 */
#ifndef AVPN_WG_INTERNAL_H
#define AVPN_WG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg.h"

#define WG_HASH_LEN 32
#define WG_TIMESTAMP_LEN 12       /* TAI64N: 8 bytes seconds, 4 nanoseconds */
#define WG_COOKIE_NONCE_LEN 24    /* XChaCha20-Poly1305 */
#define WG_AEAD_NONCE_LEN 12      /* ChaCha20-Poly1305 (IETF) */

/* Offsets inside the handshake messages. */
#define WG_INIT_SENDER 4
#define WG_INIT_EPHEMERAL 8
#define WG_INIT_STATIC 40         /* 32 bytes and a tag */
#define WG_INIT_TIMESTAMP 88      /* 12 bytes and a tag */
#define WG_INIT_MAC1 116
#define WG_INIT_MAC2 132
#define WG_RESP_SENDER 4
#define WG_RESP_RECEIVER 8
#define WG_RESP_EPHEMERAL 12
#define WG_RESP_EMPTY 44          /* a tag only */
#define WG_RESP_MAC1 60
#define WG_RESP_MAC2 76
#define WG_COOKIE_RECEIVER 4
#define WG_COOKIE_NONCE 8
#define WG_COOKIE_ENCRYPTED 32    /* 16-byte cookie and a tag */
#define WG_DATA_RECEIVER 4
#define WG_DATA_COUNTER 8

/*
 * A cookie that we received is used for mac2 only while the responder's
 * secret that made it is surely still current: the secret lives
 * WG_COOKIE_REFRESH_TIME_MS, less this allowance for the reply's trip.
 */
#define WG_COOKIE_LATENCY_MS 5000

/* Keys are wiped this long after the last session was derived. */
#define WG_WIPE_AFTER_MS (3 * (uint64_t)WG_REJECT_AFTER_TIME_MS)

/*
 * A session with an initiator role is renewed when a packet arrives this
 * late in its life, so that a new one exists before REJECT_AFTER_TIME even
 * if we send nothing ourselves.
 */
#define WG_REKEY_ON_RECEIVE_MS                                          \
	(WG_REJECT_AFTER_TIME_MS - WG_KEEPALIVE_TIMEOUT_MS -            \
	 WG_REKEY_TIMEOUT_MS)

/* A deadline that is not armed. */
#define WG_TIMER_OFF UINT64_MAX

/*
 * The replay window (RFC 6479): a ring of bitmap words.  The word that
 * contains the greatest counter is always kept, so the window proper is one
 * word shorter than the ring.
 */
#define WG_REPLAY_BITS (WG_REPLAY_WINDOW + 64)
#define WG_REPLAY_WORDS (WG_REPLAY_BITS / 64)

#define WG_INDEX_BUCKETS 4096 /* a power of two */
#define WG_PEER_BUCKETS 256   /* a power of two */

enum wg_index_kind {
	WG_INDEX_HANDSHAKE = 1,
	WG_INDEX_KEYPAIR = 2,
};

/* An entry of the device's table of our receiver indexes. */
struct wg_index {
	uint32_t id;
	enum wg_index_kind kind;
	bool in_table;
	struct wg_peer *peer;
	struct wg_keypair *keypair; /* WG_INDEX_KEYPAIR only */
	struct wg_index *next;
};

struct wg_replay {
	uint64_t greatest; /* the greatest counter accepted */
	uint64_t bitmap[WG_REPLAY_WORDS];
};

/* The two transport keys of one session and their counters. */
struct wg_keypair {
	struct wg_index index; /* local index: receiver of the peer's data */
	uint32_t remote_index;
	uint8_t send_key[WG_KEY_LEN];
	uint8_t receive_key[WG_KEY_LEN];
	uint64_t send_counter; /* the next counter to send */
	struct wg_replay replay;
	uint64_t created_ms;
	bool initiator;
};

enum wg_handshake_state {
	WG_HANDSHAKE_NONE = 0,
	WG_HANDSHAKE_INITIATION_CREATED,
	WG_HANDSHAKE_INITIATION_CONSUMED,
};

/* The Noise state between the first and second message. */
struct wg_handshake {
	enum wg_handshake_state state;
	struct wg_index index; /* initiator: the sender index we sent */
	uint32_t remote_index;
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
};

struct wg_peer {
	struct wg_device *dev;
	struct wg_peer *list_next;
	struct wg_peer *bucket_next;
	void *user;

	uint8_t public_key[WG_KEY_LEN];
	uint8_t static_static[WG_KEY_LEN]; /* DH(our private, peer public) */
	bool static_static_valid;
	uint8_t preshared_key[WG_KEY_LEN]; /* zeros when unset */
	bool has_preshared_key;
	uint8_t initial_hash[WG_HASH_LEN]; /* H after mixing the peer's key */
	uint8_t mac1_key[WG_HASH_LEN];     /* HASH("mac1----" || peer key) */
	uint8_t cookie_key[WG_HASH_LEN];   /* HASH("cookie--" || peer key) */

	struct wg_handshake handshake;
	uint8_t last_timestamp[WG_TIMESTAMP_LEN];
	uint64_t last_initiation_consumed_ms;
	bool has_consumed_initiation;

	/* The cookie from the peer's last cookie reply, and the mac1 of our
	 * last handshake message, which a cookie reply must carry as AD. */
	uint8_t cookie[WG_MAC_LEN];
	uint64_t cookie_received_ms;
	bool cookie_valid;
	uint8_t last_mac1[WG_MAC_LEN];
	bool mac1_sent;

	struct wg_keypair *current;
	struct wg_keypair *previous;
	struct wg_keypair *next; /* responder's, until the first data */

	/* Timers: deadlines in now_ms, WG_TIMER_OFF when not armed. */
	uint64_t retransmit_at;
	uint64_t new_handshake_at;
	uint64_t keepalive_at;
	uint64_t persistent_keepalive_at;
	uint64_t wipe_at;
	uint64_t last_handshake_sent_ms;
	bool has_sent_handshake;
	uint64_t handshake_started_ms; /* first initiation of this attempt */
	bool handshake_wanted;
	bool initiation_is_retry;
	bool sent_lastminute_handshake;
	uint16_t persistent_keepalive;

	uint64_t last_handshake_ms;
	uint64_t rx_bytes;
	uint64_t tx_bytes;
};

struct wg_device {
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	uint8_t initial_chaining_key[WG_HASH_LEN]; /* HASH(construction) */
	uint8_t initial_hash[WG_HASH_LEN]; /* H after mixing our key */
	uint8_t mac1_key[WG_HASH_LEN];     /* HASH("mac1----" || our key) */
	uint8_t cookie_key[WG_HASH_LEN];   /* HASH("cookie--" || our key) */
	uint8_t cookie_secret[WG_HASH_LEN];
	uint64_t cookie_secret_ms;
	bool has_cookie_secret;

	struct wg_index *index_buckets[WG_INDEX_BUCKETS];
	struct wg_peer *peer_buckets[WG_PEER_BUCKETS];
	struct wg_peer *peers;
};

/* wg_crypto.c: the primitives, built on libb2 and libsodium. */
void wg_hash(uint8_t out[WG_HASH_LEN], const uint8_t *a, size_t a_len,
	     const uint8_t *b, size_t b_len);
void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len,
	    const uint8_t *in, size_t len);
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t key_len,
	     const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);
void wg_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3,
	    const uint8_t chaining_key[WG_HASH_LEN], const uint8_t *in,
	    size_t len);
int wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN],
	  const uint8_t public_key[WG_KEY_LEN]);
void wg_dh_generate(uint8_t private_key[WG_KEY_LEN],
		    uint8_t public_key[WG_KEY_LEN]);
void wg_aead_encrypt(uint8_t *out, const uint8_t key[WG_KEY_LEN],
		     uint64_t counter, const uint8_t *plain, size_t len,
		     const uint8_t *ad, size_t ad_len);
int wg_aead_decrypt(uint8_t *out, const uint8_t key[WG_KEY_LEN],
		    uint64_t counter, const uint8_t *cipher, size_t len,
		    const uint8_t *ad, size_t ad_len);
void wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t wall_ns);

static inline void wg_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline uint32_t wg_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void wg_put_le64(uint8_t *p, uint64_t v)
{
	wg_put_le32(p, (uint32_t)v);
	wg_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t wg_get_le64(const uint8_t *p)
{
	return (uint64_t)wg_get_le32(p) | (uint64_t)wg_get_le32(p + 4) << 32;
}

/* wg_device.c: the index table and keypair slots. */
void wg_index_insert(struct wg_device *dev, struct wg_index *entry);
void wg_index_link(struct wg_device *dev, struct wg_index *entry);
void wg_index_remove(struct wg_device *dev, struct wg_index *entry);
struct wg_index *wg_index_lookup(const struct wg_device *dev, uint32_t id);
void wg_handshake_clear(struct wg_device *dev, struct wg_handshake *hs);
void wg_keypair_free(struct wg_device *dev, struct wg_keypair *kp);
void wg_peer_clear_keys(struct wg_peer *peer);

/* wg_cookie.c */
void wg_macs_add(struct wg_peer *peer, uint8_t *msg, size_t len,
		 uint64_t now_ms);
bool wg_mac1_valid(const struct wg_device *dev, const uint8_t *msg,
		   size_t len);

/* wg_transport.c: the replay window. */
bool wg_replay_check(const struct wg_replay *r, uint64_t counter);
bool wg_replay_update(struct wg_replay *r, uint64_t counter);
void wg_keypair_install(struct wg_peer *peer, struct wg_keypair *kp);

/* wg_timers.c: events that the other parts report. */
void wg_timers_handshake_sent(struct wg_peer *peer, uint64_t now_ms,
			      bool initiation);
void wg_timers_authenticated_sent(struct wg_peer *peer, uint64_t now_ms);
void wg_timers_authenticated_received(struct wg_peer *peer,
				      uint64_t now_ms);
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now_ms);
void wg_timers_data_received(struct wg_peer *peer, uint64_t now_ms);
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now_ms);
void wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now_ms);
uint64_t wg_timers_jitter(void);

#endif
