/*
 * The data plane: batches of datagrams through recvmmsg and sendmmsg,
 * several TUN packets per turn of the loop, encryption and decryption in
 * place.  Every buffer slot has room for a 64 KiB packet, so TUN offloads
 * (IFF_VNET_HDR) and UDP_SEGMENT/UDP_GRO can later hand over larger units
 * through the same batches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"
#include "tun.h"
#include "tunnel.h"

static uint8_t *slot(const struct dp_batch *b, unsigned i)
{
	return b->mem + (size_t)i * DP_SLOT_SIZE;
}

int dp_batch_init(struct dp_batch *b, struct avpn_error *err)
{
	unsigned i;

	memset(b, 0, sizeof(*b));
	b->mem = aligned_alloc(64, (size_t)DP_BATCH * DP_SLOT_SIZE);
	if (b->mem == NULL)
		return error_set(err, "out of memory for packet buffers");
	for (i = 0; i < DP_BATCH; i++) {
		b->iov[i].iov_base = slot(b, i);
		b->iov[i].iov_len = DP_SLOT_SIZE;
		b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
		b->msgs[i].msg_hdr.msg_iovlen = 1;
		b->msgs[i].msg_hdr.msg_name = &b->addrs[i];
		b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
	}
	return 0;
}

void dp_batch_free(struct dp_batch *b)
{
	free(b->mem);
	b->mem = NULL;
}

/* Maps a negative wg_result to the drop class it is counted in. */
static enum drop_class drop_class_of(int result)
{
	switch (result) {
	case WG_ERR_MAC1:
		return DROP_BAD_MAC;
	case WG_ERR_COOKIE_REQUIRED:
		return DROP_COOKIE;
	case WG_ERR_DECRYPT:
	case WG_ERR_WEAK_KEY:
		return DROP_AUTH;
	case WG_ERR_UNKNOWN_PEER:
		return DROP_UNKNOWN_PEER;
	case WG_ERR_UNKNOWN_INDEX:
		return DROP_UNKNOWN_INDEX;
	case WG_ERR_REPLAY:
		return DROP_REPLAY;
	case WG_ERR_FLOOD:
		return DROP_FLOOD;
	case WG_ERR_STATE:
		return DROP_STATE;
	case WG_ERR_EXPIRED:
	case WG_ERR_NO_KEYPAIR:
		return DROP_EXPIRED;
	default:
		return DROP_MALFORMED;
	}
}

void dp_drop(struct tunnel *t, enum drop_class cls, const char *peer,
	     const union endpoint *from)
{
	/* The kernel sends IPv6 router solicitations and MLD reports to
	 * every interface that comes up: no peer owns them, so no-route is
	 * a debug line. */
	enum log_level level = cls == DROP_NO_ROUTE ? LOG_LEVEL_DEBUG :
						      LOG_LEVEL_INFO;
	char ep[ENDPOINT_STRLEN];

	t->drops[cls]++;
	if (from != NULL)
		endpoint_format(ep, from);
	log_limited(&t->drop_limits[cls], level,
		    "dropped packet: %s%s%s%s%s (%llu so far)",
		    drop_class_name(cls), peer ? ", peer " : "",
		    peer ? peer : "",
		    from == NULL ? "" :
		    cls == DROP_SEND_FAILED ? ", to " : ", from ",
		    from ? ep : "",
		    (unsigned long long)t->drops[cls]);
}

/* Drops a wg_result failure, naming the peer when the core found one. */
void dp_drop_result(struct tunnel *t, int result, const struct wg_peer *wp,
		    const union endpoint *from)
{
	const struct peer *p = wp != NULL ? wg_peer_user(wp) : NULL;

	dp_drop(t, drop_class_of(result), p != NULL ? p->name : NULL, from);
}

