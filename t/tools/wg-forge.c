/*
 * wg-forge: sends crafted WireGuard datagrams to a tunnel, so tests can
 * check that each class of bad packet is dropped and counted.
 *
 *   wg-forge -k KEYFILE -p PEER_PUBFILE -b ADDR:PORT -s INNER_SRC
 *            -d INNER_DST [-t SECONDS] ENDPOINT CASE...
 *
 * KEYFILE is this forger's private key, PEER_PUBFILE the tunnel's public
 * key; the tunnel should list the forger as a peer with INNER_SRC in its
 * allowed IPs.  Cases that need a session run one handshake first.
 * Each CASE sends:
 *   valid          one transport packet from INNER_SRC to INNER_DST (UDP)
 *   replay         a transport packet, then the same datagram again
 *   bad-tag        a transport packet with one ciphertext bit flipped
 *   wrong-source   a transport packet whose inner source is 192.0.2.99
 *   unknown-index  a transport packet for a receiver index never issued
 *   bad-mac        a handshake initiation with mac1 spoiled
 *   unknown-peer   a valid initiation from a fresh key the tunnel lacks
 *   truncated      an initiation cut to 100 bytes
 *   oversized      an initiation padded to 149 bytes
 *   unknown-type   a datagram of type 7
 * and prints "CASE sent".  Exits 0, 3 when the handshake timed out
 * (default 10 s), 2 on bad usage, 1 on other errors.
 */
#include <arpa/inet.h>
#include <err.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "endpoint.h"
#include "key.h"
#include "sock.h"
#include "wg.h"

#define FORGE_DATAGRAM_MAX 2048
#define FORGE_INNER_LEN 60

struct forge {
	struct wg_device *dev;
	struct wg_peer *peer;
	uint8_t peer_key[32];
	int fd;
	uint64_t deadline_ms;
	struct in_addr inner_src;
	struct in_addr inner_dst;
	bool has_session;
};

static void usage(void)
{
	fprintf(stderr, "usage: wg-forge -k KEYFILE -p PEER_PUBFILE "
		"-b ADDR:PORT -s INNER_SRC -d INNER_DST [-t SECONDS] ENDPOINT "
		"CASE...\n");
	exit(2);
}

static uint64_t wall_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void forge_send(struct forge *f, const uint8_t *buf, size_t len)
{
	if (send(f->fd, buf, len, 0) != (ssize_t)len)
		err(1, "send");
}

/* Waits up to wait_ms for a handshake response and consumes it. */
static bool forge_await_response(struct forge *f, uint64_t wait_ms)
{
	struct pollfd pfd = { f->fd, POLLIN, 0 };
	uint8_t buf[FORGE_DATAGRAM_MAX];
	struct wg_peer *got;
	ssize_t n;

	if (poll(&pfd, 1, (int)wait_ms) <= 0)
		return false;
	n = recv(f->fd, buf, sizeof(buf), 0);
	if (n <= 0 || wg_message_type(buf, (size_t)n) != WG_MSG_RESPONSE)
		return false;
	return wg_handshake_consume_response(f->dev, buf, (size_t)n,
					     clock_monotonic_ms(), &got) == 0;
}

static void forge_initiation(struct wg_device *dev, struct wg_peer *peer,
			     uint8_t out[WG_INITIATION_LEN])
{
	int rc;

	rc = wg_handshake_create_initiation(dev, peer, clock_monotonic_ms(),
					    wall_clock_ns(), out);
	if (rc != 0)
		errx(1, "cannot create an initiation: %s", wg_result_name(rc));
}

/* Runs the handshake once, resending the initiation every second. */
static void forge_session(struct forge *f)
{
	uint8_t msg[WG_INITIATION_LEN];
	ssize_t n;

	if (f->has_session)
		return;
	while (clock_monotonic_ms() < f->deadline_ms) {
		forge_initiation(f->dev, f->peer, msg);
		forge_send(f, msg, sizeof(msg));
		if (forge_await_response(f, 1000)) {
			f->has_session = true;
			break;
		}
	}
	if (!f->has_session)
		errx(3, "handshake timed out");
	/* A keepalive confirms the session to the responder. */
	n = wg_encrypt(f->peer, clock_monotonic_ms(), msg, sizeof(msg), NULL,
		       0);
	if (n < 0)
		errx(1, "cannot encrypt: %s", wg_result_name((int)n));
	forge_send(f, msg, (size_t)n);
}

static uint16_t ipv4_checksum(const uint8_t *data, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)data[i] << 8 | data[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Builds an IPv4 UDP packet to port 9 (discard) from src to dst. */
static size_t build_inner(uint8_t *pkt, struct in_addr src,
			  struct in_addr dst)
{
	uint16_t sum;

	memset(pkt, 0, FORGE_INNER_LEN);
	pkt[0] = 0x45;
	pkt[3] = FORGE_INNER_LEN;
	pkt[8] = 64;
	pkt[9] = IPPROTO_UDP;
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &dst, 4);
	sum = ipv4_checksum(pkt, 20);
	pkt[10] = (uint8_t)(sum >> 8);
	pkt[11] = (uint8_t)sum;
	pkt[20] = 0x9c; /* source port 40000 */
	pkt[21] = 0x40;
	pkt[23] = 9;
	pkt[25] = FORGE_INNER_LEN - 20;
	return FORGE_INNER_LEN;
}

