/*
 * One received datagram: the checks every datagram passes (source rate,
 * header, key, authentication, replay) and the handlers of the requests.
 */
#include <string.h>

#include <sodium.h>

#include "registry.h"

/* Scalar multiplications a second for keys not in the file. */
#define UNKNOWN_RATE 20
/* MSG_KEY_MISMATCH replies a second. */
#define MISMATCH_RATE 20
/* Punch requests a second per node, and the burst allowed. */
#define PUNCH_RATE 10
#define PUNCH_BURST 10

#define NS_PER_S 1000000000ULL

static const char *const drop_texts[DROP_REASONS] = {
	[DROP_SOURCE_RATE] = "over the per-source rate limit",
	[DROP_NOT_CONTROL] = "not a control message",
	[DROP_HEADER] = "invalid header or length",
	[DROP_UNKNOWN_RATE] = "unknown key, over the rate limit",
	[DROP_UNKNOWN_FORGED] = "unknown key, authentication failed",
	[DROP_FORGED] = "authentication failed",
	[DROP_MALFORMED] = "malformed body",
	[DROP_REPLAY] = "stale timestamp",
	[DROP_UNEXPECTED] = "unexpected message type for this port",
	[DROP_WEAK_KEY] = "weak public key",
	[DROP_SEND] = "send failed",
};

const char *drop_reason_text(enum drop_reason reason)
{
	return drop_texts[reason];
}

/* Counts the drop and logs it, at most 5 lines a second per reason.  i is
 * the sender's node, or NO_NODE when the sender is not authenticated;
 * detail, if any, follows the reason in brackets. */
static void drop(struct registry *r, const struct datagram *d,
		 enum drop_reason reason, uint32_t i, const char *detail)
{
	static struct log_limit limits[DROP_REASONS];
	struct log_limit *limit = &limits[reason];
	char from[ENDPOINT_STRLEN];

	if (limit->interval_ms == 0)
		*limit = (struct log_limit)LOG_LIMIT_INIT(1000, 5);
	r->drops[reason]++;
	endpoint_format(from, &d->from);
	if (i != NO_NODE)
		log_limited(limit, LOG_LEVEL_WARN, "dropped %s from %s at %s: "
			    "%s", proto_type_name(d->buf[0]),
			    r->table.auth.nodes[i].name, from,
			    drop_texts[reason]);
	else
		log_limited(limit, LOG_LEVEL_WARN, "dropped datagram from %s: "
			    "%s%s%s%s", from, drop_texts[reason],
			    detail != NULL ? " (" : "",
			    detail != NULL ? detail : "",
			    detail != NULL ? ")" : "");
}

/* Logs a rejected request of node i, at most 20 lines a second. */
static void log_rejection(struct registry *r, const struct datagram *d,
			  uint32_t i, const char *reason)
{
	static struct log_limit limit = LOG_LIMIT_INIT(1000, 20);
	char from[ENDPOINT_STRLEN];

	endpoint_format(from, &d->from);
	log_limited(&limit, LOG_LEVEL_WARN, "rejected %s from %s at %s: %s",
		    proto_type_name(d->buf[0]), r->table.auth.nodes[i].name,
		    from, reason);
}

static void send_error(struct registry *r, const struct datagram *d,
		       uint32_t i, const struct proto_msg *req, uint8_t code,
		       const struct subnet *net)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_ERROR;
	m.echo = req->timestamp;
	m.u.error.request_type = req->type;
	m.u.error.code = code;
	if (net != NULL)
		m.u.error.subnet = *net;
	send_to_node(r, d->reply, &d->from, i, &m);
}

/*
 * Sends PERR_CLOCK_SKEW or PERR_STALE_TIMESTAMP with the registry's time.
 * The request's timestamp was not accepted, so the datagram may be a
 * replay sent from a spoofed source address.  So the reply goes out only
 * when it is no larger than the request, and it is sealed, so it reveals
 * nothing to that address.
 */
static void send_clock_error(struct registry *r, const struct datagram *d,
			     uint32_t i, const struct proto_msg *req,
			     uint8_t code, uint64_t time_ns)
{
	struct proto_msg m;

	if (d->len < PROTO_ERROR_LEN)
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_ERROR;
	m.echo = req->timestamp;
	m.u.error.request_type = req->type;
	m.u.error.code = code;
	m.u.error.time_ns = time_ns;
	send_to_node(r, d->reply, &d->from, i, &m);
}