/* Expected length of a message of type 1 to 3, or the minimum for 4. */
static size_t wg_expected_len(uint8_t type)
{
	switch (type) {
	case WG_MSG_INITIATION:
		return WG_INITIATION_LEN;
	case WG_MSG_RESPONSE:
		return WG_RESPONSE_LEN;
	case WG_MSG_COOKIE_REPLY:
		return WG_COOKIE_REPLY_LEN;
	default:
		return WG_TRANSPORT_MIN_LEN;
	}
}

/* Tells why wg_message_type() refused a datagram. */
static enum drop_class dp_classify(const uint8_t *buf, size_t len)
{
	size_t want;

	if (len == 0 || buf[0] < WG_MSG_INITIATION ||
	    buf[0] > WG_MSG_TRANSPORT)
		return DROP_UNKNOWN_TYPE;
	want = wg_expected_len(buf[0]);
	if (len < want)
		return DROP_TRUNCATED;
	if (len > want && buf[0] != WG_MSG_TRANSPORT)
		return DROP_OVERSIZED;
	return DROP_MALFORMED;
}

/* Writes a decrypted packet to the TUN device if its source address is
 * one of the peer's allowed IPs. */
static void dp_deliver(struct tunnel *t, struct peer *p, uint8_t *pkt,
		       size_t len, const union endpoint *from)
{
	const uint8_t *src, *dst;
	size_t ip_len;
	int family;

	family = tun_packet_addrs(pkt, len, &src, &dst);
	ip_len = tun_packet_len(pkt, len);
	if (family == -1 || ip_len == 0) {
		dp_drop(t, DROP_MALFORMED, p->name, from);
		return;
	}
	if (allowed_ips_lookup(&t->allowed, family, src) != p) {
		dp_drop(t, DROP_WRONG_SOURCE, p->name, from);
		return;
	}
	if (write(t->tun_fd, pkt, ip_len) != (ssize_t)ip_len)
		dp_drop(t, DROP_TUN_WRITE, p->name, NULL);
}

static void dp_receive_transport(struct tunnel *t, uint8_t *buf, size_t len,
				 const union endpoint *from, uint64_t now)
{
	struct wg_peer *wp = NULL;
	struct peer *p;
	ssize_t n;

	n = wg_decrypt(t->wg, buf, len, now, buf + WG_TRANSPORT_HEADER_LEN,
		       &wp);
	if (n < 0) {
		dp_drop_result(t, (int)n, wp, from);
		return;
	}
	p = wg_peer_user(wp);
	/* Roaming: the endpoint is where the latest authenticated packet
	 * came from. */
	peer_set_endpoint(p, from);
	peer_touch(p);
	if (n > 0)
		dp_deliver(t, p, buf + WG_TRANSPORT_HEADER_LEN, (size_t)n,
			   from);
}

static void dp_receive_one(struct tunnel *t, uint8_t *buf, size_t len,
			   const union endpoint *from, uint64_t now)
{
	int type;

	if (len > 0 && proto_is_control(buf[0])) {
		control_receive(t, buf, len, from);
		return;
	}
	type = wg_message_type(buf, len);
	if (type == WG_MSG_TRANSPORT)
		dp_receive_transport(t, buf, len, from, now);
	else if (type != 0)
		hs_receive(t, type, buf, len, from);
	else
		dp_drop(t, dp_classify(buf, len), NULL, from);
}

