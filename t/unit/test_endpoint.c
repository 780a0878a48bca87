/* Unit tests for common/endpoint.c: parsing, formatting and ports. */
#include <arpa/inet.h>
#include <string.h>

#include "endpoint.h"
#include "unit.h"

/* Parses s with default_port and checks the canonical form. */
static void check_good(const char *s, uint16_t default_port,
		       const char *want)
{
	char out[ENDPOINT_STRLEN], name[160];
	struct avpn_error e = { "" };
	union endpoint ep;
	int rc;

	rc = endpoint_parse(&ep, s, default_port, &e);
	snprintf(name, sizeof(name), "endpoint \"%s\" parses", s);
	CHECK(rc == 0, name);
	if (rc != 0) {
		printf("#   error was \"%s\"\n", e.text);
		return;
	}
	endpoint_format(out, &ep);
	snprintf(name, sizeof(name), "endpoint \"%s\" formats", s);
	CHECK_STR(out, want, name);
}

/* Parses s, expecting an error that contains why. */
static void check_bad(const char *s, uint16_t default_port, const char *why)
{
	struct avpn_error e = { "" };
	union endpoint ep;
	char name[160];

	snprintf(name, sizeof(name), "endpoint \"%s\" rejected", s);
	CHECK(endpoint_parse(&ep, s, default_port, &e) == -1, name);
	snprintf(name, sizeof(name), "endpoint \"%s\" error says \"%s\"", s,
		 why);
	CHECK(strstr(e.text, why) != NULL, name);
	if (strstr(e.text, why) == NULL)
		printf("#   error was \"%s\"\n", e.text);
}

static void test_parse_good(void)
{
	check_good("203.0.113.28:9350", 0, "203.0.113.28:9350");
	check_good("0.0.0.0:65535", 0, "0.0.0.0:65535");
	check_good("192.0.2.1:1", 0, "192.0.2.1:1");
	check_good("203.0.113.28", 9350, "203.0.113.28:9350");
	check_good("203.0.113.28:7", 9350, "203.0.113.28:7");
	check_good("[2001:db8::1]:9350", 0, "[2001:db8::1]:9350");
	check_good("[2001:DB8:0:0::1]:80", 0, "[2001:db8::1]:80");
	check_good("[::1]:1", 0, "[::1]:1");
	check_good("[::]:9350", 0, "[::]:9350");
	check_good("[2001:db8::1]", 9350, "[2001:db8::1]:9350");
	check_good("2001:db8::1", 9350, "[2001:db8::1]:9350");
	check_good("::1", 53, "[::1]:53");
	check_good("[::ffff:192.0.2.1]:80", 0, "[::ffff:192.0.2.1]:80");
	check_good("192.0.2.1:00080", 0, "192.0.2.1:80");
}

static void test_parse_bad(void)
{
	check_bad("203.0.113.28:0", 0, "too small");
	check_bad("203.0.113.28:65536", 0, "too large");
	check_bad("203.0.113.28:+80", 0, "expected a number");
	check_bad("203.0.113.28:-80", 0, "expected a number");
	check_bad("203.0.113.28: 80", 0, "expected a number");
	check_bad("203.0.113.28:80 ", 0, "expected a number");
	check_bad("203.0.113.28:0x50", 0, "expected a number");
	check_bad("203.0.113.28:", 0, "invalid port");
	check_bad("203.0.113.28", 0, "missing port");
	check_bad("[2001:db8::1]", 0, "missing port");
	check_bad("2001:db8::1", 0, "missing port");
	check_bad("", 9350, "bad address length");
	check_bad(":80", 0, "bad address length");
	check_bad("203.0.113:80", 0, "not a numeric IPv4");
	check_bad("203.0.113.28.1:80", 0, "not a numeric IPv4");
	check_bad("256.0.113.28:80", 0, "not a numeric IPv4");
	check_bad(" 203.0.113.28:80", 0, "not a numeric IPv4");
	check_bad("registry.example:9350", 0, "not a numeric IPv4");
	check_bad("[2001:db8::1:9350", 0, "missing ']'");
	check_bad("[2001:db8::1]9350", 0, "expected ':' after ']'");
	check_bad("[2001:db8::1]:", 0, "invalid port");
	check_bad("[203.0.113.28]:80", 0, "not a numeric IPv6");
	check_bad("[fe80::1%eth0]:80", 0, "not a numeric IPv6");
	check_bad("[]:80", 0, "bad address length");
	check_bad("2001:db8::g", 9350, "not a numeric IPv6");
	check_bad("[2001:db8:1:2:3:4:5:6:7]:80", 0, "not a numeric IPv6");
}

