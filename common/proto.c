/*
 * The control protocol's codec: sealing, opening and strict decoding of
 * every message body.  The header, key and timestamps are described in
 * proto.h.  After the two timestamps each body is laid out as follows
 * (ENDPOINT is 19 bytes, SUBNET 18 bytes, SUBNETS a count byte and that
 * many SUBNET, NAME a length byte and 1-32 name characters):
 *
 *   REGISTER       ENDPOINT private, ENDPOINT override, SUBNETS, u8 NAT type
 *   REGISTER_ACK   NAME, ENDPOINT observed, u32 lifetime, u16 NAT port
 *   BINDING        empty
 *   BINDING_ACK    ENDPOINT observed
 *   QUERY          PROTO_QUERY_PAD_LEN zero bytes, or empty
 *   PEERS          u16 page, u16 pages, u8 count, count x PEER
 *   UPDATE         u8 event, PEER
 *   PUNCH          target key (32), then PEER only when the registry
 *                  forwards it
 *   PROBE, PROBE_REPLY  u64 probe id, ENDPOINT observed, ENDPOINT dest
 *   ERROR          u8 request type, u8 error code, 18 bytes of detail:
 *                  the SUBNET for PERR_SUBNET_NOT_ALLOWED, u64 time and
 *                  10 zero bytes for PERR_CLOCK_SKEW and
 *                  PERR_STALE_TIMESTAMP, all zero for the other codes
 *
 * PEER is the key (32), NAME, u8 role, ENDPOINT public, ENDPOINT private,
 * ENDPOINT override, s64 last seen, SUBNETS and u8 NAT type (enum nat_type).
 * The NAT type is the node's own finding, sent in REGISTER and passed on to
 * its peers, which need it to tell an impossible path from a lost one.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "proto.h"

#define HDR_TYPE 0
#define HDR_VERSION 1
#define HDR_RESERVED 2
#define HDR_SENDER 4
#define HDR_RECIPIENT 36
#define HDR_RECIPIENT_LEN 4
#define HDR_NONCE 40

#define KEY_MISMATCH_LEN (HDR_SENDER + AVPN_KEY_LEN)

/* Wire family codes of endpoints and subnets. */
#define WIRE_UNSET 0
#define WIRE_INET 4
#define WIRE_INET6 6

/* The largest plaintext any datagram can carry. */
#define PLAIN_MAX (AVPN_DATAGRAM_MAX - PROTO_HEADER_LEN - PROTO_TAG_LEN)

struct writer {
	uint8_t *buf;
	size_t len;
	size_t size;
	bool failed; /* out of room or an invalid field */
};

struct reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
	bool failed; /* short or an invalid field */
};

const char *proto_error_name(uint8_t code)
{
	static const char *const names[] = {
		[PERR_NOT_AUTHORIZED] = "not authorized",
		[PERR_SUBNET_NOT_ALLOWED] = "subnet not allowed",
		[PERR_TABLE_FULL] = "registry table full",
		[PERR_RATE_LIMITED] = "rate limited",
		[PERR_PEER_UNKNOWN] = "peer not registered",
		[PERR_PEER_NOT_ALLOWED] = "peer not allowed",
		[PERR_BAD_REQUEST] = "bad request",
		[PERR_CLOCK_SKEW] = "clock ahead of the registry's",
		[PERR_STALE_TIMESTAMP] = "stale timestamp",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code] != NULL)
		return names[code];
	return "unknown error";
}

static uint8_t *put(struct writer *w, size_t n)
{
	uint8_t *p;

	if (w->failed || w->size - w->len < n) {
		w->failed = true;
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

static void put_bytes(struct writer *w, const void *data, size_t n)
{
	uint8_t *p = put(w, n);

	if (p != NULL)
		memcpy(p, data, n);
}

static void put_u8(struct writer *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put_bytes(w, b, sizeof(b));
}

static void put_u32(struct writer *w, uint32_t v)
{
	put_u16(w, v >> 16);
	put_u16(w, v & 0xffff);
}

static void put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, v >> 32);
	put_u32(w, v & 0xffffffff);
}

