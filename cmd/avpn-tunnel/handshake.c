/* Handshake messages, cookies and the per-peer timers. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sock.h"
#include "tunnel.h"

/* Setting this TTL (or hop limit) returns the socket to the default. */
#define DEFAULT_TTL (-1)

static uint64_t wall_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void socket_set_ttl(struct tunnel *t, int ttl)
{
	if (t->family == AF_INET6)
		(void)setsockopt(t->udp_fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS,
				 &ttl, sizeof(ttl));
	else
		(void)setsockopt(t->udp_fd, IPPROTO_IP, IP_TTL, &ttl,
				 sizeof(ttl));
}

void hs_send_datagram(struct tunnel *t, const union endpoint *to,
		      const uint8_t *buf, size_t len, uint8_t ttl)
{
	ssize_t n;

	if (to->sa.sa_family != t->family) {
		dp_drop(t, DROP_SEND_FAILED, NULL, to);
		return;
	}
	if (ttl != 0)
		socket_set_ttl(t, ttl);
	n = sendto(t->udp_fd, buf, len, MSG_DONTWAIT, &to->sa,
		   endpoint_len(to));
	if (ttl != 0)
		socket_set_ttl(t, DEFAULT_TTL);
	if (n != (ssize_t)len)
		dp_drop(t, DROP_SEND_FAILED, NULL, to);
}

/*
 * True when handshake messages arrive faster than
 * TUNNEL_HANDSHAKES_PER_SECOND: each costs several scalar
 * multiplications, so then only senders that prove their address with a
 * cookie are served.
 */
static bool hs_under_load(struct tunnel *t, uint64_t now)
{
	if (now - t->load_window_ms >= 1000) {
		t->load_window_ms = now;
		t->load_count = 0;
	}
	t->load_count++;
	return t->load_count > TUNNEL_HANDSHAKES_PER_SECOND;
}

static void hs_answer_initiation(struct tunnel *t, struct wg_peer *wp,
				 const union endpoint *from, uint64_t now)
{
	struct peer *p = wg_peer_user(wp);
	uint8_t out[WG_RESPONSE_LEN];
	int rc;

	peer_set_endpoint(p, from);
	rc = wg_handshake_create_response(t->wg, wp, now, out);
	if (rc < 0) {
		dp_drop_result(t, rc, wp, from);
		return;
	}
	hs_send_datagram(t, from, out, sizeof(out), 0);
	peer_touch(p);
}

void hs_receive(struct tunnel *t, int type, uint8_t *msg, size_t len,
		const union endpoint *from)
{
	uint64_t now = clock_monotonic_ms();
	uint8_t cookie[WG_COOKIE_REPLY_LEN];
	struct wg_peer *wp = NULL;
	int rc;

	if (type == WG_MSG_COOKIE_REPLY) {
		rc = wg_cookie_reply_consume(t->wg, msg, len, now);
		if (rc < 0)
			dp_drop_result(t, rc, NULL, from);
		return;
	}
	rc = wg_check_macs(t->wg, msg, len, from, now, hs_under_load(t, now));
	if (rc == WG_ERR_COOKIE_REQUIRED &&
	    wg_cookie_reply_create(t->wg, msg, len, from, now, cookie) == 0)
		hs_send_datagram(t, from, cookie, sizeof(cookie), 0);
	if (rc < 0) {
		dp_drop_result(t, rc, NULL, from);
		return;
	}
	if (type == WG_MSG_INITIATION) {
		rc = wg_handshake_consume_initiation(t->wg, msg, len, now, &wp);
		if (rc == 0)
			hs_answer_initiation(t, wp, from, now);
	} else {
		rc = wg_handshake_consume_response(t->wg, msg, len, now, &wp);
		if (rc == 0) {
			peer_set_endpoint(wg_peer_user(wp), from);
			peer_touch(wg_peer_user(wp));
		}
	}
	if (rc < 0)
		dp_drop_result(t, rc, wp, from);
}

