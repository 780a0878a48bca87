/*
 * The registry's messages besides direct replies (peer pages, pushed
 * updates), expiry and the reload of the authorized-nodes file.
 */
#include <string.h>

#include "registry.h"

/* The maximum pages of one peer list: MSG_PEERS counts them in 16 bits. */
#define PAGES_MAX 65535

void node_to_peer(const struct registry *r, uint32_t i, struct msg_peer *p)
{
	const struct auth_node *a = &r->table.auth.nodes[i];
	const struct node *n = &r->table.nodes[i];

	memset(p, 0, sizeof(*p));
	memcpy(p->public_key, a->public_key, AVPN_KEY_LEN);
	strlcpy(p->name, a->name, sizeof(p->name));
	p->role = (uint8_t)a->role;
	packed_ep_get(&p->public_ep, &n->observed);
	packed_ep_get(&p->private_ep, &n->private_ep);
	packed_ep_get(&p->override, &n->override);
	p->nat = n->nat;
	p->last_seen = r->now_s - (int64_t)((r->now_ms - n->refreshed_ms) /
					    1000);
	if (p->last_seen < 0)
		p->last_seen = 0;
	node_get_subnets(&r->table, i, &p->subnets);
}

/* Seals m with a fresh timestamp straight into q's next slot. */
void send_sealed(struct registry *r, struct send_queue *q,
		 const union endpoint *to, const uint8_t their_public[32],
		 const uint8_t shared[32], struct proto_msg *m)
{
	uint8_t *slot = net_slot(r, q);
	ssize_t len;

	m->timestamp = proto_timestamp();
	len = proto_seal(slot, AVPN_DATAGRAM_MAX, m, r->public_key,
			 their_public, shared);
	if (len < 0) {
		log_msg(LOG_LEVEL_ERROR, "cannot seal a %s message; this is "
			"a bug", proto_type_name(m->type));
		return;
	}
	net_commit(q, to, (size_t)len);
}

void send_to_node(struct registry *r, struct send_queue *q,
		  const union endpoint *to, uint32_t i, struct proto_msg *m)
{
	send_sealed(r, q, to, r->table.auth.nodes[i].public_key,
		    r->table.nodes[i].shared, m);
}

/* Counts the pages that node i's registered peers fill. */
static size_t count_pages(struct registry *r, uint32_t i, size_t *peers)
{
	struct peer_iter it;
	struct msg_peer p;
	size_t pages = 0, used = PROTO_PEERS_ROOM, count = 0, len;
	uint32_t b;

	*peers = 0;
	peer_iter_init(&it, &r->table, i, true);
	while (peer_iter_next(&it, &b)) {
		if (!(r->table.nodes[b].flags & NODE_REGISTERED))
			continue;
		node_to_peer(r, b, &p);
		len = proto_peer_len(&p);
		if (used + len > PROTO_PEERS_ROOM ||
		    count == MSG_PEERS_MAX_PER_PAGE) {
			pages++;
			used = 0;
			count = 0;
		}
		used += len;
		count++;
		(*peers)++;
	}
	return pages;
}

/*
 * Sends node i the registered peers that auth_may_reach lets it reach, in
 * pages of at most AVPN_DATAGRAM_MAX bytes, each echoing the query's
 * timestamp.  No peers is one empty page with pages = 0.
 */
