/* Unit tests for the control protocol codec in common/proto.c. */
#include <arpa/inet.h>
#include <string.h>

#include <sodium.h>

#include "proto.h"
#include "unit.h"

static uint8_t node_pub[32], node_priv[32];
static uint8_t reg_pub[32], reg_priv[32];
static uint8_t shared_node[32], shared_reg[32];

static union endpoint ep4(const char *addr, uint16_t port)
{
	union endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.in.sin_family = AF_INET;
	ep.in.sin_port = htons(port);
	inet_pton(AF_INET, addr, &ep.in.sin_addr);
	return ep;
}

static union endpoint ep6(const char *addr, uint16_t port)
{
	union endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.in6.sin6_family = AF_INET6;
	ep.in6.sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &ep.in6.sin6_addr);
	return ep;
}

static struct subnet net4(const char *addr, uint8_t prefix)
{
	struct subnet net;

	memset(&net, 0, sizeof(net));
	net.family = AF_INET;
	net.prefix = prefix;
	inet_pton(AF_INET, addr, net.addr);
	return net;
}

/* Fills a list with n distinct /24 subnets 10.i.0.0/24. */
static void fill_subnets(struct subnet_list *list, size_t n)
{
	char addr[32];
	size_t i;

	memset(list, 0, sizeof(*list));
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "10.%zu.0.0", i);
		list->nets[i] = net4(addr, 24);
	}
	list->count = n;
}

/* A peer of the largest encoded size: 32-character name, 16 subnets,
 * three IPv6 endpoints. */
static void make_max_peer(struct msg_peer *p, uint8_t seed)
{
	memset(p, 0, sizeof(*p));
	memset(p->public_key, seed, sizeof(p->public_key));
	memset(p->name, 'n', AVPN_NAME_MAX);
	p->name[0] = (char)('a' + seed % 26);
	p->role = ROLE_SPOKE;
	p->public_ep = ep6("2001:db8::1", 40000 + seed);
	p->private_ep = ep6("fd00::1", 40000);
	p->override = ep6("2001:db8::2", 51820);
	p->last_seen = 1700000000 + seed;
	fill_subnets(&p->subnets, AVPN_MAX_SUBNETS);
}

static void make_min_peer(struct msg_peer *p, uint8_t seed)
{
	memset(p, 0, sizeof(*p));
	memset(p->public_key, seed, sizeof(p->public_key));
	p->name[0] = (char)('a' + seed % 26);
	p->role = ROLE_HUB;
	p->last_seen = 0;
}

static void make_peer(struct msg_peer *p, uint8_t seed)
{
	memset(p, 0, sizeof(*p));
	memset(p->public_key, seed, sizeof(p->public_key));
	snprintf(p->name, sizeof(p->name), "branch-%u.site_%u", seed, seed);
	p->role = seed % 2 ? ROLE_SPOKE : ROLE_HUB;
	p->public_ep = ep4("192.0.2.73", 40000 + seed);
	p->private_ep = ep4("192.168.0.1", 40000 + seed);
	p->last_seen = 1700000000;
	p->subnets.count = 2;
	p->subnets.nets[0] = net4("10.2.0.0", 24);
	p->subnets.nets[1] = net4("10.3.128.0", 17);
	p->nat = NAT_DEPENDENT;
}