static void test_helpers(void)
{
	union endpoint a, b, unset;
	char out[ENDPOINT_STRLEN];

	memset(&unset, 0, sizeof(unset));
	endpoint_format(out, &unset);
	CHECK_STR(out, "-", "unset endpoint formats as -");
	CHECK(!endpoint_is_set(&unset), "unset endpoint is not set");
	CHECK(endpoint_len(&unset) == 0, "unset endpoint length 0");
	CHECK(endpoint_port(&unset) == 0, "unset endpoint port 0");

	endpoint_parse(&a, "192.0.2.1:40000", 0, NULL);
	endpoint_parse(&b, "192.0.2.1:40000", 0, NULL);
	CHECK(endpoint_is_set(&a), "IPv4 endpoint is set");
	CHECK(endpoint_equal(&a, &b), "equal IPv4 endpoints");
	CHECK(endpoint_port(&a) == 40000, "IPv4 port");
	CHECK(endpoint_len(&a) == sizeof(struct sockaddr_in), "IPv4 length");
	endpoint_set_port(&b, 40001);
	CHECK(!endpoint_equal(&a, &b), "ports differ");
	CHECK(endpoint_port(&b) == 40001, "set IPv4 port");
	endpoint_parse(&b, "192.0.2.2:40000", 0, NULL);
	CHECK(!endpoint_equal(&a, &b), "addresses differ");
	CHECK(!endpoint_equal(&a, &unset), "set and unset differ");

	endpoint_parse(&a, "[2001:db8::1]:40000", 0, NULL);
	endpoint_parse(&b, "[2001:db8::1]:40000", 0, NULL);
	CHECK(endpoint_equal(&a, &b), "equal IPv6 endpoints");
	CHECK(endpoint_len(&a) == sizeof(struct sockaddr_in6), "IPv6 length");
	endpoint_set_port(&b, 1);
	CHECK(endpoint_port(&b) == 1, "set IPv6 port");
	CHECK(!endpoint_equal(&a, &b), "IPv6 ports differ");
	endpoint_parse(&b, "192.0.2.1:40000", 0, NULL);
	CHECK(!endpoint_equal(&a, &b), "families differ");
}

static void test_resolve(void)
{
	char out[ENDPOINT_STRLEN];
	struct avpn_error e;
	union endpoint ep;

	CHECK(endpoint_resolve(&ep, "203.0.113.28", 9350, &e) == 0,
	      "resolve numeric address");
	endpoint_format(out, &ep);
	CHECK_STR(out, "203.0.113.28:9350", "numeric resolve keeps address");
	CHECK(endpoint_resolve(&ep, "[2001:db8::1]:5", 9350, &e) == 0,
	      "resolve numeric IPv6");
	/* localhost comes from /etc/hosts, so no query leaves the machine. */
	CHECK(endpoint_resolve(&ep, "localhost:9350", 0, &e) == 0,
	      "resolve localhost");
	endpoint_format(out, &ep);
	CHECK_STR(out, "127.0.0.1:9350", "localhost resolves to IPv4 first");
	CHECK(endpoint_resolve(&ep, "localhost:0", 0, &e) == -1,
	      "resolve rejects port 0");
	CHECK(endpoint_resolve(&ep, "localhost", 0, &e) == -1,
	      "resolve needs a port");
}

static void test_port_parse(void)
{
	static const char *const bad[] = {
		"0", "65536", "+1", "-1", "", "1a", " 1", "1 ", "0x10",
		"99999999999999999999",
	};
	struct avpn_error e;
	uint16_t port = 0;
	char name[64];
	size_t i;

	CHECK(port_parse(&port, "1", &e) == 0, "port 1 parses");
	CHECK(port == 1, "port 1");
	CHECK(port_parse(&port, "65535", &e) == 0, "port 65535 parses");
	CHECK(port == 65535, "port 65535");
	CHECK(port_parse(&port, "09350", &e) == 0, "leading zero parses");
	CHECK(port == 9350, "port 09350 is 9350");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port = 7;
		snprintf(name, sizeof(name), "port \"%s\" rejected", bad[i]);
		CHECK(port_parse(&port, bad[i], &e) == -1, name);
		CHECK(port == 7, "rejected port leaves value");
	}
}

static void test_check_unicast(void)
{
	static const char *good[] = {
		"192.0.2.1:1", "1.0.0.0:1", "223.255.255.255:1",
		"255.255.255.254:1", "[2001:db8::1]:1", "[::1]:1",
		"[::ffff:192.0.2.1]:1",
	};
	static const struct {
		const char *s, *want;
	} bad[] = {
		{ "0.0.0.0:51820", "endpoint 0.0.0.0:51820 is an address of "
		  "0.0.0.0/8 (this host), not a unicast address" },
		{ "0.1.2.3:1", "0.0.0.0/8" },
		{ "255.255.255.255:1", "endpoint 255.255.255.255:1 is the "
		  "broadcast address, not a unicast address" },
		{ "224.0.0.1:1", "endpoint 224.0.0.1:1 is a multicast "
		  "address, not a unicast address" },
		{ "239.255.255.255:1", "multicast" },
		{ "[::]:1", "endpoint [::]:1 is the unspecified address, "
		  "not a unicast address" },
		{ "[ff02::1]:1", "multicast" },
		{ "[::ffff:0.0.0.0]:1", "0.0.0.0/8" },
		{ "[::ffff:224.0.0.1]:1", "multicast" },
	};
	struct avpn_error e = { "" };
	union endpoint ep;
	char name[160];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		endpoint_parse(&ep, good[i], 0, NULL);
		snprintf(name, sizeof(name), "%s is unicast", good[i]);
		CHECK(endpoint_check_unicast(&ep, &e) == 0, name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(endpoint_parse(&ep, bad[i].s, 0, NULL) == 0,
		      "endpoint_parse accepts non-unicast");
		snprintf(name, sizeof(name), "%s is rejected", bad[i].s);
		CHECK(endpoint_check_unicast(&ep, &e) == -1, name);
		snprintf(name, sizeof(name), "%s error names it", bad[i].s);
		CHECK(strstr(e.text, bad[i].want) != NULL, name);
	}
	memset(&ep, 0, sizeof(ep));
	CHECK(endpoint_check_unicast(&ep, &e) == -1, "unset is rejected");
}

int main(void)
{
	test_parse_good();
	test_parse_bad();
	test_helpers();
	test_resolve();
	test_port_parse();
	test_check_unicast();
	return unit_done();
}