static const uint8_t *get(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->failed || r->len - r->off < n) {
		r->failed = true;
		return NULL;
	}
	p = r->buf + r->off;
	r->off += n;
	return p;
}

static void get_bytes(struct reader *r, void *out, size_t n)
{
	const uint8_t *p = get(r, n);

	if (p != NULL)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

static uint8_t get_u8(struct reader *r)
{
	uint8_t v;

	get_bytes(r, &v, 1);
	return v;
}

static uint16_t get_u16(struct reader *r)
{
	uint8_t b[2];

	get_bytes(r, b, sizeof(b));
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get_u32(struct reader *r)
{
	uint32_t hi = get_u16(r);

	return hi << 16 | get_u16(r);
}

static uint64_t get_u64(struct reader *r)
{
	uint64_t hi = get_u32(r);

	return hi << 32 | get_u32(r);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	while (n-- > 0)
		acc |= *p++;
	return acc == 0;
}

static void put_endpoint(struct writer *w, const union endpoint *ep)
{
	uint8_t addr[16] = { 0 };

	switch (ep->sa.sa_family) {
	case AF_UNSPEC:
		put_u8(w, WIRE_UNSET);
		put_u16(w, 0);
		break;
	case AF_INET:
		memcpy(addr, &ep->in.sin_addr, 4);
		put_u8(w, WIRE_INET);
		put_u16(w, ntohs(ep->in.sin_port));
		break;
	case AF_INET6:
		memcpy(addr, &ep->in6.sin6_addr, 16);
		put_u8(w, WIRE_INET6);
		put_u16(w, ntohs(ep->in6.sin6_port));
		break;
	default:
		w->failed = true;
		return;
	}
	put_bytes(w, addr, sizeof(addr));
}

/* An unset endpoint is all zero.  A set one has a non-zero port and, for
 * IPv4, zero padding after the 4 address bytes. */
static void get_endpoint(struct reader *r, union endpoint *ep)
{
	uint8_t family = get_u8(r);
	uint16_t port = get_u16(r);
	uint8_t addr[16];

	get_bytes(r, addr, sizeof(addr));
	memset(ep, 0, sizeof(*ep));
	if (family == WIRE_UNSET) {
		if (port != 0 || !all_zero(addr, sizeof(addr)))
			r->failed = true;
		return;
	}
	if (port == 0) {
		r->failed = true;
	} else if (family == WIRE_INET && all_zero(addr + 4, 12)) {
		ep->in.sin_family = AF_INET;
		ep->in.sin_port = htons(port);
		memcpy(&ep->in.sin_addr, addr, 4);
	} else if (family == WIRE_INET6) {
		ep->in6.sin6_family = AF_INET6;
		ep->in6.sin6_port = htons(port);
		memcpy(&ep->in6.sin6_addr, addr, 16);
	} else {
		r->failed = true;
	}
}

/* True when the family is valid, the prefix fits it and no host bit below
 * the prefix is set. */
static bool subnet_is_canonical(const struct subnet *net)
{
	size_t bits, byte;

	if (net->family == AF_INET)
		bits = 32;
	else if (net->family == AF_INET6)
		bits = 128;
	else
		return false;
	if (net->prefix > bits)
		return false;
	byte = net->prefix / 8;
	if (net->prefix % 8 != 0) {
		if (net->addr[byte] & (0xff >> (net->prefix % 8)))
			return false;
		byte++;
	}
	return all_zero(net->addr + byte, sizeof(net->addr) - byte);
}

static void put_subnet(struct writer *w, const struct subnet *net)
{
	if (!subnet_is_canonical(net)) {
		w->failed = true;
		return;
	}
	put_u8(w, net->family == AF_INET ? WIRE_INET : WIRE_INET6);
	put_u8(w, net->prefix);
	put_bytes(w, net->addr, sizeof(net->addr));
}

static void get_subnet(struct reader *r, struct subnet *net)
{
	uint8_t family = get_u8(r);

	net->family = family == WIRE_INET ? AF_INET
		    : family == WIRE_INET6 ? AF_INET6 : 0;
	net->prefix = get_u8(r);
	get_bytes(r, net->addr, sizeof(net->addr));
	if (!subnet_is_canonical(net))
		r->failed = true;
}

static void put_subnets(struct writer *w, const struct subnet_list *list)
{
	size_t i;

	if (list->count > AVPN_MAX_SUBNETS) {
		w->failed = true;
		return;
	}
	put_u8(w, list->count);
	for (i = 0; i < list->count; i++)
		put_subnet(w, &list->nets[i]);
}

static bool subnet_listed(const struct subnet_list *list, size_t n,
			  const struct subnet *net)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(&list->nets[i], net, sizeof(*net)) == 0)
			return true;
	return false;
}