/*
 * Rejects a timestamp too far ahead of the registry's clock, which would
 * lock the node out until its clock caught up, and one not after the last
 * accepted from node i, a replay or a clock that went back.  A rejected
 * timestamp leaves the node's state as it was.
 */
static bool timestamp_accepted(struct registry *r, const struct datagram *d,
			       uint32_t i, const struct proto_msg *m)
{
	uint64_t now_ns = (uint64_t)r->now_s * NS_PER_S;
	uint64_t last = r->table.nodes[i].last_ts;
	char reason[96];

	if (m->timestamp > now_ns + (uint64_t)PROTO_MAX_AHEAD_S * NS_PER_S) {
		snprintf(reason, sizeof(reason), "timestamp %llu s ahead of "
			 "the registry's clock",
			 (unsigned long long)((m->timestamp - now_ns) /
					      NS_PER_S));
		log_rejection(r, d, i, reason);
		send_clock_error(r, d, i, m, PERR_CLOCK_SKEW, now_ns);
		return false;
	}
	if (m->timestamp <= last) {
		drop(r, d, DROP_REPLAY, i, NULL);
		send_clock_error(r, d, i, m, PERR_STALE_TIMESTAMP, last);
		return false;
	}
	return true;
}

static void reply_register_ack(struct registry *r, const struct datagram *d,
			       uint32_t i, const struct proto_msg *req)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_REGISTER_ACK;
	m.echo = req->timestamp;
	strlcpy(m.u.reg_ack.name, r->table.auth.nodes[i].name,
		sizeof(m.u.reg_ack.name));
	m.u.reg_ack.observed = d->from;
	m.u.reg_ack.lifetime = r->cfg->lifetime_s;
	m.u.reg_ack.nat_port = r->cfg->nat_port;
	send_to_node(r, d->reply, &d->from, i, &m);
}

/*
 * Names, in out, the parts of the registration that change what the node's
 * peers learn ("LAN endpoint, NAT type endpoint-independent"), and returns
 * whether there is any.
 */
static bool registration_differs(const struct table *t, uint32_t i,
				 const struct msg_register *reg, char *out,
				 size_t size)
{
	const struct node *n = &t->nodes[i];
	struct packed_ep private_ep, override;
	struct subnet_list old;
	bool subnets_differ;

	packed_ep_set(&private_ep, &reg->private_ep);
	packed_ep_set(&override, &reg->override);
	node_get_subnets(t, i, &old);
	subnets_differ = old.count != reg->subnets.count ||
			 memcmp(old.nets, reg->subnets.nets,
				old.count * sizeof(old.nets[0])) != 0;
	out[0] = '\0';
	if (!packed_ep_equal(&n->private_ep, &private_ep))
		strlcat(out, ", LAN endpoint", size);
	if (!packed_ep_equal(&n->override, &override))
		strlcat(out, ", port forward", size);
	if (subnets_differ)
		strlcat(out, ", subnets", size);
	if (n->nat != reg->nat) {
		strlcat(out, ", NAT type ", size);
		strlcat(out, nat_type_name(reg->nat), size);
	}
	if (out[0] == '\0')
		return false;
	/* Drop the leading ", ". */
	memmove(out, out + 2, strlen(out + 2) + 1);
	return true;
}

/* Stores the registration and pushes what changed to the node's peers.
 * Endpoints are formatted only for the log lines, off the refresh path. */
static void store_registration(struct registry *r, const struct datagram *d,
			       uint32_t i, const struct msg_register *reg)
{
	struct node *n = &r->table.nodes[i];
	const char *name = r->table.auth.nodes[i].name;
	char from[ENDPOINT_STRLEN], before[ENDPOINT_STRLEN];
	bool was = n->flags & NODE_REGISTERED;
	char changes[96] = "";
	bool differs = !was || registration_differs(&r->table, i, reg,
						     changes, sizeof(changes));
	struct packed_ep observed;
	union endpoint old;
	bool moved;

	packed_ep_set(&observed, &d->from);
	moved = was && !packed_ep_equal(&observed, &n->observed);
	packed_ep_get(&old, &n->observed);
	n->observed = observed;
	packed_ep_set(&n->private_ep, &reg->private_ep);
	packed_ep_set(&n->override, &reg->override);
	n->nat = reg->nat;
	table_refresh(&r->table, i, r->now_ms);
	if (!differs && !moved)
		return;
	endpoint_format(from, &d->from);
	endpoint_format(before, &old);
	if (!was) {
		log_msg(LOG_LEVEL_INFO, "registered %s from %s", name, from);
		push_update(r, i, UPDATE_APPEARED);
	} else if (moved) {
		log_msg(LOG_LEVEL_INFO, "%s moved from %s to %s", name, before,
			from);
		push_update(r, i, UPDATE_MOVED);
	} else {
		log_msg(LOG_LEVEL_INFO, "%s changed its registration: %s", name,
			changes);
		push_update(r, i, UPDATE_MOVED);
	}
}

