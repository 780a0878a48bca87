/*
 * The WireGuard protocol core: the Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s
 * handshake, cookies, transport encryption with a replay window, the
 * receiver index table and the timers, as the WireGuard paper (Donenfeld,
 * NDSS 2017) and the protocol page on wireguard.com describe them.
 *
 * The library does no I/O.  It reads no clock: every function that needs
 * the time takes it as an argument.  Besides malloc and free, the only
 * outside call is randombytes (libsodium) for ephemeral keys, indexes,
 * nonces, cookie secrets and timer jitter.  The daemon owns sockets, endpoints, the TUN device, packet
 * queues and routing; it stores its per-peer data behind wg_peer_user().
 *
 * Times:
 *   now_ms   CLOCK_MONOTONIC in milliseconds (clock_monotonic_ms()).
 *   wall_ns  CLOCK_REALTIME in nanoseconds since the Unix epoch, used only
 *            for the TAI64N timestamp of a handshake initiation.
 *
 * Errors: setup functions (device, peers) return NULL or -1 with
 * struct avpn_error set.  Per-packet functions return a negative
 * enum wg_result instead, so the daemon can count each class of dropped
 * packet without formatting text; wg_result_name() names a code.
 *
 * Not thread-safe: the caller serialises every call on one device.
 *
 * How the daemon uses it, per received datagram (wg_message_type() first):
 *
 *   WG_MSG_INITIATION:
 *     wg_check_macs(); on WG_ERR_COOKIE_REQUIRED send wg_cookie_reply_create()
 *     to the source and stop; on another error drop.
 *     wg_handshake_consume_initiation() -> peer; record the source as the
 *     peer's endpoint; send wg_handshake_create_response() there.
 *   WG_MSG_RESPONSE:
 *     wg_check_macs() as above; wg_handshake_consume_response() -> peer;
 *     record the endpoint; send the packets queued for the peer (or let
 *     the timers send a keepalive, which confirms the session).
 *   WG_MSG_COOKIE_REPLY:
 *     wg_cookie_reply_consume(); the next initiation or response to that
 *     peer carries a valid mac2.
 *   WG_MSG_TRANSPORT:
 *     wg_decrypt() -> peer and plaintext (0 bytes is a keepalive); record
 *     the endpoint; check the inner source address against the peer's
 *     allowed subnets; write to the TUN device.
 *
 * Per packet from the TUN device: pick the peer by route, wg_encrypt(); on
 * WG_ERR_NO_KEYPAIR queue the packet (the peer now wants a handshake).
 *
 * Timers: after handling a batch of packets for a peer, and whenever the
 * deadline it returned passes, call wg_peer_timers() and take the actions
 * it returns: send an initiation, send a keepalive, drop the queue.
 */
#ifndef AVPN_WG_H
#define AVPN_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "endpoint.h"
#include "error.h"

#define WG_KEY_LEN 32
#define WG_TAG_LEN 16   /* Poly1305 tag */
#define WG_MAC_LEN 16   /* mac1, mac2 and cookies */

/* Message types: the first byte, followed by three zero bytes. */
enum wg_msg_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_TRANSPORT = 4,
};

#define WG_INITIATION_LEN 148
#define WG_RESPONSE_LEN 92
#define WG_COOKIE_REPLY_LEN 64
#define WG_TRANSPORT_HEADER_LEN 16 /* type, reserved, receiver, counter */
/* A keepalive: the header and the tag of an empty plaintext. */
#define WG_TRANSPORT_MIN_LEN (WG_TRANSPORT_HEADER_LEN + WG_TAG_LEN)

/* Plaintext is padded with zeros to a multiple of this many bytes. */
#define WG_PADDING 16

/* Datagram length of a transport message carrying plain_len bytes. */
#define WG_PADDED_LEN(plain_len)                                        \
	(((size_t)(plain_len) + WG_PADDING - 1) & ~(size_t)(WG_PADDING - 1))
