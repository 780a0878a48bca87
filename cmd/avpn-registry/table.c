/*
 * The registry's table: per authorized node its state, a hash index by
 * public key, the candidates for reachability and the expiry list.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "registry.h"

/* Keys are X25519 points, so their first bytes are already well spread.
 * A stranger can pick keys, but only authorized keys fill the index, so
 * the probe runs it can hit are those the file made. */
static size_t key_hash(const uint8_t key[AVPN_KEY_LEN])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)(h ^ (h >> 29));
}

static int index_build(struct table *t, struct avpn_error *err)
{
	size_t size = 16, i, s;

	while (size < 2 * t->auth.count)
		size *= 2;
	t->slots = calloc(size, sizeof(*t->slots));
	if (t->slots == NULL)
		return error_set(err, "out of memory for %zu index slots",
				 size);
	t->slot_mask = size - 1;
	for (i = 0; i < t->auth.count; i++) {
		s = key_hash(t->auth.nodes[i].public_key) & t->slot_mask;
		while (t->slots[s] != 0)
			s = (s + 1) & t->slot_mask;
		t->slots[s] = (uint32_t)i + 1;
	}
	return 0;
}

uint32_t table_find(const struct table *t, const uint8_t key[AVPN_KEY_LEN])
{
	size_t s = key_hash(key) & t->slot_mask;
	uint32_t i;

	if (t->slots == NULL)
		return NO_NODE;
	while ((i = t->slots[s]) != 0) {
		if (memcmp(t->auth.nodes[i - 1].public_key, key,
			   AVPN_KEY_LEN) == 0)
			return i - 1;
		s = (s + 1) & t->slot_mask;
	}
	return NO_NODE;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Returns the position of hub node in t->hubs; the array is sorted because
 * it is filled in file order. */
static size_t hub_position(const struct table *t, uint32_t node)
{
	const uint32_t *p = bsearch(&node, t->hubs, t->hub_count,
				    sizeof(*t->hubs), compare_u32);

	return p != NULL ? (size_t)(p - t->hubs) : t->hub_count;
}

static void relations_fill(struct table *t, size_t *next)
{
	const struct auth_node *node;
	const uint32_t *hubs;
	size_t i, h, pos;

	for (i = 0; i < t->auth.count; i++) {
		node = &t->auth.nodes[i];
		if (node->role != ROLE_SPOKE)
			continue;
		hubs = auth_node_hubs(&t->auth, node);
		for (h = 0; h < node->hub_count; h++) {
			pos = hub_position(t, hubs[h]);
			if (pos < t->hub_count)
				t->spokes[next[pos]++] = (uint32_t)i;
		}
	}
}

/* Lists the hubs in file order, in an array sized to the hubs rather than
 * to the whole file. */
static int hubs_build(struct table *t, struct avpn_error *err)
{
	size_t i, count = 0;

	for (i = 0; i < t->auth.count; i++)
		if (t->auth.nodes[i].role == ROLE_HUB)
			count++;
	t->hubs = calloc(count + 1, sizeof(*t->hubs));
	if (t->hubs == NULL)
		return error_set(err, "out of memory for the hub list");
	for (i = 0; i < t->auth.count; i++)
		if (t->auth.nodes[i].role == ROLE_HUB)
			t->hubs[t->hub_count++] = (uint32_t)i;
	return 0;
}

/* Lists the hubs and, per hub, the spokes that name it (compressed rows). */
static int relations_build(struct table *t, struct avpn_error *err)
{
	const struct auth_node *node;
	const uint32_t *hubs;
	size_t i, h, refs, *next;

	if (hubs_build(t, err) == -1)
		return -1;
	refs = t->auth.hub_total;
	t->spoke_start = calloc(t->hub_count + 1, sizeof(*t->spoke_start));
	t->spokes = calloc(refs + 1, sizeof(*t->spokes));
	next = calloc(t->hub_count + 1, sizeof(*next));
	if (t->spoke_start == NULL || t->spokes == NULL || next == NULL) {
		free(next);
		return error_set(err, "out of memory for the spoke lists");
	}
	for (i = 0; i < t->auth.count; i++) {
		node = &t->auth.nodes[i];
		hubs = auth_node_hubs(&t->auth, node);
		for (h = 0; node->role == ROLE_SPOKE && h < node->hub_count; h++)
			next[hub_position(t, hubs[h])]++;
	}
	for (h = 0, refs = 0; h < t->hub_count; h++) {
		t->spoke_start[h] = (uint32_t)refs;
		refs += next[h];
		next[h] = t->spoke_start[h];
	}
	t->spoke_start[t->hub_count] = (uint32_t)refs;
	relations_fill(t, next);
	free(next);
	return 0;
}

/* Takes over auth; on error auth is freed. */
int table_build(struct table *t, struct auth_list *auth,
		struct avpn_error *err)
{
	memset(t, 0, sizeof(*t));
	t->auth = *auth;
	memset(auth, 0, sizeof(*auth));
	t->head = t->tail = NO_NODE;
	if (t->auth.count >= NO_NODE) {
		table_free(t);
		return error_set(err, "more than %u authorized nodes",
				 NO_NODE - 1);
	}
	t->nodes = calloc(t->auth.count + 1, sizeof(*t->nodes));
	if (t->nodes == NULL) {
		table_free(t);
		return error_set(err, "out of memory for %zu nodes",
				 t->auth.count);
	}
	if (index_build(t, err) == -1 || relations_build(t, err) == -1) {
		table_free(t);
		return -1;
	}
	return 0;
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; t->nodes != NULL && i < t->auth.count; i++) {
		sodium_memzero(t->nodes[i].shared, sizeof(t->nodes[i].shared));
		free(t->nodes[i].subnets);
	}
	free(t->nodes);
	free(t->slots);
	free(t->hubs);
	free(t->spoke_start);
	free(t->spokes);
	auth_list_free(&t->auth);
	memset(t, 0, sizeof(*t));
	t->head = t->tail = NO_NODE;
}

