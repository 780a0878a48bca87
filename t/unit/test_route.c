/*
 * Unit tests for common/route_table.c (the allowed-IPs table), the
 * interface address parser and the packet helpers of common/tun.c.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "route.h"
#include "tun.h"
#include "unit.h"

/* Owners are plain addresses: only their identity matters. */
static int owner_a, owner_b, owner_c;

static struct subnet net(const char *s)
{
	struct subnet n;
	struct avpn_error e;

	if (subnet_parse(&n, s, &e) == -1) {
		printf("# bad fixture %s: %s\n", s, e.text);
		exit(1);
	}
	return n;
}

static void *lookup(const struct allowed_ips *t, const char *addr)
{
	uint8_t bytes[16];

	if (inet_pton(AF_INET, addr, bytes) == 1)
		return allowed_ips_lookup(t, AF_INET, bytes);
	if (inet_pton(AF_INET6, addr, bytes) == 1)
		return allowed_ips_lookup(t, AF_INET6, bytes);
	printf("# bad address %s\n", addr);
	exit(1);
}

static void insert(struct allowed_ips *t, const char *s, void *owner)
{
	struct subnet n = net(s);

	if (allowed_ips_insert(t, &n, owner, NULL, NULL) == -1)
		exit(1);
}

static void test_longest_prefix(void)
{
	struct allowed_ips t;

	allowed_ips_init(&t);
	insert(&t, "10.0.0.0/8", &owner_a);
	insert(&t, "10.2.0.0/24", &owner_b);
	insert(&t, "10.2.0.128/25", &owner_c);
	CHECK(lookup(&t, "10.1.2.3") == &owner_a, "lookup falls back to /8");
	CHECK(lookup(&t, "10.2.0.10") == &owner_b, "lookup picks /24");
	CHECK(lookup(&t, "10.2.0.200") == &owner_c, "lookup picks /25");
	CHECK(lookup(&t, "11.0.0.1") == NULL, "lookup outside is NULL");
	CHECK(lookup(&t, "::1") == NULL, "IPv6 table is separate");
	CHECK(t.count == 3, "count is 3");
	allowed_ips_free(&t);
}

static void test_default_and_host_routes(void)
{
	struct allowed_ips t;

	allowed_ips_init(&t);
	insert(&t, "0.0.0.0/0", &owner_a);
	insert(&t, "192.0.2.1/32", &owner_b);
	insert(&t, "2001:db8::/32", &owner_c);
	insert(&t, "2001:db8::1/128", &owner_b);
	CHECK(lookup(&t, "198.51.100.7") == &owner_a, "/0 matches all");
	CHECK(lookup(&t, "192.0.2.1") == &owner_b, "/32 matches its host");
	CHECK(lookup(&t, "192.0.2.2") == &owner_a, "/32 not its neighbour");
	CHECK(lookup(&t, "2001:db8::1") == &owner_b, "/128 matches");
	CHECK(lookup(&t, "2001:db8::2") == &owner_c, "IPv6 /32 matches");
	CHECK(lookup(&t, "2001:db9::1") == NULL, "IPv6 outside is NULL");
	allowed_ips_free(&t);
}

static void test_insert_moves_owner(void)
{
	struct allowed_ips t;
	struct subnet n = net("10.2.0.0/24");
	void *previous = NULL;

	allowed_ips_init(&t);
	allowed_ips_insert(&t, &n, &owner_a, &previous, NULL);
	CHECK(previous == NULL, "first insert has no previous owner");
	allowed_ips_insert(&t, &n, &owner_b, &previous, NULL);
	CHECK(previous == &owner_a, "second insert returns old owner");
	CHECK(lookup(&t, "10.2.0.1") == &owner_b, "subnet moved");
	CHECK(t.count == 1, "moving keeps count at 1");
	CHECK(!allowed_ips_remove(&t, &n, &owner_a),
	      "old owner cannot remove it");
	CHECK(allowed_ips_remove(&t, &n, &owner_b), "new owner removes it");
	CHECK(lookup(&t, "10.2.0.1") == NULL, "removed subnet is gone");
	CHECK(t.count == 0, "count back to 0");
	CHECK(t.root4 == NULL, "empty trie frees its nodes");
	allowed_ips_free(&t);
}

static void test_remove_owner(void)
{
	struct allowed_ips t;

	allowed_ips_init(&t);
	insert(&t, "10.1.0.0/24", &owner_a);
	insert(&t, "10.3.0.0/16", &owner_a);
	insert(&t, "fd00::/8", &owner_a);
	insert(&t, "10.1.0.0/16", &owner_b);
	CHECK(allowed_ips_remove_owner(&t, &owner_a) == 3,
	      "remove_owner counts 3");
	CHECK(lookup(&t, "10.1.0.5") == &owner_b, "shorter prefix remains");
	CHECK(lookup(&t, "10.3.0.5") == NULL, "owner's /16 is gone");
	CHECK(lookup(&t, "fd00::5") == NULL, "owner's IPv6 is gone");
	CHECK(t.count == 1, "one subnet left");
	allowed_ips_free(&t);
}

