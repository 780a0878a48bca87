/*
 * avpn-forge: a test-only client that sends one crafted control datagram
 * to a registry and prints every reply on stdout, one line each, or
 * "no reply" when nothing came within the timeout.
 *
 *   avpn-forge -k KEYFILE -R REGISTRY_PUBFILE -r ADDR:PORT [-p PORT]
 *              [-s SUBNETS] [-n NAT-TYPE] [-T TIMESTAMP] [-t MS] [-w]
 *              [-c COUNT] [-x replay|truncate|tamper|wrong-key|garbage]
 *              register|query|binding|punch TARGET_PUBFILE
 *
 * -c sends COUNT requests, each with a new timestamp, 100 a millisecond
 * so the registry's socket buffer keeps up, and implies -w.
 * -x spoils the request.  replay sends it twice and prints the replies of
 * each send in turn.  truncate cuts its last byte, tamper flips a
 * ciphertext bit and wrong-key seals it for a random registry key.
 * garbage sends random bytes of the same length, with a control type and
 * a bad version.  -w keeps listening for the whole
 * timeout (pushed updates, forwarded punches); otherwise the first
 * complete reply ends the wait.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "proto.h"
#include "sock.h"

struct forge {
	uint8_t public_key[32];
	uint8_t registry_key[32];
	uint8_t shared[32];
	union endpoint registry;
	uint16_t port;
	struct subnet_list subnets;
	enum nat_type nat;
	uint64_t timestamp;
	int count;
	int timeout_ms;
	bool wait_all;
	const char *fault;
	const char *target_path;
	uint8_t type;
};

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: avpn-forge -k KEYFILE -R REGISTRY_PUBFILE "
		"-r ADDR:PORT [-p PORT] [-s SUBNETS]\n"
		"                  [-n NAT-TYPE] [-T TIMESTAMP] [-t MS] [-w] "
		"[-c COUNT] [-x FAULT]\n"
		"                  register|query|binding|punch TARGET_PUBFILE\n");
	exit(2);
}

static void print_peer(const char *label, const struct msg_peer *p)
{
	char key[AVPN_KEY_BASE64_LEN + 1], pub[ENDPOINT_STRLEN];
	char priv[ENDPOINT_STRLEN], nets[AVPN_MAX_SUBNETS * SUBNET_STRLEN];

	key_to_base64(key, p->public_key);
	endpoint_format(pub, &p->public_ep);
	endpoint_format(priv, &p->private_ep);
	subnet_list_format(nets, sizeof(nets), &p->subnets);
	printf("%s name=%s role=%s key=%s public=%s private=%s subnets=%s "
	       "nat=%s\n", label, p->name,
	       node_role_name((enum node_role)p->role), key, pub, priv, nets,
	       nat_type_name((enum nat_type)p->nat));
}

/* The time is printed only for the codes that carry one. */
static void print_error(const struct msg_error *e, size_t len)
{
	char net[SUBNET_STRLEN] = "-";

	if (e->subnet.family != 0)
		subnet_format(net, &e->subnet);
	printf("ERROR len=%zu request=%s code=%u (%s) subnet=%s", len,
	       proto_type_name(e->request_type), e->code,
	       proto_error_name(e->code), net);
	if (e->time_ns != 0)
		printf(" time=%llu", (unsigned long long)e->time_ns);
	printf("\n");
}

static const char *event_name(uint8_t event)
{
	return event == UPDATE_APPEARED ? "appeared"
	       : event == UPDATE_MOVED  ? "moved"
					: "left";
}

/* Prints one decoded reply.  Returns true when it is the last one the
 * request gets (the last PEERS page, or any other reply). */
static bool print_msg(const struct proto_msg *m, size_t len)
{
	char ep[ENDPOINT_STRLEN], key[AVPN_KEY_BASE64_LEN + 1];
	size_t i;

	switch (m->type) {
	case MSG_REGISTER_ACK:
		endpoint_format(ep, &m->u.reg_ack.observed);
		printf("REGISTER_ACK len=%zu name=%s observed=%s lifetime=%u "
		       "nat_port=%u\n", len, m->u.reg_ack.name, ep,
		       m->u.reg_ack.lifetime, m->u.reg_ack.nat_port);
		return true;
	case MSG_BINDING_ACK:
		endpoint_format(ep, &m->u.binding_ack.observed);
		printf("BINDING_ACK len=%zu observed=%s\n", len, ep);
		return true;
	case MSG_PEERS:
		printf("PEERS len=%zu page=%u pages=%u count=%u\n", len,
		       m->u.peers.page, m->u.peers.pages, m->u.peers.count);
		for (i = 0; i < m->u.peers.count; i++)
			print_peer("PEER", &m->u.peers.peers[i]);
		return m->u.peers.page + 1 >= m->u.peers.pages;
	case MSG_UPDATE:
		printf("UPDATE len=%zu event=%s\n", len,
		       event_name(m->u.update.event));
		print_peer("PEER", &m->u.update.peer);
		return true;
	case MSG_PUNCH:
		key_to_base64(key, m->u.punch.target);
		printf("PUNCH len=%zu target=%s\n", len, key);
		/* The acknowledgement to the sender names no peer. */
		if (m->u.punch.peer.name[0] != '\0')
			print_peer("PEER", &m->u.punch.peer);
		return true;
	case MSG_ERROR:
		print_error(&m->u.error, len);
		return true;
	default:
		printf("%s len=%zu\n", proto_type_name(m->type), len);
		return true;
	}
}