#define WG_TRANSPORT_LEN(plain_len)                                     \
	(WG_TRANSPORT_HEADER_LEN + WG_PADDED_LEN(plain_len) + WG_TAG_LEN)

/* Protocol constants, from the table of constants in the WireGuard paper. */
#define WG_REKEY_AFTER_MESSAGES (UINT64_C(1) << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (UINT64_C(1) << 13))
#define WG_REKEY_AFTER_TIME_MS 120000
#define WG_REJECT_AFTER_TIME_MS 180000
#define WG_REKEY_ATTEMPT_TIME_MS 90000
#define WG_REKEY_TIMEOUT_MS 5000
#define WG_REKEY_TIMEOUT_JITTER_MS 333 /* added at random, 0 to 333 ms */
#define WG_KEEPALIVE_TIMEOUT_MS 10000
#define WG_COOKIE_REFRESH_TIME_MS 120000
/* A peer's initiations are consumed at most this often (50 a second). */
#define WG_INITIATION_MIN_INTERVAL_MS 20

/* Counters this far behind the highest one received are rejected. */
#define WG_REPLAY_WINDOW 8128

/*
 * Results of the per-packet functions: 0 or a positive length on success,
 * one of these negative codes when the packet is dropped or not sent.
 */
enum wg_result {
	WG_OK = 0,
	WG_ERR_MALFORMED = -1,       /* wrong length, type or reserved bytes */
	WG_ERR_MAC1 = -2,            /* mac1 does not match our public key */
	WG_ERR_COOKIE_REQUIRED = -3, /* under load and mac2 missing or stale */
	WG_ERR_DECRYPT = -4,         /* AEAD authentication failed */
	WG_ERR_UNKNOWN_PEER = -5,    /* static key of no configured peer */
	WG_ERR_UNKNOWN_INDEX = -6,   /* receiver index not in the table */
	WG_ERR_REPLAY = -7,          /* counter or timestamp already seen */
	WG_ERR_FLOOD = -8,           /* initiation too soon after the last */
	WG_ERR_STATE = -9,           /* message not expected in this state */
	WG_ERR_WEAK_KEY = -10,       /* a Diffie-Hellman result was zero */
	WG_ERR_NO_KEYPAIR = -11,     /* no session key to send with */
	WG_ERR_EXPIRED = -12,        /* session key past its time or count */
	WG_ERR_BUFFER = -13,         /* output buffer too small */
	WG_ERR_NOMEM = -14,          /* allocation failed */
};

/* Returns a short lowercase name for a wg_result ("replayed counter"). */
const char *wg_result_name(int result);

struct wg_device;
struct wg_peer;

/*
 * Creates a device with its static private key (copied; the caller wipes
 * its own copy).  Returns NULL with err set for a weak key or no memory.
 */
struct wg_device *wg_device_new(const uint8_t private_key[WG_KEY_LEN],
				struct avpn_error *err);

/* Wipes every key and frees the device and its peers. */
void wg_device_free(struct wg_device *dev);

/*
 * Replaces the static private key.  Every session and handshake is dropped
 * and each peer's precomputed static-static result is recomputed.  A peer
 * whose public key is the new own public key is kept but can no longer
 * handshake.  Returns -1 with err set for a weak key.
 */
int wg_device_set_private_key(struct wg_device *dev,
			      const uint8_t private_key[WG_KEY_LEN],
			      struct avpn_error *err);

void wg_device_public_key(const struct wg_device *dev,
			  uint8_t public_key[WG_KEY_LEN]);

/*
 * Adds a peer.  Rejects a duplicate key, the device's own public key and a
 * public key that gives a zero shared secret.  Returns NULL with err set.
 */
struct wg_peer *wg_peer_add(struct wg_device *dev,
			    const uint8_t public_key[WG_KEY_LEN],
			    struct avpn_error *err);

/* Removes a peer, wiping its keys; its indexes leave the table. */
void wg_peer_remove(struct wg_device *dev, struct wg_peer *peer);