static void handle_register(struct registry *r, const struct datagram *d,
			    uint32_t i, const struct proto_msg *m)
{
	const struct msg_register *reg = &m->u.reg;
	const struct node *n = &r->table.nodes[i];
	char net[SUBNET_STRLEN], reason[96];
	size_t bad;

	if (!node_subnets_allowed(&r->table, i, &reg->subnets, &bad)) {
		subnet_format(net, &reg->subnets.nets[bad]);
		snprintf(reason, sizeof(reason), "subnet %s not allowed", net);
		log_rejection(r, d, i, reason);
		send_error(r, d, i, m, PERR_SUBNET_NOT_ALLOWED,
			   &reg->subnets.nets[bad]);
		return;
	}
	if (!(n->flags & NODE_REGISTERED) && r->cfg->max_entries != 0 &&
	    r->table.registered >= r->cfg->max_entries) {
		snprintf(reason, sizeof(reason), "table full (%zu entries)",
			 r->table.registered);
		log_rejection(r, d, i, reason);
		send_error(r, d, i, m, PERR_TABLE_FULL, NULL);
		return;
	}
	if (node_set_subnets(&r->table, i, &reg->subnets) == -1) {
		log_rejection(r, d, i, "out of memory");
		send_error(r, d, i, m, PERR_TABLE_FULL, NULL);
		return;
	}
	store_registration(r, d, i, reg);
	reply_register_ack(r, d, i, m);
}

static void handle_binding(struct registry *r, const struct datagram *d,
			   uint32_t i, const struct proto_msg *req)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_BINDING_ACK;
	m.echo = req->timestamp;
	m.u.binding_ack.observed = d->from;
	send_to_node(r, d->reply, &d->from, i, &m);
}

/* Takes a token from node i's punch bucket. */
static bool punch_allowed(struct registry *r, uint32_t i)
{
	struct node *n = &r->table.nodes[i];
	struct bucket b;
	bool ok;

	/* The node keeps the refill time in 32 bits, which wrap every 49
	 * days; 0 means never, so the first punch finds a full bucket. */
	b.tokens = n->punch_tokens;
	b.stamp_ms = 0;
	if (n->punch_ms != 0)
		b.stamp_ms = r->now_ms - (uint32_t)((uint32_t)r->now_ms -
						     n->punch_ms);
	ok = bucket_take(&b, r->now_ms, PUNCH_RATE, PUNCH_BURST);
	n->punch_tokens = (uint8_t)b.tokens;
	n->punch_ms = (uint32_t)b.stamp_ms;
	return ok;
}

/* Returns the error code for a punch from i to target, or 0. */
static uint8_t punch_check(struct registry *r, const struct datagram *d,
			   uint32_t i, uint32_t target)
{
	const struct auth_list *auth = &r->table.auth;
	char reason[96];

	if (!(r->table.nodes[i].flags & NODE_REGISTERED)) {
		log_rejection(r, d, i, "sender not registered");
		return PERR_BAD_REQUEST;
	}
	if (target == NO_NODE) {
		log_rejection(r, d, i, "target key not authorized");
		return PERR_PEER_UNKNOWN;
	}
	if (!auth_may_reach(auth, i, target) &&
	    !auth_may_reach(auth, target, i)) {
		snprintf(reason, sizeof(reason), "target %s not allowed",
			 auth->nodes[target].name);
		log_rejection(r, d, i, reason);
		return PERR_PEER_NOT_ALLOWED;
	}
	if (!(r->table.nodes[target].flags & NODE_REGISTERED)) {
		snprintf(reason, sizeof(reason), "target %s not registered",
			 auth->nodes[target].name);
		log_rejection(r, d, i, reason);
		return PERR_PEER_UNKNOWN;
	}
	if (!punch_allowed(r, i)) {
		log_rejection(r, d, i, "over the punch rate limit");
		return PERR_RATE_LIMITED;
	}
	return 0;
}