/* Builds one valid message of each type, in a fixed order. */
static void make_msg(struct proto_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->timestamp = 1700000000123456789ull;
	memcpy(m->sender, node_pub, 32);
	switch (type) {
	case MSG_REGISTER:
		m->u.reg.private_ep = ep4("192.168.0.1", 41000);
		m->u.reg.override = ep6("2001:db8::7", 51820);
		m->u.reg.subnets.count = 2;
		m->u.reg.subnets.nets[0] = net4("10.2.0.0", 24);
		m->u.reg.subnets.nets[1] = net4("0.0.0.0", 0);
		m->u.reg.nat = NAT_INDEPENDENT;
		break;
	case MSG_REGISTER_ACK:
		m->echo = 1700000000000000001ull;
		strcpy(m->u.reg_ack.name, "branch");
		m->u.reg_ack.observed = ep4("192.0.2.73", 41000);
		m->u.reg_ack.lifetime = 180;
		m->u.reg_ack.nat_port = 9351;
		break;
	case MSG_BINDING_ACK:
		m->echo = 5;
		m->u.binding_ack.observed = ep6("2001:db8::9", 1);
		break;
	case MSG_PEERS:
		m->echo = 7;
		m->u.peers.page = 1;
		m->u.peers.pages = 3;
		m->u.peers.count = 3;
		make_peer(&m->u.peers.peers[0], 1);
		make_peer(&m->u.peers.peers[1], 2);
		make_min_peer(&m->u.peers.peers[2], 3);
		break;
	case MSG_UPDATE:
		m->u.update.event = UPDATE_MOVED;
		make_peer(&m->u.update.peer, 9);
		break;
	case MSG_PUNCH:
		memset(m->u.punch.target, 0xab, 32);
		make_peer(&m->u.punch.peer, 4);
		break;
	case MSG_PROBE:
		m->u.probe.probe_id = 0x0102030405060708ull;
		m->u.probe.dest = ep4("198.51.100.1", 40001);
		break;
	case MSG_PROBE_REPLY:
		m->echo = 3;
		m->u.probe.probe_id = 0xfffffffffffffffful;
		m->u.probe.observed = ep4("192.0.2.73", 40002);
		m->u.probe.dest = ep4("198.51.100.1", 40001);
		break;
	case MSG_ERROR:
		m->u.error.request_type = MSG_QUERY;
		m->u.error.code = PERR_SUBNET_NOT_ALLOWED;
		m->u.error.subnet = net4("10.9.0.0", 16);
		break;
	}
}

static const uint8_t all_types[] = {
	MSG_REGISTER, MSG_REGISTER_ACK, MSG_BINDING, MSG_BINDING_ACK,
	MSG_QUERY, MSG_PEERS, MSG_UPDATE, MSG_PUNCH, MSG_PROBE,
	MSG_PROBE_REPLY, MSG_ERROR,
};

static ssize_t seal(uint8_t *out, size_t size, const struct proto_msg *m)
{
	return proto_seal(out, size, m, node_pub, reg_pub, shared_node);
}

static int open_reg(struct proto_msg *m, const uint8_t *buf, size_t len)
{
	struct avpn_error err;

	return proto_open(m, buf, len, shared_reg, &err);
}

static void test_shared_key(void)
{
	uint8_t zero[32] = { 0 }, out[32];

	CHECK(memcmp(shared_node, shared_reg, 32) == 0,
	      "shared key is the same from both sides");
	CHECK(proto_shared_key(out, node_priv, zero) == -1,
	      "shared key with all-zero public key fails");
}

static void test_round_trip(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m, got;
	char name[64];
	size_t i;

	for (i = 0; i < sizeof(all_types); i++) {
		const char *type = proto_type_name(all_types[i]);
		ssize_t len;

		make_msg(&m, all_types[i]);
		len = seal(buf, sizeof(buf), &m);
		snprintf(name, sizeof(name), "%s seals", type);
		CHECK(len >= PROTO_MIN_LEN, name);
		if (len < 0)
			len = 0;
		snprintf(name, sizeof(name), "%s opens", type);
		CHECK(open_reg(&got, buf, len) == 0, name);
		snprintf(name, sizeof(name), "%s decodes to the same message",
			 type);
		CHECK(memcmp(&m, &got, sizeof(m)) == 0, name);
	}
}

static void test_punch_request(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m, got;
	ssize_t len;

	make_msg(&m, MSG_PUNCH);
	memset(&m.u.punch.peer, 0, sizeof(m.u.punch.peer));
	len = seal(buf, sizeof(buf), &m);
	CHECK(len == PROTO_MIN_LEN + AVPN_KEY_LEN,
	      "punch request carries the target key only");
	CHECK(open_reg(&got, buf, len) == 0, "punch request opens");
	CHECK(got.u.punch.peer.name[0] == '\0',
	      "punch request decodes with no peer");
	CHECK(memcmp(got.u.punch.target, m.u.punch.target, 32) == 0,
	      "punch request keeps the target");
}

