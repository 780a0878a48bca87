/*
 * libFuzzer target for the allowed-IPs table: a byte string becomes a
 * series of inserts and removals, and every lookup must agree with a
 * linear scan for the longest matching prefix over a plain list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_MAX 64

struct model_entry {
	struct subnet net;
	int owner;
};

static struct model_entry model[MODEL_MAX];
static size_t model_count;
static int owners[4];

/* Reads a subnet (family, prefix, address) from 7 or 19 bytes. */
static size_t read_subnet(struct subnet *net, const uint8_t *p, size_t left)
{
	unsigned bits, i;
	size_t len;

	if (left < 2)
		return 0;
	memset(net, 0, sizeof(*net));
	net->family = p[0] & 1 ? AF_INET6 : AF_INET;
	len = net->family == AF_INET ? 4 : 16;
	bits = (unsigned)len * 8;
	if (left < 2 + len)
		return 0;
	net->prefix = (uint8_t)(p[1] % (bits + 1));
	memcpy(net->addr, p + 2, len);
	for (i = net->prefix; i < bits; i++)
		net->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 2 + len;
}

static struct model_entry *model_find(const struct subnet *net)
{
	size_t i;

	for (i = 0; i < model_count; i++) {
		if (memcmp(&model[i].net, net, sizeof(*net)) == 0)
			return &model[i];
	}
	return NULL;
}

static void *model_lookup(int family, const uint8_t *addr)
{
	int best_prefix = -1, owner = -1;
	size_t i;

	for (i = 0; i < model_count; i++) {
		if (model[i].net.family != family ||
		    !subnet_contains_addr(&model[i].net, family, addr) ||
		    model[i].net.prefix <= best_prefix)
			continue;
		best_prefix = model[i].net.prefix;
		owner = model[i].owner;
	}
	return owner == -1 ? NULL : &owners[owner];
}

static void apply(struct allowed_ips *table, uint8_t op,
		  const struct subnet *net)
{
	struct model_entry *e = model_find(net);
	int owner = (op >> 1) & 3;

	if ((op & 1) == 0 && (e != NULL || model_count < MODEL_MAX)) {
		if (allowed_ips_insert(table, net, &owners[owner], NULL,
				       NULL) == -1)
			abort();
		if (e == NULL)
			e = &model[model_count++];
		e->net = *net;
		e->owner = owner;
	} else if (op & 1) {
		bool removed = allowed_ips_remove(table, net, &owners[owner]);

		if (removed != (e != NULL && e->owner == owner))
			abort();
		if (removed)
			*e = model[--model_count];
	}
	if (table->count != model_count)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct allowed_ips table;
	struct subnet net;
	size_t pos = 0, n;
	uint8_t op;

	allowed_ips_init(&table);
	model_count = 0;
	while (pos + 1 < size) {
		op = data[pos++];
		n = read_subnet(&net, data + pos, size - pos);
		if (n == 0)
			break;
		pos += n;
		apply(&table, op, &net);
		/* Look up the subnet's own address and its neighbours. */
		if (allowed_ips_lookup(&table, net.family, net.addr) !=
		    model_lookup(net.family, net.addr))
			abort();
		net.addr[net.family == AF_INET ? 3 : 15] ^= 1;
		if (allowed_ips_lookup(&table, net.family, net.addr) !=
		    model_lookup(net.family, net.addr))
			abort();
	}
	allowed_ips_free(&table);
	return 0;
}
