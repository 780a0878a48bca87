/*
 * avpn-tunnel: the state shared by its modules.  One thread runs one epoll
 * loop; nothing here is locked.
 */
#ifndef AVPN_TUNNEL_H
#define AVPN_TUNNEL_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "avpn.h"
#include "endpoint.h"
#include "log.h"
#include "punch.h"
#include "route.h"
#include "state.h"
#include "subnet.h"
#include "uapi.h"
#include "wg.h"

/* Datagrams per recvmmsg/sendmmsg call and packets read from TUN per turn
 * of the loop. */
#define DP_BATCH 64
/*
 * Bytes per packet buffer: the largest IP packet plus the transport
 * header, the padding and the tag, so a TUN read with offloads (up to 64
 * KiB) or a UDP GRO read fits later without changing the layout.
 */
#define DP_SLOT_SIZE (65536 + 64)

/* Packets kept per peer while its handshake is under way. */
#define PEER_QUEUE_MAX 128

/* Persistent keepalive for peers from the PEERS file and the registry: it
 * keeps the NAT mappings open, whose UDP timeout is 30 s on Linux. */
#define TUNNEL_KEEPALIVE_DEFAULT 20

#define TUNNEL_MTU_DEFAULT 1420
#define TUNNEL_MTU_MIN 576
#define TUNNEL_MTU_MAX 65535

/* Socket buffer size asked for (SO_RCVBUFFORCE as root). */
#define TUNNEL_SOCKET_BUFFER (4 * 1024 * 1024)

/* The timer tick: the loop runs due peer and punch timers this often. */
#define TUNNEL_TICK_MS 50

/* Above this many handshake messages a second, ask for cookies. */
#define TUNNEL_HANDSHAKES_PER_SECOND 200

#define TUNNEL_UAPI_CONNECTIONS 8

/*
 * Classes of dropped packets, counted and shown in the status output.
 * drop_names in status.c contains their names in output order.
 */
enum drop_class {
	DROP_TRUNCATED,     /* shorter than its message type needs */
	DROP_OVERSIZED,     /* longer than a handshake message, or cut by
			     * the buffer (MSG_TRUNC) */
	DROP_UNKNOWN_TYPE,  /* first byte no WireGuard or control type */
	DROP_MALFORMED,     /* reserved bytes set, bad inner IP header */
	DROP_BAD_MAC,       /* handshake mac1 not for our key */
	DROP_COOKIE,        /* under load, answered with a cookie reply */
	DROP_AUTH,          /* AEAD authentication failed */
	DROP_UNKNOWN_PEER,  /* handshake from a key that is no peer */
	DROP_UNKNOWN_INDEX, /* receiver index of no session */
	DROP_REPLAY,        /* counter or timestamp seen before */
	DROP_FLOOD,         /* initiations from one peer too often */
	DROP_STATE,         /* message not expected now */
	DROP_EXPIRED,       /* session too old or used up */
	DROP_WRONG_SOURCE,  /* inner source outside the peer's allowed IPs */
	DROP_NO_ROUTE,      /* TUN packet to an address no peer owns */
	DROP_NO_ENDPOINT,   /* the peer's endpoint is unknown */
	DROP_QUEUE_FULL,    /* waiting queue of the peer full */
	DROP_HANDSHAKE_FAILED, /* queued packets of a failed handshake */
	DROP_SEND_FAILED,   /* sendmmsg or sendto failed */
	DROP_TUN_WRITE,     /* the TUN device took no more */
	DROP_CONTROL,       /* control datagram rejected */
	DROP_CLASS_COUNT
};

/* The source of a peer, so that a reload of PEERS touches only its own. */
enum peer_origin {
	ORIGIN_FILE,     /* the PEERS file */
	ORIGIN_REGISTRY, /* MSG_UPDATE or MSG_PUNCH */
	ORIGIN_UAPI,     /* wg set */
};

