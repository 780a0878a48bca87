#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authfile.h"

/* Longer lines are rejected: 16 subnets and 8 hub names fit in about 1,100
 * characters. */
#define AUTH_LINE_MAX 4096

/* A larger file is rejected before it is read into memory.  A million
 * nodes, each with a subnet and a hub, take about 80 MB. */
#define AUTH_FILE_MAX (256 * 1024 * 1024)

#define AUTH_FIELDS_MAX 5

/* Line data that the first pass keeps beside each node. */
struct auth_line {
	unsigned long lineno;
	size_t hubs_offset; /* the HUBS field in the text, resolved later */
	size_t hubs_len;    /* 0 for a hub */
};

/* The file being parsed: nodes with their lines, the subnet and hub pools
 * that the nodes index, and a view sorted by name for looking hubs up. */
struct auth_parse {
	const char *name;
	const char *text;
	struct auth_node *nodes;
	struct auth_line *lines;
	struct auth_node **by_name;
	size_t count;
	size_t cap;
	struct subnet *subnets;
	size_t subnet_total;
	size_t subnet_cap;
	uint32_t *hubs;
	size_t hub_total;
	size_t hub_cap;
};

/*
 * The small-order points of Curve25519 and its twist, as X25519 u
 * coordinates in little-endian with the top bit clear.  They are 0 (order
 * 2), 1 and p - 1 (order 4) and two points of order 8, followed by p and
 * p + 1, which encode 0 and 1 again.  No other u below 2^255 gives the
 * point at infinity when multiplied by 8, so the list is complete.
 * Comparing costs next to nothing, where a test scalar multiplication
 * costs 65 us (libsodium 1.0.18 on an AMD EPYC core), which is 65 s for a
 * million nodes on every start and SIGHUP.
 */
static const uint8_t small_order_points[][AVPN_KEY_LEN] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	  0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	  0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	  0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	  0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

bool auth_key_is_weak(const uint8_t key[AVPN_KEY_LEN])
{
	uint8_t u[AVPN_KEY_LEN];
	size_t i;

	memcpy(u, key, sizeof(u));
	u[AVPN_KEY_LEN - 1] &= 0x7f;
	for (i = 0; i < sizeof(small_order_points) /
			    sizeof(small_order_points[0]); i++) {
		if (memcmp(u, small_order_points[i], sizeof(u)) == 0)
			return true;
	}
	return false;
}

/* Splits line in place on blanks (spaces and tabs).  Returns the field
 * count, or -1 when there are more than max. */
static int auth_split(char *line, char **fields, int max)
{
	int count = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return count;
		if (count == max)
			return -1;
		fields[count++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p == '\0')
			return count;
		*p++ = '\0';
	}
}

/*
 * Returns array, grown if needed to fit used + add elements of size bytes,
 * and sets *cap to its capacity.  Returns NULL when out of memory.  Pool
 * indexes are 32 bits, so a pool never contains UINT32_MAX elements.
 */
static void *auth_reserve(void *array, size_t *cap, size_t used, size_t add,
			  size_t size, const char *what,
			  struct avpn_error *err)
{
	size_t want = *cap == 0 ? 16 : *cap;
	void *grown;

	if (array != NULL && used + add <= *cap)
		return array;
	if (used + add >= UINT32_MAX) {
		error_set(err, "more than %u %s in the file", UINT32_MAX - 1,
			  what);
		return NULL;
	}
	while (want < used + add)
		want *= 2;
	grown = reallocarray(array, want, size);
	if (grown == NULL) {
		error_set(err, "out of memory");
		return NULL;
	}
	*cap = want;
	return grown;
}

/* Makes room for one more node. */
static int auth_grow(struct auth_parse *ap, struct avpn_error *err)
{
	struct auth_node *nodes;
	struct auth_line *lines;
	size_t cap;

	if (ap->count < ap->cap)
		return 0;
	cap = ap->cap == 0 ? 16 : ap->cap * 2;
	nodes = reallocarray(ap->nodes, cap, sizeof(*nodes));
	if (nodes == NULL)
		return error_set(err, "out of memory");
	ap->nodes = nodes;
	lines = reallocarray(ap->lines, cap, sizeof(*lines));
	if (lines == NULL)
		return error_set(err, "out of memory");
	ap->lines = lines;
	ap->cap = cap;
	return 0;
}