/* Flipping any bit of the header or ciphertext must fail to open. */
static void test_tampering(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m, got;
	size_t i, bad = 0;
	ssize_t len;

	make_msg(&m, MSG_REGISTER);
	len = seal(buf, sizeof(buf), &m);
	for (i = 0; i < (size_t)len; i++) {
		uint8_t bit;

		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= 1u << bit;
			if (open_reg(&got, buf, len) == 0)
				bad++;
			buf[i] ^= 1u << bit;
		}
	}
	CHECK(bad == 0, "any flipped bit fails to open");
	CHECK(open_reg(&got, buf, len) == 0, "untouched datagram still opens");
}

static void test_truncation(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m, got;
	size_t i, bad = 0;
	ssize_t len;

	make_msg(&m, MSG_PEERS);
	len = seal(buf, sizeof(buf), &m);
	for (i = 0; i < (size_t)len; i++)
		if (open_reg(&got, buf, i) == 0)
			bad++;
	CHECK(bad == 0, "every truncation fails to open");
	buf[len] = 0;
	CHECK(open_reg(&got, buf, len + 1) == -1,
	      "one appended byte fails to open");
}

static void test_wrong_key(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX], other_pub[32], other_priv[32];
	uint8_t other_shared[32];
	struct avpn_error err;
	struct proto_msg m, got;
	ssize_t len;

	crypto_box_keypair(other_pub, other_priv);
	proto_shared_key(other_shared, other_priv, node_pub);
	make_msg(&m, MSG_QUERY);
	len = seal(buf, sizeof(buf), &m);
	CHECK(proto_open(&got, buf, len, other_shared, &err) == -1,
	      "open with another key fails");
	CHECK_STR(err.text, "authentication failed",
		  "wrong key error says authentication failed");
}

static void test_peek(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX], sender[32], type = 0;
	struct proto_msg m;
	bool for_me = false;
	ssize_t len;

	make_msg(&m, MSG_QUERY);
	len = seal(buf, sizeof(buf), &m);
	CHECK(proto_peek(buf, len, &type, sender, reg_pub, &for_me) == 0,
	      "peek accepts a sealed datagram");
	CHECK(type == MSG_QUERY, "peek returns the type");
	CHECK(memcmp(sender, node_pub, 32) == 0, "peek returns the sender");
	CHECK(for_me, "peek matches the recipient id");
	proto_peek(buf, len, &type, sender, node_pub, &for_me);
	CHECK(!for_me, "peek tells another recipient id");
	CHECK(proto_peek(buf, PROTO_MIN_LEN - 1, &type, sender, reg_pub,
			 &for_me) == -1,
	      "peek rejects a datagram one byte too short");
	CHECK(proto_peek(buf, AVPN_DATAGRAM_MAX + 1, &type, sender, reg_pub,
			 &for_me) == -1,
	      "peek rejects a datagram one byte too long");
	buf[1] = 2;
	CHECK(proto_peek(buf, len, &type, sender, reg_pub, &for_me) == -1,
	      "peek rejects version 2");
	buf[1] = 1;
	buf[3] = 1;
	CHECK(proto_peek(buf, len, &type, sender, reg_pub, &for_me) == -1,
	      "peek rejects non-zero reserved bytes");
	buf[3] = 0;
	buf[0] = 1;
	CHECK(proto_peek(buf, len, &type, sender, reg_pub, &for_me) == -1,
	      "peek rejects a WireGuard type");
	buf[0] = MSG_KEY_MISMATCH;
	CHECK(proto_peek(buf, len, &type, sender, reg_pub, &for_me) == -1,
	      "peek rejects KEY_MISMATCH");
}

