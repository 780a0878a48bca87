/*
 * Punch requests through the registry: MSG_PUNCH names a peer, the
 * registry forwards it to the peer's registered endpoint and acknowledges
 * it with MSG_PUNCH echoing our timestamp, or rejects it with MSG_ERROR.
 * A MSG_PUNCH from the registry without an echo is another node's request
 * forwarded to us: we probe that node back.
 */
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "run.h"

static struct log_limit registry_limit = LOG_LIMIT_INIT(1000, 5);

static void registry_send_one(struct run *r, struct peer_entry *pe,
			      uint64_t now)
{
	struct proto_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = MSG_PUNCH;
	msg.timestamp = proto_timestamp();
	memcpy(msg.u.punch.target, pe->punch.public_key, AVPN_KEY_LEN);
	pe->request_stamps[pe->request_sends++] = msg.timestamp;
	net_send(r, r->self.registry_key, r->registry_shared, &msg,
		 &r->self.registry, 0);
	if (pe->request_sends == 1 && pe->punch.hold_until_us > now)
		punch_hold(&pe->punch, now + (uint64_t)HOLD_NO_ACK_MS * 1000);
	pe->request_next_us = now + (uint64_t)REQUEST_FIRST_RETRY_MS * 1000 *
		(1u << (pe->request_sends - 1));
}

/* Takes a token for one request; false when the rate is used up. */
static bool registry_take_token(struct run *r, uint64_t now)
{
	const uint64_t gap_us = 1000000 / REQUEST_RATE;

	while (r->request_tokens < REQUEST_RATE &&
	       now >= r->request_refill_us + gap_us) {
		r->request_tokens++;
		r->request_refill_us += gap_us;
	}
	if (r->request_tokens == REQUEST_RATE)
		r->request_refill_us = now;
	if (r->request_tokens == 0)
		return false;
	r->request_tokens--;
	return true;
}

void registry_send_requests(struct run *r, uint64_t now)
{
	struct peer_entry *pe;
	size_t i;

	for (i = 0; i < r->peer_count; i++) {
		pe = &r->peers[i];
		if (pe->request != REQUEST_SENT || now < pe->request_next_us)
			continue;
		/* A peer reached already needs no forwarding. */
		if (pe->punch.state == PUNCH_REACHED ||
		    pe->request_sends == REQUEST_MAX_SENDS) {
			pe->request_next_us = UINT64_MAX;
			continue;
		}
		if (!registry_take_token(r, now))
			return;
		registry_send_one(r, pe, now);
	}
}

uint64_t registry_next_us(const struct run *r)
{
	uint64_t next = UINT64_MAX;
	size_t i;

	for (i = 0; i < r->peer_count; i++)
		if (r->peers[i].request == REQUEST_SENT &&
		    r->peers[i].request_next_us < next)
			next = r->peers[i].request_next_us;
	/* With the tokens used up, nothing can leave before the next one. */
	if (next != UINT64_MAX && r->request_tokens == 0 &&
	    next < r->request_refill_us + 1000000 / REQUEST_RATE)
		next = r->request_refill_us + 1000000 / REQUEST_RATE;
	return next;
}

/* The peer whose punch request carried this timestamp, or NULL. */
static struct peer_entry *registry_request_peer(struct run *r, uint64_t echo)
{
	size_t i;
	unsigned int j;

	for (i = 0; i < r->peer_count; i++)
		for (j = 0; j < r->peers[i].request_sends; j++)
			if (echo != 0 && r->peers[i].request_stamps[j] == echo)
				return &r->peers[i];
	return NULL;
}

static void registry_handle_error(struct run *r, const struct proto_msg *msg)
{
	struct peer_entry *pe = registry_request_peer(r, msg->echo);

	if (pe == NULL || msg->u.error.request_type != MSG_PUNCH) {
		log_msg(LOG_LEVEL_WARN, "the registry rejected a request: %s",
			proto_error_name(msg->u.error.code));
		return;
	}
	if (pe->request != REQUEST_SENT)
		return;
	/* A stale timestamp means another program with our key got a later
	 * one in first; the resend carries a newer timestamp. */
	if ((msg->u.error.code == PERR_RATE_LIMITED ||
	     msg->u.error.code == PERR_STALE_TIMESTAMP) &&
	    pe->request_sends < REQUEST_MAX_SENDS) {
		log_msg(LOG_LEVEL_INFO, "%s: punch request rejected (%s); "
			"sending it again in %d ms", pe->punch.name,
			proto_error_name(msg->u.error.code),
			REQUEST_RATE_LIMITED_RETRY_MS);
		pe->request = REQUEST_SENT;
		pe->request_next_us = now_us() +
			(uint64_t)REQUEST_RATE_LIMITED_RETRY_MS * 1000;
		return;
	}
	pe->request = REQUEST_REJECTED;
	pe->error_code = msg->u.error.code;
	log_msg(LOG_LEVEL_WARN, "%s: the registry rejected the punch "
		"request: %s", pe->punch.name,
		proto_error_name(msg->u.error.code));
	/* The registry's rules keep us apart: the peer drops our probes
	 * too, so probing on would only delay the verdict. */
	if (msg->u.error.code == PERR_PEER_NOT_ALLOWED ||
	    msg->u.error.code == PERR_NOT_AUTHORIZED)
		if (pe->punch.state == PUNCH_TRYING)
			pe->punch.state = PUNCH_EXPIRED;
}