void hs_send_initiation(struct tunnel *t, struct peer *p)
{
	uint8_t out[WG_INITIATION_LEN];
	int rc;

	if (!endpoint_is_set(&p->endpoint)) {
		log_msg(LOG_LEVEL_DEBUG, "no endpoint for peer %s: "
			"handshake not sent", p->name);
		return;
	}
	rc = wg_handshake_create_initiation(t->wg, p->wg, clock_monotonic_ms(),
					    wall_clock_ns(), out);
	if (rc < 0) {
		log_msg(LOG_LEVEL_WARN, "handshake initiation to %s failed: "
			"%s", p->name, wg_result_name(rc));
		return;
	}
	log_msg(LOG_LEVEL_DEBUG, "sending handshake initiation to %s",
		p->name);
	hs_send_datagram(t, &p->endpoint, out, sizeof(out), 0);
}

/*
 * Logs a new session once.  The first one, and one after the sessions had
 * lapsed, are worth an info line; the rekey every two minutes only a debug
 * line.
 */
static void hs_log_session(struct peer *p)
{
	char ep[ENDPOINT_STRLEN];
	struct wg_peer_info info;
	bool renewed;

	wg_peer_info(p->wg, &info);
	if (info.last_handshake_ms == 0 ||
	    info.last_handshake_ms == p->logged_handshake_ms)
		return;
	renewed = p->logged_handshake_ms != 0 &&
		  info.last_handshake_ms - p->logged_handshake_ms <
			  WG_REJECT_AFTER_TIME_MS;
	p->logged_handshake_ms = info.last_handshake_ms;
	endpoint_format(ep, &p->endpoint);
	log_msg(renewed ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		"handshake with peer %s at %s completed%s", p->name, ep,
		renewed ? " (rekey)" : "");
}

/* Sends what waited for the session, oldest first. */
static void hs_flush_queue(struct tunnel *t, struct peer *p, uint64_t now)
{
	struct queued_packet *q;

	while (p->queue_len > 0 && wg_peer_can_send(p->wg, now)) {
		q = &p->queue[p->queue_head];
		p->queue_head = (p->queue_head + 1) % PEER_QUEUE_MAX;
		p->queue_len--;
		dp_send_packet(t, p, q->data, q->len);
		free(q->data);
		q->data = NULL;
	}
}

static void hs_handshake_failed(struct tunnel *t, struct peer *p)
{
	unsigned i, n = p->queue_len;

	log_msg(LOG_LEVEL_WARN, "handshake with peer %s did not complete in "
		"%d s; %u queued packets dropped", p->name,
		WG_REKEY_ATTEMPT_TIME_MS / 1000, n);
	for (i = 0; i < n; i++)
		dp_drop(t, DROP_HANDSHAKE_FAILED, p->name, NULL);
	peer_queue_clear(p);
}

/* AVPN_TEST_REKEY_AFTER_MS: starts a handshake once the session is that
 * old, as the rekey timer does after 120 s. */
void hs_test_rekey(struct tunnel *t, struct peer *p, uint64_t now)
{
	struct wg_peer_info info;

	if (t->opt.test_rekey_after_ms == 0)
		return;
	wg_peer_info(p->wg, &info);
	if (info.last_handshake_ms == 0 ||
	    now - info.last_handshake_ms < t->opt.test_rekey_after_ms ||
	    now - p->test_rekey_sent_ms < WG_REKEY_TIMEOUT_MS)
		return;
	p->test_rekey_sent_ms = now;
	log_msg(LOG_LEVEL_INFO, "test rekey: new handshake with peer %s",
		p->name);
	hs_send_initiation(t, p);
}

void hs_run_timers(struct tunnel *t, struct peer *p, uint64_t now)
{
	unsigned actions;

	actions = wg_peer_timers(p->wg, now, &p->timer_due_ms);
	if (actions & WG_TIMER_SEND_INITIATION)
		hs_send_initiation(t, p);
	if (actions & WG_TIMER_SEND_KEEPALIVE)
		dp_send_packet(t, p, NULL, 0);
	if (actions & WG_TIMER_HANDSHAKE_FAILED)
		hs_handshake_failed(t, p);
	if (actions & WG_TIMER_KEYS_WIPED)
		log_msg(LOG_LEVEL_DEBUG, "session keys of peer %s wiped after "
			"%d s without a handshake", p->name,
			3 * WG_REJECT_AFTER_TIME_MS / 1000);
	hs_log_session(p);
	hs_flush_queue(t, p, now);
}
