/*
 * Control datagrams on the tunnel's port (first byte 0x10-0x1f): peer
 * updates and punch requests pushed by the registry, and probes between
 * nodes.  The probe schedule and checks are common/punch.c, shared with
 * avpn-punch.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "proto.h"
#include "sock.h"
#include "tunnel.h"

static const struct punch_config punch_config = PUNCH_CONFIG_DEFAULT;

static uint64_t clock_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/* Rejected registry messages, each logged with its cause. */
static struct log_limit registry_limit = LOG_LIMIT_INIT(1000, 5);

static uint64_t clock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Our own probes start with low-TTL rounds only when we sit behind a NAT
 * whose mapping they open. */
static bool control_low_ttl(const struct tunnel *t)
{
	return t->self.nat != NAT_NONE;
}

void control_init(struct tunnel *t)
{
	t->has_registry = !sodium_is_zero(t->self.registry_key, AVPN_KEY_LEN) &&
			  proto_shared_key(t->registry_shared, t->private_key,
					   t->self.registry_key) == 0;
}

void control_peer_init(struct tunnel *t, struct peer *p)
{
	punch_peer_init(&p->punch, p->public_key, p->name);
	p->has_shared_key = proto_shared_key(p->punch.shared, t->private_key,
					     p->public_key) == 0;
}

static void control_send(struct tunnel *t, const struct proto_msg *msg,
			 const struct peer *p, const union endpoint *to,
			 uint8_t ttl)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	ssize_t n;

	n = proto_seal(buf, sizeof(buf), msg, t->public_key, p->public_key,
		       p->punch.shared);
	if (n < 0) {
		log_msg(LOG_LEVEL_ERROR, "cannot seal %s for peer %s",
			proto_type_name(msg->type), p->name);
		return;
	}
	hs_send_datagram(t, to, buf, (size_t)n, ttl);
}

void control_run_timers(struct tunnel *t, struct peer *p, uint64_t now_us)
{
	struct punch_send sends[PUNCH_MAX_CANDIDATES];
	size_t i, n;

	if (!p->has_shared_key || punch_next_us(&p->punch) > now_us)
		return;
	n = punch_due(&p->punch, &punch_config, now_us, sends,
		      PUNCH_MAX_CANDIDATES);
	for (i = 0; i < n; i++)
		control_send(t, &sends[i].msg, p, &sends[i].dest,
			     sends[i].ttl);
	if (p->punch.state == PUNCH_EXPIRED && n == 0)
		log_msg(LOG_LEVEL_INFO, "punching toward peer %s found no "
			"path in %u s", p->name, punch_config.budget_ms / 1000);
}

/* Probes the peer's endpoints: a registry punch request or update. */
static void control_punch(struct tunnel *t, struct peer *p,
			  const struct msg_peer *mp)
{
	p->punch.candidate_count = 0;
	punch_candidates_from_peer(&p->punch, &mp->override, &mp->public_ep,
				   &mp->private_ep);
	punch_start(&p->punch, &punch_config, control_low_ttl(t),
		    clock_monotonic_us());
	log_msg(LOG_LEVEL_INFO, "punching toward peer %s (%zu endpoints)",
		p->name, p->punch.candidate_count);
	control_run_timers(t, p, clock_monotonic_us());
}

static void control_update(struct tunnel *t, const struct msg_update *u)
{
	struct peer *p = peer_find(t, u->peer.public_key);

	if (u->event == UPDATE_LEFT) {
		if (p == NULL)
			return;
		log_msg(LOG_LEVEL_INFO, "peer %s removed: it left the "
			"registry", p->name);
		peer_destroy(p);
		return;
	}
	p = config_peer_from_update(t, &u->peer);
	if (p != NULL && u->event == UPDATE_MOVED)
		control_punch(t, p, &u->peer);
}

