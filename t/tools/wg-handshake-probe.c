/*
 * wg-handshake-probe -k KEYFILE -p PEER_PUBFILE [-P PSKFILE] [-t SECONDS]
 *                    [-b ADDR:PORT] [-l] [-s INNER_SRC -d INNER_DST]
 *                    ENDPOINT
 *
 * Runs one WireGuard handshake with the peer at ENDPOINT using the
 * protocol core in common/wg_*.c.  It sends an initiation, retried every
 * REKEY_TIMEOUT and with mac2 once a cookie reply arrives.  Then it
 * consumes the response, sends a keepalive to confirm the session and
 * prints "handshake ok".  With -s and -d it then sends an ICMP echo
 * request from INNER_SRC to INNER_DST through the tunnel and prints
 * "ping ok" when the encrypted echo reply comes back, which proves
 * transport data in both directions.
 *
 * With -l the probe is the responder instead: it waits for the peer's
 * initiation, responds, and prints "handshake ok" when the first transport
 * message arrives.  With -s and -d it then replies to one echo request
 * from INNER_DST and prints "ping ok".
 *
 * -P adds a preshared key, read from a file of mode 0600 like KEYFILE.
 * Exits 0, 3 when the peer did not answer within SECONDS (default 10),
 * 2 on bad usage, 1 on other errors.
 */
#include <arpa/inet.h>
#include <err.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "endpoint.h"
#include "key.h"
#include "sock.h"
#include "wg.h"

#define PROBE_DATAGRAM_MAX 2048
#define PROBE_ICMP_ID 0x6176 /* "av" */
#define PROBE_PING_INTERVAL_MS 1000

struct probe_options {
	const char *key_path;
	const char *peer_path;
	const char *psk_path;
	const char *bind_arg;
	const char *endpoint_arg;
	const char *inner_src;
	const char *inner_dst;
	long long seconds;
	bool respond;
};

struct probe {
	struct wg_device *dev;
	struct wg_peer *peer;
	int fd;
	uint64_t deadline_ms;
	struct in_addr inner_src;
	struct in_addr inner_dst;
	union endpoint remote;
	bool ping;
};

static void usage(void)
{
	fprintf(stderr, "usage: wg-handshake-probe -k KEYFILE -p PEER_PUBFILE "
		"[-P PSKFILE] [-t SECONDS] [-b ADDR:PORT] [-l] "
		"[-s INNER_SRC -d INNER_DST] ENDPOINT\n");
	exit(AVPN_EXIT_USAGE);
}

static uint64_t wall_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void probe_send(struct probe *p, const uint8_t *buf, size_t len)
{
	if (send(p->fd, buf, len, 0) == -1)
		warn("send");
}

/* Waits for one datagram until at most wake_ms; returns its length or 0
 * on timeout. */
static ssize_t probe_receive(struct probe *p, uint8_t *buf, size_t size,
			     uint64_t wake_ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	uint64_t now = clock_monotonic_ms();
	ssize_t n;

	if (wake_ms > p->deadline_ms)
		wake_ms = p->deadline_ms;
	if (now >= wake_ms)
		return 0;
	if (poll(&pfd, 1, (int)(wake_ms - now)) <= 0)
		return 0;
	n = recv(p->fd, buf, size, 0);
	if (n == -1) {
		/* ICMP port unreachable shows up here; retry later. */
		warn("recv");
		return 0;
	}
	return n;
}

static void probe_send_initiation(struct probe *p, uint64_t now)
{
	uint8_t msg[WG_INITIATION_LEN];
	int rc;

	rc = wg_handshake_create_initiation(p->dev, p->peer, now,
					    wall_clock_ns(), msg);
	if (rc != WG_OK)
		errx(AVPN_EXIT_FAILURE, "cannot create an initiation: %s",
		     wg_result_name(rc));
	probe_send(p, msg, sizeof(msg));
}

/* Handles one datagram during the handshake; returns true when the
 * response was consumed. */
static bool probe_handle_handshake(struct probe *p, const uint8_t *buf,
				   size_t len, uint64_t now)
{
	struct wg_peer *got;
	int rc;

	switch (wg_message_type(buf, len)) {
	case WG_MSG_RESPONSE:
		rc = wg_handshake_consume_response(p->dev, buf, len, now,
						   &got);
		if (rc == WG_OK)
			return true;
		warnx("response dropped: %s", wg_result_name(rc));
		break;
	case WG_MSG_COOKIE_REPLY:
		rc = wg_cookie_reply_consume(p->dev, buf, len, now);
		if (rc == WG_OK)
			warnx("cookie reply received, retrying with mac2");
		else
			warnx("cookie reply dropped: %s", wg_result_name(rc));
		break;
	default:
		warnx("unexpected %zu-byte datagram dropped", len);
	}
	return false;
}