/* Size limits of names, subnet lists and datagrams at the encoder. */
static void test_seal_limits(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m;
	ssize_t len;

	make_msg(&m, MSG_REGISTER_ACK);
	memset(m.u.reg_ack.name, 'x', AVPN_NAME_MAX);
	CHECK(seal(buf, sizeof(buf), &m) > 0, "32-character name seals");
	memset(m.u.reg_ack.name, 'x', AVPN_NAME_MAX + 1);
	CHECK(seal(buf, sizeof(buf), &m) == -1, "33-character name fails");
	m.u.reg_ack.name[0] = '\0';
	CHECK(seal(buf, sizeof(buf), &m) == -1, "empty name fails");
	strcpy(m.u.reg_ack.name, "a b");
	CHECK(seal(buf, sizeof(buf), &m) == -1, "name with a space fails");

	make_msg(&m, MSG_REGISTER);
	fill_subnets(&m.u.reg.subnets, AVPN_MAX_SUBNETS);
	CHECK(seal(buf, sizeof(buf), &m) > 0, "16 subnets seal");
	m.u.reg.subnets.count = AVPN_MAX_SUBNETS + 1;
	CHECK(seal(buf, sizeof(buf), &m) == -1, "17 subnets fail");
	fill_subnets(&m.u.reg.subnets, 1);
	m.u.reg.subnets.nets[0] = net4("10.2.0.1", 24);
	CHECK(seal(buf, sizeof(buf), &m) == -1, "subnet with host bits fails");

	make_msg(&m, MSG_QUERY);
	len = seal(buf, sizeof(buf), &m);
	CHECK(len == PROTO_ERROR_LEN, "QUERY is as long as an ERROR");
	CHECK(seal(buf, PROTO_ERROR_LEN - 1, &m) == -1,
	      "seal into one byte too few fails");
	make_msg(&m, MSG_BINDING);
	CHECK(seal(buf, sizeof(buf), &m) == PROTO_MIN_LEN,
	      "BINDING is the minimum length");
	make_msg(&m, MSG_ERROR);
	CHECK(seal(buf, sizeof(buf), &m) == PROTO_ERROR_LEN,
	      "ERROR is PROTO_ERROR_LEN long");
	m.timestamp = 0;
	CHECK(seal(buf, sizeof(buf), &m) == -1, "timestamp 0 fails");
	make_msg(&m, MSG_QUERY);
	m.type = MSG_KEY_MISMATCH;
	CHECK(seal(buf, sizeof(buf), &m) == -1, "KEY_MISMATCH is not sealed");
}

/* Seals a page of n copies made by make and returns the length. */
static ssize_t seal_page(uint8_t *buf, size_t size, size_t n,
			 void (*make)(struct msg_peer *, uint8_t))
{
	struct proto_msg m;
	size_t i;

	make_msg(&m, MSG_PEERS);
	m.u.peers.page = 0;
	m.u.peers.pages = 1;
	m.u.peers.count = n;
	for (i = 0; i < n; i++)
		make(&m.u.peers.peers[i], (uint8_t)i);
	return seal(buf, size, &m);
}

static void test_peers_page(void)
{
	uint8_t buf[2 * AVPN_DATAGRAM_MAX];
	struct proto_msg got;
	struct msg_peer p;
	size_t max_fit = PROTO_PEERS_ROOM / PROTO_PEER_MAX_LEN;
	size_t min_fit = PROTO_PEERS_ROOM / PROTO_PEER_MIN_LEN;
	ssize_t len;

	make_max_peer(&p, 1);
	CHECK(proto_peer_len(&p) == PROTO_PEER_MAX_LEN,
	      "largest peer has PROTO_PEER_MAX_LEN bytes");
	make_min_peer(&p, 1);
	CHECK(proto_peer_len(&p) == PROTO_PEER_MIN_LEN,
	      "smallest peer has PROTO_PEER_MIN_LEN bytes");
	CHECK(max_fit >= 2, "a page holds at least 2 peers of the largest size");

	len = seal_page(buf, sizeof(buf), max_fit, make_max_peer);
	CHECK(len > 0, "page full of largest peers seals");
	CHECK(len <= AVPN_DATAGRAM_MAX,
	      "page full of largest peers fits 1200 bytes");
	CHECK(len == PROTO_MIN_LEN + 5 + (ssize_t)(max_fit * PROTO_PEER_MAX_LEN),
	      "page length is the sum of proto_peer_len");
	CHECK(open_reg(&got, buf, len > 0 ? len : 0) == 0,
	      "page full of largest peers opens");
	CHECK(got.u.peers.count == max_fit, "page keeps its peer count");
	CHECK(seal_page(buf, sizeof(buf), max_fit + 1, make_max_peer) == -1,
	      "one more largest peer does not fit");

	len = seal_page(buf, sizeof(buf), min_fit, make_min_peer);
	CHECK(len > 0, "page full of smallest peers seals");
	CHECK(len <= AVPN_DATAGRAM_MAX,
	      "page full of smallest peers fits 1200 bytes");
	CHECK(seal_page(buf, sizeof(buf), min_fit + 1, make_min_peer) == -1,
	      "one more smallest peer does not fit");
}