/* Forwards the punch to the target with the sender's details, so both
 * sides start sending at once. */
static void handle_punch(struct registry *r, const struct datagram *d,
			 uint32_t i, const struct proto_msg *m)
{
	uint32_t target = table_find(&r->table, m->u.punch.target);
	uint8_t code = punch_check(r, d, i, target);
	union endpoint to;
	struct proto_msg fwd, ack;

	if (code != 0) {
		send_error(r, d, i, m, code, NULL);
		return;
	}
	memset(&fwd, 0, sizeof(fwd));
	fwd.type = MSG_PUNCH;
	memcpy(fwd.u.punch.target, m->u.punch.target, AVPN_KEY_LEN);
	node_to_peer(r, i, &fwd.u.punch.peer);
	packed_ep_get(&to, &r->table.nodes[target].observed);
	send_to_node(r, r->main_out, &to, target, &fwd);
	/* MSG_PUNCH back to the sender, echoing its timestamp, means the
	 * peer has the request, so the sender may start its normal probes. */
	memset(&ack, 0, sizeof(ack));
	ack.type = MSG_PUNCH;
	ack.echo = m->timestamp;
	memcpy(ack.u.punch.target, m->u.punch.target, AVPN_KEY_LEN);
	send_to_node(r, d->reply, &d->from, i, &ack);
	log_msg(LOG_LEVEL_DEBUG, "forwarded PUNCH from %s to %s",
		r->table.auth.nodes[i].name,
		r->table.auth.nodes[target].name);
}

static void dispatch(struct registry *r, const struct datagram *d,
		     uint32_t i, const struct proto_msg *m)
{
	if (d->nat_port) {
		if (m->type == MSG_BINDING)
			handle_binding(r, d, i, m);
		else
			drop(r, d, DROP_UNEXPECTED, i, NULL);
		return;
	}
	switch (m->type) {
	case MSG_REGISTER:
		handle_register(r, d, i, m);
		break;
	case MSG_QUERY:
		send_peers(r, d->reply, &d->from, i, m->timestamp);
		break;
	case MSG_PUNCH:
		handle_punch(r, d, i, m);
		break;
	default:
		drop(r, d, DROP_UNEXPECTED, i, NULL);
	}
}

/*
 * A datagram sealed for our key by a key not in the file.  Checking it
 * costs a scalar multiplication, so only UNKNOWN_RATE a second are.  An
 * authentic one gets PERR_NOT_AUTHORIZED, but only when the reply is no
 * larger than the request.  The sender may be spoofing a victim's address
 * with a key of its own.
 */
static void handle_stranger(struct registry *r, const struct datagram *d,
			    const uint8_t sender[AVPN_KEY_LEN])
{
	static struct log_limit limit = LOG_LIMIT_INIT(1000, 5);
	char key[AVPN_KEY_BASE64_LEN + 1], from[ENDPOINT_STRLEN];
	uint8_t shared[32];
	struct proto_msg m, reply;
	bool answered;

	key_to_base64(key, sender);
	if (!bucket_take(&r->unknown_bucket, r->now_ms, UNKNOWN_RATE,
			 UNKNOWN_RATE)) {
		drop(r, d, DROP_UNKNOWN_RATE, NO_NODE, key);
		return;
	}
	if (proto_shared_key(shared, r->private_key, sender) == -1) {
		drop(r, d, DROP_WEAK_KEY, NO_NODE, key);
		return;
	}
	if (proto_open(&m, d->buf, d->len, shared, NULL) == -1) {
		sodium_memzero(shared, sizeof(shared));
		drop(r, d, DROP_UNKNOWN_FORGED, NO_NODE, key);
		return;
	}
	answered = d->len >= PROTO_ERROR_LEN;
	if (answered) {
		memset(&reply, 0, sizeof(reply));
		reply.type = MSG_ERROR;
		reply.echo = m.timestamp;
		reply.u.error.request_type = m.type;
		reply.u.error.code = PERR_NOT_AUTHORIZED;
		send_sealed(r, d->reply, &d->from, sender, shared, &reply);
	}
	sodium_memzero(shared, sizeof(shared));
	endpoint_format(from, &d->from);
	log_limited(&limit, LOG_LEVEL_WARN, "rejected %s from %s: key %s not "
		    "authorized%s", proto_type_name(m.type), from, key,
		    answered ? "" : " (no reply: the request is smaller than the reply)");
}