/* Runs the handshake until the response is consumed or the deadline. */
static bool probe_handshake(struct probe *p)
{
	uint8_t buf[PROBE_DATAGRAM_MAX];
	uint64_t now = clock_monotonic_ms(), next;
	unsigned actions;
	ssize_t n;

	probe_send_initiation(p, now);
	while (now < p->deadline_ms) {
		actions = wg_peer_timers(p->peer, now, &next);
		if (actions & WG_TIMER_SEND_INITIATION) {
			probe_send_initiation(p, now);
			wg_peer_timers(p->peer, now, &next);
		}
		n = probe_receive(p, buf, sizeof(buf), next);
		now = clock_monotonic_ms();
		if (n > 0 && probe_handle_handshake(p, buf, (size_t)n, now))
			return true;
	}
	return false;
}

/* Encrypts and sends one packet (len 0 for a keepalive). */
static void probe_send_packet(struct probe *p, const uint8_t *packet,
			      size_t len)
{
	uint8_t buf[PROBE_DATAGRAM_MAX];
	ssize_t n;

	n = wg_encrypt(p->peer, clock_monotonic_ms(), buf, sizeof(buf), packet,
		       len);
	if (n < 0)
		errx(AVPN_EXIT_FAILURE, "cannot encrypt: %s",
		     wg_result_name((int)n));
	probe_send(p, buf, (size_t)n);
}

