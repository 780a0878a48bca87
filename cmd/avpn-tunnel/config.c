/*
 * The SELF and PEERS files, and peers pushed by the registry.
 *
 * PEERS contains one peer per line in either of two formats, distinguished
 * by the number of tab-separated fields:
 *   9 fields: a peer line of avpn-peers (state.h); the endpoint used is the
 *             override if set, else the public endpoint, else the private
 *             one, and the subnets are the peer's allowed IPs;
 *   7 fields: a path line of avpn-punch (punch.h); the endpoint used is the
 *             working endpoint found by punching.
 * '#' lines and blank lines are skipped.  A plain WireGuard set-up writes
 * peer lines whose public endpoint is the peer's endpoint and whose
 * subnets are its allowed IPs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tunnel.h"

int config_load_self(struct tunnel *t, struct avpn_error *err)
{
	struct self_record *self = &t->self;
	char path_key[AVPN_KEY_BASE64_LEN + 1];

	if (self_record_read(self, t->opt.self_file, err) == -1)
		return -1;
	if (sodium_memcmp(self->public_key, t->public_key, AVPN_KEY_LEN) != 0) {
		key_to_base64(path_key, t->public_key);
		return error_set(err, "%s: the public key of %s is %s, not "
				 "the one in the self record; pass the key "
				 "the record was made with", t->opt.self_file,
				 t->opt.key_file, path_key);
	}
	if (!endpoint_is_set(&self->local))
		return error_set(err, "%s: the self record has no local "
				 "endpoint to take the UDP port from",
				 t->opt.self_file);
	/* NOTE: one socket of the local endpoint's family, so peers with
	 * endpoints of the other family cannot be reached (send-failed). */
	t->family = self->local.sa.sa_family;
	t->listen_port = endpoint_port(&self->local);
	return 0;
}

static const union endpoint *entry_endpoint(const struct peer_record *rec)
{
	if (endpoint_is_set(&rec->override))
		return &rec->override;
	if (endpoint_is_set(&rec->public_ep))
		return &rec->public_ep;
	return &rec->private_ep;
}

/* Parses one PEERS line in either format into e. */
static int entry_parse(struct peer_entry *e, const char *line,
		       struct avpn_error *err)
{
	struct peer_record rec;
	struct punch_path path;
	char copy[4096], *fields[PEER_FIELDS + 1];
	int n;

	if (strlen(line) >= sizeof(copy))
		return error_set(err, "line longer than %zu characters",
				 sizeof(copy) - 1);
	memcpy(copy, line, strlen(line) + 1);
	n = fields_split(copy, fields, PEER_FIELDS + 1);
	memset(e, 0, sizeof(*e));
	if (n == PEER_FIELDS) {
		if (peer_record_parse(&rec, line, err) == -1 ||
		    punch_peer_record_check(&rec, err) == -1)
			return -1;
		memcpy(e->public_key, rec.public_key, AVPN_KEY_LEN);
		memcpy(e->name, rec.name, sizeof(e->name));
		e->endpoint = *entry_endpoint(&rec);
		e->subnets = rec.subnets;
		return 0;
	}
	if (n == PUNCH_PATH_FIELDS) {
		if (punch_path_parse(&path, line, err) == -1)
			return -1;
		memcpy(e->public_key, path.public_key, AVPN_KEY_LEN);
		memcpy(e->name, path.name, sizeof(e->name));
		e->endpoint = path.endpoint;
		e->subnets = path.subnets;
		return 0;
	}
	return error_set(err, "%d fields, expected %d (a peer line of "
			 "avpn-peers) or %d (a path line of avpn-punch) "
			 "separated by tabs", n == -1 ? PEER_FIELDS + 1 : n,
			 PEER_FIELDS, PUNCH_PATH_FIELDS);
}

/* Rejects our own key, a low-order key, a key listed twice and a subnet
 * given to two peers, so the file means one thing. */