static void reply_key_mismatch(struct registry *r, const struct datagram *d)
{
	static struct log_limit limit = LOG_LIMIT_INIT(1000, 5);
	char from[ENDPOINT_STRLEN];
	uint8_t buf[64];
	ssize_t len;

	endpoint_format(from, &d->from);
	if (!bucket_take(&r->mismatch_bucket, r->now_ms, MISMATCH_RATE,
			 MISMATCH_RATE)) {
		log_limited(&limit, LOG_LEVEL_WARN, "dropped datagram from %s: "
			    "sealed for another registry key, over the rate "
			    "limit", from);
		return;
	}
	len = proto_key_mismatch(buf, sizeof(buf), r->public_key);
	if (len > 0 && (size_t)len <= d->len)
		net_queue(r, d->reply, &d->from, buf, (size_t)len);
	log_limited(&limit, LOG_LEVEL_WARN, "sent KEY_MISMATCH to %s: datagram "
		    "sealed for another registry key", from);
}

/* Computes node i's shared key on its first datagram. */
static bool node_keyed(struct registry *r, uint32_t i)
{
	struct node *n = &r->table.nodes[i];

	if (n->flags & NODE_KEYED)
		return true;
	if (n->flags & NODE_WEAK_KEY)
		return false;
	if (proto_shared_key(n->shared, r->private_key,
			     r->table.auth.nodes[i].public_key) == -1) {
		n->flags |= NODE_WEAK_KEY;
		return false;
	}
	n->flags |= NODE_KEYED;
	return true;
}

/*
 * Authenticates the datagram and checks its timestamp.  Returns the
 * sender's node, or NO_NODE when the datagram was dropped or already
 * replied to here.
 */
static uint32_t authenticate(struct registry *r, const struct datagram *d,
			     struct proto_msg *m)
{
	char claimed[AVPN_NAME_MAX + 8];
	struct avpn_error e;
	uint8_t type, sender[AVPN_KEY_LEN];
	bool for_me;
	uint32_t i;

	if (d->len == 0 || !proto_is_control(d->buf[0])) {
		drop(r, d, DROP_NOT_CONTROL, NO_NODE, NULL);
		return NO_NODE;
	}
	if (proto_peek(d->buf, d->len, &type, sender, r->public_key,
		       &for_me) == -1) {
		drop(r, d, DROP_HEADER, NO_NODE, NULL);
		return NO_NODE;
	}
	if (!for_me) {
		reply_key_mismatch(r, d);
		return NO_NODE;
	}
	i = table_find(&r->table, sender);
	if (i == NO_NODE) {
		handle_stranger(r, d, sender);
		return NO_NODE;
	}
	if (!node_keyed(r, i)) {
		drop(r, d, DROP_WEAK_KEY, i, NULL);
		return NO_NODE;
	}
	if (proto_open(m, d->buf, d->len, r->table.nodes[i].shared, &e) == -1) {
		/* Only a malformed body proves the sender had the key. */
		if (strncmp(e.text, "malformed", 9) == 0)
			drop(r, d, DROP_MALFORMED, i, NULL);
		else {
			snprintf(claimed, sizeof(claimed), "key of %s",
				 r->table.auth.nodes[i].name);
			drop(r, d, DROP_FORGED, NO_NODE, claimed);
		}
		return NO_NODE;
	}
	if (!timestamp_accepted(r, d, i, m))
		return NO_NODE;
	return i;
}

void registry_handle(struct registry *r, const struct datagram *d)
{
	struct proto_msg m;
	uint32_t i;

	if (!source_allowed(r, &d->from)) {
		drop(r, d, DROP_SOURCE_RATE, NO_NODE, NULL);
		return;
	}
	i = authenticate(r, d, &m);
	if (i == NO_NODE)
		return;
	r->table.nodes[i].last_ts = m.timestamp;
	r->dirty = true;
	dispatch(r, d, i, &m);
}