/* Prefixes err with "NAME:LINE: ". */
static int auth_error(const struct auth_parse *ap, unsigned long lineno,
		      struct avpn_error *err)
{
	struct avpn_error copy;

	if (err == NULL)
		return -1;
	copy = *err;
	return error_set(err, "%s:%lu: %s", ap->name, lineno, copy.text);
}

/* Appends the allowed subnets in field to the pool as node's slice. */
static int auth_add_subnets(struct auth_parse *ap, struct auth_node *node,
			    const char *field, struct avpn_error *err)
{
	struct subnet_list allowed;
	struct avpn_error why;
	struct subnet *pool;

	memset(&allowed, 0, sizeof(allowed));
	if (subnet_list_parse(&allowed, field, &why) == -1)
		return error_set(err, "field 4 (subnets): %s", why.text);
	pool = auth_reserve(ap->subnets, &ap->subnet_cap, ap->subnet_total,
			    allowed.count, sizeof(*pool), "subnets", err);
	if (pool == NULL)
		return -1;
	ap->subnets = pool;
	memcpy(&pool[ap->subnet_total], allowed.nets,
	       allowed.count * sizeof(*pool));
	node->subnet_first = (uint32_t)ap->subnet_total;
	node->subnet_count = (uint8_t)allowed.count;
	ap->subnet_total += allowed.count;
	return 0;
}

/* Decodes the public key in field into node and rejects a weak one. */
static int auth_parse_key(struct auth_node *node, const char *field,
			  struct avpn_error *err)
{
	struct avpn_error why;

	if (key_from_base64(node->public_key, field, strlen(field),
			    &why) == -1)
		return error_set(err, "field 1 (public key): %s", why.text);
	if (auth_key_is_weak(node->public_key))
		return error_set(err, "field 1 (public key): weak key, a "
				 "small-order point that gives no shared key; "
				 "put the node's public key there, from "
				 "avpn-keygen -p <NODE.key");
	return 0;
}

/* Parses the fields of one node line into node and its allowed subnets
 * into the pool.  The HUBS field is only checked against the role here,
 * and resolved to indexes later. */
static int auth_parse_fields(struct auth_parse *ap, struct auth_node *node,
			     char **f, int n, struct avpn_error *err)
{
	struct avpn_error why;
	enum node_role role;

	memset(node, 0, sizeof(*node));
	if (n < 4)
		return error_set(err, "%d fields, expected PUBLIC-KEY NAME "
				 "ROLE SUBNETS [HUBS]", n);
	if (auth_parse_key(node, f[0], err) == -1)
		return -1;
	if (name_check(f[1], &why) == -1)
		return error_set(err, "field 2 (name): %s", why.text);
	memcpy(node->name, f[1], strlen(f[1]) + 1);
	if (node_role_parse(&role, f[2], &why) == -1)
		return error_set(err, "field 3 (role): %s", why.text);
	node->role = (uint8_t)role;
	if (auth_add_subnets(ap, node, f[3], err) == -1)
		return -1;
	if (node->role == ROLE_HUB && n == 5)
		return error_set(err, "field 5 (hubs): hub %s may not name "
				 "hubs, because every hub reaches every "
				 "other hub", node->name);
	if (node->role == ROLE_SPOKE && n == 4)
		return error_set(err, "spoke %s names no hubs: add a fifth "
				 "field, a comma list of hub names",
				 node->name);
	return 0;
}

/*
 * Parses one line (comment already cut) and appends its node.  line is a
 * copy of the text from offset on, so a field's place in the text can be
 * kept instead of the field.
 */