/* Rejects a count above AVPN_MAX_SUBNETS and duplicate subnets. */
static void get_subnets(struct reader *r, struct subnet_list *list)
{
	uint8_t count = get_u8(r);
	size_t i;

	memset(list, 0, sizeof(*list));
	if (count > AVPN_MAX_SUBNETS) {
		r->failed = true;
		return;
	}
	for (i = 0; i < count && !r->failed; i++) {
		get_subnet(r, &list->nets[i]);
		if (subnet_listed(list, i, &list->nets[i]))
			r->failed = true;
	}
	list->count = r->failed ? 0 : count;
}

static void put_name(struct writer *w, const char *name)
{
	size_t len = strnlen(name, AVPN_NAME_MAX + 1);

	if (name_check(name, NULL) == -1 || len > AVPN_NAME_MAX) {
		w->failed = true;
		return;
	}
	put_u8(w, len);
	put_bytes(w, name, len);
}

static void get_name(struct reader *r, char name[AVPN_NAME_MAX + 1])
{
	uint8_t len = get_u8(r);
	const uint8_t *p;

	name[0] = '\0';
	if (len == 0 || len > AVPN_NAME_MAX) {
		r->failed = true;
		return;
	}
	p = get(r, len);
	if (p == NULL)
		return;
	memcpy(name, p, len);
	name[len] = '\0';
	/* A NUL inside the name would end the C string early, so the string
	 * length must match the length byte too. */
	if (strlen(name) != len || name_check(name, NULL) == -1) {
		name[0] = '\0';
		r->failed = true;
	}
}

static void put_nat(struct writer *w, uint8_t nat)
{
	if (nat > NAT_DEPENDENT)
		w->failed = true;
	put_u8(w, nat);
}

static uint8_t get_nat(struct reader *r)
{
	uint8_t nat = get_u8(r);

	if (nat > NAT_DEPENDENT)
		r->failed = true;
	return nat;
}

static void put_peer(struct writer *w, const struct msg_peer *p)
{
	if (p->role != ROLE_HUB && p->role != ROLE_SPOKE) {
		w->failed = true;
		return;
	}
	if (p->last_seen < 0) {
		w->failed = true;
		return;
	}
	put_bytes(w, p->public_key, AVPN_KEY_LEN);
	put_name(w, p->name);
	put_u8(w, p->role);
	put_endpoint(w, &p->public_ep);
	put_endpoint(w, &p->private_ep);
	put_endpoint(w, &p->override);
	put_u64(w, (uint64_t)p->last_seen);
	put_subnets(w, &p->subnets);
	put_nat(w, p->nat);
}

static void get_peer(struct reader *r, struct msg_peer *p)
{
	uint64_t last_seen;

	get_bytes(r, p->public_key, AVPN_KEY_LEN);
	get_name(r, p->name);
	p->role = get_u8(r);
	if (p->role != ROLE_HUB && p->role != ROLE_SPOKE)
		r->failed = true;
	get_endpoint(r, &p->public_ep);
	get_endpoint(r, &p->private_ep);
	get_endpoint(r, &p->override);
	last_seen = get_u64(r);
	if (last_seen > INT64_MAX)
		r->failed = true;
	p->last_seen = (int64_t)last_seen;
	get_subnets(r, &p->subnets);
	p->nat = get_nat(r);
}