/* A packet waiting for a session, stored in a buffer of its own. */
struct queued_packet {
	uint8_t *data;
	size_t len;
};

struct peer {
	struct tunnel *tunnel;
	struct wg_peer *wg;
	struct peer *next; /* in tunnel.peers */
	char name[AVPN_NAME_MAX + 1];
	uint8_t public_key[AVPN_KEY_LEN];
	enum peer_origin origin;
	bool mark; /* listed in the PEERS file being applied */
	bool has_preshared_key;
	uint8_t preshared_key[AVPN_KEY_LEN]; /* kept for UAPI get */

	union endpoint endpoint;  /* where datagrams go; roams */
	union endpoint configured; /* from the last PEERS or update */
	struct subnet_list allowed;

	/* Packets from TUN waiting for the handshake, oldest first. */
	struct queued_packet queue[PEER_QUEUE_MAX];
	unsigned queue_head;
	unsigned queue_len;

	uint64_t timer_due_ms; /* when wg_peer_timers() wants a call */
	bool touched;          /* handled in this turn of the loop */
	struct peer *touched_next;
	uint64_t logged_handshake_ms; /* last handshake written to the log */
	uint64_t test_rekey_sent_ms;

	/* Probing toward the peer's endpoints (control.c). */
	struct punch_peer punch;
	bool has_shared_key;
};

/* One batch of datagrams for recvmmsg or sendmmsg. */
struct dp_batch {
	struct mmsghdr msgs[DP_BATCH];
	struct iovec iov[DP_BATCH];
	union endpoint addrs[DP_BATCH];
	uint8_t *mem; /* DP_BATCH slots of DP_SLOT_SIZE bytes */
	unsigned count;
};

struct uapi_conn {
	int fd; /* -1 when the slot is free */
	char *buf;
	size_t len;
	size_t cap;
};

/* One peer as a PEERS line or a registry message describes it. */
struct peer_entry {
	uint8_t public_key[AVPN_KEY_LEN];
	char name[AVPN_NAME_MAX + 1];
	union endpoint endpoint;
	struct subnet_list subnets;
};

struct peer_entries {
	struct peer_entry *items;
	size_t count;
	size_t cap;
};

struct tunnel_options {
	const char *key_file;
	const char *ifname;
	const char *self_file;
	const char *peers_file;
	const char *status_file; /* -S, or NULL */
	struct subnet ifaddr;    /* -a; family 0 when not given */
	unsigned mtu;
	bool verbose;
	/* Test only (AVPN_TEST_REKEY_AFTER_MS): start a new handshake once
	 * the session is this old instead of after 120 s. */
	uint64_t test_rekey_after_ms;
};

struct tunnel {
	struct tunnel_options opt;
	struct self_record self;
	struct wg_device *wg;
	uint8_t private_key[AVPN_KEY_LEN];
	uint8_t public_key[AVPN_KEY_LEN];

	int epoll_fd;
	int udp_fd;
	int tun_fd;
	int nl_fd;
	int signal_fd;
	int timer_fd;
	int uapi_fd;
	char uapi_path[UAPI_PATH_MAX];
	struct uapi_conn uapi_conns[TUNNEL_UAPI_CONNECTIONS];

	char ifname[IFNAMSIZ];
	unsigned ifindex;
	int family;            /* of the UDP socket */
	uint16_t listen_port;
	uint32_t fwmark;

	struct peer *peers;
	size_t peer_count;
	struct peer *touched;  /* peers handled in this turn of the loop */
	struct allowed_ips allowed;

	/* Control protocol with the registry. */
	uint8_t registry_shared[32];
	bool has_registry;
	uint64_t registry_timestamp;

	struct dp_batch rx;
	struct dp_batch tx;

	uint64_t drops[DROP_CLASS_COUNT];
	struct log_limit drop_limits[DROP_CLASS_COUNT];

