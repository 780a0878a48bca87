/*
 * probe-send -k KEYFILE -p PEER_PUBFILE [-K CLAIMED_PUBFILE] [-c COUNT]
 *            [-b ADDR:PORT] DEST
 *
 * Sends one sealed MSG_PROBE to DEST COUNT times (default 1), byte for
 * byte the same datagram each time, so every send after the first is a
 * replay.  With -K the header names CLAIMED_PUBFILE's key as the sender
 * while the datagram is still sealed with KEYFILE's key: a forgery.
 * Waits 1 s after the last send and prints "replies N", the number of
 * authenticated MSG_PROBE_REPLY datagrams that replied to it.
 */
#include <err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"
#include "proto.h"
#include "sock.h"

struct probe_options {
	const char *key_path;
	const char *peer_path;
	const char *claimed_path;
	const char *bind_arg;
	unsigned int count;
};

static void usage(void)
{
	fprintf(stderr, "usage: probe-send -k KEYFILE -p PEER_PUBFILE "
		"[-K CLAIMED_PUBFILE] [-c COUNT] [-b ADDR:PORT] DEST\n");
	exit(2);
}

static void parse_args(int argc, char *argv[], struct probe_options *o)
{
	const char *errstr;
	int ch;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	while ((ch = getopt(argc, argv, "b:c:K:k:p:")) != -1) {
		switch (ch) {
		case 'b': o->bind_arg = optarg; break;
		case 'K': o->claimed_path = optarg; break;
		case 'k': o->key_path = optarg; break;
		case 'p': o->peer_path = optarg; break;
		case 'c':
			o->count = (unsigned int)strtonum(optarg, 1, 100,
							  &errstr);
			if (errstr != NULL)
				errx(2, "-c: count \"%s\" is %s", optarg,
				     errstr);
			break;
		default:
			usage();
		}
	}
	if (o->key_path == NULL || o->peer_path == NULL ||
	    argc - optind != 1)
		usage();
}

/* Counts authenticated replies to probe until 1 s passes in silence. */
static unsigned int count_replies(int fd, const struct proto_msg *probe,
				  const uint8_t shared[32])
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg reply;
	unsigned int replies = 0;
	ssize_t len;

	while (poll(&pfd, 1, 1000) == 1) {
		len = recv(fd, buf, sizeof(buf), 0);
		if (len <= 0)
			continue;
		if (proto_open(&reply, buf, (size_t)len, shared, NULL) == 0 &&
		    reply.type == MSG_PROBE_REPLY &&
		    reply.echo == probe->timestamp &&
		    reply.u.probe.probe_id == probe->u.probe.probe_id)
			replies++;
	}
	return replies;
}

/* Reads the keys: the peer's, the sender key the header names (ours
 * unless -K), and the key shared by ours and the peer's. */
static void load_keys(const struct probe_options *o, uint8_t peer[32],
		      uint8_t claimed[32], uint8_t shared[32])
{
	uint8_t priv[32];
	struct avpn_error e;

	if (key_read_private_file(priv, o->key_path, &e) == -1 ||
	    key_read_public_file(peer, o->peer_path, &e) == -1)
		errx(2, "%s", e.text);
	key_public_from_private(claimed, priv);
	if (o->claimed_path != NULL &&
	    key_read_public_file(claimed, o->claimed_path, &e) == -1)
		errx(2, "%s", e.text);
	if (proto_shared_key(shared, priv, peer) == -1)
		errx(2, "%s: weak key", o->peer_path);
	sodium_memzero(priv, sizeof(priv));
}

int main(int argc, char *argv[])
{
	uint8_t peer[32], claimed[32], shared[32];
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct probe_options o;
	struct proto_msg probe;
	union endpoint dest, local;
	struct avpn_error e;
	ssize_t len;
	int fd;

	if (sodium_init() == -1)
		errx(1, "libsodium failed to initialise");
	parse_args(argc, argv, &o);
	load_keys(&o, peer, claimed, shared);
	if (endpoint_parse(&dest, argv[optind], 0, &e) == -1)
		errx(2, "%s", e.text);

	memset(&local, 0, sizeof(local));
	local.sa.sa_family = dest.sa.sa_family;
	if (o.bind_arg != NULL && endpoint_parse(&local, o.bind_arg, 0, &e))
		errx(2, "-b: %s", e.text);
	fd = sock_open_udp(&local, &dest, &e);
	if (fd == -1)
		errx(1, "%s", e.text);

	memset(&probe, 0, sizeof(probe));
	probe.type = MSG_PROBE;
	probe.timestamp = proto_timestamp();
	randombytes_buf(&probe.u.probe.probe_id,
			sizeof(probe.u.probe.probe_id));
	probe.u.probe.dest = dest;
	len = proto_seal(buf, sizeof(buf), &probe, claimed, peer, shared);
	if (len == -1)
		errx(1, "cannot seal the probe");
	for (unsigned int i = 0; i < o.count; i++)
		if (send(fd, buf, (size_t)len, 0) == -1)
			err(1, "send");
	printf("replies %u\n", count_replies(fd, &probe, shared));
	sodium_memzero(shared, sizeof(shared));
	return 0;
}
