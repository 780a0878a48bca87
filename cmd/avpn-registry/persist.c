/*
 * The -S state file, so a restart keeps the registrations and the last
 * timestamps (replays stay rejected).  One line per node that has sent an
 * authentic datagram, tab-separated:
 *
 *   public key, last timestamp (ns), observed endpoint, private endpoint,
 *   override endpoint, subnets, NAT type, last registered (Unix seconds)
 *
 * A node not registered has "-" endpoints and subnets, NAT type
 * "unknown" and time 0.
 * Registered nodes come last, least recently refreshed first, so loading
 * them in file order rebuilds the expiry list.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "registry.h"
#include "state.h"

#define STATE_FIELDS 8

/* A save may take at most a tenth of the time: after a save of d ms the
 * next waits 10 d ms, and at least a second. */
#define SAVE_MIN_INTERVAL_MS 1000
#define SAVE_TIME_FACTOR 10

static void write_node(FILE *fp, const struct registry *r, uint32_t i)
{
	const struct node *n = &r->table.nodes[i];
	char key[AVPN_KEY_BASE64_LEN + 1], ep[3][ENDPOINT_STRLEN];
	char nets[AVPN_MAX_SUBNETS * SUBNET_STRLEN] = "-";
	struct msg_peer p;
	int64_t seen = 0;

	key_to_base64(key, r->table.auth.nodes[i].public_key);
	strlcpy(ep[0], "-", sizeof(ep[0]));
	strlcpy(ep[1], "-", sizeof(ep[1]));
	strlcpy(ep[2], "-", sizeof(ep[2]));
	if (n->flags & NODE_REGISTERED) {
		node_to_peer(r, i, &p);
		endpoint_format(ep[0], &p.public_ep);
		endpoint_format(ep[1], &p.private_ep);
		endpoint_format(ep[2], &p.override);
		subnet_list_format(nets, sizeof(nets), &p.subnets);
		seen = p.last_seen;
	}
	fprintf(fp, "%s\t%llu\t%s\t%s\t%s\t%s\t%s\t%lld\n", key,
		(unsigned long long)n->last_ts, ep[0], ep[1], ep[2], nets,
		nat_type_name(seen != 0 ? (enum nat_type)n->nat : NAT_UNKNOWN),
		(long long)seen);
}

