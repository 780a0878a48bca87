/* Peers: their protocol state, allowed IPs with the routes that follow
 * them, endpoints and the packets waiting for a handshake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tunnel.h"

void peer_name_from_key(char name[AVPN_NAME_MAX + 1],
			const uint8_t key[AVPN_KEY_LEN])
{
	char hex[9];

	sodium_bin2hex(hex, sizeof(hex), key, 4);
	snprintf(name, AVPN_NAME_MAX + 1, "key-%s", hex);
}

struct peer *peer_create(struct tunnel *t, const uint8_t key[AVPN_KEY_LEN],
			 const char *name, enum peer_origin origin,
			 struct avpn_error *err)
{
	struct peer *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		error_set(err, "out of memory");
		return NULL;
	}
	p->wg = wg_peer_add(t->wg, key, err);
	if (p->wg == NULL) {
		free(p);
		return NULL;
	}
	wg_peer_set_user(p->wg, p);
	if (origin != ORIGIN_UAPI)
		wg_peer_set_persistent_keepalive(p->wg,
						 TUNNEL_KEEPALIVE_DEFAULT);
	p->tunnel = t;
	p->origin = origin;
	memcpy(p->public_key, key, AVPN_KEY_LEN);
	if (name != NULL)
		snprintf(p->name, sizeof(p->name), "%s", name);
	else
		peer_name_from_key(p->name, key);
	p->next = t->peers;
	t->peers = p;
	t->peer_count++;
	control_peer_init(t, p);
	return p;
}

/* Deletes the route to net through the device; a failure is logged. */
static void peer_route_del(struct tunnel *t, const struct subnet *net)
{
	struct avpn_error e;

	if (route_del(t->nl_fd, t->ifindex, net, &e) == -1)
		log_msg(LOG_LEVEL_WARN, "%s", e.text);
}

static void peer_route_add(struct tunnel *t, const struct subnet *net)
{
	struct avpn_error e;

	if (route_add(t->nl_fd, t->ifindex, net, &e) == -1)
		log_msg(LOG_LEVEL_WARN, "%s", e.text);
}

static void peer_unlink(struct peer *p)
{
	struct tunnel *t = p->tunnel;
	struct peer **pp;

	for (pp = &t->peers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			t->peer_count--;
			break;
		}
	}
	for (pp = &t->touched; *pp != NULL; pp = &(*pp)->touched_next) {
		if (*pp == p) {
			*pp = p->touched_next;
			break;
		}
	}
}

void peer_destroy(struct peer *p)
{
	struct tunnel *t = p->tunnel;
	size_t i;

	for (i = 0; i < p->allowed.count; i++) {
		if (allowed_ips_remove(&t->allowed, &p->allowed.nets[i], p))
			peer_route_del(t, &p->allowed.nets[i]);
	}
	peer_queue_clear(p);
	peer_unlink(p);
	wg_peer_remove(t->wg, p->wg);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

struct peer *peer_find(const struct tunnel *t,
		       const uint8_t key[AVPN_KEY_LEN])
{
	struct wg_peer *wp = wg_peer_lookup(t->wg, key);

	return wp != NULL ? wg_peer_user(wp) : NULL;
}

static bool list_has(const struct subnet_list *list, const struct subnet *net)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		if (memcmp(&list->nets[i], net, sizeof(*net)) == 0)
			return true;
	}
	return false;
}

static void list_remove(struct subnet_list *list, const struct subnet *net)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		if (memcmp(&list->nets[i], net, sizeof(*net)) != 0)
			continue;
		list->nets[i] = list->nets[--list->count];
		return;
	}
}

/* The peer whose current endpoint lies inside net, or NULL. */
static const struct peer *peer_endpoint_within(const struct tunnel *t,
					       const struct subnet *net)
{
	const union endpoint *ep;
	const struct peer *q;
	const void *addr;

	for (q = t->peers; q != NULL; q = q->next) {
		ep = &q->endpoint;
		if (ep->sa.sa_family == AF_INET)
			addr = &ep->in.sin_addr;
		else if (ep->sa.sa_family == AF_INET6)
			addr = &ep->in6.sin6_addr;
		else
			continue;
		if (subnet_contains_addr(net, ep->sa.sa_family, addr))
			return q;
	}
	return NULL;
}

/*
 * Adds the route to net through the device, unless net contains a peer's
 * endpoint: the tunnel's own datagrams to that peer would then be routed
 * into the device, a loop.
 * NOTE: checked only when the route is added, so an endpoint that later
 * roams into a routed subnet, or a peer added after the route, still
 * loops.  An IPv4-mapped IPv6 endpoint is not matched against IPv4
 * subnets.
 */