	/* Handshake messages in the current second, for "under load". */
	uint64_t load_window_ms;
	unsigned load_count;

	bool stop;
	bool reload;
	bool dump_status;
	uint64_t status_written_ms;
};

/* main.c */
int tunnel_socket_open(struct tunnel *t, uint16_t port,
		       struct avpn_error *err);

/* peer.c */
struct peer *peer_create(struct tunnel *t, const uint8_t key[AVPN_KEY_LEN],
			 const char *name, enum peer_origin origin,
			 struct avpn_error *err);
void peer_destroy(struct peer *p);
struct peer *peer_find(const struct tunnel *t,
		       const uint8_t key[AVPN_KEY_LEN]);
int peer_set_allowed(struct peer *p, const struct subnet *nets, size_t count,
		     struct avpn_error *err);
int peer_add_allowed(struct peer *p, const struct subnet *net,
		     struct avpn_error *err);
void peer_set_endpoint(struct peer *p, const union endpoint *ep);
void peer_touch(struct peer *p);
void peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len);
void peer_queue_clear(struct peer *p);
void peer_name_from_key(char name[AVPN_NAME_MAX + 1],
			const uint8_t key[AVPN_KEY_LEN]);

/* config.c */
int config_load_self(struct tunnel *t, struct avpn_error *err);
int config_read_peers(struct tunnel *t, struct peer_entries *list,
		      struct avpn_error *err);
void config_apply_peers(struct tunnel *t, const struct peer_entries *list);
void config_free_peers(struct peer_entries *list);
struct peer *config_peer_from_update(struct tunnel *t,
				     const struct msg_peer *mp);

/* dataplane.c */
int dp_batch_init(struct dp_batch *b, struct avpn_error *err);
void dp_batch_free(struct dp_batch *b);
void dp_udp_readable(struct tunnel *t);
void dp_tun_readable(struct tunnel *t);
void dp_send_packet(struct tunnel *t, struct peer *p, const uint8_t *pkt,
		    size_t len);
void dp_flush(struct tunnel *t);
void dp_drop(struct tunnel *t, enum drop_class cls, const char *peer,
	     const union endpoint *from);
void dp_drop_result(struct tunnel *t, int result, const struct wg_peer *wp,
		    const union endpoint *from);

/* handshake.c */
void hs_receive(struct tunnel *t, int type, uint8_t *msg, size_t len,
		const union endpoint *from);
void hs_send_initiation(struct tunnel *t, struct peer *p);
void hs_run_timers(struct tunnel *t, struct peer *p, uint64_t now);
void hs_test_rekey(struct tunnel *t, struct peer *p, uint64_t now);
void hs_send_datagram(struct tunnel *t, const union endpoint *to,
		      const uint8_t *buf, size_t len, uint8_t ttl);

/* control.c */
void control_init(struct tunnel *t);
void control_peer_init(struct tunnel *t, struct peer *p);
void control_receive(struct tunnel *t, const uint8_t *buf, size_t len,
		     const union endpoint *from);
void control_run_timers(struct tunnel *t, struct peer *p, uint64_t now_us);

/* status.c */
const char *drop_class_name(enum drop_class cls);
void status_write(struct tunnel *t);
void status_uapi_accept(struct tunnel *t);
void status_uapi_readable(struct tunnel *t, struct uapi_conn *c);
void status_uapi_close_all(struct tunnel *t);

/* uapi_set.c: applies a UAPI set request; returns an errno value. */
int uapi_set_apply(struct tunnel *t, const struct uapi_request *req);

/* loop.c */
int loop_setup(struct tunnel *t, struct avpn_error *err);
/* Runs until SIGTERM or SIGINT; returns the exit status. */
int loop_run(struct tunnel *t);
int loop_watch(struct tunnel *t, int fd, void *tag, struct avpn_error *err);
int loop_replace_socket(struct tunnel *t, int fd, struct avpn_error *err);

#endif
