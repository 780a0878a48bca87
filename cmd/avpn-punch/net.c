/*
 * Sending probes and receiving every datagram on the node's port: probes
 * and replies from peers, and the registry's acknowledgements, errors and
 * forwarded punch requests.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "run.h"

/* Datagrams handled per wake-up, so a flood cannot starve the schedule. */
#define RECEIVE_BATCH 64

static struct log_limit forged_limit = LOG_LIMIT_INIT(1000, 5);
static struct log_limit replay_limit = LOG_LIMIT_INIT(1000, 5);
static struct log_limit unknown_limit = LOG_LIMIT_INIT(1000, 5);
static struct log_limit other_limit = LOG_LIMIT_INIT(1000, 5);

/* Sends buf with the given TTL (hop limit for IPv6) in a control message,
 * so the socket's own TTL stays as it is. */
static ssize_t net_sendto_ttl(int fd, const uint8_t *buf, size_t len,
			      const union endpoint *to, uint8_t ttl)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
			     .iov_len = len };
	struct msghdr mh = { .msg_name = (void *)(uintptr_t)&to->sa,
			     .msg_namelen = endpoint_len(to),
			     .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int value = ttl;

	if (ttl == 0)
		return sendmsg(fd, &mh, 0);
	memset(&control, 0, sizeof(control));
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = to->sa.sa_family == AF_INET6 ? IPPROTO_IPV6 :
		IPPROTO_IP;
	cm->cmsg_type = to->sa.sa_family == AF_INET6 ? IPV6_HOPLIMIT : IP_TTL;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &value, sizeof(value));
	return sendmsg(fd, &mh, 0);
}

void net_send(struct run *r, const uint8_t *their_public,
	      const uint8_t *shared, struct proto_msg *msg,
	      const union endpoint *to, uint8_t ttl)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	char text[ENDPOINT_STRLEN];
	ssize_t len;

	endpoint_format(text, to);
	if (to->sa.sa_family != r->self.local.sa.sa_family) {
		log_msg(LOG_LEVEL_DEBUG, "skipped %s: another address family",
			text);
		return;
	}
	len = proto_seal(buf, sizeof(buf), msg, r->my_public, their_public,
			 shared);
	if (len == -1) {
		log_msg(LOG_LEVEL_ERROR, "%s to %s does not fit a datagram",
			proto_type_name(msg->type), text);
		return;
	}
	if (net_sendto_ttl(r->fd, buf, (size_t)len, to, ttl) == -1)
		log_msg(LOG_LEVEL_DEBUG, "sending %s to %s failed: %s",
			proto_type_name(msg->type), text, strerror(errno));
	else
		log_msg(LOG_LEVEL_DEBUG, "sent %s to %s%s",
			proto_type_name(msg->type), text,
			ttl ? " with a low TTL" : "");
}

void net_send_probes(struct run *r, uint64_t now)
{
	struct punch_send sends[PUNCH_MAX_CANDIDATES];
	struct peer_entry *pe;
	size_t i, j, n;

	for (i = 0; i < r->peer_count; i++) {
		pe = &r->peers[i];
		n = punch_due(&pe->punch, &r->config, now, sends,
			      PUNCH_MAX_CANDIDATES);
		for (j = 0; j < n; j++)
			net_send(r, pe->punch.public_key, pe->punch.shared,
				 &sends[j].msg, &sends[j].dest, sends[j].ttl);
	}
}

static void net_handle_probe(struct run *r, struct peer_entry *pe,
			     const struct proto_msg *msg,
			     const union endpoint *from, uint64_t now)
{
	struct punch_config cfg = r->config;
	struct proto_msg reply;
	char text[ENDPOINT_STRLEN];

	endpoint_format(text, from);
	if (pe->punch.probes_received == 0)
		log_msg(LOG_LEVEL_INFO, "%s: first probe arrived from %s",
			pe->punch.name, text);
	cfg.budget_ms = now < r->deadline_us ?
		(uint32_t)((r->deadline_us - now) / 1000) : 0;
	punch_probe_received(&pe->punch, msg, from, &cfg, r->low_ttl, now,
			     &reply);
	net_send(r, pe->punch.public_key, pe->punch.shared, &reply, from, 0);
}

