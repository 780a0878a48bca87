/*
 * The avpn control protocol: registration, peer queries, pushed updates,
 * punch requests and node-to-node probes.  It shares the node's UDP port
 * with WireGuard, whose message types are 1 to 4; control types start at
 * 0x10, so the first byte tells the two apart.
 *
 * Every datagram has a 64-byte clear header followed by the ciphertext:
 *
 *   0      type
 *   1      version (1)
 *   2-3    zero
 *   4-35   sender's static public key
 *   36-39  first 4 bytes of the recipient's public key
 *   40-63  random nonce
 *   64-    XChaCha20-Poly1305 ciphertext of the payload, 16-byte tag
 *
 * The AEAD key is crypto_box_curve25519xchacha20poly1305_beforenm() of the
 * two static keys, the same key in both directions; the whole header is the
 * associated data.  The payload starts with the sender's timestamp (u64,
 * nanoseconds since the Unix epoch) and the timestamp of the request being
 * answered (u64, 0 for a request).  A receiver rejects a timestamp that is
 * not greater than the last one it accepted from that sender, so a replayed
 * datagram is dropped.  The registry also rejects a timestamp more than
 * PROTO_MAX_AHEAD_S ahead of its own clock, so that a node whose clock ran
 * ahead and was then corrected is locked out for that long at most.  All
 * integers are big-endian.
 *
 * Endpoints travel as 19 bytes (family 0/4/6, port, 16 address bytes with
 * IPv4 in the first 4) and subnets as 18 bytes (family, prefix, 16 bytes).
 */
#ifndef AVPN_PROTO_H
#define AVPN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "avpn.h"
#include "endpoint.h"
#include "error.h"
#include "key.h"
#include "state.h"
#include "subnet.h"

#define PROTO_VERSION 1
#define PROTO_HEADER_LEN 64
#define PROTO_TAG_LEN 16
#define PROTO_STAMP_LEN 16 /* the two timestamps */
#define PROTO_MIN_LEN (PROTO_HEADER_LEN + PROTO_TAG_LEN + PROTO_STAMP_LEN)
#define PROTO_ENDPOINT_LEN 19
#define PROTO_SUBNET_LEN 18

/* The size of every sealed MSG_ERROR: type, code and an 18-byte detail. */
#define PROTO_ERROR_BODY_LEN (2 + PROTO_SUBNET_LEN)
#define PROTO_ERROR_LEN (PROTO_MIN_LEN + PROTO_ERROR_BODY_LEN)

/*
 * MSG_QUERY carries PROTO_ERROR_BODY_LEN zero bytes, so that it is as large
 * as an error reply.  The registry replies to a request whose timestamp it
 * did not accept only when the reply is no larger than the request.  An
 * empty MSG_QUERY is accepted too.
 */
#define PROTO_QUERY_PAD_LEN PROTO_ERROR_BODY_LEN

/*
 * How far a timestamp may be ahead of the registry's clock.  Ten minutes
 * covers months of drift of a clock without NTP: at 50 ppm, a common
 * quartz tolerance, it drifts about 4 s a day.  A clock set to the wrong
 * time zone, an hour or more ahead, is rejected with PERR_CLOCK_SKEW at
 * once.  The bound also limits how long a node whose clock ran ahead is
 * locked out once its clock is set right.
 */
#define PROTO_MAX_AHEAD_S 600

enum proto_type {
	MSG_REGISTER = 0x10,      /* node -> registry */
	MSG_REGISTER_ACK = 0x11,  /* registry -> node */
	MSG_BINDING = 0x12,       /* node -> registry's NAT-test port */
	MSG_BINDING_ACK = 0x13,   /* registry -> node, from that port */
	MSG_QUERY = 0x14,         /* node -> registry: list my peers */
	MSG_PEERS = 0x15,         /* registry -> node: one page of peers */
	MSG_UPDATE = 0x16,        /* registry -> node: a peer changed */
	MSG_PUNCH = 0x17,         /* node -> registry -> peer: punch now */
	MSG_PROBE = 0x18,         /* node -> node */
	MSG_PROBE_REPLY = 0x19,   /* node -> node */
	MSG_ERROR = 0x1a,         /* registry -> node: request rejected */
	/*
	 * The only unauthenticated message: the registry's public key, sent
	 * (rate-limited, never larger than the request) when a datagram was
	 * sealed for another key, so the node can report a key mismatch.
	 */
	MSG_KEY_MISMATCH = 0x1f,
};

