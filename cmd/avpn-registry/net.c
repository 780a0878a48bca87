/*
 * The registry's sockets: batched receive and send (recvmmsg, sendmmsg),
 * the per-source rate limit and the clock.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "registry.h"
#include "sock.h"

/* Per source address: datagrams a second and the burst allowed.  Sites
 * behind one carrier-grade NAT share an address, hence the room. */
#define SOURCE_RATE 1000
#define SOURCE_BURST 2000

/* recvmmsg calls per socket before the loop looks at the other socket,
 * the signals and the timers again. */
#define RECEIVE_ROUNDS 16

/* Socket buffers, so a burst of registrations or a long peer list does not
 * overflow them. */
#define SOCKET_BUFFER (4 * 1024 * 1024)

/*
 * Opens a UDP socket bound to ep.  Unlike sock_open_udp it sets no
 * SO_REUSEPORT, so a second registry on the same port fails to start
 * instead of silently sharing the traffic.  An IPv6 wildcard also accepts
 * IPv4.
 */
int net_open(const union endpoint *ep, struct avpn_error *err)
{
	char text[ENDPOINT_STRLEN];
	int fd, off = 0, size = SOCKET_BUFFER;

	endpoint_format(text, ep);
	fd = socket(ep->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return error_set(err, "socket: %s", strerror(errno));
	if (ep->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	/* Best effort: as root the FORCE options pass net.core.*mem_max,
	 * otherwise the kernel caps the size there. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
		       sizeof(size)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, &ep->sa, endpoint_len(ep)) == -1) {
		error_set(err, "bind %s: %s", text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Turns an IPv4-mapped IPv6 source into plain IPv4, so nodes see the
 * address they know. */
static void unmap_v4(union endpoint *ep)
{
	struct sockaddr_in6 six = ep->in6;

	if (ep->sa.sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&six.sin6_addr))
		return;
	memset(ep, 0, sizeof(*ep));
	ep->in.sin_family = AF_INET;
	ep->in.sin_port = six.sin6_port;
	memcpy(&ep->in.sin_addr, &six.sin6_addr.s6_addr[12], 4);
}

/* The reverse, for sending to an IPv4 node from an IPv6 socket. */
static void map_v4(union endpoint *ep)
{
	struct sockaddr_in four = ep->in;

	memset(ep, 0, sizeof(*ep));
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_port = four.sin_port;
	ep->in6.sin6_addr.s6_addr[10] = 0xff;
	ep->in6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&ep->in6.sin6_addr.s6_addr[12], &four.sin_addr, 4);
}

uint8_t *net_slot(struct registry *r, struct send_queue *q)
{
	if (q->count == BATCH)
		net_flush(r, q);
	return q->buf[q->count];
}

void net_commit(struct send_queue *q, const union endpoint *to, size_t len)
{
	q->to[q->count] = *to;
	if (q->family == AF_INET6 && to->sa.sa_family == AF_INET)
		map_v4(&q->to[q->count]);
	q->len[q->count] = len;
	q->count++;
}

void net_queue(struct registry *r, struct send_queue *q,
	       const union endpoint *to, const uint8_t *buf, size_t len)
{
	memcpy(net_slot(r, q), buf, len);
	net_commit(q, to, len);
}

/* Sends every queued datagram; one that fails is counted and skipped. */
void net_flush(struct registry *r, struct send_queue *q)
{
	static struct log_limit limit = LOG_LIMIT_INIT(1000, 5);
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	size_t i, done = 0;
	int n;

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < q->count; i++) {
		iov[i].iov_base = q->buf[i];
		iov[i].iov_len = q->len[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &q->to[i].sa;
		msgs[i].msg_hdr.msg_namelen = endpoint_len(&q->to[i]);
	}
	while (done < q->count) {
		n = sendmmsg(q->fd, msgs + done, (unsigned int)(q->count - done),
			     0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		r->drops[DROP_SEND]++;
		log_limited(&limit, LOG_LEVEL_ERROR, "sendmmsg: %s",
			    strerror(errno));
		done++;
	}
	q->count = 0;
}

/* Receives up to RECEIVE_ROUNDS batches from fd and handles each
 * datagram.  Oversized datagrams arrive truncated and are dropped as
 * invalid by the length check. */
void net_receive(struct registry *r, int fd, struct send_queue *reply,
		 bool nat_port)
{
	static uint8_t bufs[BATCH][AVPN_DATAGRAM_MAX + 1];
	static union endpoint from[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct datagram d;
	int round, n, k;

	for (round = 0; round < RECEIVE_ROUNDS; round++) {
		memset(msgs, 0, sizeof(msgs));
		for (k = 0; k < BATCH; k++) {
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = sizeof(bufs[k]);
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			msgs[k].msg_hdr.msg_name = &from[k];
			msgs[k].msg_hdr.msg_namelen = sizeof(from[k]);
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		registry_clock(r);
		for (k = 0; k < n; k++) {
			unmap_v4(&from[k]);
			d.buf = bufs[k];
			d.len = msgs[k].msg_len;
			d.from = from[k];
			d.reply = reply;
			d.nat_port = nat_port;
			registry_handle(r, &d);
		}
		if (n < BATCH)
			return;
	}
}

bool bucket_take(struct bucket *b, uint64_t now_ms, uint32_t rate,
		 uint32_t burst)
{
	uint64_t added = (now_ms - b->stamp_ms) * rate / 1000;

	if (added > 0) {
		if (b->tokens + added >= burst) {
			b->tokens = burst;
			b->stamp_ms = now_ms;
		} else {
			b->tokens += (uint32_t)added;
			b->stamp_ms += added * 1000 / rate;
		}
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/*
 * Takes a token from the source address's bucket.  The table has a fixed
 * number of slots picked by a keyed hash, so memory stays bounded.  A new
 * address takes over its slot with a full bucket, so a flood of spoofed
 * addresses can only make the limit more lenient, never block a node.
 */
bool source_allowed(struct registry *r, const union endpoint *from)
{
	struct source_slot *slot;
	uint8_t addr[16] = { 0 }, hash[8];
	uint64_t h;

	if (from->sa.sa_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &from->in.sin_addr, 4);
	} else if (from->sa.sa_family == AF_INET6) {
		memcpy(addr, &from->in6.sin6_addr, 16);
	}
	crypto_shorthash(hash, addr, sizeof(addr), r->source_hash_key);
	memcpy(&h, hash, sizeof(h));
	slot = &r->sources[h % SOURCE_SLOTS];
	if (memcmp(slot->addr, addr, sizeof(addr)) != 0) {
		memcpy(slot->addr, addr, sizeof(addr));
		memset(&slot->bucket, 0, sizeof(slot->bucket));
	}
	return bucket_take(&slot->bucket, r->now_ms, SOURCE_RATE,
			   SOURCE_BURST);
}

void registry_clock(struct registry *r)
{
	r->now_ms = clock_monotonic_ms();
	r->now_s = (int64_t)time(NULL);
}
