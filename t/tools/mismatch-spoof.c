/*
 * mismatch-spoof -K PUBFILE FROM TO
 *
 * Sends one MSG_KEY_MISMATCH that names PUBFILE's key to TO (IPv4
 * ADDR:PORT) with the forged source FROM (ADDR:PORT), as an attacker who
 * can spoof the registry's address would.  The registry binds its port
 * without SO_REUSEPORT, so no other UDP socket can send from it, and the
 * datagram goes out through a raw socket, which needs CAP_NET_RAW.
 */
#include <err.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "key.h"
#include "proto.h"

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: mismatch-spoof -K PUBFILE FROM TO\n");
	exit(2);
}

static void parse_ipv4(union endpoint *ep, const char *text)
{
	struct avpn_error e;

	if (endpoint_parse(ep, text, 0, &e) == -1)
		errx(2, "%s", e.text);
	if (ep->sa.sa_family != AF_INET || endpoint_port(ep) == 0)
		errx(2, "%s: expected an IPv4 ADDR:PORT", text);
}

/* Builds the IPv4 and UDP headers and the payload into packet; returns
 * its length.  The kernel fills in the IPv4 checksum and id, and a UDP
 * checksum of 0 means none over IPv4. */
static size_t build_packet(uint8_t *packet, size_t size,
			   const union endpoint *from,
			   const union endpoint *to, const uint8_t key[32])
{
	struct iphdr *ip = (struct iphdr *)packet;
	struct udphdr *udp = (struct udphdr *)(packet + sizeof(*ip));
	uint8_t *payload = packet + sizeof(*ip) + sizeof(*udp);
	ssize_t len;

	memset(packet, 0, sizeof(*ip) + sizeof(*udp));
	len = proto_key_mismatch(payload, size - sizeof(*ip) - sizeof(*udp),
				 key);
	if (len < 0)
		errx(1, "cannot build the key-mismatch datagram");
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = from->in.sin_addr.s_addr;
	ip->daddr = to->in.sin_addr.s_addr;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
	udp->source = from->in.sin_port;
	udp->dest = to->in.sin_port;
	udp->len = htons((uint16_t)(sizeof(*udp) + len));
	return sizeof(*ip) + sizeof(*udp) + (size_t)len;
}

int main(int argc, char *argv[])
{
	uint8_t key[32], packet[128];
	union endpoint from, to;
	struct avpn_error e;
	const char *key_path = NULL;
	size_t len;
	int ch, fd;

	while ((ch = getopt(argc, argv, "K:")) != -1) {
		if (ch != 'K')
			usage();
		key_path = optarg;
	}
	if (key_path == NULL || argc - optind != 2)
		usage();
	if (key_read_public_file(key, key_path, &e) == -1)
		errx(2, "%s", e.text);
	parse_ipv4(&from, argv[optind]);
	parse_ipv4(&to, argv[optind + 1]);
	len = build_packet(packet, sizeof(packet), &from, &to, key);
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd == -1)
		err(1, "raw socket (needs CAP_NET_RAW)");
	if (sendto(fd, packet, len, 0, &to.sa, sizeof(to.in)) != (ssize_t)len)
		err(1, "sendto %s", argv[optind + 1]);
	close(fd);
	return 0;
}