size_t proto_peer_len(const struct msg_peer *p)
{
	size_t name_len = strnlen(p->name, AVPN_NAME_MAX);
	size_t count = p->subnets.count;

	if (count > AVPN_MAX_SUBNETS)
		count = AVPN_MAX_SUBNETS;
	return AVPN_KEY_LEN + 1 + name_len + 1 + 3 * PROTO_ENDPOINT_LEN + 8 +
	       1 + count * PROTO_SUBNET_LEN + 1;
}

static void put_peers(struct writer *w, const struct msg_peers *m)
{
	size_t i;

	if (m->count > MSG_PEERS_MAX_PER_PAGE ||
	    (m->pages == 0 && (m->page != 0 || m->count != 0)) ||
	    (m->pages != 0 && (m->page >= m->pages || m->count == 0))) {
		w->failed = true;
		return;
	}
	put_u16(w, m->page);
	put_u16(w, m->pages);
	put_u8(w, m->count);
	for (i = 0; i < m->count; i++)
		put_peer(w, &m->peers[i]);
}

/* pages == 0 is the one empty page, which means "no peers".  Any other
 * page carries at least one peer. */
static void get_peers(struct reader *r, struct msg_peers *m)
{
	size_t i;

	m->page = get_u16(r);
	m->pages = get_u16(r);
	m->count = get_u8(r);
	if (m->count > MSG_PEERS_MAX_PER_PAGE ||
	    (m->pages == 0 && (m->page != 0 || m->count != 0)) ||
	    (m->pages != 0 && (m->page >= m->pages || m->count == 0))) {
		r->failed = true;
		m->count = 0;
		return;
	}
	for (i = 0; i < m->count && !r->failed; i++)
		get_peer(r, &m->peers[i]);
}

static bool error_has_time(uint8_t code)
{
	return code == PERR_CLOCK_SKEW || code == PERR_STALE_TIMESTAMP;
}

/* The detail matches the code: a subnet or a non-zero time where the code
 * has one, and nothing set where it has none. */
static bool error_is_valid(const struct msg_error *e)
{
	if (e->request_type < MSG_REGISTER || e->request_type > MSG_ERROR ||
	    e->code < PERR_NOT_AUTHORIZED || e->code > PERR_STALE_TIMESTAMP)
		return false;
	if ((e->time_ns != 0) != error_has_time(e->code))
		return false;
	return e->code == PERR_SUBNET_NOT_ALLOWED || e->subnet.family == 0;
}

static void put_error(struct writer *w, const struct msg_error *e)
{
	static const uint8_t unset[PROTO_SUBNET_LEN];

	if (!error_is_valid(e)) {
		w->failed = true;
		return;
	}
	put_u8(w, e->request_type);
	put_u8(w, e->code);
	if (e->code == PERR_SUBNET_NOT_ALLOWED) {
		put_subnet(w, &e->subnet);
	} else if (error_has_time(e->code)) {
		put_u64(w, e->time_ns);
		put_bytes(w, unset, PROTO_SUBNET_LEN - 8);
	} else {
		put_bytes(w, unset, sizeof(unset));
	}
}

/* Reads n bytes that must all be zero. */
static void get_zeros(struct reader *r, size_t n)
{
	const uint8_t *p = get(r, n);

	if (p != NULL && !all_zero(p, n))
		r->failed = true;
}

static void get_error(struct reader *r, struct msg_error *e)
{
	e->request_type = get_u8(r);
	e->code = get_u8(r);
	if (e->code == PERR_SUBNET_NOT_ALLOWED) {
		get_subnet(r, &e->subnet);
	} else if (error_has_time(e->code)) {
		e->time_ns = get_u64(r);
		get_zeros(r, PROTO_SUBNET_LEN - 8);
	} else {
		get_zeros(r, PROTO_SUBNET_LEN);
	}
	if (!error_is_valid(e))
		r->failed = true;
}