/* Opens the datagram, lets edit change its plaintext, and seals it again
 * with the raw AEAD, so the body decoder gets exactly the edited bytes. */
static int reseal_and_open(const struct proto_msg *m,
			   void (*edit)(uint8_t *plain, size_t *len, size_t arg),
			   size_t arg)
{
	uint8_t buf[AVPN_DATAGRAM_MAX + 64], plain[AVPN_DATAGRAM_MAX + 64];
	unsigned long long plain_len, sealed_len;
	struct proto_msg got;
	size_t n;
	ssize_t len;

	len = seal(buf, sizeof(buf), m);
	if (len < 0)
		return -2;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, &plain_len, NULL, buf + 64, len - 64, buf, 64,
		    buf + 40, shared_reg) != 0)
		return -2;
	n = plain_len;
	edit(plain, &n, arg);
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + 64, &sealed_len,
						   plain, n, buf, 64, NULL,
						   buf + 40, shared_reg);
	return open_reg(&got, buf, 64 + sealed_len);
}

static void edit_none(uint8_t *plain, size_t *len, size_t arg)
{
}

static void edit_append(uint8_t *plain, size_t *len, size_t arg)
{
	plain[(*len)++] = (uint8_t)arg;
}

static void edit_cut(uint8_t *plain, size_t *len, size_t arg)
{
	*len -= arg;
}

/* arg is offset << 8 | new byte value. */
static void edit_set(uint8_t *plain, size_t *len, size_t arg)
{
	plain[arg >> 8] = arg & 0xff;
}

#define SET(off, val) (((size_t)(off) << 8) | (uint8_t)(val))

/* arg is offset << 8 | number of bytes to clear. */
static void edit_zero(uint8_t *plain, size_t *len, size_t arg)
{
	memset(plain + (arg >> 8), 0, arg & 0xff);
}

#define ZERO(off, n) SET(off, n)

/* Offsets inside the REGISTER plaintext: stamps, private, override,
 * count, then the first subnet. */
#define REG_PRIVATE 16
#define REG_OVERRIDE (REG_PRIVATE + 19)
#define REG_COUNT (REG_OVERRIDE + 19)
#define REG_NET0 (REG_COUNT + 1)

static void test_decode_register(void)
{
	struct proto_msg m;

	make_msg(&m, MSG_REGISTER);
	CHECK(reseal_and_open(&m, edit_none, 0) == 0,
	      "unedited REGISTER reseals and opens");
	CHECK(reseal_and_open(&m, edit_append, 0) == -1,
	      "REGISTER with a trailing byte is rejected");
	CHECK(reseal_and_open(&m, edit_cut, 1) == -1,
	      "REGISTER one byte short is rejected");
	m.timestamp = 1;
	CHECK(reseal_and_open(&m, edit_set, SET(7, 0)) == -1,
	      "REGISTER with timestamp 0 is rejected");
	make_msg(&m, MSG_REGISTER);
	CHECK(reseal_and_open(&m, edit_set, SET(REG_PRIVATE, 5)) == -1,
	      "endpoint family 5 is rejected");
	CHECK(reseal_and_open(&m, edit_zero, ZERO(REG_PRIVATE + 1, 2)) == -1,
	      "endpoint port 0 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_PRIVATE + 7, 1)) == -1,
	      "IPv4 endpoint with padding set is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_PRIVATE, 0)) == -1,
	      "unset endpoint with a port is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_COUNT, 17)) == -1,
	      "17 subnets are rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_COUNT, 3)) == -1,
	      "subnet count beyond the body is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_COUNT, 1)) == -1,
	      "subnet count short of the body is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0, 5)) == -1,
	      "subnet family 5 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 1, 33)) == -1,
	      "IPv4 prefix 33 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 1, 32)) == 0,
	      "IPv4 prefix 32 opens");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 5, 1)) == -1,
	      "subnet with host bits set is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 6, 1)) == -1,
	      "IPv4 subnet with padding set is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 36, NAT_DEPENDENT)) ==
		      0,
	      "NAT type endpoint-dependent opens");
	CHECK(reseal_and_open(&m, edit_set,
			      SET(REG_NET0 + 36, NAT_DEPENDENT + 1)) == -1,
	      "NAT type beyond the enum is rejected");
}