void dp_udp_readable(struct tunnel *t)
{
	struct dp_batch *b = &t->rx;
	uint64_t now;
	unsigned i;
	int n;

	for (i = 0; i < DP_BATCH; i++) {
		b->iov[i].iov_len = DP_SLOT_SIZE;
		b->msgs[i].msg_hdr.msg_namelen = sizeof(b->addrs[i]);
		b->msgs[i].msg_hdr.msg_flags = 0;
	}
	n = recvmmsg(t->udp_fd, b->msgs, DP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	now = clock_monotonic_ms();
	for (i = 0; i < (unsigned)n; i++) {
		if (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			dp_drop(t, DROP_OVERSIZED, NULL, &b->addrs[i]);
			continue;
		}
		dp_receive_one(t, slot(b, i), b->msgs[i].msg_len,
			       &b->addrs[i], now);
	}
}

/* Sends the datagrams gathered in the transmit batch. */
void dp_flush(struct tunnel *t)
{
	struct dp_batch *b = &t->tx;
	unsigned done = 0;
	int n;

	while (done < b->count) {
		n = sendmmsg(t->udp_fd, b->msgs + done, b->count - done,
			     MSG_DONTWAIT);
		if (n > 0) {
			done += (unsigned)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		/* The first datagram failed (no route, full buffer):
		 * count it and go on with the rest. */
		dp_drop(t, DROP_SEND_FAILED, NULL, &b->addrs[done]);
		done++;
	}
	b->count = 0;
}

/*
 * Encrypts the packet at the current transmit slot, just after the room
 * for the transport header, and adds it to the batch.  Without a session
 * the packet waits in the peer's queue instead.
 */
static void dp_encrypt_slot(struct tunnel *t, struct peer *p, size_t len,
			    uint64_t now)
{
	struct dp_batch *b = &t->tx;
	uint8_t *out = slot(b, b->count);
	ssize_t n;

	if (!endpoint_is_set(&p->endpoint)) {
		dp_drop(t, DROP_NO_ENDPOINT, p->name, NULL);
		return;
	}
	n = wg_encrypt(p->wg, now, out, DP_SLOT_SIZE,
		       out + WG_TRANSPORT_HEADER_LEN, len);
	if (n == WG_ERR_NO_KEYPAIR) {
		peer_queue_push(p, out + WG_TRANSPORT_HEADER_LEN, len);
		return;
	}
	if (n < 0) {
		dp_drop_result(t, (int)n, p->wg, NULL);
		return;
	}
	b->iov[b->count].iov_len = (size_t)n;
	b->addrs[b->count] = p->endpoint;
	b->msgs[b->count].msg_hdr.msg_namelen = endpoint_len(&p->endpoint);
	b->count++;
	if (b->count == DP_BATCH)
		dp_flush(t);
	peer_touch(p);
}

void dp_send_packet(struct tunnel *t, struct peer *p, const uint8_t *pkt,
		    size_t len)
{
	uint8_t *out = slot(&t->tx, t->tx.count);

	if (len > 0)
		memcpy(out + WG_TRANSPORT_HEADER_LEN, pkt, len);
	dp_encrypt_slot(t, p, len, clock_monotonic_ms());
}

/* Picks the peer for a packet read from TUN by its destination. */
static void dp_route(struct tunnel *t, size_t len, uint64_t now)
{
	uint8_t *pkt = slot(&t->tx, t->tx.count) + WG_TRANSPORT_HEADER_LEN;
	const uint8_t *src, *dst;
	struct peer *p;
	int family;

	family = tun_packet_addrs(pkt, len, &src, &dst);
	if (family == -1) {
		dp_drop(t, DROP_MALFORMED, NULL, NULL);
		return;
	}
	p = allowed_ips_lookup(&t->allowed, family, dst);
	if (p == NULL) {
		dp_drop(t, DROP_NO_ROUTE, NULL, NULL);
		return;
	}
	dp_encrypt_slot(t, p, len, now);
}

void dp_tun_readable(struct tunnel *t)
{
	/* Room after the packet for the padding and the tag. */
	const size_t room = DP_SLOT_SIZE - WG_TRANSPORT_HEADER_LEN -
			    WG_PADDING - WG_TAG_LEN;
	static struct log_limit tun_read_limit = LOG_LIMIT_INIT(10000, 3);
	uint64_t now = clock_monotonic_ms();
	unsigned i;
	ssize_t n;

	for (i = 0; i < DP_BATCH; i++) {
		n = read(t->tun_fd, slot(&t->tx, t->tx.count) +
				    WG_TRANSPORT_HEADER_LEN, room);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			log_limited(&tun_read_limit, LOG_LEVEL_ERROR,
				    "read from %s: %s", t->ifname,
				    strerror(errno));
		if (n <= 0)
			break;
		dp_route(t, (size_t)n, now);
	}
	dp_flush(t);
}