static void list_unlink(struct table *t, uint32_t i)
{
	struct node *n = &t->nodes[i];

	if (n->prev != NO_NODE)
		t->nodes[n->prev].next = n->next;
	else
		t->head = n->next;
	if (n->next != NO_NODE)
		t->nodes[n->next].prev = n->prev;
	else
		t->tail = n->prev;
	n->prev = n->next = NO_NODE;
}

static void list_append(struct table *t, uint32_t i)
{
	struct node *n = &t->nodes[i];

	n->prev = t->tail;
	n->next = NO_NODE;
	if (t->tail != NO_NODE)
		t->nodes[t->tail].next = i;
	else
		t->head = i;
	t->tail = i;
}

/* Marks node i registered now and moves it to the end of the expiry list,
 * so the list stays ordered by refresh time. */
void table_refresh(struct table *t, uint32_t i, uint64_t now_ms)
{
	struct node *n = &t->nodes[i];

	if (n->flags & NODE_REGISTERED) {
		list_unlink(t, i);
	} else {
		n->flags |= NODE_REGISTERED;
		t->registered++;
	}
	n->refreshed_ms = now_ms;
	list_append(t, i);
}

void table_unregister(struct table *t, uint32_t i)
{
	struct node *n = &t->nodes[i];

	if (!(n->flags & NODE_REGISTERED))
		return;
	list_unlink(t, i);
	n->flags &= ~(NODE_REGISTERED | NODE_ALL_ALLOWED);
	free(n->subnets);
	n->subnets = NULL;
	n->subnet_count = 0;
	t->registered--;
}

void peer_iter_init(struct peer_iter *it, const struct table *t,
		    uint32_t node, bool toward)
{
	memset(it, 0, sizeof(*it));
	it->table = t;
	it->node = node;
	it->toward = toward;
	it->phase = t->auth.nodes[node].role == ROLE_HUB ? 1 : 0;
	if (it->phase == 1)
		it->hub = hub_position(t, node);
}

/* Returns the next candidate, or NO_NODE when there is none left. */
static uint32_t peer_iter_candidate(struct peer_iter *it)
{
	const struct table *t = it->table;
	const struct auth_node *self = &t->auth.nodes[it->node];

	switch (it->phase) {
	case 0: /* a spoke: the hubs it names */
		if (it->pos < self->hub_count)
			return auth_node_hubs(&t->auth, self)[it->pos++];
		break;
	case 1: /* a hub: every hub */
		if (it->pos < t->hub_count)
			return t->hubs[it->pos++];
		it->phase = 2;
		it->pos = t->spoke_start[it->hub];
		/* fall through */
	case 2: /* then the spokes that name it */
		if (it->pos < t->spoke_start[it->hub + 1])
			return t->spokes[it->pos++];
		break;
	}
	it->phase = 3;
	return NO_NODE;
}

/*
 * Yields each node that auth_may_reach allows: node -> peer when toward,
 * peer -> node otherwise.  The candidates only narrow the search, so
 * auth_may_reach stays the one rule.
 */
bool peer_iter_next(struct peer_iter *it, uint32_t *peer)
{
	const struct auth_list *auth = &it->table->auth;
	uint32_t c;

	while ((c = peer_iter_candidate(it)) != NO_NODE) {
		if (it->toward ? auth_may_reach(auth, it->node, c)
			       : auth_may_reach(auth, c, it->node)) {
			*peer = c;
			return true;
		}
	}
	return false;
}