/* Encrypts one inner packet from src; returns the datagram length. */
static size_t forge_transport(struct forge *f, struct in_addr src,
			      uint8_t *out)
{
	uint8_t pkt[FORGE_INNER_LEN];
	ssize_t n;

	forge_session(f);
	n = wg_encrypt(f->peer, clock_monotonic_ms(), out, FORGE_DATAGRAM_MAX,
		       pkt, build_inner(pkt, src, f->inner_dst));
	if (n < 0)
		errx(1, "cannot encrypt: %s", wg_result_name((int)n));
	return (size_t)n;
}

/* An initiation from a key the tunnel does not know. */
static void forge_unknown_peer(struct forge *f, uint8_t *out)
{
	uint8_t priv[32];
	struct wg_device *dev;
	struct wg_peer *peer;
	struct avpn_error e;

	key_generate_private(priv);
	dev = wg_device_new(priv, &e);
	sodium_memzero(priv, sizeof(priv));
	if (dev == NULL)
		errx(1, "%s", e.text);
	peer = wg_peer_add(dev, f->peer_key, &e);
	if (peer == NULL)
		errx(1, "%s", e.text);
	forge_initiation(dev, peer, out);
	wg_device_free(dev);
}

static void forge_case(struct forge *f, const char *name)
{
	uint8_t buf[FORGE_DATAGRAM_MAX];
	struct in_addr stranger;
	size_t len;

	memset(buf, 0, sizeof(buf));
	if (strcmp(name, "valid") == 0 || strcmp(name, "replay") == 0) {
		len = forge_transport(f, f->inner_src, buf);
		if (strcmp(name, "replay") == 0)
			forge_send(f, buf, len);
	} else if (strcmp(name, "bad-tag") == 0) {
		len = forge_transport(f, f->inner_src, buf);
		buf[len - 1] ^= 1;
	} else if (strcmp(name, "wrong-source") == 0) {
		inet_pton(AF_INET, "192.0.2.99", &stranger);
		len = forge_transport(f, stranger, buf);
	} else if (strcmp(name, "unknown-index") == 0) {
		len = WG_TRANSPORT_LEN(FORGE_INNER_LEN);
		randombytes_buf(buf, len);
		buf[0] = WG_MSG_TRANSPORT;
		buf[1] = buf[2] = buf[3] = 0;
	} else if (strcmp(name, "bad-mac") == 0) {
		forge_initiation(f->dev, f->peer, buf);
		len = WG_INITIATION_LEN;
		buf[len - 2 * WG_MAC_LEN] ^= 0x80; /* first byte of mac1 */
	} else if (strcmp(name, "unknown-peer") == 0) {
		forge_unknown_peer(f, buf);
		len = WG_INITIATION_LEN;
	} else if (strcmp(name, "truncated") == 0) {
		forge_initiation(f->dev, f->peer, buf);
		len = 100;
	} else if (strcmp(name, "oversized") == 0) {
		forge_initiation(f->dev, f->peer, buf);
		len = WG_INITIATION_LEN + 1;
	} else if (strcmp(name, "unknown-type") == 0) {
		buf[0] = 7;
		len = 64;
	} else {
		errx(2, "unknown case \"%s\"", name);
	}
	forge_send(f, buf, len);
	printf("%s sent\n", name);
	fflush(stdout);
}

static void forge_open(struct forge *f, const char *key_path,
		       const char *peer_path, const char *bind_arg,
		       const char *endpoint_arg)
{
	union endpoint local, remote;
	struct avpn_error e;
	uint8_t priv[32];

	if (key_read_private_file(priv, key_path, &e) == -1 ||
	    key_read_public_file(f->peer_key, peer_path, &e) == -1 ||
	    endpoint_parse(&local, bind_arg, 0, &e) == -1 ||
	    endpoint_parse(&remote, endpoint_arg, 0, &e) == -1)
		errx(2, "%s", e.text);
	f->dev = wg_device_new(priv, &e);
	sodium_memzero(priv, sizeof(priv));
	if (f->dev == NULL)
		errx(1, "%s", e.text);
	f->peer = wg_peer_add(f->dev, f->peer_key, &e);
	if (f->peer == NULL)
		errx(1, "%s", e.text);
	f->fd = sock_open_udp(&local, &remote, &e);
	if (f->fd == -1)
		errx(1, "%s", e.text);
}

int main(int argc, char **argv)
{
	const char *key = NULL, *peer = NULL, *bind_arg = NULL, *errstr;
	const char *src = NULL, *dst = NULL;
	struct forge f = { 0 };
	long long seconds = 10;
	int ch;

	while ((ch = getopt(argc, argv, "b:d:k:p:s:t:")) != -1) {
		switch (ch) {
		case 'b':
			bind_arg = optarg;
			break;
		case 'd':
			dst = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'p':
			peer = optarg;
			break;
		case 's':
			src = optarg;
			break;
		case 't':
			seconds = strtonum(optarg, 1, 600, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || key == NULL || peer == NULL ||
	    bind_arg == NULL || src == NULL || dst == NULL)
		usage();
	if (inet_pton(AF_INET, src, &f.inner_src) != 1 ||
	    inet_pton(AF_INET, dst, &f.inner_dst) != 1)
		errx(2, "-s and -d take IPv4 addresses");
	if (sodium_init() == -1)
		errx(1, "libsodium failed to initialise");
	forge_open(&f, key, peer, bind_arg, argv[optind]);
	f.deadline_ms = clock_monotonic_ms() + (uint64_t)seconds * 1000;
	for (optind++; optind < argc; optind++)
		forge_case(&f, argv[optind]);
	wg_device_free(f.dev);
	close(f.fd);
	return 0;
}