static int entry_check(const struct tunnel *t, const struct peer_entries *list,
		       const struct peer_entry *e, struct avpn_error *err)
{
	uint8_t shared[AVPN_KEY_LEN];
	char text[SUBNET_STRLEN];
	size_t i, j, k;
	int rc;

	if (memcmp(e->public_key, t->public_key, AVPN_KEY_LEN) == 0)
		return error_set(err, "peer %s has this node's own public key",
				 e->name);
	/* Such a key would pass here and then be left out by the protocol
	 * device, so the tunnel would run without the peer. */
	rc = proto_shared_key(shared, t->private_key, e->public_key);
	sodium_memzero(shared, sizeof(shared));
	if (rc == -1)
		return error_set(err, "public key of %s is weak (a low-order "
				 "point)", e->name);
	for (i = 0; i < list->count; i++) {
		const struct peer_entry *o = &list->items[i];

		if (memcmp(o->public_key, e->public_key, AVPN_KEY_LEN) == 0)
			return error_set(err, "public key of %s is listed "
					 "before as %s", e->name, o->name);
		for (j = 0; j < e->subnets.count; j++) {
			for (k = 0; k < o->subnets.count; k++) {
				if (memcmp(&e->subnets.nets[j],
					   &o->subnets.nets[k],
					   sizeof(struct subnet)) != 0)
					continue;
				subnet_format(text, &e->subnets.nets[j]);
				return error_set(err, "subnet %s of %s is "
						 "given to %s before", text,
						 e->name, o->name);
			}
		}
	}
	return 0;
}

static int entries_append(struct peer_entries *list,
			  const struct peer_entry *e, struct avpn_error *err)
{
	struct peer_entry *grown;
	size_t cap;

	if (list->count == list->cap) {
		cap = list->cap ? list->cap * 2 : 16;
		grown = reallocarray(list->items, cap, sizeof(*grown));
		if (grown == NULL)
			return error_set(err, "out of memory");
		list->items = grown;
		list->cap = cap;
	}
	list->items[list->count++] = *e;
	return 0;
}

/* Prefixes err with the file name and line number. */
static int entries_error(struct avpn_error *err, const char *name,
			 unsigned long lineno)
{
	struct avpn_error copy = *err;

	return error_set(err, "%s:%lu: %s", name, lineno, copy.text);
}

static int entries_read_lines(const struct tunnel *t, FILE *fp,
			      const char *name, struct peer_entries *list,
			      struct avpn_error *err)
{
	unsigned long lineno = 0;
	struct peer_entry e;
	size_t size = 0;
	char *line = NULL;
	ssize_t len;
	int rc = 0;

	while ((len = getline(&line, &size, fp)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if ((size_t)len != strlen(line)) {
			rc = error_set(err, "contains a NUL byte");
		} else if (entry_parse(&e, line, err) == 0 &&
			   entry_check(t, list, &e, err) == 0) {
			rc = entries_append(list, &e, err);
		} else {
			rc = -1;
		}
		if (rc == -1)
			break;
	}
	if (rc == 0 && ferror(fp))
		rc = error_set(err, "%s: %s", name, strerror(errno));
	else if (rc == -1)
		entries_error(err, name, lineno);
	free(line);
	return rc;
}

static int entries_read(const struct tunnel *t, const char *path,
			struct peer_entries *list, struct avpn_error *err)
{
	FILE *fp;
	int rc;

	memset(list, 0, sizeof(*list));
	if (strcmp(path, "-") == 0)
		return entries_read_lines(t, stdin, "stdin", list, err);
	fp = fopen(path, "re");
	if (fp == NULL)
		return error_set(err, "%s: %s", path, strerror(errno));
	rc = entries_read_lines(t, fp, path, list, err);
	fclose(fp);
	return rc;
}

/* True when both lists hold the same subnets, in any order. */
static bool same_subnets(const struct subnet_list *a,
			 const struct subnet_list *b)
{
	size_t i, j;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++) {
		for (j = 0; j < b->count; j++) {
			if (memcmp(&a->nets[i], &b->nets[j],
				   sizeof(struct subnet)) == 0)
				break;
		}
		if (j == b->count)
			return false;
	}
	return true;
}