static int auth_parse_line(struct auth_parse *ap, char *line, size_t offset,
			   unsigned long lineno, struct avpn_error *err)
{
	char *f[AUTH_FIELDS_MAX];
	struct auth_line *meta;
	int n;

	n = auth_split(line, f, AUTH_FIELDS_MAX);
	if (n == 0)
		return 0;
	if (n == -1)
		error_set(err, "more than %d fields, expected PUBLIC-KEY NAME "
			  "ROLE SUBNETS [HUBS]", AUTH_FIELDS_MAX);
	if (n == -1 || auth_grow(ap, err) == -1 ||
	    auth_parse_fields(ap, &ap->nodes[ap->count], f, n, err) == -1)
		return auth_error(ap, lineno, err);
	meta = &ap->lines[ap->count];
	meta->lineno = lineno;
	meta->hubs_offset = offset + (size_t)(f[n - 1] - line);
	meta->hubs_len = n == 5 ? strlen(f[4]) : 0;
	ap->count++;
	return 0;
}

/*
 * Rejects a carriage return.  A file saved with DOS line endings has one
 * at the end of every line, where it would become part of the last field
 * and give a misleading error about that field.
 */
static int auth_check_cr(const struct auth_parse *ap, const char *line,
			 size_t len, unsigned long lineno,
			 struct avpn_error *err)
{
	const char *cr = memchr(line, '\r', len);

	if (cr == NULL)
		return 0;
	if (line[len - 1] == '\r')
		return error_set(err, "%s:%lu: line ends in CR (DOS line "
				 "ending); convert the file with dos2unix or "
				 "sed -i 's/\\r$//'", ap->name, lineno);
	return error_set(err, "%s:%lu: carriage return (CR) in column %zu; "
			 "remove it", ap->name, lineno,
			 (size_t)(cr - line) + 1);
}

/* First pass: every line into a node, in file order. */
static int auth_parse_lines(struct auth_parse *ap, const char *text,
			    size_t len, struct avpn_error *err)
{
	char line[AUTH_LINE_MAX], *hash;
	unsigned long lineno = 0;
	const char *p = text, *end = text + len, *nl;
	size_t n;

	if (memchr(text, '\0', len) != NULL)
		return error_set(err, "%s: contains a NUL byte", ap->name);
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (n >= sizeof(line))
			return error_set(err, "%s:%lu: line longer than %d "
					 "characters", ap->name, lineno,
					 AUTH_LINE_MAX - 1);
		if (auth_check_cr(ap, p, n, lineno, err) == -1)
			return -1;
		memcpy(line, p, n);
		line[n] = '\0';
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		if (auth_parse_line(ap, line, (size_t)(p - text), lineno,
				    err) == -1)
			return -1;
		p += n + 1;
	}
	return 0;
}