static bool print_datagram(const struct forge *f, const uint8_t *buf,
			   size_t len)
{
	char key[AVPN_KEY_BASE64_LEN + 1];
	uint8_t registry_key[32];
	struct avpn_error e;
	struct proto_msg m;

	if (proto_key_mismatch_parse(buf, len, registry_key) == 0) {
		key_to_base64(key, registry_key);
		printf("KEY_MISMATCH len=%zu key=%s\n", len, key);
		return true;
	}
	if (proto_open(&m, buf, len, f->shared, &e) == -1) {
		printf("UNDECODABLE len=%zu (%s)\n", len, e.text);
		return true;
	}
	return print_msg(&m, len);
}

/* Prints what arrives until deadline_ms and returns true when anything
 * did.  Sets *done when a reply was the last one expected (unless -w). */
static bool receive_until(const struct forge *f, int fd, uint64_t deadline_ms,
			  bool *done)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[AVPN_DATAGRAM_MAX + 1];
	bool any = false;
	uint64_t now;
	ssize_t n;

	while (!*done && (now = clock_monotonic_ms()) < deadline_ms) {
		if (poll(&pfd, 1, (int)(deadline_ms - now)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			continue;
		any = true;
		*done = print_datagram(f, buf, (size_t)n) && !f->wait_all;
		fflush(stdout);
	}
	return any;
}

/* Prints what arrives within the timeout; "no reply" if nothing does. */
static void collect(const struct forge *f, int fd, bool any)
{
	bool done = false;

	if (receive_until(f, fd, clock_monotonic_ms() + (uint64_t)f->timeout_ms,
			  &done))
		any = true;
	if (!any)
		printf("no reply\n");
	fflush(stdout);
}

/* Builds and seals the request, then applies the fault. */
static size_t build(const struct forge *f, uint8_t *buf, size_t size)
{
	uint8_t other_pub[32], other_priv[32], other_shared[32];
	const uint8_t *recipient = f->registry_key, *shared = f->shared;
	struct avpn_error e;
	struct proto_msg m;
	ssize_t len;

	memset(&m, 0, sizeof(m));
	m.type = f->type;
	m.timestamp = f->timestamp;
	m.u.reg.subnets = f->subnets;
	m.u.reg.nat = (uint8_t)f->nat;
	if (f->type == MSG_PUNCH) {
		memset(&m.u, 0, sizeof(m.u));
		if (key_read_public_file(m.u.punch.target, f->target_path,
					 &e) == -1)
			errx(2, "%s", e.text);
	}
	if (strcmp(f->fault, "wrong-key") == 0) {
		crypto_box_keypair(other_pub, other_priv);
		randombytes_buf(other_shared, sizeof(other_shared));
		recipient = other_pub;
		shared = other_shared;
	}
	len = proto_seal(buf, size, &m, f->public_key, recipient, shared);
	if (len < 0)
		errx(1, "cannot seal the request");
	if (strcmp(f->fault, "truncate") == 0)
		len--;
	else if (strcmp(f->fault, "tamper") == 0)
		buf[len - 1] ^= 0x01;
	else if (strcmp(f->fault, "garbage") == 0) {
		/* A control type with a bad version, so the registry drops
		 * it at the header check every time. */
		randombytes_buf(buf, (size_t)len);
		buf[0] = MSG_REGISTER;
		buf[1] = 0;
	} else if (strcmp(f->fault, "none") != 0 &&
		   strcmp(f->fault, "replay") != 0 &&
		   strcmp(f->fault, "wrong-key") != 0) {
		errx(2, "-x: unknown fault \"%s\"", f->fault);
	}
	return (size_t)len;
}

static void parse_option(struct forge *f, int ch, const char **key_path,
			 const char **registry_path)
{
	struct avpn_error e;
	const char *errstr;

	switch (ch) {
	case 'k': *key_path = optarg; break;
	case 'R': *registry_path = optarg; break;
	case 'w': f->wait_all = true; break;
	case 'n':
		if (nat_type_parse(&f->nat, optarg, &e) == -1)
			errx(2, "-n: %s", e.text);
		break;
	case 'c':
		f->count = (int)strtonum(optarg, 1, 10000, &errstr);
		if (errstr != NULL)
			errx(2, "-c: %s", errstr);
		f->wait_all = true;
		break;
	case 'x': f->fault = optarg; break;
	case 'r':
		if (endpoint_parse(&f->registry, optarg, 0, &e) == -1)
			errx(2, "-r: %s", e.text);
		break;
	case 'p':
		if (port_parse(&f->port, optarg, &e) == -1)
			errx(2, "-p: %s", e.text);
		break;
	case 's':
		if (subnet_list_parse(&f->subnets, optarg, &e) == -1)
			errx(2, "-s: %s", e.text);
		break;
	case 'T':
		f->timestamp = (uint64_t)strtonum(optarg, 1, LLONG_MAX,
						  &errstr);
		if (errstr != NULL)
			errx(2, "-T: %s", errstr);
		break;
	case 't':
		f->timeout_ms = (int)strtonum(optarg, 1, 60000, &errstr);
		if (errstr != NULL)
			errx(2, "-t: %s", errstr);
		break;
	default:
		usage();
	}
}

static void parse_mode(struct forge *f, int argc, char *argv[])
{
	static const struct { const char *name; uint8_t type; } modes[] = {
		{ "register", MSG_REGISTER }, { "query", MSG_QUERY },
		{ "binding", MSG_BINDING }, { "punch", MSG_PUNCH },
	};
	size_t i;

	if (argc < 1)
		usage();
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[0], modes[i].name) == 0)
			f->type = modes[i].type;
	if (f->type == 0 || (f->type == MSG_PUNCH) != (argc == 2) || argc > 2)
		usage();
	if (f->type == MSG_PUNCH)
		f->target_path = argv[1];
}

