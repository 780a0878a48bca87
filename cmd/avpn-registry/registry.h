/* avpn-registry: the types and functions its source files share. */
#ifndef AVPN_REGISTRY_H
#define AVPN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authfile.h"
#include "endpoint.h"
#include "log.h"
#include "proto.h"

#define NO_NODE UINT32_MAX

/* Datagrams received or queued per system call. */
#define BATCH 64

/*
 * An endpoint in 20 bytes instead of the 28 of union endpoint, because the
 * table keeps three per node and a million nodes must fit in 512 MiB.
 */
struct packed_ep {
	uint8_t family; /* AF_UNSPEC, AF_INET or AF_INET6 */
	uint8_t unused;
	uint16_t port;  /* host order */
	uint8_t addr[16];
};

enum node_flags {
	NODE_KEYED = 1,       /* shared key computed */
	NODE_WEAK_KEY = 2,    /* the public key gives no shared key */
	NODE_REGISTERED = 4,
	NODE_ALL_ALLOWED = 8, /* announces exactly its allowed subnets */
};

/* The registry's state of one authorized node, beside its auth_node. */
struct node {
	uint8_t shared[32];      /* computed on the node's first datagram */
	uint64_t last_ts;        /* replay check: last timestamp accepted */
	uint64_t refreshed_ms;   /* monotonic time of the last REGISTER */
	struct packed_ep observed;
	struct packed_ep private_ep;
	struct packed_ep override;
	struct subnet *subnets;  /* announced, unless NODE_ALL_ALLOWED */
	uint32_t prev, next;     /* expiry list, least recently refreshed first */
	uint32_t punch_ms;       /* punch bucket refill time, wrapping ms */
	uint8_t punch_tokens;
	uint8_t subnet_count;
	uint8_t flags;
	uint8_t nat;             /* enum nat_type from the node's REGISTER */
};

/*
 * The authorized nodes, their state, a hash index by public key, the
 * reachability candidates and the expiry list.  Every lookup is O(1), and
 * listing a node's peers costs the number of candidates, never the table.
 */
struct table {
	struct auth_list auth;
	struct node *nodes;       /* parallel to auth.nodes */
	uint32_t *slots;          /* open addressing: node index + 1, 0 empty */
	size_t slot_mask;
	uint32_t *hubs;           /* every hub, in file order */
	size_t hub_count;
	uint32_t *spoke_start;    /* hub_count + 1 offsets into spokes */
	uint32_t *spokes;         /* per hub, the spokes that name it */
	uint32_t head, tail;      /* expiry list */
	size_t registered;
};

/* Walks the nodes that may reach a node, or that a node may reach. */
struct peer_iter {
	const struct table *table;
	uint32_t node;
	bool toward;  /* true: nodes that node may reach; false: reverse */
	int phase;
	size_t pos;
	size_t hub;   /* the node's place in table.hubs, when it is a hub */
};

int table_build(struct table *t, struct auth_list *auth,
		struct avpn_error *err);
void table_free(struct table *t);
uint32_t table_find(const struct table *t, const uint8_t key[AVPN_KEY_LEN]);
void table_refresh(struct table *t, uint32_t i, uint64_t now_ms);
void table_unregister(struct table *t, uint32_t i);
void peer_iter_init(struct peer_iter *it, const struct table *t,
		    uint32_t node, bool toward);
bool peer_iter_next(struct peer_iter *it, uint32_t *peer);
void table_copy_state(struct table *to, const struct table *from);
void node_get_subnets(const struct table *t, uint32_t i,
		      struct subnet_list *list);
int node_set_subnets(struct table *t, uint32_t i,
		     const struct subnet_list *list);
bool node_subnets_allowed(const struct table *t, uint32_t i,
			  const struct subnet_list *list, size_t *bad);

void packed_ep_set(struct packed_ep *p, const union endpoint *ep);
void packed_ep_get(union endpoint *ep, const struct packed_ep *p);
bool packed_ep_equal(const struct packed_ep *a, const struct packed_ep *b);

/* A token bucket: rate tokens a second, at most burst. */
struct bucket {
	uint32_t tokens;
	uint64_t stamp_ms;
};