/* The Internet checksum (RFC 1071) of len bytes. */
static uint16_t inet_checksum(const uint8_t *data, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)data[i] << 8 | data[i + 1];
	if (len & 1)
		sum += (uint32_t)data[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Builds an IPv4 ICMP echo request of 44 bytes into packet. */
static size_t build_echo_request(const struct probe *p, uint8_t *packet,
				 uint16_t seq)
{
	static const char payload[] = "avpn wg probe";
	size_t icmp_len = 8 + sizeof(payload) + 2;
	size_t total = 20 + icmp_len;
	uint16_t sum;

	memset(packet, 0, total);
	packet[0] = 0x45;
	packet[2] = (uint8_t)(total >> 8);
	packet[3] = (uint8_t)total;
	packet[8] = 64; /* TTL */
	packet[9] = IPPROTO_ICMP;
	memcpy(packet + 12, &p->inner_src, 4);
	memcpy(packet + 16, &p->inner_dst, 4);
	sum = inet_checksum(packet, 20);
	packet[10] = (uint8_t)(sum >> 8);
	packet[11] = (uint8_t)sum;

	packet[20] = 8; /* echo request */
	packet[24] = PROBE_ICMP_ID >> 8;
	packet[25] = PROBE_ICMP_ID & 0xff;
	packet[26] = (uint8_t)(seq >> 8);
	packet[27] = (uint8_t)seq;
	memcpy(packet + 28, payload, sizeof(payload));
	sum = inet_checksum(packet + 20, icmp_len);
	packet[22] = (uint8_t)(sum >> 8);
	packet[23] = (uint8_t)sum;
	return total;
}

/*
 * Returns the offset of the ICMP header of an IPv4 ICMP packet from the
 * inner destination to the inner source, or 0 for any other packet.
 */
static size_t icmp_offset(const struct probe *p, const uint8_t *packet,
			  size_t len)
{
	size_t header_len;

	if (len < 20 || packet[0] >> 4 != 4 || packet[9] != IPPROTO_ICMP)
		return 0;
	header_len = (size_t)(packet[0] & 0x0f) * 4;
	if (header_len < 20 || len < header_len + 8)
		return 0;
	if (memcmp(packet + 12, &p->inner_dst, 4) != 0 ||
	    memcmp(packet + 16, &p->inner_src, 4) != 0)
		return 0;
	return header_len;
}

/* True for the reply to one of our echo requests. */
static bool is_echo_reply(const struct probe *p, const uint8_t *packet,
			  size_t len)
{
	size_t icmp = icmp_offset(p, packet, len);

	return icmp != 0 && packet[icmp] == 0 &&
	       packet[icmp + 4] == PROBE_ICMP_ID >> 8 &&
	       packet[icmp + 5] == (PROBE_ICMP_ID & 0xff);
}

/*
 * Turns an echo request from the inner destination into its reply in
 * place and returns the reply's length, or 0 for any other packet.
 * Swapping the addresses leaves the IPv4 header checksum as it was.
 */
static size_t make_echo_reply(const struct probe *p, uint8_t *packet,
			      size_t len)
{
	size_t icmp = icmp_offset(p, packet, len);
	size_t total;
	uint16_t sum;

	if (icmp == 0 || packet[icmp] != 8)
		return 0;
	total = (size_t)packet[2] << 8 | packet[3];
	if (total > len || total < icmp + 8)
		return 0;
	memcpy(packet + 12, &p->inner_src, 4);
	memcpy(packet + 16, &p->inner_dst, 4);
	packet[icmp] = 0; /* echo reply */
	packet[icmp + 2] = 0;
	packet[icmp + 3] = 0;
	sum = inet_checksum(packet + icmp, total - icmp);
	packet[icmp + 2] = (uint8_t)(sum >> 8);
	packet[icmp + 3] = (uint8_t)sum;
	return total;
}

/* Decrypts one transport datagram into plain; returns the plaintext
 * length or -1. */
static ssize_t probe_decrypt(struct probe *p, const uint8_t *buf,
			     size_t len, uint8_t *plain)
{
	struct wg_peer *got;
	ssize_t n;

	if (wg_message_type(buf, len) != WG_MSG_TRANSPORT) {
		warnx("unexpected %zu-byte datagram dropped", len);
		return -1;
	}
	n = wg_decrypt(p->dev, buf, len, clock_monotonic_ms(), plain, &got);
	if (n < 0) {
		warnx("transport message dropped: %s", wg_result_name((int)n));
		return -1;
	}
	return n;
}

/* Pings through the tunnel once a second until a reply or the deadline. */
static bool probe_ping(struct probe *p)
{
	uint8_t packet[64], buf[PROBE_DATAGRAM_MAX];
	uint8_t plain[PROBE_DATAGRAM_MAX];
	uint64_t next_ping = 0, now;
	uint16_t seq = 0;
	size_t len;
	ssize_t n;

	while ((now = clock_monotonic_ms()) < p->deadline_ms) {
		if (now >= next_ping) {
			len = build_echo_request(p, packet, ++seq);
			probe_send_packet(p, packet, len);
			next_ping = now + PROBE_PING_INTERVAL_MS;
		}
		n = probe_receive(p, buf, sizeof(buf), next_ping);
		if (n > 0)
			n = probe_decrypt(p, buf, (size_t)n, plain);
		if (n > 0 && is_echo_reply(p, plain, (size_t)n))
			return true;
	}
	return false;
}

/* Consumes an initiation from the peer and sends the response. */
static void probe_answer_initiation(struct probe *p, const uint8_t *buf,
				    size_t len)
{
	uint8_t response[WG_RESPONSE_LEN];
	uint64_t now = clock_monotonic_ms();
	struct wg_peer *got;
	int rc;

	rc = wg_check_macs(p->dev, buf, len, &p->remote, now, false);
	if (rc == WG_OK)
		rc = wg_handshake_consume_initiation(p->dev, buf, len, now,
						     &got);
	if (rc == WG_OK)
		rc = wg_handshake_create_response(p->dev, got, now, response);
	if (rc != WG_OK) {
		warnx("initiation dropped: %s", wg_result_name(rc));
		return;
	}
	probe_send(p, response, sizeof(response));
}

/*
 * Responds to the peer's initiations until a transport message confirms
 * the session.  Returns that message's plaintext length, left in plain, or -1
 * at the deadline.
 */
static ssize_t probe_respond(struct probe *p, uint8_t *plain)
{
	uint8_t buf[PROBE_DATAGRAM_MAX];
	ssize_t n;

	while (clock_monotonic_ms() < p->deadline_ms) {
		n = probe_receive(p, buf, sizeof(buf), p->deadline_ms);
		if (n <= 0)
			continue;
		if (wg_message_type(buf, (size_t)n) == WG_MSG_INITIATION) {
			probe_answer_initiation(p, buf, (size_t)n);
			continue;
		}
		n = probe_decrypt(p, buf, (size_t)n, plain);
		if (n >= 0)
			return n;
	}
	return -1;
}

/*
 * Replies to one echo request through the tunnel, which may already be in
 * plain (len bytes, -1 for none).  Returns false at the deadline.
 */
static bool probe_reply_ping(struct probe *p, uint8_t *plain, ssize_t len)
{
	uint8_t buf[PROBE_DATAGRAM_MAX];
	size_t reply_len;
	ssize_t n;

	for (;;) {
		reply_len = len > 0 ? make_echo_reply(p, plain, (size_t)len)
				    : 0;
		if (reply_len > 0) {
			probe_send_packet(p, plain, reply_len);
			return true;
		}
		if (clock_monotonic_ms() >= p->deadline_ms)
			return false;
		n = probe_receive(p, buf, sizeof(buf), p->deadline_ms);
		len = n > 0 ? probe_decrypt(p, buf, (size_t)n, plain) : -1;
	}
}

static void parse_inner(struct in_addr *addr, const char *s, char option)
{
	if (inet_pton(AF_INET, s, addr) != 1)
		errx(AVPN_EXIT_USAGE, "-%c: invalid IPv4 address \"%s\"",
		     option, s);
}

/* Loads the keys and opens the socket connected to the endpoint. */
static void probe_setup(struct probe *p, const struct probe_options *o)
{
	uint8_t private_key[AVPN_KEY_LEN], peer_key[AVPN_KEY_LEN];
	uint8_t psk[AVPN_KEY_LEN];
	union endpoint local;
	struct avpn_error e;

	if (key_read_private_file(private_key, o->key_path, &e) == -1 ||
	    key_read_public_file(peer_key, o->peer_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	memset(&local, 0, sizeof(local));
	if ((o->bind_arg != NULL &&
	     endpoint_parse(&local, o->bind_arg, 0, &e) == -1) ||
	    endpoint_parse(&p->remote, o->endpoint_arg, 0, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	p->dev = wg_device_new(private_key, &e);
	sodium_memzero(private_key, sizeof(private_key));
	if (p->dev == NULL)
		errx(AVPN_EXIT_USAGE, "%s: %s", o->key_path, e.text);
	p->peer = wg_peer_add(p->dev, peer_key, &e);
	if (p->peer == NULL)
		errx(AVPN_EXIT_USAGE, "%s: %s", o->peer_path, e.text);
	if (o->psk_path != NULL) {
		if (key_read_private_file(psk, o->psk_path, &e) == -1)
			errx(AVPN_EXIT_USAGE, "%s", e.text);
		wg_peer_set_preshared_key(p->peer, psk);
		sodium_memzero(psk, sizeof(psk));
	}
	p->fd = sock_open_udp(&local, &p->remote, &e);
	if (p->fd == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

static void parse_args(int argc, char *argv[], struct probe_options *o)
{
	const char *errstr;
	int ch;

	memset(o, 0, sizeof(*o));
	o->seconds = 10;
	while ((ch = getopt(argc, argv, "b:d:k:lP:p:s:t:")) != -1) {
		switch (ch) {
		case 'b': o->bind_arg = optarg; break;
		case 'd': o->inner_dst = optarg; break;
		case 'k': o->key_path = optarg; break;
		case 'l': o->respond = true; break;
		case 'P': o->psk_path = optarg; break;
		case 'p': o->peer_path = optarg; break;
		case 's': o->inner_src = optarg; break;
		case 't':
			o->seconds = strtonum(optarg, 1, 600, &errstr);
			if (errstr != NULL)
				errx(AVPN_EXIT_USAGE,
				     "-t: seconds \"%s\" is %s", optarg,
				     errstr);
			break;
		default: usage();
		}
	}
	if (argc - optind != 1 || o->key_path == NULL ||
	    o->peer_path == NULL || (o->inner_src == NULL) !=
	    (o->inner_dst == NULL))
		usage();
	o->endpoint_arg = argv[optind];
}

/* Starts the handshake and, with -s and -d, pings through the tunnel. */
static void run_initiator(struct probe *p, const struct probe_options *o)
{
	if (!probe_handshake(p))
		errx(AVPN_EXIT_NO_ANSWER, "no handshake response from %s "
		     "within %lld s", o->endpoint_arg, o->seconds);
	probe_send_packet(p, NULL, 0);
	printf("handshake ok\n");
	fflush(stdout);
	if (p->ping && !probe_ping(p))
		errx(AVPN_EXIT_NO_ANSWER, "no echo reply from %s through the "
		     "tunnel within %lld s", o->inner_dst, o->seconds);
	if (p->ping)
		printf("ping ok\n");
}

/* Responds to the peer's handshake and, with -s and -d, to a ping. */
static void run_responder(struct probe *p, const struct probe_options *o)
{
	uint8_t plain[PROBE_DATAGRAM_MAX];
	ssize_t n;

	n = probe_respond(p, plain);
	if (n < 0)
		errx(AVPN_EXIT_NO_ANSWER, "no confirmed handshake from %s "
		     "within %lld s", o->endpoint_arg, o->seconds);
	printf("handshake ok\n");
	fflush(stdout);
	if (p->ping && !probe_reply_ping(p, plain, n))
		errx(AVPN_EXIT_NO_ANSWER, "no echo request from %s through "
		     "the tunnel within %lld s", o->inner_dst, o->seconds);
	if (p->ping)
		printf("ping ok\n");
}

int main(int argc, char *argv[])
{
	struct probe_options o;
	struct probe p;

	parse_args(argc, argv, &o);
	memset(&p, 0, sizeof(p));
	if (o.inner_src != NULL) {
		parse_inner(&p.inner_src, o.inner_src, 's');
		parse_inner(&p.inner_dst, o.inner_dst, 'd');
		p.ping = true;
	}
	probe_setup(&p, &o);
	p.deadline_ms = clock_monotonic_ms() + (uint64_t)o.seconds * 1000;
	if (o.respond)
		run_responder(&p, &o);
	else
		run_initiator(&p, &o);
	wg_device_free(p.dev);
	close(p.fd);
	return AVPN_EXIT_OK;
}