/* Formats the whole table into a new buffer. */
static char *format_state(const struct registry *r, size_t *len)
{
	const struct table *t = &r->table;
	char *buf = NULL;
	FILE *fp;
	uint32_t i;

	fp = open_memstream(&buf, len);
	if (fp == NULL)
		return NULL;
	fprintf(fp, "# avpn-registry state: key, last timestamp, observed, "
		"private, override, subnets, NAT type, last registered\n");
	for (i = 0; i < t->auth.count; i++)
		if (!(t->nodes[i].flags & NODE_REGISTERED) &&
		    t->nodes[i].last_ts != 0)
			write_node(fp, r, i);
	for (i = t->head; i != NO_NODE; i = t->nodes[i].next)
		write_node(fp, r, i);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Writes the table to the -S file now. */
void persist_save(struct registry *r)
{
	static struct log_limit limit = LOG_LIMIT_INIT(60000, 3);
	const char *path = r->cfg->state_path;
	struct avpn_error e;
	size_t len;
	char *buf;

	if (path == NULL)
		return;
	buf = format_state(r, &len);
	if (buf == NULL) {
		log_limited(&limit, LOG_LEVEL_ERROR, "cannot save state to %s: "
			    "out of memory", path);
		return;
	}
	if (state_write_atomic(path, buf, len, 0600, &e) == -1)
		log_limited(&limit, LOG_LEVEL_ERROR, "cannot save state: %s",
			    e.text);
	else
		r->dirty = false;
	free(buf);
}

/* Saves when the table changed and the interval since the last save
 * (SAVE_MIN_INTERVAL_MS, or SAVE_TIME_FACTOR times its duration) passed. */
void persist_maybe_save(struct registry *r)
{
	uint64_t start = r->now_ms, took, wait;

	if (r->cfg->state_path == NULL || !r->dirty ||
	    r->now_ms < r->save_due_ms)
		return;
	persist_save(r);
	registry_clock(r);
	took = r->now_ms - start;
	wait = took * SAVE_TIME_FACTOR;
	if (wait < SAVE_MIN_INTERVAL_MS)
		wait = SAVE_MIN_INTERVAL_MS;
	r->save_due_ms = r->now_ms + wait;
}

static int parse_u64(uint64_t *v, const char *s, struct avpn_error *err)
{
	const char *errstr;

	*v = (uint64_t)strtonum(s, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return error_set(err, "number \"%.24s\" is %s", s, errstr);
	return 0;
}

static int parse_endpoint(union endpoint *ep, const char *s,
			  struct avpn_error *err)
{
	memset(ep, 0, sizeof(*ep));
	if (strcmp(s, "-") == 0)
		return 0;
	return endpoint_parse(ep, s, 0, err);
}

/* A registration read from the file, before it goes into the table. */
struct saved {
	uint32_t node;
	uint64_t last_ts;
	union endpoint observed, private_ep, override;
	struct subnet_list subnets;
	enum nat_type nat;
	uint64_t seen;
};

static int parse_line(struct saved *s, const struct registry *r, char *line,
		      struct avpn_error *err)
{
	char *f[STATE_FIELDS];
	uint8_t key[AVPN_KEY_LEN];

	memset(s, 0, sizeof(*s));
	if (fields_split(line, f, STATE_FIELDS) != STATE_FIELDS)
		return error_set(err, "expected %d tab-separated fields",
				 STATE_FIELDS);
	if (key_from_base64(key, f[0], strlen(f[0]), err) == -1 ||
	    parse_u64(&s->last_ts, f[1], err) == -1 ||
	    parse_endpoint(&s->observed, f[2], err) == -1 ||
	    parse_endpoint(&s->private_ep, f[3], err) == -1 ||
	    parse_endpoint(&s->override, f[4], err) == -1 ||
	    subnet_list_parse(&s->subnets, f[5], err) == -1 ||
	    nat_type_parse(&s->nat, f[6], err) == -1 ||
	    parse_u64(&s->seen, f[7], err) == -1)
		return -1;
	s->node = table_find(&r->table, key);
	return 0;
}

/*
 * Puts one saved node into the table: its timestamp always, its
 * registration if it has not expired and the file still allows its
 * subnets.  Returns true when it was registered.
 */
static bool restore(struct registry *r, const struct saved *s)
{
	struct table *t = &r->table;
	struct node *n = &t->nodes[s->node];
	uint64_t age_ms, refreshed;
	size_t bad;

	n->last_ts = s->last_ts;
	if (!endpoint_is_set(&s->observed) || (int64_t)s->seen > r->now_s)
		return false;
	age_ms = ((uint64_t)r->now_s - s->seen) * 1000;
	if (age_ms >= (uint64_t)r->cfg->lifetime_s * 1000 ||
	    !node_subnets_allowed(t, s->node, &s->subnets, &bad) ||
	    node_set_subnets(t, s->node, &s->subnets) == -1)
		return false;
	refreshed = r->now_ms > age_ms ? r->now_ms - age_ms : 0;
	/* Keep the expiry list ordered even if the file is not. */
	if (t->tail != NO_NODE && refreshed < t->nodes[t->tail].refreshed_ms)
		refreshed = t->nodes[t->tail].refreshed_ms;
	packed_ep_set(&n->observed, &s->observed);
	packed_ep_set(&n->private_ep, &s->private_ep);
	packed_ep_set(&n->override, &s->override);
	n->nat = (uint8_t)s->nat;
	table_refresh(t, s->node, refreshed);
	return true;
}

/*
 * Loads the state file into the table.  A missing file is an empty state;
 * lines of keys no longer authorized are skipped.  Errors name the path
 * and line.
 */
int persist_load(struct registry *r, const char *path, struct avpn_error *err)
{
	size_t size = 0, lineno = 0, loaded = 0, registered = 0;
	struct avpn_error why;
	char *line = NULL;
	struct saved s;
	ssize_t len;
	FILE *fp;
	int rc = 0;

	fp = fopen(path, "re");
	if (fp == NULL && errno == ENOENT) {
		log_msg(LOG_LEVEL_INFO, "no state in %s yet", path);
		return 0;
	}
	if (fp == NULL)
		return error_set(err, "%s: %s", path, strerror(errno));
	while ((len = getline(&line, &size, fp)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (parse_line(&s, r, line, &why) == -1) {
			rc = error_set(err, "%s:%zu: %s", path, lineno,
				       why.text);
			break;
		}
		if (s.node == NO_NODE)
			continue;
		loaded++;
		registered += restore(r, &s);
	}
	/* getline returns -1 at the end of the file and on a read error,
	 * such as EISDIR.  Starting without the saved timestamps would
	 * accept replayed datagrams, so a read error stops the start. */
	if (rc == 0 && ferror(fp))
		rc = error_set(err, "%s: %s", path, strerror(errno));
	free(line);
	fclose(fp);
	if (rc == 0)
		log_msg(LOG_LEVEL_INFO, "loaded %zu nodes (%zu registered) "
			"from %s", loaded, registered, path);
	return rc;
}
