#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


#include "subnet.h"

/* Bytes of address for a family: 4 or 16. */
static size_t subnet_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* True when the first prefix bits of a and b are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Clears the bits below the prefix; returns true if any was set. */
static bool clear_host_bits(uint8_t *addr, size_t len, unsigned prefix)
{
	bool changed = false;
	unsigned bits;
	uint8_t keep;
	size_t i;

	for (i = 0; i < len; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		/* bits of this byte that belong to the prefix: 0 to 7 */
		bits = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
		keep = (uint8_t)(0xff << (8 - bits));
		if ((addr[i] & ~keep) != 0)
			changed = true;
		addr[i] &= keep;
	}
	return changed;
}

/* Parses the prefix length after '/': decimal digits only, 0..max. */
static int subnet_parse_prefix(uint8_t *prefix, const char *s, unsigned max,
			       const char *whole, struct avpn_error *err)
{
	const char *errstr;
	long long n;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 3)
		return error_set(err, "invalid subnet \"%.64s\": bad prefix "
				 "length", whole);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return error_set(err, "invalid subnet \"%.64s\": bad "
					 "prefix length", whole);
	}
	n = strtonum(s, 0, max, &errstr);
	if (errstr != NULL)
		return error_set(err, "invalid subnet \"%.64s\": prefix "
				 "length %s, expected 0-%u", whole, errstr,
				 max);
	*prefix = (uint8_t)n;
	return 0;
}

int subnet_parse(struct subnet *net, const char *s, struct avpn_error *err)
{
	char addr[INET6_ADDRSTRLEN], fixed[SUBNET_STRLEN];
	struct subnet tmp;
	const char *slash;
	size_t len;

	slash = strchr(s, '/');
	if (slash == NULL)
		return error_set(err, "invalid subnet \"%.64s\": missing "
				 "/PREFIX (write 10.2.0.0/24, not 10.2.0.0)",
				 s);
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(addr))
		return error_set(err, "invalid subnet \"%.64s\": bad address",
				 s);
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(&tmp, 0, sizeof(tmp));
	if (inet_pton(AF_INET, addr, tmp.addr) == 1)
		tmp.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, tmp.addr) == 1)
		tmp.family = AF_INET6;
	else
		return error_set(err, "invalid subnet \"%.64s\": \"%s\" is not "
				 "a numeric IPv4 or IPv6 address", s, addr);
	if (subnet_parse_prefix(&tmp.prefix, slash + 1,
				tmp.family == AF_INET ? 32 : 128, s, err) == -1)
		return -1;
	if (clear_host_bits(tmp.addr, subnet_addr_len(tmp.family),
			    tmp.prefix)) {
		subnet_format(fixed, &tmp);
		return error_set(err, "invalid subnet \"%.64s\": host bits "
				 "set, use %s", s, fixed);
	}
	*net = tmp;
	return 0;
}

void subnet_format(char out[SUBNET_STRLEN], const struct subnet *net)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(net->family, net->addr, addr, sizeof(addr)) == NULL) {
		snprintf(out, SUBNET_STRLEN, "-");
		return;
	}
	/* inet_ntop writes at most 39 characters for IPv6; the precision
	 * only shows the compiler that the result fits. */
	snprintf(out, SUBNET_STRLEN, "%.43s/%u", addr, net->prefix);
}

bool subnet_contains_addr(const struct subnet *net, int family,
			  const void *addr)
{
	if (family != net->family)
		return false;
	return prefix_equal(net->addr, addr, net->prefix);
}

bool subnet_within(const struct subnet *inner, const struct subnet *outer)
{
	if (inner->family != outer->family || inner->prefix < outer->prefix)
		return false;
	return prefix_equal(inner->addr, outer->addr, outer->prefix);
}

static bool subnet_equal(const struct subnet *a, const struct subnet *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Appends net to list, rejecting a duplicate or a full list. */
static int subnet_list_add(struct subnet_list *list, const struct subnet *net,
			   struct avpn_error *err)
{
	char text[SUBNET_STRLEN];
	size_t i;

	subnet_format(text, net);
	for (i = 0; i < list->count; i++) {
		if (subnet_equal(&list->nets[i], net))
			return error_set(err, "duplicate subnet %s", text);
	}
	if (list->count == AVPN_MAX_SUBNETS)
		return error_set(err, "too many subnets at %s: at most %d",
				 text, AVPN_MAX_SUBNETS);
	list->nets[list->count++] = *net;
	return 0;
}

int subnet_list_parse(struct subnet_list *list, const char *s,
		      struct avpn_error *err)
{
	char item[SUBNET_STRLEN + 16];
	struct subnet_list tmp = *list;
	struct subnet net;
	const char *p = s, *comma;
	size_t len;

	if (strcmp(s, "-") == 0 || s[0] == '\0')
		return 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return error_set(err, "invalid subnet list \"%.64s\": "
					 "empty entry", s);
		if (len >= sizeof(item))
			return error_set(err, "invalid subnet \"%.64s\": too "
					 "long", p);
		memcpy(item, p, len);
		item[len] = '\0';
		if (subnet_parse(&net, item, err) == -1 ||
		    subnet_list_add(&tmp, &net, err) == -1)
			return -1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*list = tmp;
	return 0;
}

int subnet_list_format(char *out, size_t size, const struct subnet_list *list)
{
	char text[SUBNET_STRLEN];
	size_t i, used = 0;
	int n;

	if (list->count == 0)
		return snprintf(out, size, "-");
	if (size > 0)
		out[0] = '\0';
	for (i = 0; i < list->count && i < AVPN_MAX_SUBNETS; i++) {
		subnet_format(text, &list->nets[i]);
		n = snprintf(used < size ? out + used : NULL,
			     used < size ? size - used : 0, "%s%s",
			     i > 0 ? "," : "", text);
		if (n < 0)
			return -1;
		used += (size_t)n;
	}
	return (int)used;
}