static int compare_by_name(const void *a, const void *b)
{
	const struct auth_node *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int compare_by_key(const void *a, const void *b)
{
	const struct auth_node *const *x = a, *const *y = b;

	return memcmp((*x)->public_key, (*y)->public_key, AVPN_KEY_LEN);
}

/* Finds the line number of a node through its place in ap->nodes. */
static unsigned long auth_lineno(const struct auth_parse *ap,
				 const struct auth_node *node)
{
	return ap->lines[node - ap->nodes].lineno;
}

/*
 * Sorts a view of the nodes with compare and rejects two equal neighbours,
 * naming both lines.  field is "key" or "name".
 */
static int auth_check_unique(struct auth_parse *ap, struct auth_node **view,
			     int (*compare)(const void *, const void *),
			     const char *field, struct avpn_error *err)
{
	const struct auth_node *first, *second;
	size_t i;

	for (i = 0; i < ap->count; i++)
		view[i] = &ap->nodes[i];
	qsort(view, ap->count, sizeof(*view), compare);
	for (i = 1; i < ap->count; i++) {
		if (compare(&view[i - 1], &view[i]) != 0)
			continue;
		first = view[i - 1];
		second = view[i];
		if (auth_lineno(ap, first) > auth_lineno(ap, second)) {
			first = view[i];
			second = view[i - 1];
		}
		return error_set(err, "%s:%lu: duplicate %s, already on line "
				 "%lu", ap->name, auth_lineno(ap, second),
				 field, auth_lineno(ap, first));
	}
	return 0;
}

/* Returns the index of the node called name, or -1. */
static ssize_t auth_find_name(const struct auth_parse *ap, const char *name)
{
	struct auth_node probe, *key = &probe, **found;

	if (strlen(name) > AVPN_NAME_MAX)
		return -1;
	memcpy(probe.name, name, strlen(name) + 1);
	found = bsearch(&key, ap->by_name, ap->count, sizeof(*ap->by_name),
			compare_by_name);
	return found != NULL ? *found - ap->nodes : -1;
}

/* Adds one hub, by name, to spoke's slice of the hub pool, which ends
 * the pool while the spoke's line is resolved. */
static int auth_add_hub(struct auth_parse *ap, struct auth_node *spoke,
			const char *hub, struct avpn_error *err)
{
	uint32_t *pool;
	ssize_t index;
	size_t i;

	index = auth_find_name(ap, hub);
	if (index == -1)
		return error_set(err, "hub \"%.40s\" is not a node in this "
				 "file", hub);
	if (ap->nodes[index].role != ROLE_HUB)
		return error_set(err, "\"%s\" is a spoke, so it cannot be a "
				 "hub of %s", ap->nodes[index].name,
				 spoke->name);
	for (i = 0; i < spoke->hub_count; i++) {
		if (ap->hubs[spoke->hub_first + i] == (uint32_t)index)
			return error_set(err, "hub %s is named twice", hub);
	}
	if (spoke->hub_count == AUTH_MAX_HUBS)
		return error_set(err, "more than %d hubs", AUTH_MAX_HUBS);
	pool = auth_reserve(ap->hubs, &ap->hub_cap, ap->hub_total, 1,
			    sizeof(*pool), "hub names", err);
	if (pool == NULL)
		return -1;
	ap->hubs = pool;
	pool[ap->hub_total++] = (uint32_t)index;
	spoke->hub_count++;
	return 0;
}

/* Second pass: turns every spoke's hub names into node indexes. */
static int auth_resolve_hubs(struct auth_parse *ap, struct avpn_error *err)
{
	char hubs[AUTH_LINE_MAX], *name, *save;
	struct avpn_error why;
	size_t i, len;

	for (i = 0; i < ap->count; i++) {
		if (ap->nodes[i].role != ROLE_SPOKE)
			continue;
		len = ap->lines[i].hubs_len;
		ap->nodes[i].hub_first = (uint32_t)ap->hub_total;
		memcpy(hubs, ap->text + ap->lines[i].hubs_offset, len);
		hubs[len] = '\0';
		if (hubs[0] == ',' || hubs[strlen(hubs) - 1] == ',' ||
		    strstr(hubs, ",,") != NULL) {
			error_set(&why, "empty name in the hub list");
			goto fail;
		}
		for (name = strtok_r(hubs, ",", &save); name != NULL;
		     name = strtok_r(NULL, ",", &save)) {
			if (auth_add_hub(ap, &ap->nodes[i], name, &why) == -1)
				goto fail;
		}
	}
	return 0;
fail:
	return error_set(err, "%s:%lu: field 5 (hubs): %s", ap->name,
			 ap->lines[i].lineno, why.text);
}

/* Checks keys and names for duplicates and resolves the hub lists. */
static int auth_link(struct auth_parse *ap, struct avpn_error *err)
{
	if (ap->count == 0)
		return 0;
	ap->by_name = reallocarray(NULL, ap->count, sizeof(*ap->by_name));
	if (ap->by_name == NULL)
		return error_set(err, "out of memory");
	if (auth_check_unique(ap, ap->by_name, compare_by_key, "key",
			      err) == -1 ||
	    auth_check_unique(ap, ap->by_name, compare_by_name, "name",
			      err) == -1)
		return -1;
	return auth_resolve_hubs(ap, err);
}

/* Allocates the first room of every array, so that none is NULL after a
 * successful parse, even of an empty file. */
static int auth_start(struct auth_parse *ap, struct avpn_error *err)
{
	ap->subnets = auth_reserve(NULL, &ap->subnet_cap, 0, 1,
				   sizeof(*ap->subnets), "subnets", err);
	if (ap->subnets == NULL)
		return -1;
	ap->hubs = auth_reserve(NULL, &ap->hub_cap, 0, 1, sizeof(*ap->hubs),
				"hub names", err);
	if (ap->hubs == NULL)
		return -1;
	return auth_grow(ap, err);
}

int auth_list_parse(struct auth_list *list, const char *text, size_t len,
		    const char *name, struct avpn_error *err)
{
	struct auth_parse ap;
	int rc;

	memset(&ap, 0, sizeof(ap));
	ap.name = name;
	ap.text = text;
	memset(list, 0, sizeof(*list));
	rc = auth_start(&ap, err);
	if (rc == 0)
		rc = auth_parse_lines(&ap, text, len, err);
	if (rc == 0)
		rc = auth_link(&ap, err);
	free(ap.lines);
	free(ap.by_name);
	if (rc == -1) {
		free(ap.nodes);
		free(ap.subnets);
		free(ap.hubs);
		return -1;
	}
	list->count = ap.count;
	list->nodes = ap.nodes;
	list->subnets = ap.subnets;
	list->subnet_total = ap.subnet_total;
	list->hubs = ap.hubs;
	list->hub_total = ap.hub_total;
	return 0;
}

/* Reads the whole file at path into a new buffer. */
static char *auth_read_file(const char *path, size_t *len,
			    struct avpn_error *err)
{
	char *buf = NULL, *grown;
	size_t size = 0, used = 0, n;
	FILE *fp;

	fp = fopen(path, "re");
	if (fp == NULL) {
		error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (used == size) {
			size = size == 0 ? 65536 : size * 2;
			grown = NULL;
			if (size <= AUTH_FILE_MAX)
				grown = realloc(buf, size);
			if (grown == NULL) {
				error_set(err, "%s: larger than %d bytes or "
					  "out of memory", path, AUTH_FILE_MAX);
				goto fail;
			}
			buf = grown;
		}
		n = fread(buf + used, 1, size - used, fp);
		used += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		error_set(err, "%s: read failed", path);
		goto fail;
	}
	fclose(fp);
	*len = used;
	return buf;
fail:
	free(buf);
	fclose(fp);
	return NULL;
}

int auth_list_load(struct auth_list *list, const char *path,
		   struct avpn_error *err)
{
	char *text;
	size_t len;
	int rc;

	memset(list, 0, sizeof(*list));
	text = auth_read_file(path, &len, err);
	if (text == NULL)
		return -1;
	rc = auth_list_parse(list, text, len, path, err);
	free(text);
	return rc;
}

void auth_list_free(struct auth_list *list)
{
	free(list->nodes);
	free(list->subnets);
	free(list->hubs);
	memset(list, 0, sizeof(*list));
}

void auth_node_allowed(const struct auth_list *list, size_t i,
		       struct subnet_list *out)
{
	const struct auth_node *node = &list->nodes[i];

	memset(out, 0, sizeof(*out));
	out->count = node->subnet_count;
	memcpy(out->nets, auth_node_subnets(list, node),
	       node->subnet_count * sizeof(*out->nets));
}

int auth_may_reach(const struct auth_list *list, size_t a, size_t b)
{
	const struct auth_node *from, *to;
	size_t i;

	if (a >= list->count || b >= list->count || a == b)
		return 0;
	from = &list->nodes[a];
	to = &list->nodes[b];
	if (from->role == ROLE_HUB && to->role == ROLE_HUB)
		return 1;
	/* A spoke learns the hubs it names; a hub learns the spokes that
	 * name it.  Either way the spoke's hub list decides. */
	if (from->role == ROLE_SPOKE && to->role == ROLE_HUB) {
		for (i = 0; i < from->hub_count; i++) {
			if (auth_node_hubs(list, from)[i] == b)
				return 1;
		}
		return 0;
	}
	if (from->role == ROLE_HUB && to->role == ROLE_SPOKE) {
		for (i = 0; i < to->hub_count; i++) {
			if (auth_node_hubs(list, to)[i] == a)
				return 1;
		}
		return 0;
	}
	/* Spokes never learn each other. */
	return 0;
}