static bool event_is_valid(uint8_t event)
{
	return event >= UPDATE_APPEARED && event <= UPDATE_LEFT;
}

/* A probe carries no observed endpoint, but its reply must carry one. */
static bool probe_is_valid(uint8_t type, const struct msg_probe *p)
{
	return endpoint_is_set(&p->observed) == (type == MSG_PROBE_REPLY);
}

static void put_probe(struct writer *w, uint8_t type, const struct msg_probe *p)
{
	if (!probe_is_valid(type, p)) {
		w->failed = true;
		return;
	}
	put_u64(w, p->probe_id);
	put_endpoint(w, &p->observed);
	put_endpoint(w, &p->dest);
}

static void put_body(struct writer *w, const struct proto_msg *msg)
{
	static const uint8_t query_pad[PROTO_QUERY_PAD_LEN];
	const struct msg_register *reg = &msg->u.reg;
	const struct msg_register_ack *ack = &msg->u.reg_ack;

	switch (msg->type) {
	case MSG_REGISTER:
		put_endpoint(w, &reg->private_ep);
		put_endpoint(w, &reg->override);
		put_subnets(w, &reg->subnets);
		put_nat(w, reg->nat);
		break;
	case MSG_REGISTER_ACK:
		put_name(w, ack->name);
		if (!endpoint_is_set(&ack->observed))
			w->failed = true;
		put_endpoint(w, &ack->observed);
		put_u32(w, ack->lifetime);
		put_u16(w, ack->nat_port);
		break;
	case MSG_BINDING:
		break;
	case MSG_QUERY:
		put_bytes(w, query_pad, sizeof(query_pad));
		break;
	case MSG_BINDING_ACK:
		if (!endpoint_is_set(&msg->u.binding_ack.observed))
			w->failed = true;
		put_endpoint(w, &msg->u.binding_ack.observed);
		break;
	case MSG_PEERS:
		put_peers(w, &msg->u.peers);
		break;
	case MSG_UPDATE:
		if (!event_is_valid(msg->u.update.event))
			w->failed = true;
		put_u8(w, msg->u.update.event);
		put_peer(w, &msg->u.update.peer);
		break;
	case MSG_PUNCH:
		put_bytes(w, msg->u.punch.target, AVPN_KEY_LEN);
		if (msg->u.punch.peer.name[0] != '\0')
			put_peer(w, &msg->u.punch.peer);
		break;
	case MSG_PROBE:
	case MSG_PROBE_REPLY:
		put_probe(w, msg->type, &msg->u.probe);
		break;
	case MSG_ERROR:
		put_error(w, &msg->u.error);
		break;
	default:
		w->failed = true;
	}
}

static void get_register(struct reader *r, struct msg_register *reg)
{
	get_endpoint(r, &reg->private_ep);
	get_endpoint(r, &reg->override);
	get_subnets(r, &reg->subnets);
	reg->nat = get_nat(r);
}

static void get_register_ack(struct reader *r, struct msg_register_ack *ack)
{
	get_name(r, ack->name);
	get_endpoint(r, &ack->observed);
	if (!endpoint_is_set(&ack->observed))
		r->failed = true;
	ack->lifetime = get_u32(r);
	ack->nat_port = get_u16(r);
}

static void get_punch(struct reader *r, struct msg_punch *punch)
{
	get_bytes(r, punch->target, AVPN_KEY_LEN);
	/* Only the registry's forwarded punch names the asking node. */
	if (r->off < r->len)
		get_peer(r, &punch->peer);
}

static void get_probe(struct reader *r, uint8_t type, struct msg_probe *p)
{
	p->probe_id = get_u64(r);
	get_endpoint(r, &p->observed);
	get_endpoint(r, &p->dest);
	if (!probe_is_valid(type, p))
		r->failed = true;
}