/* Returns the peer with this public key, or NULL. */
struct wg_peer *wg_peer_lookup(const struct wg_device *dev,
			       const uint8_t public_key[WG_KEY_LEN]);

/* Sets (copies) or, with NULL, clears the optional preshared key. */
void wg_peer_set_preshared_key(struct wg_peer *peer,
			       const uint8_t psk[WG_KEY_LEN]);

/*
 * Sets the persistent keepalive interval in seconds (0 turns it off): an
 * empty packet is sent when no authenticated packet was sent or received
 * for that long, which keeps NAT mappings open.  The first one is due at
 * once, on the next wg_peer_timers() call.
 */
void wg_peer_set_persistent_keepalive(struct wg_peer *peer,
				      uint16_t seconds);

/* The daemon's own per-peer data (endpoint, queue); NULL at first. */
void wg_peer_set_user(struct wg_peer *peer, void *user);
void *wg_peer_user(const struct wg_peer *peer);

/* A snapshot of a peer for status output. */
struct wg_peer_info {
	uint8_t public_key[WG_KEY_LEN];
	bool has_preshared_key;
	uint16_t persistent_keepalive; /* seconds, 0 for off */
	uint64_t last_handshake_ms;    /* now_ms of the last session, 0 never */
	uint64_t rx_bytes;             /* transport datagram bytes */
	uint64_t tx_bytes;
};

void wg_peer_info(const struct wg_peer *peer, struct wg_peer_info *info);

/* Iterates over the peers: wg_peer_next(dev, NULL) returns the first. */
struct wg_peer *wg_peer_next(const struct wg_device *dev,
			     const struct wg_peer *peer);

/*
 * Returns the message type (enum wg_msg_type) when msg has that type's
 * exact length (at least WG_TRANSPORT_MIN_LEN for transport) and zero
 * reserved bytes, else 0.  Cheap: call it first on every datagram.
 */
int wg_message_type(const uint8_t *msg, size_t len);

/*
 * Checks mac1 of an initiation or response against our public key and,
 * when under_load is true, mac2 against a cookie for src (the datagram's
 * source address and port).  Returns WG_OK when the message may be
 * consumed, WG_ERR_COOKIE_REQUIRED when the daemon should reply with
 * wg_cookie_reply_create() and drop it, or WG_ERR_MAC1 / WG_ERR_MALFORMED.
 * The daemon decides what "under load" means (a full handshake queue).
 * A valid mac2 proves the source address, so under load the daemon should
 * also rate-limit handshakes per source address; the library does not.
 */
int wg_check_macs(struct wg_device *dev, const uint8_t *msg, size_t len,
		  const union endpoint *src, uint64_t now_ms, bool under_load);

/*
 * Writes the cookie reply to an initiation or response from src into out.
 * The cookie is a MAC of src under a secret that changes every
 * WG_COOKIE_REFRESH_TIME_MS.  Returns WG_OK or a negative result.
 */
int wg_cookie_reply_create(struct wg_device *dev, const uint8_t *msg,
			   size_t len, const union endpoint *src,
			   uint64_t now_ms, uint8_t out[WG_COOKIE_REPLY_LEN]);

/*
 * Consumes a cookie reply to the last initiation or response we sent to
 * the peer it names by index, and stores the cookie so that our next
 * handshake messages to that peer carry mac2.  Returns WG_OK or a
 * negative result.
 */
int wg_cookie_reply_consume(struct wg_device *dev, const uint8_t *msg,
			    size_t len, uint64_t now_ms);

/*
 * Writes a new handshake initiation to peer into out and starts the
 * handshake (a new ephemeral key and local index).  wall_ns becomes the
 * TAI64N timestamp.  Returns WG_OK or a negative result.
 */
int wg_handshake_create_initiation(struct wg_device *dev,
				   struct wg_peer *peer, uint64_t now_ms,
				   uint64_t wall_ns,
				   uint8_t out[WG_INITIATION_LEN]);

