/*
 * NAT hole punching between two nodes: a peer's candidate endpoints, the
 * schedule of probes, the checks on a received probe, the choice of the
 * working endpoint, and the path line that avpn-punch prints for
 * avpn-tunnel.  Nothing here does I/O: the caller seals and sends what
 * punch_due() returns and feeds the messages it receives back in, so
 * avpn-punch and avpn-tunnel share one implementation.
 *
 * Why the schedule looks as it does: when both nodes are behind Linux
 * NATs, the first probe to reach the far NAT before that NAT has a mapping
 * for the flow creates an inbound conntrack entry there.  The far node's own
 * outbound packet then collides with that entry and is given a new source
 * port, and every retry keeps the stale entry alive.  So the first probes
 * leave with a small TTL: large enough to pass our own NAT and open our
 * mapping, too small to reach the far NAT.  A probe that still arrives from
 * an unexpected port gets its reply at the address it came from, and that
 * endpoint (the peer-reflexive one) is probed too.
 */
#ifndef AVPN_PUNCH_H
#define AVPN_PUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "error.h"
#include "key.h"
#include "proto.h"
#include "state.h"
#include "subnet.h"

/* Kinds of candidate endpoint, in the order they are tried.  The kind of
 * the candidate that replied is reported as the way the path was found. */
enum punch_via {
	PUNCH_VIA_OVERRIDE,  /* the peer's manual port forward */
	PUNCH_VIA_PUBLIC,    /* the mapping the registry observed */
	PUNCH_VIA_PRIVATE,   /* the peer's LAN address, behind the same NAT */
	PUNCH_VIA_PREDICTED, /* the peer's public address with its local port */
	PUNCH_VIA_REFLEXIVE, /* where the peer's packets actually came from */
};

/* "override", "public", "private", "predicted", "reflexive". */
const char *punch_via_name(enum punch_via via);
int punch_via_parse(enum punch_via *via, const char *s,
		    struct avpn_error *err);

/*
 * The timing of a punch.  A punch sends low_rounds rounds of probes with
 * TTL low_ttl, low_gap_ms apart, and the first round with the normal TTL
 * low_gap_ms after them.  Later rounds follow every interval_ms, growing by
 * half each round up to max_interval_ms, until budget_ms have passed.
 */
struct punch_config {
	uint8_t low_ttl;          /* 0: no low-TTL probes */
	uint8_t low_rounds;
	uint32_t low_gap_ms;
	uint32_t interval_ms;
	uint32_t max_interval_ms;
	uint32_t budget_ms;
};

/*
 * TTL 2 passes the node's own NAT (one routed hop) and expires at the next
 * router, which on the internet is always short of the far NAT.  Behind a
 * double NAT it takes 3.
 */
#define PUNCH_LOW_TTL_DEFAULT 2
#define PUNCH_CONFIG_DEFAULT { PUNCH_LOW_TTL_DEFAULT, 3, 20, 200, 1000, 10000 }

/* Probes sent whose reply can still be matched. */
#define PUNCH_MAX_PENDING 48
#define PUNCH_MAX_CANDIDATES 8

struct punch_candidate {
	union endpoint ep;
	enum punch_via via;
};

struct punch_pending {
	uint64_t probe_id;
	uint64_t timestamp;  /* the probe's, echoed in the reply */
	uint64_t sent_us;
	uint8_t candidate;
};

enum punch_state {
	PUNCH_IDLE,     /* replying only: not probing */
	PUNCH_TRYING,
	PUNCH_REACHED,  /* a reply arrived: working is set */
	PUNCH_EXPIRED,  /* the budget ran out without a reply */
};

struct punch_peer {
	uint8_t public_key[AVPN_KEY_LEN];
	uint8_t shared[32];  /* proto_shared_key() with the peer */
	char name[AVPN_NAME_MAX + 1];
	enum nat_type nat;
	struct subnet_list subnets;

	size_t candidate_count;
	struct punch_candidate candidates[PUNCH_MAX_CANDIDATES];

	/* The schedule. */
	enum punch_state state;
	bool low_ttl;  /* this punch starts with low-TTL rounds */
	unsigned int round;
	uint32_t interval_ms;
	uint64_t next_us;
	uint64_t deadline_us;
	uint64_t hold_until_us;  /* no normal-TTL probe before this */

	/* Probes in flight, a ring of the latest PUNCH_MAX_PENDING. */
	struct punch_pending pending[PUNCH_MAX_PENDING];
	unsigned int pending_next;

	/* The peer's latest accepted timestamp: older ones are replays. */
	uint64_t last_timestamp;

	/* Set on PUNCH_REACHED. */
	union endpoint working;
	enum punch_via found;
	uint64_t rtt_us;
	union endpoint seen_as;  /* our endpoint as the peer observed it */

	/* Counters for diagnosis. */
	uint32_t probes_sent;
	uint32_t probes_received;
	uint64_t last_probe_us;  /* when the peer's latest probe arrived */
};

/* One probe for the caller to seal with the peer's key and send. */
struct punch_send {
	union endpoint dest;
	uint8_t ttl;  /* 0: the socket's normal TTL */
	struct proto_msg msg;
};

/* Clears p and sets its key and name; no candidates, state PUNCH_IDLE. */
void punch_peer_init(struct punch_peer *p, const uint8_t key[AVPN_KEY_LEN],
		     const char *name);

/*
 * Adds a candidate unless it is unset or already listed (then the earlier
 * kind stays).  Returns its index, or -1 when the list is full or ep is
 * unset.
 */
int punch_candidate_add(struct punch_peer *p, const union endpoint *ep,
			enum punch_via via);