static void test_decode_subnet_list(void)
{
	struct proto_msg m;

	make_msg(&m, MSG_REGISTER);
	m.u.reg.subnets.nets[1] = net4("10.2.0.0", 23);
	CHECK(reseal_and_open(&m, edit_none, 0) == 0,
	      "different prefixes of one address open");
	/* Turn the second subnet into a copy of the first. */
	CHECK(reseal_and_open(&m, edit_set, SET(REG_NET0 + 18 + 1, 24)) == -1,
	      "duplicate subnets are rejected");
	fill_subnets(&m.u.reg.subnets, AVPN_MAX_SUBNETS);
	CHECK(reseal_and_open(&m, edit_none, 0) == 0, "16 subnets open");
	m.u.reg.subnets.count = 0;
	CHECK(reseal_and_open(&m, edit_none, 0) == 0, "no subnets open");
}

/* Offsets inside the REGISTER_ACK plaintext with the name "branch". */
#define ACK_NAME 16
#define ACK_OBSERVED (ACK_NAME + 1 + 6)

static void test_decode_names(void)
{
	struct proto_msg m;

	make_msg(&m, MSG_REGISTER_ACK);
	CHECK(reseal_and_open(&m, edit_set, SET(ACK_NAME, 0)) == -1,
	      "name length 0 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(ACK_NAME, 33)) == -1,
	      "name length 33 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(ACK_NAME + 3, '/')) == -1,
	      "name with '/' is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(ACK_NAME + 3, 0)) == -1,
	      "name with a NUL is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(ACK_OBSERVED, 0)) == -1,
	      "REGISTER_ACK with unset observed endpoint is rejected");
	memset(m.u.reg_ack.name, 'z', AVPN_NAME_MAX);
	CHECK(reseal_and_open(&m, edit_none, 0) == 0,
	      "32-character name opens");
}

/* Offsets inside the PEERS plaintext. */
#define PEERS_PAGE 16
#define PEERS_PAGES 18
#define PEERS_COUNT 20
#define PEER0 21

static void test_decode_peers(void)
{
	struct proto_msg m;
	size_t role, seen;

	make_msg(&m, MSG_PEERS);
	role = PEER0 + 32 + 1 + strlen(m.u.peers.peers[0].name);
	seen = role + 1 + 3 * PROTO_ENDPOINT_LEN;
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_PAGE + 1, 3)) == -1,
	      "page equal to pages is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_PAGE + 1, 2)) == 0,
	      "last page opens");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_COUNT, 0)) == -1,
	      "page of a non-empty list with no peers is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_COUNT, 17)) == -1,
	      "17 peers are rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_COUNT, 2)) == -1,
	      "count short of the body is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_COUNT, 4)) == -1,
	      "count beyond the body is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(role, 3)) == -1,
	      "role 3 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(seen, 0x80)) == -1,
	      "negative last seen is rejected");

	make_msg(&m, MSG_PEERS);
	m.u.peers.page = 0;
	m.u.peers.pages = 0;
	m.u.peers.count = 0;
	CHECK(reseal_and_open(&m, edit_none, 0) == 0,
	      "empty list (0 pages) opens");
	CHECK(reseal_and_open(&m, edit_set, SET(PEERS_PAGE + 1, 1)) == -1,
	      "empty list with page 1 is rejected");
}