struct walk_result {
	char text[256];
};

static int collect(const struct subnet *n, void *arg)
{
	struct walk_result *r = arg;
	char s[SUBNET_STRLEN];

	subnet_format(s, n);
	if (r->text[0] != '\0')
		strcat(r->text, ",");
	strcat(r->text, s);
	return 0;
}

static void test_walk(void)
{
	struct walk_result r = { "" };
	struct allowed_ips t;

	allowed_ips_init(&t);
	insert(&t, "fd00:1::/64", &owner_a);
	insert(&t, "10.9.0.0/16", &owner_a);
	insert(&t, "10.1.0.0/24", &owner_a);
	insert(&t, "10.1.0.0/25", &owner_b);
	insert(&t, "0.0.0.0/0", &owner_a);
	allowed_ips_walk(&t, &owner_a, collect, &r);
	CHECK_STR(r.text, "0.0.0.0/0,10.1.0.0/24,10.9.0.0/16,fd00:1::/64",
		  "walk lists owner's subnets in order");
	r.text[0] = '\0';
	allowed_ips_walk(&t, &owner_c, collect, &r);
	CHECK_STR(r.text, "", "walk of unknown owner lists nothing");
	allowed_ips_free(&t);
}

static void test_ifaddr_parse(void)
{
	struct subnet a;
	struct avpn_error e;
	char s[SUBNET_STRLEN];

	CHECK(route_ifaddr_parse(&a, "10.9.0.1/24", &e) == 0,
	      "ifaddr with host bits parses");
	subnet_format(s, &a);
	CHECK_STR(s, "10.9.0.1/24", "ifaddr keeps host bits");
	CHECK(route_ifaddr_parse(&a, "fd00::1/64", &e) == 0,
	      "IPv6 ifaddr parses");
	CHECK(route_ifaddr_parse(&a, "10.9.0.1", &e) == -1,
	      "ifaddr without prefix is rejected");
	CHECK(strstr(e.text, "ADDR/PREFIX") != NULL,
	      "error says the expected form");
	CHECK(route_ifaddr_parse(&a, "10.9.0.1/33", &e) == -1,
	      "prefix 33 is rejected");
	CHECK(route_ifaddr_parse(&a, "10.9.0.1/+8", &e) == -1,
	      "signed prefix is rejected");
	CHECK(route_ifaddr_parse(&a, "host/8", &e) == -1,
	      "name is rejected");
}

static void test_packet_helpers(void)
{
	uint8_t v4[28] = { 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0,
			   10, 1, 0, 10, 10, 2, 0, 10 };
	uint8_t v6[48] = { 0x60, 0, 0, 0, 0, 8, 17, 64 };
	const uint8_t *src, *dst;

	CHECK(tun_packet_addrs(v4, sizeof(v4), &src, &dst) == AF_INET,
	      "IPv4 packet family");
	CHECK(src[0] == 10 && src[1] == 1 && dst[1] == 2,
	      "IPv4 addresses found");
	CHECK(tun_packet_len(v4, sizeof(v4)) == 20,
	      "IPv4 length cuts padding");
	CHECK(tun_packet_addrs(v4, 19, &src, &dst) == -1,
	      "short IPv4 header rejected");
	v4[3] = 40;
	CHECK(tun_packet_len(v4, sizeof(v4)) == 0,
	      "IPv4 length beyond data rejected");
	v4[3] = 10;
	CHECK(tun_packet_len(v4, sizeof(v4)) == 0,
	      "IPv4 length below header rejected");
	CHECK(tun_packet_addrs(v6, sizeof(v6), &src, &dst) == AF_INET6,
	      "IPv6 packet family");
	CHECK(tun_packet_len(v6, sizeof(v6)) == 48, "IPv6 length");
	v6[0] = 0x50;
	CHECK(tun_packet_addrs(v6, sizeof(v6), &src, &dst) == -1,
	      "version 5 rejected");
}

static void test_name_check(void)
{
	struct avpn_error e;

	CHECK(tun_name_check("avpn0", &e) == 0, "avpn0 is valid");
	CHECK(tun_name_check("", &e) == -1, "empty name rejected");
	CHECK(tun_name_check("0123456789abcdef", &e) == -1,
	      "16 characters rejected");
	CHECK(tun_name_check("a/b", &e) == -1, "slash rejected");
	CHECK(tun_name_check("a b", &e) == -1, "space rejected");
	CHECK(tun_name_check("..", &e) == -1, "dot-dot rejected");
}

int main(void)
{
	test_longest_prefix();
	test_default_and_host_routes();
	test_insert_moves_owner();
	test_remove_owner();
	test_walk();
	test_ifaddr_parse();
	test_packet_helpers();
	test_name_check();
	return unit_done();
}