/*
 * Adds the override, public and private endpoints of a peer, in that order,
 * then the predicted one.  Linux masquerade keeps a flow's source port
 * unless that port is taken towards the same destination.  So when another
 * LAN host held the peer's port towards the registry, the peer's flow to us
 * may still get its local port on the public address.
 */
void punch_candidates_from_peer(struct punch_peer *p,
				const union endpoint *override,
				const union endpoint *public_ep,
				const union endpoint *private_ep);

/*
 * Checks that the set endpoints of a peer line (override, public and
 * private) are unicast addresses; the error names the field and value.
 */
int punch_peer_record_check(const struct peer_record *rec,
			    struct avpn_error *err);

/*
 * Starts (or restarts) probing: the first round is due at now_us and the
 * punch expires budget_ms later.  with_low_ttl is false for a node with no
 * NAT of its own, whose low-TTL probes would only reach the far NAT early.
 */
void punch_start(struct punch_peer *p, const struct punch_config *cfg,
		 bool with_low_ttl, uint64_t now_us);

/*
 * Holds back the probes with the normal TTL until until_us; low-TTL rounds
 * still go out.  The node that starts a punch holds them until the registry
 * has forwarded the request to the peer.  A probe that reaches the peer's
 * NAT before the peer's own low-TTL probes have opened its mapping leaves
 * the stale inbound entry described above.  A probe from the peer ends the
 * hold.
 */
void punch_hold(struct punch_peer *p, uint64_t until_us);

/*
 * Fills out[] with the probes due at now_us, at most max, and records them
 * as pending.  A round sends one probe to every candidate; the first
 * rounds send low-TTL probes to the candidates outside the LAN as well.
 * Moves the peer to PUNCH_EXPIRED when the budget has run out.  Returns the
 * number of probes.
 */
size_t punch_due(struct punch_peer *p, const struct punch_config *cfg,
		 uint64_t now_us, struct punch_send *out, size_t max);

/* When punch_due has work next, or UINT64_MAX when the peer is not
 * probing. */
uint64_t punch_next_us(const struct punch_peer *p);

/*
 * Checks the timestamp of an authenticated message from the peer: returns
 * true and records it when it is newer than every earlier one, false for
 * a replay.
 * NOTE: the last timestamp lives in memory only, so a new process replies
 * once to a probe captured earlier and replayed.  The reply goes to the
 * replayer's own address and is no larger than the probe.
 */
bool punch_timestamp_accept(struct punch_peer *p, uint64_t timestamp);

/*
 * How old a registry message may be, by the receiver's clock, to be
 * accepted.  The registry's pushes and forwards arrive within a second or
 * two, so the bound is clock skew between NTP-synced hosts with a wide
 * margin.  A restarted receiver has no last timestamp in memory, so the
 * bound limits a replay to messages captured in the last two minutes.
 */
#define PUNCH_REGISTRY_MAX_AGE_S 120

/*
 * Checks where an authenticated message from the registry came from and
 * how old it is.  It must come from the registry endpoint of the self
 * record.  Its timestamp (ns since the epoch, the registry's clock) must
 * be at most PUNCH_REGISTRY_MAX_AGE_S older than now_ns.  Returns -1 with err
 * naming the cause (the age, for a timestamp too old).  The caller still
 * rejects a timestamp not newer than the last one it accepted.
 */
int punch_registry_check(const union endpoint *registry,
			 const union endpoint *from, uint64_t timestamp_ns,
			 uint64_t now_ns, struct avpn_error *err);

/*
 * Handles an authenticated, non-replayed MSG_PROBE that arrived from
 * "from": fills reply with the MSG_PROBE_REPLY to send back to from, and
 * adopts from as a reflexive candidate.  A peer that was idle starts
 * probing (cfg and with_low_ttl as in punch_start), so that both sides learn
 * the path.  A peer still trying probes the new candidate at once.
 */
void punch_probe_received(struct punch_peer *p, const struct proto_msg *probe,
			  const union endpoint *from,
			  const struct punch_config *cfg, bool with_low_ttl,
			  uint64_t now_us, struct proto_msg *reply);

/*
 * Handles an authenticated, non-replayed MSG_PROBE_REPLY from "from".  If
 * it answers one of our pending probes, the peer is PUNCH_REACHED with
 * from as the working endpoint and true is returned.  A later reply
 * replaces the working endpoint only when it came from the LAN and the
 * current one did not.  Returns false for a reply to no probe of ours.
 */
bool punch_reply_received(struct punch_peer *p, const struct proto_msg *reply,
			  const union endpoint *from, uint64_t now_us);

/*
 * The line avpn-punch prints for a reachable peer, tab-separated:
 *   public key, name, working endpoint, local port, round-trip time in
 *   milliseconds (three decimals), how found, subnets
 */
struct punch_path {
	uint8_t public_key[AVPN_KEY_LEN];
	char name[AVPN_NAME_MAX + 1];
	union endpoint endpoint;
	uint16_t local_port;
	uint64_t rtt_us;
	enum punch_via via;
	struct subnet_list subnets;
};

#define PUNCH_PATH_FIELDS 7

/* Formats the line with its newline; returns the length needed, like
 * snprintf. */
int punch_path_format(char *out, size_t size, const struct punch_path *path);

/* Parses one path line without its newline; errors name the field. */
int punch_path_parse(struct punch_path *path, const char *line,
		     struct avpn_error *err);

/* Fills path from a reached peer. */
void punch_path_from_peer(struct punch_path *path, const struct punch_peer *p,
			  uint16_t local_port);

#endif