static void peer_route_add_checked(struct tunnel *t, const struct subnet *net)
{
	const struct peer *q = peer_endpoint_within(t, net);
	char text[SUBNET_STRLEN], ep[ENDPOINT_STRLEN];

	if (q == NULL) {
		peer_route_add(t, net);
		return;
	}
	subnet_format(text, net);
	endpoint_format(ep, &q->endpoint);
	log_msg(LOG_LEVEL_WARN, "route to %s not added: it contains the "
		"endpoint %s of peer %s, whose datagrams would loop through "
		"%s", text, ep, q->name, t->ifname);
}

/*
 * Maps net to p.  A subnet that another peer held moves to p, as in
 * WireGuard; the route through the device stays.
 */
int peer_add_allowed(struct peer *p, const struct subnet *net,
		     struct avpn_error *err)
{
	struct tunnel *t = p->tunnel;
	char text[SUBNET_STRLEN];
	struct peer *previous;
	void *owner;

	if (list_has(&p->allowed, net))
		return 0;
	subnet_format(text, net);
	if (p->allowed.count == AVPN_MAX_SUBNETS)
		return error_set(err, "peer %s has %d allowed IPs already, "
				 "the maximum; %s not added", p->name,
				 AVPN_MAX_SUBNETS, text);
	if (allowed_ips_insert(&t->allowed, net, p, &owner, err) == -1)
		return -1;
	previous = owner;
	if (previous == NULL) {
		peer_route_add_checked(t, net);
	} else if (previous != p) {
		list_remove(&previous->allowed, net);
		log_msg(LOG_LEVEL_INFO, "allowed IPs %s moved from peer %s "
			"to %s", text, previous->name, p->name);
	}
	p->allowed.nets[p->allowed.count++] = *net;
	return 0;
}

int peer_set_allowed(struct peer *p, const struct subnet *nets, size_t count,
		     struct avpn_error *err)
{
	struct tunnel *t = p->tunnel;
	struct subnet_list wanted;
	size_t i;

	memset(&wanted, 0, sizeof(wanted));
	for (i = 0; i < count && i < AVPN_MAX_SUBNETS; i++)
		wanted.nets[wanted.count++] = nets[i];
	for (i = 0; i < p->allowed.count;) {
		if (list_has(&wanted, &p->allowed.nets[i])) {
			i++;
			continue;
		}
		if (allowed_ips_remove(&t->allowed, &p->allowed.nets[i], p))
			peer_route_del(t, &p->allowed.nets[i]);
		p->allowed.nets[i] = p->allowed.nets[--p->allowed.count];
	}
	for (i = 0; i < count; i++) {
		if (peer_add_allowed(p, &nets[i], err) == -1)
			return -1;
	}
	return 0;
}

void peer_set_endpoint(struct peer *p, const union endpoint *ep)
{
	char old[ENDPOINT_STRLEN], new[ENDPOINT_STRLEN];

	if (endpoint_equal(&p->endpoint, ep))
		return;
	endpoint_format(old, &p->endpoint);
	endpoint_format(new, ep);
	if (endpoint_is_set(&p->endpoint))
		log_msg(LOG_LEVEL_INFO, "peer %s roamed from %s to %s",
			p->name, old, new);
	else
		log_msg(LOG_LEVEL_DEBUG, "peer %s is at %s", p->name, new);
	p->endpoint = *ep;
}

void peer_touch(struct peer *p)
{
	struct tunnel *t = p->tunnel;

	if (p->touched)
		return;
	p->touched = true;
	p->touched_next = t->touched;
	t->touched = p;
}

/* Keeps a copy of a packet until the session exists; the oldest is
 * dropped when the queue is full. */
void peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len)
{
	struct queued_packet *q;
	unsigned tail;

	if (p->queue_len == PEER_QUEUE_MAX) {
		q = &p->queue[p->queue_head];
		free(q->data);
		q->data = NULL;
		p->queue_head = (p->queue_head + 1) % PEER_QUEUE_MAX;
		p->queue_len--;
		dp_drop(p->tunnel, DROP_QUEUE_FULL, p->name, NULL);
	}
	tail = (p->queue_head + p->queue_len) % PEER_QUEUE_MAX;
	q = &p->queue[tail];
	q->data = malloc(len);
	if (q->data == NULL) {
		dp_drop(p->tunnel, DROP_QUEUE_FULL, p->name, NULL);
		return;
	}
	memcpy(q->data, pkt, len);
	q->len = len;
	p->queue_len++;
	peer_touch(p);
}

void peer_queue_clear(struct peer *p)
{
	while (p->queue_len > 0) {
		free(p->queue[p->queue_head].data);
		p->queue[p->queue_head].data = NULL;
		p->queue_head = (p->queue_head + 1) % PEER_QUEUE_MAX;
		p->queue_len--;
	}
	p->queue_head = 0;
}