static void test_decode_small_bodies(void)
{
	struct proto_msg m;

	make_msg(&m, MSG_ERROR);
	CHECK(reseal_and_open(&m, edit_set, SET(18, 0)) == -1,
	      "PERR_SUBNET_NOT_ALLOWED without a subnet is rejected");
	m.u.error.code = PERR_TABLE_FULL;
	memset(&m.u.error.subnet, 0, sizeof(m.u.error.subnet));
	CHECK(reseal_and_open(&m, edit_none, 0) == 0,
	      "PERR_TABLE_FULL without a subnet opens");
	CHECK(reseal_and_open(&m, edit_set, SET(35, 1)) == -1,
	      "PERR_TABLE_FULL with a subnet byte set is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(17, 0)) == -1,
	      "error code 0 is rejected");
	CHECK(reseal_and_open(&m, edit_set,
			      SET(17, PERR_STALE_TIMESTAMP + 1)) == -1,
	      "error code 10 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(16, 1)) == -1,
	      "error about a WireGuard type is rejected");
	make_msg(&m, MSG_UPDATE);
	CHECK(reseal_and_open(&m, edit_set, SET(16, 0)) == -1,
	      "update event 0 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(16, UPDATE_LEFT + 1)) == -1,
	      "update event 4 is rejected");
	make_msg(&m, MSG_QUERY);
	CHECK(reseal_and_open(&m, edit_append, 0) == -1,
	      "QUERY with 21 bytes of padding is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(16 + 19, 1)) == -1,
	      "QUERY with a non-zero padding byte is rejected");
	CHECK(reseal_and_open(&m, edit_cut, 1) == -1,
	      "QUERY with 19 bytes of padding is rejected");
	CHECK(reseal_and_open(&m, edit_cut, PROTO_QUERY_PAD_LEN) == 0,
	      "QUERY without padding opens");
	make_msg(&m, MSG_BINDING);
	CHECK(reseal_and_open(&m, edit_append, 0) == -1,
	      "BINDING with a body is rejected");
	make_msg(&m, MSG_PUNCH);
	memset(&m.u.punch.peer, 0, sizeof(m.u.punch.peer));
	CHECK(reseal_and_open(&m, edit_cut, 1) == -1,
	      "PUNCH with a short target is rejected");
	CHECK(reseal_and_open(&m, edit_append, 0) == -1,
	      "PUNCH with one byte of peer is rejected");
	make_msg(&m, MSG_PROBE);
	CHECK(reseal_and_open(&m, edit_set, SET(24, 4)) == -1,
	      "PROBE with an observed endpoint is rejected");
	make_msg(&m, MSG_PROBE_REPLY);
	CHECK(reseal_and_open(&m, edit_set, SET(24, 0)) == -1,
	      "PROBE_REPLY without observed endpoint is rejected");
}

/* The two timestamp errors carry a time in the first 8 detail bytes. */
static void test_decode_clock_errors(void)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg m, got;
	ssize_t len;

	make_msg(&m, MSG_ERROR);
	m.u.error.request_type = MSG_QUERY;
	m.u.error.code = PERR_STALE_TIMESTAMP;
	memset(&m.u.error.subnet, 0, sizeof(m.u.error.subnet));
	m.u.error.time_ns = 0x0102030405060708ull;
	len = seal(buf, sizeof(buf), &m);
	CHECK(len == PROTO_ERROR_LEN, "stale-timestamp ERROR seals");
	CHECK(open_reg(&got, buf, len > 0 ? len : 0) == 0,
	      "stale-timestamp ERROR opens");
	CHECK(got.u.error.time_ns == m.u.error.time_ns,
	      "stale-timestamp ERROR keeps the time");
	CHECK(got.u.error.code == PERR_STALE_TIMESTAMP,
	      "stale-timestamp ERROR keeps the code");
	CHECK(reseal_and_open(&m, edit_set, SET(18, 0x81)) == 0,
	      "time with the top bit set opens");
	CHECK(reseal_and_open(&m, edit_zero, ZERO(18, 8)) == -1,
	      "timestamp error with time 0 is rejected");
	CHECK(reseal_and_open(&m, edit_set, SET(26, 1)) == -1,
	      "timestamp error with a byte set after the time is rejected");
	m.u.error.code = PERR_CLOCK_SKEW;
	CHECK(reseal_and_open(&m, edit_none, 0) == 0, "clock-skew ERROR opens");
	m.u.error.time_ns = 0;
	CHECK(seal(buf, sizeof(buf), &m) == -1,
	      "clock-skew ERROR without a time fails");
	m.u.error.code = PERR_TABLE_FULL;
	m.u.error.time_ns = 1;
	CHECK(seal(buf, sizeof(buf), &m) == -1,
	      "table-full ERROR with a time fails");
	m.u.error.time_ns = 0;
	CHECK(reseal_and_open(&m, edit_set, SET(25, 1)) == -1,
	      "table-full ERROR with a time byte set is rejected");
}