static void net_handle_reply(struct run *r, struct peer_entry *pe,
			     const struct proto_msg *msg,
			     const union endpoint *from, uint64_t now)
{
	char text[ENDPOINT_STRLEN];
	bool was_reached = pe->punch.state == PUNCH_REACHED;

	endpoint_format(text, from);
	if (!punch_reply_received(&pe->punch, msg, from, now)) {
		log_limited(&other_limit, LOG_LEVEL_WARN, "dropped PROBE_REPLY "
			    "from %s at %s: it answers no probe of ours",
			    pe->punch.name, text);
		return;
	}
	if (was_reached)
		return;
	pe->reached_us = now;
	log_msg(LOG_LEVEL_INFO, "%s: reachable at %s (%s), round trip "
		"%llu us, after %llu ms", pe->punch.name, text,
		punch_via_name(pe->punch.found),
		(unsigned long long)pe->punch.rtt_us,
		(unsigned long long)((now - r->start_us) / 1000));
}

/* Opens a datagram from a known peer; drops forgeries and replays. */
static void net_handle_peer(struct run *r, struct peer_entry *pe,
			    const uint8_t *buf, size_t len,
			    const union endpoint *from, uint64_t now)
{
	char text[ENDPOINT_STRLEN];
	struct proto_msg msg;
	struct avpn_error e;

	endpoint_format(text, from);
	if (proto_open(&msg, buf, len, pe->punch.shared, &e) == -1) {
		log_limited(&forged_limit, LOG_LEVEL_WARN, "dropped forged "
			    "%s from %s claiming to be %s: %s",
			    proto_type_name(buf[0]), text, pe->punch.name,
			    e.text);
		return;
	}
	if (msg.type != MSG_PROBE && msg.type != MSG_PROBE_REPLY) {
		log_limited(&other_limit, LOG_LEVEL_WARN, "dropped %s from "
			    "peer %s at %s: peers send only probes",
			    proto_type_name(msg.type), pe->punch.name, text);
		return;
	}
	if (!punch_timestamp_accept(&pe->punch, msg.timestamp)) {
		log_limited(&replay_limit, LOG_LEVEL_WARN, "dropped replayed "
			    "%s from %s at %s: timestamp not newer than the "
			    "last one accepted", proto_type_name(msg.type),
			    pe->punch.name, text);
		return;
	}
	if (msg.type == MSG_PROBE)
		net_handle_probe(r, pe, &msg, from, now);
	else
		net_handle_reply(r, pe, &msg, from, now);
}

static void net_dispatch(struct run *r, const uint8_t *buf, size_t len,
			 const union endpoint *from)
{
	uint8_t type, sender[AVPN_KEY_LEN];
	char text[ENDPOINT_STRLEN], key[AVPN_KEY_BASE64_LEN + 1];
	struct peer_entry *pe;
	bool for_me;

	endpoint_format(text, from);
	if (len == 0 || !proto_is_control(buf[0]) ||
	    proto_peek(buf, len, &type, sender, r->my_public, &for_me) == -1) {
		log_limited(&other_limit, LOG_LEVEL_DEBUG, "ignored a "
			    "datagram of %zu bytes from %s: not a control "
			    "message", len, text);
		return;
	}
	if (!for_me) {
		log_limited(&other_limit, LOG_LEVEL_WARN, "dropped %s from %s: "
			    "sealed for another key", proto_type_name(type),
			    text);
		return;
	}
	if (r->have_registry &&
	    memcmp(sender, r->self.registry_key, AVPN_KEY_LEN) == 0) {
		registry_handle(r, buf, len, from);
		return;
	}
	pe = run_find_peer(r, sender);
	if (pe == NULL) {
		key_to_base64(key, sender);
		log_limited(&unknown_limit, LOG_LEVEL_WARN, "dropped %s from "
			    "%s: key %s is not a peer and no punch request "
			    "from the registry named it",
			    proto_type_name(type), text, key);
		return;
	}
	net_handle_peer(r, pe, buf, len, from, now_us());
}

void net_receive(struct run *r)
{
	uint8_t buf[AVPN_DATAGRAM_MAX + 1];
	union endpoint from;
	socklen_t fromlen;
	ssize_t len;
	int i;

	for (i = 0; i < RECEIVE_BATCH; i++) {
		memset(&from, 0, sizeof(from));
		fromlen = sizeof(from);
		len = recvfrom(r->fd, buf, sizeof(buf), MSG_DONTWAIT, &from.sa,
			       &fromlen);
		if (len == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNREFUSED)
				log_msg(LOG_LEVEL_WARN, "recvfrom: %s",
					strerror(errno));
			if (errno != ECONNREFUSED)
				return;
			continue;
		}
		if ((size_t)len > AVPN_DATAGRAM_MAX)
			continue;
		net_dispatch(r, buf, (size_t)len, &from);
	}
}