static void get_body(struct reader *r, struct proto_msg *msg)
{
	switch (msg->type) {
	case MSG_REGISTER:
		get_register(r, &msg->u.reg);
		break;
	case MSG_REGISTER_ACK:
		get_register_ack(r, &msg->u.reg_ack);
		break;
	case MSG_BINDING:
		break;
	case MSG_QUERY:
		/* Empty is what nodes before the padding sent. */
		if (r->off < r->len)
			get_zeros(r, PROTO_QUERY_PAD_LEN);
		break;
	case MSG_BINDING_ACK:
		get_endpoint(r, &msg->u.binding_ack.observed);
		if (!endpoint_is_set(&msg->u.binding_ack.observed))
			r->failed = true;
		break;
	case MSG_PEERS:
		get_peers(r, &msg->u.peers);
		break;
	case MSG_UPDATE:
		msg->u.update.event = get_u8(r);
		if (!event_is_valid(msg->u.update.event))
			r->failed = true;
		get_peer(r, &msg->u.update.peer);
		break;
	case MSG_PUNCH:
		get_punch(r, &msg->u.punch);
		break;
	case MSG_PROBE:
	case MSG_PROBE_REPLY:
		get_probe(r, msg->type, &msg->u.probe);
		break;
	case MSG_ERROR:
		get_error(r, &msg->u.error);
		break;
	default:
		r->failed = true;
	}
}

int proto_shared_key(uint8_t shared[32], const uint8_t my_private[32],
		     const uint8_t their_public[32])
{
	if (crypto_box_curve25519xchacha20poly1305_beforenm(
		    shared, their_public, my_private) != 0) {
		sodium_memzero(shared, 32);
		return -1;
	}
	return 0;
}

static bool sealed_type(uint8_t type)
{
	return type >= MSG_REGISTER && type <= MSG_ERROR;
}

int proto_peek(const uint8_t *buf, size_t len, uint8_t *type,
	       uint8_t sender[AVPN_KEY_LEN], const uint8_t my_public[32],
	       bool *for_me)
{
	if (len < PROTO_MIN_LEN || len > AVPN_DATAGRAM_MAX)
		return -1;
	if (!sealed_type(buf[HDR_TYPE]) || buf[HDR_VERSION] != PROTO_VERSION ||
	    buf[HDR_RESERVED] != 0 || buf[HDR_RESERVED + 1] != 0)
		return -1;
	*type = buf[HDR_TYPE];
	memcpy(sender, buf + HDR_SENDER, AVPN_KEY_LEN);
	*for_me = memcmp(buf + HDR_RECIPIENT, my_public,
			 HDR_RECIPIENT_LEN) == 0;
	return 0;
}

ssize_t proto_seal(uint8_t *out, size_t size, const struct proto_msg *msg,
		   const uint8_t my_public[32], const uint8_t their_public[32],
		   const uint8_t shared[32])
{
	uint8_t plain[PLAIN_MAX];
	struct writer w = { plain, 0, sizeof(plain), false };
	unsigned long long sealed_len;

	if (!sealed_type(msg->type) || msg->timestamp == 0)
		return -1;
	put_u64(&w, msg->timestamp);
	put_u64(&w, msg->echo);
	put_body(&w, msg);
	if (w.failed || size < PROTO_HEADER_LEN + w.len + PROTO_TAG_LEN)
		return -1;

	out[HDR_TYPE] = msg->type;
	out[HDR_VERSION] = PROTO_VERSION;
	out[HDR_RESERVED] = 0;
	out[HDR_RESERVED + 1] = 0;
	memcpy(out + HDR_SENDER, my_public, AVPN_KEY_LEN);
	memcpy(out + HDR_RECIPIENT, their_public, HDR_RECIPIENT_LEN);
	randombytes_buf(out + HDR_NONCE, PROTO_HEADER_LEN - HDR_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + PROTO_HEADER_LEN, &sealed_len, plain, w.len, out,
		PROTO_HEADER_LEN, NULL, out + HDR_NONCE, shared);
	return (ssize_t)(PROTO_HEADER_LEN + sealed_len);
}