static void control_from_registry(struct tunnel *t, const uint8_t *buf,
				  size_t len, const union endpoint *from)
{
	struct avpn_error e;
	struct proto_msg msg;
	struct peer *p;

	if (proto_open(&msg, buf, len, t->registry_shared, &e) == -1 ||
	    msg.timestamp <= t->registry_timestamp) {
		dp_drop(t, DROP_CONTROL, "registry", from);
		return;
	}
	if (punch_registry_check(&t->self.registry, from, msg.timestamp,
				 clock_realtime_ns(), &e) == -1) {
		log_limited(&registry_limit, LOG_LEVEL_WARN, "dropped %s "
			    "claiming to be from the registry: %s",
			    proto_type_name(msg.type), e.text);
		dp_drop(t, DROP_CONTROL, "registry", from);
		return;
	}
	t->registry_timestamp = msg.timestamp;
	if (msg.type == MSG_UPDATE) {
		control_update(t, &msg.u.update);
	} else if (msg.type == MSG_PUNCH && msg.echo == 0) {
		p = config_peer_from_update(t, &msg.u.punch.peer);
		if (p != NULL)
			control_punch(t, p, &msg.u.punch.peer);
	} else {
		/* Replies meant for a cron tool whose socket is gone. */
		log_msg(LOG_LEVEL_DEBUG, "ignored %s from the registry",
			proto_type_name(msg.type));
	}
}

static void control_probe_reply(struct tunnel *t, struct peer *p,
				const struct proto_msg *msg,
				const union endpoint *from)
{
	char ep[ENDPOINT_STRLEN];

	if (!punch_reply_received(&p->punch, msg, from, clock_monotonic_us()))
		return;
	if (endpoint_equal(&p->endpoint, &p->punch.working) &&
	    wg_peer_can_send(p->wg, clock_monotonic_ms()))
		return;
	endpoint_format(ep, &p->punch.working);
	log_msg(LOG_LEVEL_INFO, "path to peer %s found at %s (%s)", p->name,
		ep, punch_via_name(p->punch.found));
	peer_set_endpoint(p, &p->punch.working);
	if (!wg_peer_can_send(p->wg, clock_monotonic_ms()))
		hs_send_initiation(t, p);
}

static void control_from_peer(struct tunnel *t, struct peer *p,
			      const uint8_t *buf, size_t len,
			      const union endpoint *from)
{
	struct proto_msg msg, reply;
	struct avpn_error e;

	if (proto_open(&msg, buf, len, p->punch.shared, &e) == -1 ||
	    !punch_timestamp_accept(&p->punch, msg.timestamp)) {
		dp_drop(t, DROP_CONTROL, p->name, from);
		return;
	}
	if (msg.type == MSG_PROBE) {
		punch_probe_received(&p->punch, &msg, from, &punch_config,
				     control_low_ttl(t), clock_monotonic_us(),
				     &reply);
		control_send(t, &reply, p, from, 0);
		if (!endpoint_is_set(&p->endpoint))
			peer_set_endpoint(p, from);
	} else if (msg.type == MSG_PROBE_REPLY) {
		control_probe_reply(t, p, &msg, from);
	} else {
		dp_drop(t, DROP_CONTROL, p->name, from);
	}
}

void control_receive(struct tunnel *t, const uint8_t *buf, size_t len,
		     const union endpoint *from)
{
	uint8_t type, sender[AVPN_KEY_LEN];
	struct peer *p;
	bool for_me;

	if (proto_peek(buf, len, &type, sender, t->public_key, &for_me) == -1 ||
	    !for_me) {
		dp_drop(t, DROP_CONTROL, NULL, from);
		return;
	}
	if (t->has_registry &&
	    memcmp(sender, t->self.registry_key, AVPN_KEY_LEN) == 0) {
		control_from_registry(t, buf, len, from);
		return;
	}
	p = peer_find(t, sender);
	if (p == NULL || !p->has_shared_key) {
		dp_drop(t, DROP_CONTROL, NULL, from);
		return;
	}
	control_from_peer(t, p, buf, len, from);
}