bool bucket_take(struct bucket *b, uint64_t now_ms, uint32_t rate,
		 uint32_t burst);

/* Per-source-address buckets in a fixed table, so memory stays bounded
 * whatever the number of sources. */
#define SOURCE_SLOTS 16384
struct source_slot {
	uint8_t addr[16];
	struct bucket bucket;
};

/* Reasons for dropping a datagram without a reply. */
enum drop_reason {
	DROP_SOURCE_RATE,
	DROP_NOT_CONTROL,
	DROP_HEADER,
	DROP_UNKNOWN_RATE,
	DROP_UNKNOWN_FORGED,
	DROP_FORGED,
	DROP_MALFORMED,
	DROP_REPLAY,
	DROP_UNEXPECTED,
	DROP_WEAK_KEY,
	DROP_SEND,
	DROP_REASONS
};

/* Outgoing datagrams for one socket, sent with sendmmsg. */
struct send_queue {
	int fd;
	int family;
	size_t count;
	union endpoint to[BATCH];
	size_t len[BATCH];
	uint8_t buf[BATCH][AVPN_DATAGRAM_MAX];
};

struct config {
	const char *key_path;
	const char *auth_path;
	const char *state_path;
	union endpoint listen;
	uint16_t nat_port;     /* 0: no NAT-test port */
	uint32_t lifetime_s;
	size_t max_entries;    /* 0: no limit but the authorized-nodes file */
	bool verbose;
	bool syslog;
};

struct registry {
	const struct config *cfg;
	struct table table;
	uint8_t private_key[AVPN_KEY_LEN];
	uint8_t public_key[AVPN_KEY_LEN];
	struct send_queue *main_out;
	struct send_queue *nat_out;
	struct source_slot *sources;
	uint8_t source_hash_key[16];
	struct bucket unknown_bucket;  /* scalar multiplications for strangers */
	struct bucket mismatch_bucket; /* MSG_KEY_MISMATCH replies */
	uint64_t now_ms;               /* monotonic */
	int64_t now_s;                 /* wall clock */
	uint64_t drops[DROP_REASONS];
	bool dirty;                    /* table changed since the last save */
	uint64_t save_due_ms;
};

/* One received datagram and where it came from. */
struct datagram {
	const uint8_t *buf;
	size_t len;
	union endpoint from;
	struct send_queue *reply; /* the socket it arrived on */
	bool nat_port;
};

/* handle.c */
void registry_handle(struct registry *r, const struct datagram *d);
const char *drop_reason_text(enum drop_reason reason);

/* push.c */
void node_to_peer(const struct registry *r, uint32_t i, struct msg_peer *p);
void send_sealed(struct registry *r, struct send_queue *q,
		 const union endpoint *to, const uint8_t their_public[32],
		 const uint8_t shared[32], struct proto_msg *m);
void send_to_node(struct registry *r, struct send_queue *q,
		  const union endpoint *to, uint32_t i, struct proto_msg *m);
void send_peers(struct registry *r, struct send_queue *q,
		const union endpoint *to, uint32_t i, uint64_t echo);
void push_update(struct registry *r, uint32_t i, uint8_t event);
void registry_expire(struct registry *r);
int registry_reload(struct registry *r);

/* net.c */
int net_open(const union endpoint *ep, struct avpn_error *err);
uint8_t *net_slot(struct registry *r, struct send_queue *q);
void net_commit(struct send_queue *q, const union endpoint *to, size_t len);
void net_queue(struct registry *r, struct send_queue *q,
	       const union endpoint *to, const uint8_t *buf, size_t len);
void net_flush(struct registry *r, struct send_queue *q);
void net_receive(struct registry *r, int fd, struct send_queue *reply,
		 bool nat_port);
bool source_allowed(struct registry *r, const union endpoint *from);
void registry_clock(struct registry *r);

/* persist.c */
int persist_load(struct registry *r, const char *path,
		 struct avpn_error *err);
void persist_save(struct registry *r);
void persist_maybe_save(struct registry *r);

#endif