int proto_open(struct proto_msg *msg, const uint8_t *buf, size_t len,
	       const uint8_t shared[32], struct avpn_error *err)
{
	uint8_t plain[PLAIN_MAX];
	unsigned long long plain_len;
	struct reader r;
	bool for_me;

	memset(msg, 0, sizeof(*msg));
	if (len < PROTO_MIN_LEN)
		return error_set(err, "datagram too short (%zu bytes)", len);
	if (len > AVPN_DATAGRAM_MAX)
		return error_set(err, "datagram too long (%zu bytes)", len);
	if (proto_peek(buf, len, &msg->type, msg->sender, buf + HDR_RECIPIENT,
		       &for_me) == -1)
		return error_set(err, "invalid header");
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain, &plain_len, NULL, buf + PROTO_HEADER_LEN,
		    len - PROTO_HEADER_LEN, buf, PROTO_HEADER_LEN,
		    buf + HDR_NONCE, shared) != 0)
		return error_set(err, "authentication failed");

	r = (struct reader){ plain, plain_len, 0, false };
	msg->timestamp = get_u64(&r);
	msg->echo = get_u64(&r);
	get_body(&r, msg);
	if (msg->timestamp == 0 || r.failed || r.off != r.len) {
		memset(&msg->u, 0, sizeof(msg->u));
		return error_set(err, "malformed %s body (%zu bytes)",
				 proto_type_name(msg->type),
				 (size_t)plain_len - PROTO_STAMP_LEN);
	}
	return 0;
}

const char *proto_type_name(uint8_t type)
{
	static const char *const names[] = {
		"REGISTER", "REGISTER_ACK", "BINDING", "BINDING_ACK",
		"QUERY", "PEERS", "UPDATE", "PUNCH", "PROBE", "PROBE_REPLY",
		"ERROR",
	};

	if (sealed_type(type))
		return names[type - MSG_REGISTER];
	if (type == MSG_KEY_MISMATCH)
		return "KEY_MISMATCH";
	return "unknown";
}

ssize_t proto_key_mismatch(uint8_t *out, size_t size,
			   const uint8_t registry_public[32])
{
	if (size < KEY_MISMATCH_LEN)
		return -1;
	out[HDR_TYPE] = MSG_KEY_MISMATCH;
	out[HDR_VERSION] = PROTO_VERSION;
	out[HDR_RESERVED] = 0;
	out[HDR_RESERVED + 1] = 0;
	memcpy(out + HDR_SENDER, registry_public, AVPN_KEY_LEN);
	return KEY_MISMATCH_LEN;
}

int proto_key_mismatch_parse(const uint8_t *buf, size_t len,
			     uint8_t registry_public[32])
{
	if (len != KEY_MISMATCH_LEN || buf[HDR_TYPE] != MSG_KEY_MISMATCH ||
	    buf[HDR_VERSION] != PROTO_VERSION || buf[HDR_RESERVED] != 0 ||
	    buf[HDR_RESERVED + 1] != 0)
		return -1;
	memcpy(registry_public, buf + HDR_SENDER, AVPN_KEY_LEN);
	return 0;
}

/*
 * The timestamp must grow across every datagram this process sends, even
 * when the wall clock steps back (NTP), or the receiver drops the datagram
 * as a replay.  The atomic keeps it growing if threads share it.
 */
uint64_t proto_timestamp(void)
{
	static _Atomic uint64_t last;
	struct timespec ts;
	uint64_t now, prev;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	prev = atomic_load(&last);
	do {
		if (now <= prev)
			now = prev + 1;
	} while (!atomic_compare_exchange_weak(&last, &prev, now));
	return now;
}

void proto_peer_to_record(struct peer_record *rec, const struct msg_peer *p)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->name, p->name, sizeof(rec->name));
	memcpy(rec->public_key, p->public_key, AVPN_KEY_LEN);
	rec->role = (enum node_role)p->role;
	rec->public_ep = p->public_ep;
	rec->private_ep = p->private_ep;
	rec->subnets = p->subnets;
	rec->last_seen = p->last_seen;
	rec->override = p->override;
	rec->nat = (enum nat_type)p->nat;
}