/* True for the first byte of a control datagram. */
static inline bool proto_is_control(uint8_t first_byte)
{
	return first_byte >= 0x10 && first_byte <= 0x1f;
}

enum proto_error_code {
	PERR_NOT_AUTHORIZED = 1,    /* key not in the authorized-nodes file */
	PERR_SUBNET_NOT_ALLOWED = 2,/* announced a subnet it may not */
	PERR_TABLE_FULL = 3,
	PERR_RATE_LIMITED = 4,
	PERR_PEER_UNKNOWN = 5,      /* punch target not registered */
	PERR_PEER_NOT_ALLOWED = 6,  /* punch target not reachable by rules */
	PERR_BAD_REQUEST = 7,
	PERR_CLOCK_SKEW = 8,        /* timestamp too far ahead of its clock */
	PERR_STALE_TIMESTAMP = 9,   /* timestamp not after the last accepted */
};

const char *proto_error_name(uint8_t code);

/* "REGISTER", "PEERS"...; "unknown" for any other byte. */
const char *proto_type_name(uint8_t type);

enum update_event {
	UPDATE_APPEARED = 1,
	UPDATE_MOVED = 2,
	UPDATE_LEFT = 3,
};

/* Decoded message bodies. */
struct msg_register {
	union endpoint private_ep; /* the node's LAN address and port */
	union endpoint override;   /* manual port forward, or unset */
	struct subnet_list subnets;
	uint8_t nat;               /* enum nat_type, as the node found it */
};

struct msg_register_ack {
	char name[AVPN_NAME_MAX + 1]; /* the name the registry knows us by */
	union endpoint observed;
	uint32_t lifetime;  /* seconds until the entry expires */
	uint16_t nat_port;  /* the registry's NAT-test port, 0 if none */
};

struct msg_binding_ack {
	union endpoint observed;
};

/* One peer, as carried in MSG_PEERS, MSG_UPDATE and MSG_PUNCH. */
struct msg_peer {
	uint8_t public_key[AVPN_KEY_LEN];
	char name[AVPN_NAME_MAX + 1];
	uint8_t role;
	union endpoint public_ep;
	union endpoint private_ep;
	union endpoint override;
	int64_t last_seen;
	struct subnet_list subnets;
	uint8_t nat;  /* enum nat_type: passed on from the node's REGISTER */
};

/*
 * A peer's encoded size runs from PROTO_PEER_MIN_LEN (no subnets, 1-byte
 * name) to PROTO_PEER_MAX_LEN, so a MSG_PEERS datagram of at most
 * AVPN_DATAGRAM_MAX bytes has PROTO_PEERS_ROOM bytes for its peers: from
 * 2 peers of the largest size to 10 of the smallest.  The sender fills
 * pages by proto_peer_len().
 */
#define PROTO_PEER_MIN_LEN \
	(AVPN_KEY_LEN + 2 + 1 + 3 * PROTO_ENDPOINT_LEN + 8 + 1 + 1)
#define PROTO_PEER_MAX_LEN \
	(PROTO_PEER_MIN_LEN + AVPN_NAME_MAX - 1 + \
	 AVPN_MAX_SUBNETS * PROTO_SUBNET_LEN)
#define PROTO_PEERS_ROOM (AVPN_DATAGRAM_MAX - PROTO_MIN_LEN - 5)
#define MSG_PEERS_MAX_PER_PAGE 16
struct msg_peers {
	uint16_t page;   /* 0-based */
	uint16_t pages;  /* total; 0 pages means no peers */
	uint8_t count;
	struct msg_peer peers[MSG_PEERS_MAX_PER_PAGE];
};

struct msg_update {
	uint8_t event;
	struct msg_peer peer;
};

