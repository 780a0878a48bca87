/* The state of one avpn-punch run, shared by its source files. */
#ifndef AVPN_PUNCH_RUN_H
#define AVPN_PUNCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "key.h"
#include "proto.h"
#include "punch.h"
#include "state.h"

/* MSG_PUNCH to the registry: resent after 300 ms, 600 ms, 1.2 s. */
#define REQUEST_MAX_SENDS 4
#define REQUEST_FIRST_RETRY_MS 300

/*
 * Punch requests leave in a burst of at most REQUEST_RATE and then at
 * REQUEST_RATE a second, below avpn-registry's limit of 10 a second per
 * node.  A request rejected as rate limited is sent again a second later.
 */
#define REQUEST_RATE 8
#define REQUEST_RATE_LIMITED_RETRY_MS 1000

/*
 * The node that starts a punch sends probes with the normal TTL only this
 * long after the registry acknowledged forwarding the request, so that the
 * peer's low-TTL probes open the peer's mapping first.  Without an
 * acknowledgement it holds them for HOLD_NO_ACK_MS.
 */
#define HOLD_AFTER_ACK_MS 100
#define HOLD_NO_ACK_MS 1000

/*
 * The node asked to punch back holds its normal-TTL probes until the
 * starting node's first probe arrives, for at most this long.  When the
 * starting node sits behind two NATs, its low-TTL probes open only the
 * inner one, and a normal probe of ours reaching the outer NAT first would
 * leave a stale entry there.  It does not hold when its own mapping is
 * endpoint-dependent (the starting node's probes cannot reach it then) or
 * when the starting node has no NAT.
 */
#define HOLD_RESPONDER_MS 1000

/*
 * When both NATs rule out a direct path, the peer's private endpoint may
 * still reply (two nodes behind one NAT), so this long is spent trying.
 */
#define IMPOSSIBLE_BUDGET_MS 4000

/*
 * After a peer is reached, the run stays until the peer has sent no probe
 * for this long, so the peer gets its replies too.  It is twice the longest
 * gap between two probes of one punch.
 */
#define LINGER_MS 2000

/* The upper bound on peers, from PEERS and from forwarded punch requests. */
#define MAX_PEERS 1024

enum request_state {
	REQUEST_NONE,     /* not sent: -w, or no registry in the self record */
	REQUEST_SENT,
	REQUEST_ACKED,
	REQUEST_REJECTED, /* MSG_ERROR, with the code in error_code */
};

struct peer_entry {
	struct punch_peer punch;
	bool listed;              /* named in PEERS: counts for the exit status */
	bool forwarded;           /* the registry forwarded the peer's request */
	bool has_override;
	union endpoint public_ep; /* for the diagnosis */

	enum request_state request;
	unsigned int request_sends;
	uint64_t request_stamps[REQUEST_MAX_SENDS];
	uint64_t request_next_us;
	uint8_t error_code;
	uint64_t reached_us;
};

struct run {
	uint8_t my_public[AVPN_KEY_LEN];
	uint8_t my_private[AVPN_KEY_LEN]; /* secret: wiped at exit */
	uint8_t registry_shared[32];      /* secret: wiped at exit */
	bool have_registry;
	uint64_t registry_last_stamp;
	uint32_t request_tokens;     /* punch requests that may leave now */
	uint64_t request_refill_us;  /* when the next token is due */
	struct self_record self;
	int fd;

	struct punch_config config;
	bool low_ttl;   /* behind a NAT: start with low-TTL probes */
	bool wait;      /* -w: reply to probes only, until -t */
	uint64_t start_us;
	uint64_t deadline_us;

	size_t peer_count;
	size_t peer_size;
	struct peer_entry *peers;
};

/* Microseconds from CLOCK_MONOTONIC. */
uint64_t now_us(void);

/* run.c */
struct peer_entry *run_find_peer(struct run *r, const uint8_t *key);
struct peer_entry *run_add_peer(struct run *r, const uint8_t *key,
				const char *name);
void run_start_peer(struct run *r, struct peer_entry *pe, uint64_t now);
void run_loop(struct run *r);

/* net.c */
void net_send_probes(struct run *r, uint64_t now);
void net_receive(struct run *r);
void net_send(struct run *r, const uint8_t *their_public,
	      const uint8_t *shared, struct proto_msg *msg,
	      const union endpoint *to, uint8_t ttl);

/* registry.c */
void registry_send_requests(struct run *r, uint64_t now);
uint64_t registry_next_us(const struct run *r);
void registry_handle(struct run *r, const uint8_t *buf, size_t len,
		     const union endpoint *from);

/* report.c */
int report_paths(const struct run *r, const char *out_path);
void report_unreachable(const struct run *r);
int report_exit_status(const struct run *r);
bool report_impossible(const struct run *r, const struct peer_entry *pe);

#endif