/*
 * Moves the state of every node of from that is also in to (same key):
 * the shared key, the last timestamp and the registration, in expiry
 * order.  The caller has already unregistered the nodes whose
 * registration the new file no longer allows.
 */
void table_copy_state(struct table *to, const struct table *from)
{
	struct subnet_list announced;
	struct node *dst;
	uint32_t i, j;

	for (i = 0; i < from->auth.count; i++) {
		j = table_find(to, from->auth.nodes[i].public_key);
		if (j == NO_NODE)
			continue;
		dst = &to->nodes[j];
		*dst = from->nodes[i];
		dst->subnets = NULL;
		dst->subnet_count = 0;
		dst->flags &= ~(NODE_REGISTERED | NODE_ALL_ALLOWED);
		dst->prev = dst->next = NO_NODE;
	}
	for (i = from->head; i != NO_NODE; i = from->nodes[i].next) {
		j = table_find(to, from->auth.nodes[i].public_key);
		if (j == NO_NODE)
			continue;
		node_get_subnets(from, i, &announced);
		/* NOTE: out of memory here leaves the node without subnets
		 * until its next REGISTER. */
		node_set_subnets(to, j, &announced);
		table_refresh(to, j, from->nodes[i].refreshed_ms);
	}
}

/* Copies the subnets node i announced into list. */
void node_get_subnets(const struct table *t, uint32_t i,
		      struct subnet_list *list)
{
	const struct node *n = &t->nodes[i];

	if (n->flags & NODE_ALL_ALLOWED) {
		auth_node_allowed(&t->auth, i, list);
		return;
	}
	memset(list, 0, sizeof(*list));
	list->count = n->subnet_count;
	if (n->subnet_count > 0)
		memcpy(list->nets, n->subnets,
		       n->subnet_count * sizeof(*n->subnets));
}

/*
 * Stores the subnets node i announces.  Most nodes announce exactly the
 * subnets they are allowed, which then costs a flag and no allocation.
 * Returns -1 when out of memory.
 */
int node_set_subnets(struct table *t, uint32_t i,
		     const struct subnet_list *list)
{
	const struct auth_node *a = &t->auth.nodes[i];
	struct node *n = &t->nodes[i];
	struct subnet *copy = NULL;
	size_t size = list->count * sizeof(*copy);

	if (list->count == a->subnet_count &&
	    memcmp(list->nets, auth_node_subnets(&t->auth, a), size) == 0) {
		free(n->subnets);
		n->subnets = NULL;
		n->subnet_count = 0;
		n->flags |= NODE_ALL_ALLOWED;
		return 0;
	}
	if (list->count > 0) {
		copy = malloc(size);
		if (copy == NULL)
			return -1;
		memcpy(copy, list->nets, size);
	}
	free(n->subnets);
	n->subnets = copy;
	n->subnet_count = (uint8_t)list->count;
	n->flags &= ~NODE_ALL_ALLOWED;
	return 0;
}

/* True when every subnet of list lies within one that node i may
 * announce; otherwise *bad is the first that does not. */
bool node_subnets_allowed(const struct table *t, uint32_t i,
			  const struct subnet_list *list, size_t *bad)
{
	const struct auth_node *node = &t->auth.nodes[i];
	const struct subnet *allowed = auth_node_subnets(&t->auth, node);
	size_t s, a;

	for (s = 0; s < list->count; s++) {
		for (a = 0; a < node->subnet_count; a++)
			if (subnet_within(&list->nets[s], &allowed[a]))
				break;
		if (a == node->subnet_count) {
			*bad = s;
			return false;
		}
	}
	return true;
}

void packed_ep_set(struct packed_ep *p, const union endpoint *ep)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)ep->sa.sa_family;
	p->port = endpoint_port(ep);
	if (ep->sa.sa_family == AF_INET)
		memcpy(p->addr, &ep->in.sin_addr, 4);
	else if (ep->sa.sa_family == AF_INET6)
		memcpy(p->addr, &ep->in6.sin6_addr, 16);
	else
		p->family = AF_UNSPEC;
}

void packed_ep_get(union endpoint *ep, const struct packed_ep *p)
{
	memset(ep, 0, sizeof(*ep));
	ep->sa.sa_family = p->family;
	if (p->family == AF_INET)
		memcpy(&ep->in.sin_addr, p->addr, 4);
	else if (p->family == AF_INET6)
		memcpy(&ep->in6.sin6_addr, p->addr, 16);
	endpoint_set_port(ep, p->port);
}

bool packed_ep_equal(const struct packed_ep *a, const struct packed_ep *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}