/* node -> registry: target is the peer's key, peer unused (empty name).
 * registry -> target: peer is the node that asked, target is the target's
 * own key. */
struct msg_punch {
	uint8_t target[AVPN_KEY_LEN];
	struct msg_peer peer;
};

struct msg_probe {
	uint64_t probe_id;         /* random, echoed in the reply */
	union endpoint observed;   /* reply only: where the probe came from */
	union endpoint dest;       /* the address the probe was sent to */
};

/*
 * For PERR_SUBNET_NOT_ALLOWED, subnet is the first announced subnet the
 * node may not announce, so the node can name it; otherwise it is unset
 * (family 0).  time_ns is set for the two timestamp errors only: the
 * registry's clock when the request arrived for PERR_CLOCK_SKEW, and the
 * last timestamp it accepted from the node for PERR_STALE_TIMESTAMP.  On
 * the wire: type, code, then an 18-byte detail: the subnet, or time_ns
 * and 10 zero bytes, or 18 zero bytes.
 */
struct msg_error {
	uint8_t request_type;
	uint8_t code;
	struct subnet subnet;
	uint64_t time_ns; /* ns since the epoch, or 0 */
};

struct proto_msg {
	uint8_t type;
	uint8_t sender[AVPN_KEY_LEN];
	uint64_t timestamp;   /* sender's, ns since the epoch */
	uint64_t echo;        /* timestamp of the request answered, or 0 */
	union {
		struct msg_register reg;
		struct msg_register_ack reg_ack;
		struct msg_binding_ack binding_ack;
		struct msg_peers peers;
		struct msg_update update;
		struct msg_punch punch;
		struct msg_probe probe;
		struct msg_error error;
	} u;
};

/* Derives the AEAD key shared by two static keys.  Returns -1 for a weak
 * public key (all-zero shared secret). */
int proto_shared_key(uint8_t shared[32], const uint8_t my_private[32],
		     const uint8_t their_public[32]);

/*
 * Reads the clear header without decrypting: type and sender key, and
 * whether the recipient id matches my_public.  Returns -1 for a datagram
 * too short or with a bad version or non-zero reserved bytes.
 */
int proto_peek(const uint8_t *buf, size_t len, uint8_t *type,
	       uint8_t sender[AVPN_KEY_LEN], const uint8_t my_public[32],
	       bool *for_me);

/*
 * Seals msg (type, timestamp, echo and body; sender is my_public) for
 * their_public with the shared key.  Returns the datagram length, at most
 * size, or -1 if the body does not fit.
 */
ssize_t proto_seal(uint8_t *out, size_t size, const struct proto_msg *msg,
		   const uint8_t my_public[32], const uint8_t their_public[32],
		   const uint8_t shared[32]);

/*
 * Opens a datagram sealed with shared and decodes its body strictly
 * (lengths exact, fields valid).  Does not check the timestamp; the caller
 * compares it with the last one accepted from msg->sender.
 * Returns 0, or -1 with err saying why (short, forged, malformed).
 */
int proto_open(struct proto_msg *msg, const uint8_t *buf, size_t len,
	       const uint8_t shared[32], struct avpn_error *err);

/* Builds the unauthenticated MSG_KEY_MISMATCH reply (36 bytes). */
ssize_t proto_key_mismatch(uint8_t *out, size_t size,
			   const uint8_t registry_public[32]);

/* Parses MSG_KEY_MISMATCH; returns -1 if it is not one. */
int proto_key_mismatch_parse(const uint8_t *buf, size_t len,
			     uint8_t registry_public[32]);

/*
 * Returns a timestamp (ns since the epoch) greater than every earlier value
 * this process returned, even if the clock steps back.
 */
uint64_t proto_timestamp(void);

/* Returns the encoded size of one peer in MSG_PEERS, MSG_UPDATE or
 * MSG_PUNCH. */
size_t proto_peer_len(const struct msg_peer *p);

/* Converts between msg_peer and the peer line of avpn-peers. */
void proto_peer_to_record(struct peer_record *rec, const struct msg_peer *p);

#endif