static void registry_handle_ack(struct run *r, const struct proto_msg *msg)
{
	struct peer_entry *pe = registry_request_peer(r, msg->echo);
	uint64_t now = now_us();

	if (pe == NULL || memcmp(pe->punch.public_key, msg->u.punch.target,
				 AVPN_KEY_LEN) != 0) {
		log_msg(LOG_LEVEL_DEBUG, "ignored a punch acknowledgement "
			"for no request of ours");
		return;
	}
	if (pe->request != REQUEST_SENT)
		return;
	log_msg(LOG_LEVEL_INFO, "%s: the registry forwarded the punch "
		"request", pe->punch.name);
	pe->request = REQUEST_ACKED;
	if (pe->punch.hold_until_us > now)
		punch_hold(&pe->punch, now + (uint64_t)HOLD_AFTER_ACK_MS * 1000);
}

/* Fills a peer from the registry's description of it. */
static void registry_fill_peer(struct peer_entry *pe,
			       const struct msg_peer *p)
{
	pe->punch.nat = p->nat;
	pe->punch.subnets = p->subnets;
	pe->public_ep = p->public_ep;
	pe->has_override = endpoint_is_set(&p->override);
	punch_candidates_from_peer(&pe->punch, &p->override, &p->public_ep,
				   &p->private_ep);
}

/* Another node asked the registry to have us punch back. */
static void registry_handle_forward(struct run *r, const struct proto_msg *msg)
{
	const struct msg_peer *p = &msg->u.punch.peer;
	struct peer_entry *pe;
	uint64_t now = now_us();

	if (memcmp(msg->u.punch.target, r->my_public, AVPN_KEY_LEN) != 0 ||
	    p->name[0] == '\0') {
		log_msg(LOG_LEVEL_WARN, "dropped a forwarded punch request "
			"addressed to another node");
		return;
	}
	pe = run_find_peer(r, p->public_key);
	if (pe == NULL)
		pe = run_add_peer(r, p->public_key, p->name);
	if (pe == NULL) {
		log_msg(LOG_LEVEL_WARN, "dropped the punch request of %s: "
			"too many peers or a weak key", p->name);
		return;
	}
	pe->forwarded = true;
	registry_fill_peer(pe, p);
	log_msg(LOG_LEVEL_INFO, "%s: asked to punch back", pe->punch.name);
	if (pe->punch.state == PUNCH_REACHED ||
	    pe->punch.state == PUNCH_TRYING)
		return;
	run_start_peer(r, pe, now);
	if (r->self.nat != NAT_DEPENDENT && pe->punch.nat != NAT_NONE)
		punch_hold(&pe->punch,
			   now + (uint64_t)HOLD_RESPONDER_MS * 1000);
}

void registry_handle(struct run *r, const uint8_t *buf, size_t len,
		     const union endpoint *from)
{
	struct proto_msg msg;
	struct avpn_error e;

	if (proto_open(&msg, buf, len, r->registry_shared, &e) == -1) {
		log_limited(&registry_limit, LOG_LEVEL_WARN, "dropped forged "
			    "%s claiming to be from the registry: %s",
			    proto_type_name(buf[0]), e.text);
		return;
	}
	if (punch_registry_check(&r->self.registry, from, msg.timestamp,
				 proto_timestamp(), &e) == -1) {
		log_limited(&registry_limit, LOG_LEVEL_WARN, "dropped %s "
			    "claiming to be from the registry: %s",
			    proto_type_name(msg.type), e.text);
		return;
	}
	if (msg.timestamp <= r->registry_last_stamp) {
		log_limited(&registry_limit, LOG_LEVEL_WARN, "dropped "
			    "replayed %s from the registry",
			    proto_type_name(msg.type));
		return;
	}
	r->registry_last_stamp = msg.timestamp;
	if (msg.type == MSG_ERROR)
		registry_handle_error(r, &msg);
	else if (msg.type == MSG_PUNCH && msg.echo != 0)
		registry_handle_ack(r, &msg);
	else if (msg.type == MSG_PUNCH)
		registry_handle_forward(r, &msg);
	else
		log_msg(LOG_LEVEL_DEBUG, "ignored %s from the registry",
			proto_type_name(msg.type));
}