/*
 * Consumes an initiation: checks mac1, identifies the peer by its
 * encrypted static key and rejects a timestamp not greater than the last
 * one from that peer (WG_ERR_REPLAY) or an initiation less than
 * WG_INITIATION_MIN_INTERVAL_MS after the last one consumed (WG_ERR_FLOOD).
 * On success *peer_out is set and the daemon must reply with
 * wg_handshake_create_response().  A failed message changes no state.
 */
int wg_handshake_consume_initiation(struct wg_device *dev, const uint8_t *msg,
				    size_t len, uint64_t now_ms,
				    struct wg_peer **peer_out);

/*
 * Writes the response to the initiation just consumed from peer and
 * derives the session as responder.  The new keypair is not used for
 * sending until the initiator's first transport message arrives on it.
 * Returns WG_OK, or WG_ERR_STATE without a consumed initiation.
 */
int wg_handshake_create_response(struct wg_device *dev, struct wg_peer *peer,
				 uint64_t now_ms,
				 uint8_t out[WG_RESPONSE_LEN]);

/*
 * Consumes a response to our pending initiation, derives the session as
 * initiator and makes it current.  Sets *peer_out.  Returns WG_OK or a
 * negative result; a failed message changes no state.
 */
int wg_handshake_consume_response(struct wg_device *dev, const uint8_t *msg,
				  size_t len, uint64_t now_ms,
				  struct wg_peer **peer_out);

/*
 * Encrypts one IP packet (len 0 for a keepalive) with the peer's current
 * session into out, which needs WG_TRANSPORT_LEN(len) bytes.  packet may
 * sit at out + WG_TRANSPORT_HEADER_LEN (in place).  Returns the datagram
 * length, WG_ERR_NO_KEYPAIR (no usable session: the peer now wants a
 * handshake and wg_peer_timers() will ask for one) or WG_ERR_BUFFER.
 */
ssize_t wg_encrypt(struct wg_peer *peer, uint64_t now_ms, uint8_t *out,
		   size_t out_size, const uint8_t *packet, size_t len);

/*
 * Decrypts a transport message into out (at least len -
 * WG_TRANSPORT_MIN_LEN bytes; out may be msg + WG_TRANSPORT_HEADER_LEN).
 * The counter is checked against the replay window only after the tag
 * verifies.  Sets *peer_out and returns the plaintext length, which
 * includes the zero padding (the inner IP header gives the real length),
 * 0 for a keepalive, or a negative result.
 */
ssize_t wg_decrypt(struct wg_device *dev, const uint8_t *msg, size_t len,
		   uint64_t now_ms, uint8_t *out, struct wg_peer **peer_out);

/* True when wg_encrypt() would find a usable session for peer now. */
bool wg_peer_can_send(const struct wg_peer *peer, uint64_t now_ms);

/* Actions wg_peer_timers() requests from the daemon; several may be set. */
enum wg_timer_action {
	WG_TIMER_SEND_INITIATION = 1 << 0, /* wg_handshake_create_initiation */
	WG_TIMER_SEND_KEEPALIVE = 1 << 1,  /* wg_encrypt of 0 bytes */
	/* No handshake after WG_REKEY_ATTEMPT_TIME_MS: drop queued packets. */
	WG_TIMER_HANDSHAKE_FAILED = 1 << 2,
	/* Every session key was wiped after 3 * WG_REJECT_AFTER_TIME_MS. */
	WG_TIMER_KEYS_WIPED = 1 << 3,
};

/*
 * Runs the peer's timers at now_ms: expires and wipes what is due and
 * returns the actions (enum wg_timer_action bits) the daemon must take
 * now.  *next_ms receives the next time to call it again (UINT64_MAX when
 * nothing is pending).  That deadline already counts the actions
 * returned (the retry of an initiation, the next persistent keepalive),
 * so it holds even if the daemon cannot take them.  Reads no clock, so
 * tests drive it with made-up times.
 */
unsigned wg_peer_timers(struct wg_peer *peer, uint64_t now_ms,
			uint64_t *next_ms);

#endif