static void log_peer(const char *what, const struct peer *p)
{
	char ep[ENDPOINT_STRLEN];
	char nets[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];

	endpoint_format(ep, &p->endpoint);
	subnet_list_format(nets, sizeof(nets), &p->allowed);
	log_msg(LOG_LEVEL_INFO, "peer %s %s: endpoint %s, allowed IPs %s",
		p->name, what, ep, nets);
}

/*
 * Adds the peer or brings it up to date.  An existing peer keeps its
 * session, and its roamed endpoint unless the configured one changed.
 */
static struct peer *entry_apply(struct tunnel *t, const struct peer_entry *e,
				enum peer_origin origin)
{
	struct avpn_error err;
	struct peer *p = peer_find(t, e->public_key);
	bool created = false, changed;

	if (p == NULL) {
		p = peer_create(t, e->public_key, e->name, origin, &err);
		if (p == NULL) {
			log_msg(LOG_LEVEL_WARN, "peer %s not added: %s",
				e->name, err.text);
			return NULL;
		}
		created = true;
	}
	changed = strcmp(p->name, e->name) != 0 ||
		  !endpoint_equal(&p->configured, &e->endpoint) ||
		  !same_subnets(&p->allowed, &e->subnets);
	memcpy(p->name, e->name, sizeof(p->name));
	memcpy(p->punch.name, e->name, sizeof(p->punch.name));
	if (!endpoint_equal(&p->configured, &e->endpoint)) {
		p->configured = e->endpoint;
		if (endpoint_is_set(&e->endpoint))
			peer_set_endpoint(p, &e->endpoint);
	}
	if (peer_set_allowed(p, e->subnets.nets, e->subnets.count, &err) == -1)
		log_msg(LOG_LEVEL_WARN, "%s", err.text);
	if (created)
		log_peer("added", p);
	else if (changed)
		log_peer("changed", p);
	return p;
}

int config_read_peers(struct tunnel *t, struct peer_entries *list,
		      struct avpn_error *err)
{
	if (entries_read(t, t->opt.peers_file, list, err) == -1) {
		config_free_peers(list);
		return -1;
	}
	return 0;
}

void config_free_peers(struct peer_entries *list)
{
	if (list->items != NULL)
		sodium_memzero(list->items, list->count * sizeof(*list->items));
	free(list->items);
	memset(list, 0, sizeof(*list));
}

void config_apply_peers(struct tunnel *t, const struct peer_entries *list)
{
	struct peer *p, *next;
	size_t i;

	for (p = t->peers; p != NULL; p = p->next)
		p->mark = false;
	for (i = 0; i < list->count; i++) {
		p = entry_apply(t, &list->items[i], ORIGIN_FILE);
		if (p != NULL) {
			p->origin = ORIGIN_FILE;
			p->mark = true;
		}
	}
	for (p = t->peers; p != NULL; p = next) {
		next = p->next;
		if (p->origin != ORIGIN_FILE || p->mark)
			continue;
		log_msg(LOG_LEVEL_INFO, "peer %s removed: no longer in %s",
			p->name, t->opt.peers_file);
		peer_destroy(p);
	}
}

struct peer *config_peer_from_update(struct tunnel *t,
				     const struct msg_peer *mp)
{
	struct avpn_error err;
	struct peer_entry e;

	memset(&e, 0, sizeof(e));
	memcpy(e.public_key, mp->public_key, AVPN_KEY_LEN);
	memcpy(e.name, mp->name, sizeof(e.name));
	if (endpoint_is_set(&mp->override))
		e.endpoint = mp->override;
	else if (endpoint_is_set(&mp->public_ep))
		e.endpoint = mp->public_ep;
	else
		e.endpoint = mp->private_ep;
	e.subnets = mp->subnets;
	if (memcmp(e.public_key, t->public_key, AVPN_KEY_LEN) == 0)
		return NULL;
	if (endpoint_is_set(&e.endpoint) &&
	    endpoint_check_unicast(&e.endpoint, &err) == -1) {
		log_msg(LOG_LEVEL_WARN, "peer %s from the registry not "
			"applied: %s", e.name, err.text);
		return NULL;
	}
	return entry_apply(t, &e, ORIGIN_REGISTRY);
}