static void test_key_mismatch(void)
{
	uint8_t buf[64], key[32];
	ssize_t len;

	len = proto_key_mismatch(buf, sizeof(buf), reg_pub);
	CHECK(len == 36, "KEY_MISMATCH is 36 bytes");
	CHECK(len < PROTO_MIN_LEN, "KEY_MISMATCH is smaller than any request");
	CHECK(proto_key_mismatch_parse(buf, len, key) == 0,
	      "KEY_MISMATCH parses");
	CHECK(memcmp(key, reg_pub, 32) == 0, "KEY_MISMATCH carries the key");
	CHECK(proto_key_mismatch_parse(buf, len - 1, key) == -1,
	      "short KEY_MISMATCH is rejected");
	CHECK(proto_key_mismatch_parse(buf, len + 1, key) == -1,
	      "long KEY_MISMATCH is rejected");
	buf[0] = MSG_ERROR;
	CHECK(proto_key_mismatch_parse(buf, len, key) == -1,
	      "other type is not a KEY_MISMATCH");
	CHECK(proto_key_mismatch(buf, 35, reg_pub) == -1,
	      "KEY_MISMATCH into 35 bytes fails");
}

static void test_timestamp(void)
{
	uint64_t prev = proto_timestamp(), now;
	int i, rising = 1;

	for (i = 0; i < 100000; i++) {
		now = proto_timestamp();
		if (now <= prev)
			rising = 0;
		prev = now;
	}
	CHECK(rising, "timestamps rise strictly");
	CHECK(prev > 1600000000ull * 1000000000ull,
	      "timestamp is nanoseconds since the epoch");
}

static void test_names(void)
{
	CHECK_STR(proto_error_name(PERR_TABLE_FULL), "registry table full",
		  "error name of PERR_TABLE_FULL");
	CHECK_STR(proto_error_name(PERR_STALE_TIMESTAMP), "stale timestamp",
		  "error name of PERR_STALE_TIMESTAMP");
	CHECK_STR(proto_error_name(PERR_CLOCK_SKEW),
		  "clock ahead of the registry's",
		  "error name of PERR_CLOCK_SKEW");
	CHECK_STR(proto_error_name(0), "unknown error", "error name of 0");
	CHECK_STR(proto_error_name(200), "unknown error", "error name of 200");
	CHECK_STR(proto_type_name(MSG_PUNCH), "PUNCH", "type name of PUNCH");
	CHECK_STR(proto_type_name(MSG_ERROR), "ERROR", "type name of ERROR");
	CHECK_STR(proto_type_name(2), "unknown", "type name of 2");
}

static void test_peer_to_record(void)
{
	struct peer_record rec;
	struct msg_peer p;

	make_peer(&p, 5);
	proto_peer_to_record(&rec, &p);
	CHECK_STR(rec.name, p.name, "record keeps the name");
	CHECK(rec.role == ROLE_SPOKE, "record keeps the role");
	CHECK(memcmp(rec.public_key, p.public_key, 32) == 0,
	      "record keeps the key");
	CHECK(memcmp(&rec.public_ep, &p.public_ep, sizeof(p.public_ep)) == 0,
	      "record keeps the public endpoint");
	CHECK(rec.subnets.count == 2, "record keeps the subnets");
	CHECK(rec.last_seen == p.last_seen, "record keeps last seen");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	crypto_box_keypair(node_pub, node_priv);
	crypto_box_keypair(reg_pub, reg_priv);
	proto_shared_key(shared_node, node_priv, reg_pub);
	proto_shared_key(shared_reg, reg_priv, node_pub);

	test_shared_key();
	test_round_trip();
	test_punch_request();
	test_tampering();
	test_truncation();
	test_wrong_key();
	test_peek();
	test_seal_limits();
	test_peers_page();
	test_decode_register();
	test_decode_subnet_list();
	test_decode_names();
	test_decode_peers();
	test_decode_small_bodies();
	test_decode_clock_errors();
	test_key_mismatch();
	test_timestamp();
	test_names();
	test_peer_to_record();
	return unit_done();
}