static void load_keys(struct forge *f, const char *key_path,
		      const char *registry_path)
{
	uint8_t private_key[32];
	struct avpn_error e;

	if (key_read_private_file(private_key, key_path, &e) == -1 ||
	    key_read_public_file(f->registry_key, registry_path, &e) == -1)
		errx(2, "%s", e.text);
	if (key_public_from_private(f->public_key, private_key) == -1 ||
	    proto_shared_key(f->shared, private_key, f->registry_key) == -1)
		errx(2, "weak key");
	sodium_memzero(private_key, sizeof(private_key));
}

int main(int argc, char *argv[])
{
	const char *key_path = NULL, *registry_path = NULL;
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct avpn_error e;
	union endpoint local;
	struct forge f;
	size_t len = 0;
	bool any = false, done = false;
	int ch, fd, i, rcvbuf = 8 * 1024 * 1024;

	if (sodium_init() == -1)
		errx(1, "libsodium initialisation failed");
	memset(&f, 0, sizeof(f));
	f.timeout_ms = 1000;
	f.fault = "none";
	f.count = 1;
	while ((ch = getopt(argc, argv, "c:k:n:p:R:r:s:T:t:wx:")) != -1)
		parse_option(&f, ch, &key_path, &registry_path);
	parse_mode(&f, argc - optind, argv + optind);
	if (key_path == NULL || registry_path == NULL ||
	    !endpoint_is_set(&f.registry))
		usage();
	load_keys(&f, key_path, registry_path);
	if (f.timestamp == 0)
		f.timestamp = proto_timestamp();

	memset(&local, 0, sizeof(local));
	local.sa.sa_family = f.registry.sa.sa_family;
	endpoint_set_port(&local, f.port);
	fd = sock_open_udp(&local, &f.registry, &e);
	if (fd == -1)
		errx(1, "%s", e.text);
	/* Room for the replies to -c; the FORCE option needs root. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	for (i = 0; i < f.count; i++) {
		len = build(&f, buf, sizeof(buf));
		fprintf(stderr, "avpn-forge: sending %s (%zu bytes, fault %s)\n",
			proto_type_name(f.type), len, f.fault);
		if (send(fd, buf, len, 0) == -1)
			err(1, "send");
		f.timestamp = proto_timestamp();
		/* Pace a long run and read the replies meanwhile, so that
		 * neither side's socket buffer overflows. */
		if (i % 100 == 99 &&
		    receive_until(&f, fd, clock_monotonic_ms() + 1, &done))
			any = true;
	}
	collect(&f, fd, any);
	if (strcmp(f.fault, "replay") == 0) {
		if (send(fd, buf, len, 0) == -1)
			err(1, "send");
		collect(&f, fd, false);
	}
	close(fd);
	return 0;
}
