/* Unit tests for common/subnet.c: CIDR subnets and subnet lists. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "subnet.h"
#include "unit.h"

static void check_good(const char *s, const char *want)
{
	char out[SUBNET_STRLEN], name[160];
	struct avpn_error e = { "" };
	struct subnet net;
	int rc;

	rc = subnet_parse(&net, s, &e);
	snprintf(name, sizeof(name), "subnet \"%s\" parses", s);
	CHECK(rc == 0, name);
	if (rc != 0) {
		printf("#   error was \"%s\"\n", e.text);
		return;
	}
	subnet_format(out, &net);
	snprintf(name, sizeof(name), "subnet \"%s\" formats", s);
	CHECK_STR(out, want, name);
}

static void check_bad(const char *s, const char *why)
{
	struct avpn_error e = { "" };
	struct subnet net;
	char name[160];

	snprintf(name, sizeof(name), "subnet \"%s\" rejected", s);
	CHECK(subnet_parse(&net, s, &e) == -1, name);
	snprintf(name, sizeof(name), "subnet \"%s\" error says \"%s\"", s, why);
	CHECK(strstr(e.text, why) != NULL, name);
	if (strstr(e.text, why) == NULL)
		printf("#   error was \"%s\"\n", e.text);
}

static void test_parse(void)
{
	check_good("10.2.0.0/24", "10.2.0.0/24");
	check_good("0.0.0.0/0", "0.0.0.0/0");
	check_good("10.2.0.1/32", "10.2.0.1/32");
	check_good("10.2.0.0/15", "10.2.0.0/15");
	check_good("2001:db8::/32", "2001:db8::/32");
	check_good("2001:DB8:0::/48", "2001:db8::/48");
	check_good("::/0", "::/0");
	check_good("2001:db8::1/128", "2001:db8::1/128");
	check_good("fd00::/8", "fd00::/8");
	check_good("10.2.0.128/25", "10.2.0.128/25");

	check_bad("10.2.0.1/24", "use 10.2.0.0/24");
	check_bad("10.3.0.0/15", "use 10.2.0.0/15");
	check_bad("10.2.0.129/25", "host bits set, use 10.2.0.128/25");
	check_bad("2001:db8::1/64", "use 2001:db8::/64");
	check_bad("10.2.0.0/33", "too large");
	check_bad("2001:db8::/129", "too large");
	check_bad("10.2.0.0/1000", "bad prefix length");
	check_bad("10.2.0.0/", "bad prefix length");
	check_bad("10.2.0.0/-1", "bad prefix length");
	check_bad("10.2.0.0/+8", "bad prefix length");
	check_bad("10.2.0.0/2a", "bad prefix length");
	check_bad("10.2.0.0/24 ", "bad prefix length");
	check_bad("10.2.0.0", "missing /PREFIX");
	check_bad("", "missing /PREFIX");
	check_bad("/24", "bad address");
	check_bad("10.2.0/24", "not a numeric");
	check_bad("10.2.0.0.0/24", "not a numeric");
	check_bad("net/24", "not a numeric");
	check_bad("10.2.0.0/24/8", "bad prefix length");
}

static void test_contains(void)
{
	struct subnet net, inner;
	uint8_t a4[4], a6[16];

	subnet_parse(&net, "10.2.0.0/23", NULL);
	inet_pton(AF_INET, "10.2.1.255", a4);
	CHECK(subnet_contains_addr(&net, AF_INET, a4), "10.2.1.255 in /23");
	inet_pton(AF_INET, "10.2.2.0", a4);
	CHECK(!subnet_contains_addr(&net, AF_INET, a4), "10.2.2.0 not in /23");
	inet_pton(AF_INET6, "2001:db8::1", a6);
	CHECK(!subnet_contains_addr(&net, AF_INET6, a6),
	      "IPv6 address not in IPv4 subnet");

	subnet_parse(&net, "0.0.0.0/0", NULL);
	CHECK(subnet_contains_addr(&net, AF_INET, a4), "any address in /0");

	subnet_parse(&net, "2001:db8::/33", NULL);
	CHECK(subnet_contains_addr(&net, AF_INET6, a6), "IPv6 inside /33");
	inet_pton(AF_INET6, "2001:db8:8000::", a6);
	CHECK(!subnet_contains_addr(&net, AF_INET6, a6),
	      "IPv6 outside /33");

	subnet_parse(&net, "10.0.0.0/8", NULL);
	subnet_parse(&inner, "10.2.0.0/24", NULL);
	CHECK(subnet_within(&inner, &net), "/24 within /8");
	CHECK(!subnet_within(&net, &inner), "/8 not within /24");
	CHECK(subnet_within(&net, &net), "subnet within itself");
	subnet_parse(&inner, "11.2.0.0/24", NULL);
	CHECK(!subnet_within(&inner, &net), "11.2.0.0/24 not within 10/8");
	subnet_parse(&inner, "::/0", NULL);
	CHECK(!subnet_within(&inner, &net), "families differ");
}

static void test_list(void)
{
	struct subnet_list list;
	struct avpn_error e = { "" };
	char out[1024];

	memset(&list, 0, sizeof(list));
	CHECK(subnet_list_parse(&list, "-", &e) == 0, "\"-\" parses");
	CHECK(list.count == 0, "\"-\" is the empty list");
	CHECK(subnet_list_parse(&list, "", &e) == 0, "\"\" parses");
	CHECK(list.count == 0, "\"\" is the empty list");
	subnet_list_format(out, sizeof(out), &list);
	CHECK_STR(out, "-", "empty list formats as -");

	CHECK(subnet_list_parse(&list, "10.2.0.0/24,fd00::/8", &e) == 0,
	      "two subnets parse");
	CHECK(list.count == 2, "two subnets counted");
	CHECK(subnet_list_parse(&list, "10.3.0.0/16", &e) == 0 &&
	      list.count == 3, "second call appends");
	subnet_list_format(out, sizeof(out), &list);
	CHECK_STR(out, "10.2.0.0/24,fd00::/8,10.3.0.0/16", "list formats");
	CHECK(subnet_list_format(out, 5, &list) ==
	      (int)strlen("10.2.0.0/24,fd00::/8,10.3.0.0/16"),
	      "format returns the length needed");
	CHECK_STR(out, "10.2", "short buffer is cut and terminated");
	CHECK(subnet_list_format(NULL, 0, &list) == 32,
	      "format with no buffer");

	CHECK(subnet_list_parse(&list, "10.2.0.0/24", &e) == -1,
	      "duplicate across calls rejected");
	CHECK(strstr(e.text, "duplicate subnet 10.2.0.0/24") != NULL,
	      "duplicate error names subnet");
	CHECK(list.count == 3, "failed parse leaves list");
	CHECK(subnet_list_parse(&list, "10.4.0.0/16,10.4.0.0/16", &e) == -1,
	      "duplicate in one list rejected");
	CHECK(list.count == 3, "failed parse appends nothing");
	CHECK(subnet_list_parse(&list, "10.5.0.0/16,10.5.0.1/16", &e) == -1,
	      "bad second entry rejected");
	CHECK(list.count == 3, "bad entry appends nothing");
}

static void test_list_bad(void)
{
	static const char *const bad[] = {
		",", "10.2.0.0/24,", ",10.2.0.0/24", "10.2.0.0/24,,10.3.0.0/16",
		"10.2.0.0/24, 10.3.0.0/16", "10.2.0.0/24;10.3.0.0/16", "-,-",
		"10.2.0.0/24 10.3.0.0/16",
	};
	struct subnet_list list;
	char name[96];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&list, 0, sizeof(list));
		snprintf(name, sizeof(name), "list \"%s\" rejected", bad[i]);
		CHECK(subnet_list_parse(&list, bad[i], NULL) == -1, name);
		CHECK(list.count == 0, "rejected list stays empty");
	}
}

static void test_list_limit(void)
{
	struct subnet_list list;
	struct avpn_error e = { "" };
	char text[1024] = "", item[32];
	int i;

	for (i = 0; i < AVPN_MAX_SUBNETS; i++) {
		snprintf(item, sizeof(item), "%s10.%d.0.0/16", i ? "," : "", i);
		strcat(text, item);
	}
	memset(&list, 0, sizeof(list));
	CHECK(subnet_list_parse(&list, text, &e) == 0, "16 subnets accepted");
	CHECK(list.count == AVPN_MAX_SUBNETS, "16 subnets counted");
	CHECK(subnet_list_parse(&list, "10.99.0.0/16", &e) == -1,
	      "17th subnet rejected");
	CHECK(strstr(e.text, "too many subnets") != NULL,
	      "17th subnet error says why");

	strcat(text, ",10.99.0.0/16");
	memset(&list, 0, sizeof(list));
	CHECK(subnet_list_parse(&list, text, &e) == -1,
	      "list of 17 rejected");
	CHECK(list.count == 0, "list of 17 leaves list empty");
}

int main(void)
{
	test_parse();
	test_contains();
	test_list();
	test_list_bad();
	test_list_limit();
	return unit_done();
}