void send_peers(struct registry *r, struct send_queue *q,
		const union endpoint *to, uint32_t i, uint64_t echo)
{
	struct proto_msg m;
	struct msg_peers *page = &m.u.peers;
	struct peer_iter it;
	struct msg_peer p;
	size_t pages, peers, used = 0;
	uint32_t b;

	pages = count_pages(r, i, &peers);
	if (pages > PAGES_MAX) {
		log_msg(LOG_LEVEL_WARN, "%s has %zu peers in %zu pages; "
			"sending the first %d pages", r->table.auth.nodes[i].name,
			peers, pages, PAGES_MAX);
		pages = PAGES_MAX;
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_PEERS;
	m.echo = echo;
	page->pages = (uint16_t)pages;
	peer_iter_init(&it, &r->table, i, true);
	while (page->page < pages && peer_iter_next(&it, &b)) {
		if (!(r->table.nodes[b].flags & NODE_REGISTERED))
			continue;
		node_to_peer(r, b, &p);
		if (page->count > 0 &&
		    (used + proto_peer_len(&p) > PROTO_PEERS_ROOM ||
		     page->count == MSG_PEERS_MAX_PER_PAGE)) {
			send_to_node(r, q, to, i, &m);
			page->page++;
			page->count = 0;
			used = 0;
			if (page->page == pages)
				break;
		}
		page->peers[page->count++] = p;
		used += proto_peer_len(&p);
	}
	if (page->count > 0 || pages == 0)
		send_to_node(r, q, to, i, &m);
	log_msg(LOG_LEVEL_DEBUG, "sent %s %zu peers in %zu pages",
		r->table.auth.nodes[i].name, peers, pages ? pages : 1);
}

/* Tells every registered node that may reach node x that x appeared,
 * moved or left. */
void push_update(struct registry *r, uint32_t x, uint8_t event)
{
	struct proto_msg m;
	struct peer_iter it;
	union endpoint to;
	uint32_t y;
	size_t sent = 0;

	memset(&m, 0, sizeof(m));
	m.type = MSG_UPDATE;
	m.u.update.event = event;
	node_to_peer(r, x, &m.u.update.peer);
	peer_iter_init(&it, &r->table, x, false);
	while (peer_iter_next(&it, &y)) {
		if (!(r->table.nodes[y].flags & NODE_REGISTERED))
			continue;
		packed_ep_get(&to, &r->table.nodes[y].observed);
		send_to_node(r, r->main_out, &to, y, &m);
		sent++;
	}
	log_msg(LOG_LEVEL_DEBUG, "pushed the change of %s to %zu peers",
		r->table.auth.nodes[x].name, sent);
}

/* Unregisters every node not refreshed within the lifetime, oldest
 * first, and pushes UPDATE_LEFT to its peers. */
void registry_expire(struct registry *r)
{
	uint64_t lifetime_ms = (uint64_t)r->cfg->lifetime_s * 1000;
	struct table *t = &r->table;
	char from[ENDPOINT_STRLEN];
	union endpoint ep;
	uint32_t i;

	while ((i = t->head) != NO_NODE &&
	       r->now_ms - t->nodes[i].refreshed_ms >= lifetime_ms) {
		packed_ep_get(&ep, &t->nodes[i].observed);
		endpoint_format(from, &ep);
		log_msg(LOG_LEVEL_INFO, "%s expired (last registered from %s)",
			t->auth.nodes[i].name, from);
		push_update(r, i, UPDATE_LEFT);
		table_unregister(t, i);
		r->dirty = true;
	}
}

/*
 * Unregisters, with an UPDATE_LEFT to their peers, the nodes that the new
 * table drops or no longer allows their subnets.
 */
static void drop_invalid(struct registry *r, const struct table *fresh)
{
	struct subnet_list announced;
	const char *reason;
	uint32_t i, next, j;
	size_t bad;

	for (i = r->table.head; i != NO_NODE; i = next) {
		next = r->table.nodes[i].next;
		j = table_find(fresh, r->table.auth.nodes[i].public_key);
		node_get_subnets(&r->table, i, &announced);
		if (j == NO_NODE)
			reason = "removed from the authorized-nodes file";
		else if (!node_subnets_allowed(fresh, j, &announced, &bad))
			reason = "announces a subnet no longer allowed";
		else
			continue;
		log_msg(LOG_LEVEL_INFO, "%s left: %s",
			r->table.auth.nodes[i].name, reason);
		push_update(r, i, UPDATE_LEFT);
		table_unregister(&r->table, i);
	}
}

static size_t count_missing(const struct table *in, const struct table *from)
{
	size_t i, missing = 0;

	for (i = 0; i < from->auth.count; i++)
		if (table_find(in, from->auth.nodes[i].public_key) == NO_NODE)
			missing++;
	return missing;
}

/*
 * Reloads the authorized-nodes file.  On any error the old table stays.
 * NOTE: nodes that stay registered but gain or lose peers through the new
 * file get no MSG_UPDATE.  They learn the change from their next
 * MSG_QUERY.
 */
int registry_reload(struct registry *r)
{
	const char *path = r->cfg->auth_path;
	struct auth_list auth;
	struct table fresh;
	struct avpn_error e;
	size_t added, removed;

	if (auth_list_load(&auth, path, &e) == -1 ||
	    table_build(&fresh, &auth, &e) == -1) {
		log_msg(LOG_LEVEL_ERROR, "reload failed, keeping the %zu "
			"nodes loaded before: %s", r->table.auth.count, e.text);
		return -1;
	}
	added = count_missing(&r->table, &fresh);
	removed = count_missing(&fresh, &r->table);
	drop_invalid(r, &fresh);
	table_copy_state(&fresh, &r->table);
	table_free(&r->table);
	r->table = fresh;
	r->dirty = true;
	log_msg(LOG_LEVEL_INFO, "reloaded %s: %zu nodes (%zu added, %zu "
		"removed), %zu registered", path, r->table.auth.count, added,
		removed, r->table.registered);
	return 0;
}
