/* Unit tests for common/authfile.c: the authorized-nodes file, its
 * subnet and hub pools, weak keys and the hub-and-spoke rule. */
#include <sodium.h>

#include "authfile.h"
#include "unit.h"
#include "unit_files.h"

/* Eight distinct valid public keys: 43 base64 characters and '='. */
#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "//////////////////////////////////////////8="
#define K3 "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K4 "AgECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K5 "AwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K6 "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K7 "BQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K8 "BgECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/*
 * Three hubs and three spokes: s1 names h1; s2 names h2 then h1; s3 names
 * h3.  Comments, blank lines, tabs and runs of spaces are allowed.
 */
static const char good_file[] =
	"# avpn authorized nodes\n"
	"\n"
	K1 " h1 hub 10.1.0.0/24\n"
	K2 "\th2\thub\t10.11.0.0/16,fd00:11::/64   # second hub\n"
	"   " K3 "  h3  hub  -\n"
	K4 " s1 spoke 10.2.0.0/24 h1\n"
	K5 " s2 spoke 10.3.0.0/24,10.4.0.0/24 h2,h1\n"
	K6 " s3 spoke - h3";

static int parse(struct auth_list *list, const char *text,
		 struct avpn_error *err)
{
	return auth_list_parse(list, text, strlen(text), "auth", err);
}

static void test_good(void)
{
	struct subnet_list allowed;
	struct auth_list list;
	struct avpn_error e = { "" };
	char out[256];
	int rc;

	rc = parse(&list, good_file, &e);
	CHECK(rc == 0, "good file parses");
	if (rc != 0) {
		printf("#   error was \"%s\"\n", e.text);
		return;
	}
	CHECK(list.count == 6, "six nodes");
	CHECK_STR(list.nodes[1].name, "h2", "tab-separated name");
	CHECK(list.nodes[1].role == ROLE_HUB, "hub role");
	CHECK(list.nodes[1].public_key[0] == 0xff, "hub key");
	auth_node_allowed(&list, 1, &allowed);
	subnet_list_format(out, sizeof(out), &allowed);
	CHECK_STR(out, "10.11.0.0/16,fd00:11::/64", "comment cut after field");
	CHECK(list.nodes[2].subnet_count == 0, "\"-\" allows no subnets");
	auth_node_allowed(&list, 2, &allowed);
	CHECK(allowed.count == 0, "\"-\" copies out no subnets");
	CHECK(list.nodes[2].hub_count == 0, "hub has no hubs");
	CHECK(list.nodes[4].role == ROLE_SPOKE, "spoke role");
	CHECK(list.nodes[4].hub_count == 2, "spoke with two hubs");
	CHECK(auth_node_hubs(&list, &list.nodes[4])[0] == 1,
	      "first hub is first preference");
	CHECK(auth_node_hubs(&list, &list.nodes[4])[1] == 0,
	      "second hub is second preference");
	CHECK(list.nodes[5].hub_count == 1, "last line without newline");
	CHECK(auth_node_hubs(&list, &list.nodes[5])[0] == 2,
	      "last line hub resolved");
	auth_list_free(&list);
	CHECK(list.count == 0, "free sets count 0");
	CHECK(list.nodes == NULL, "free clears nodes");
	CHECK(list.subnets == NULL, "free clears the subnet pool");
	CHECK(list.hubs == NULL, "free clears the hub pool");

	CHECK(parse(&list, "", &e) == 0, "empty file");
	CHECK(list.count == 0, "empty file has no nodes");
	CHECK(list.nodes != NULL, "empty file still has a node array");
	CHECK(list.subnets != NULL, "empty file still has a subnet pool");
	CHECK(list.hubs != NULL, "empty file still has a hub pool");
	auth_list_free(&list);
	CHECK(parse(&list, "# nothing\n\n  \t\n", &e) == 0, "comments only");
	CHECK(list.count == 0, "comments only has no nodes");
	auth_list_free(&list);
}

/* Every node's slice of the pools, in file order, for good_file. */
static void test_pools(void)
{
	static const char *const subnets[] = {
		"10.1.0.0/24", "10.11.0.0/16,fd00:11::/64", "-",
		"10.2.0.0/24", "10.3.0.0/24,10.4.0.0/24", "-",
	};
	static const uint32_t first[] = { 0, 1, 3, 3, 4, 6 };
	struct subnet_list allowed;
	struct auth_list list;
	char out[256], name[64];
	size_t i;

	if (parse(&list, good_file, NULL) != 0) {
		CHECK(0, "good file parses for the pools");
		return;
	}
	CHECK(list.subnet_total == 6, "six allowed subnets in the pool");
	CHECK(list.hub_total == 4, "four hub names in the pool");
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "node %zu subnets from %u", i,
			 (unsigned)first[i]);
		CHECK(list.nodes[i].subnet_first == first[i], name);
		auth_node_allowed(&list, i, &allowed);
		subnet_list_format(out, sizeof(out), &allowed);
		snprintf(name, sizeof(name), "node %zu allowed %s", i,
			 subnets[i]);
		CHECK_STR(out, subnets[i], name);
	}
	CHECK(list.nodes[3].hub_first == 0, "s1 hubs first in the pool");
	CHECK(list.nodes[4].hub_first == 1, "s2 hubs after s1");
	CHECK(list.nodes[5].hub_first == 3, "s3 hubs after s2");
	CHECK(list.hubs[0] == 0, "hub pool starts with h1 for s1");
	CHECK(list.hubs[1] == 1, "hub pool has h2 for s2");
	CHECK(list.hubs[2] == 0, "hub pool has h1 for s2");
	CHECK(list.hubs[3] == 2, "hub pool ends with h3 for s3");
	auth_list_free(&list);
}

/* A pool that grows past its first room keeps every node's slice. */
static void test_pool_growth(void)
{
	char text[65536], line[160], key[AVPN_KEY_BASE64_LEN + 1], got[64];
	uint8_t raw[AVPN_KEY_LEN];
	struct subnet_list allowed;
	struct auth_list list;
	struct avpn_error e = { "" };
	size_t i, used = 0;
	int ok = 1;

	memset(raw, 0, sizeof(raw));
	raw[0] = 9;
	for (i = 0; i < 100; i++) {
		raw[1] = (uint8_t)i;
		key_to_base64(key, raw);
		snprintf(line, sizeof(line), "%s n%zu %s 10.%zu.0.0/24,"
			 "10.%zu.1.0/24,fd%02zx::/64 %s\n", key, i,
			 i == 0 ? "hub" : "spoke", i, i, i, i == 0 ? "" : "n0");
		memcpy(text + used, line, strlen(line));
		used += strlen(line);
	}
	text[used] = '\0';
	CHECK(parse(&list, text, &e) == 0, "100 nodes with 3 subnets each");
	if (list.count != 100) {
		printf("#   error was \"%s\"\n", e.text);
		return;
	}
	CHECK(list.subnet_total == 300, "300 subnets in the pool");
	CHECK(list.hub_total == 99, "99 hub names in the pool");
	for (i = 0; i < 100; i++) {
		auth_node_allowed(&list, i, &allowed);
		subnet_format(got, &allowed.nets[1]);
		snprintf(line, sizeof(line), "10.%zu.1.0/24", i);
		if (allowed.count != 3 || strcmp(got, line) != 0 ||
		    (i > 0 && auth_node_hubs(&list, &list.nodes[i])[0] != 0))
			ok = 0;
	}
	CHECK(ok, "every node keeps its own subnets and hub");
	auth_list_free(&list);
}

/* The hub-and-spoke rule for every ordered pair of good_file. */
static void test_may_reach(void)
{
	static const char *const names[] = { "h1", "h2", "h3", "s1", "s2",
					     "s3" };
	/* want[a][b]: node a learns node b. */
	static const int want[6][6] = {
		/*        h1 h2 h3 s1 s2 s3 */
		/* h1 */ { 0, 1, 1, 1, 1, 0 },
		/* h2 */ { 1, 0, 1, 0, 1, 0 },
		/* h3 */ { 1, 1, 0, 0, 0, 1 },
		/* s1 */ { 1, 0, 0, 0, 0, 0 },
		/* s2 */ { 1, 1, 0, 0, 0, 0 },
		/* s3 */ { 0, 0, 1, 0, 0, 0 },
	};
	struct auth_list list;
	char name[64];
	size_t a, b;

	if (parse(&list, good_file, NULL) != 0) {
		CHECK(0, "good file parses for the truth table");
		return;
	}
	for (a = 0; a < 6; a++) {
		for (b = 0; b < 6; b++) {
			snprintf(name, sizeof(name), "%s %s %s", names[a],
				 want[a][b] ? "learns" : "does not learn",
				 names[b]);
			CHECK(auth_may_reach(&list, a, b) == want[a][b], name);
		}
	}
	CHECK(auth_may_reach(&list, 0, 6) == 0, "index past the end");
	CHECK(auth_may_reach(&list, 6, 0) == 0, "source past the end");
	auth_list_free(&list);
}

static void check_bad(const char *text, const char *why, const char *name)
{
	struct auth_list list = { 99, (struct auth_node *)&list,
				  (struct subnet *)&list, 99,
				  (uint32_t *)&list, 99 };
	struct avpn_error e = { "" };

	CHECK(parse(&list, text, &e) == -1, name);
	CHECK(strstr(e.text, why) != NULL, name);
	if (strstr(e.text, why) == NULL)
		printf("#   error was \"%s\"\n", e.text);
	CHECK(list.count == 0, "rejected list has count 0");
	CHECK(list.nodes == NULL, "rejected list has no nodes");
	CHECK(list.subnets == NULL, "rejected list has no subnet pool");
	CHECK(list.subnet_total == 0, "rejected list has no subnets");
	CHECK(list.hubs == NULL, "rejected list has no hub pool");
	CHECK(list.hub_total == 0, "rejected list has no hub names");
}

static void test_bad_lines(void)
{
	check_bad(K1 " h1 hub\n", "auth:1: 3 fields", "three fields");
	check_bad(K1 " h1 hub - x y\n", "more than 5 fields", "six fields");
	check_bad("AAAA h1 hub -\n", "field 1 (public key)", "short key");
	check_bad(K1 "x h1 hub -\n", "field 1 (public key)", "key with junk");
	check_bad(K1 " h/1 hub -\n", "field 2 (name)", "bad name");
	check_bad(K1 " abcdefghijklmnopqrstuvwxyz0123456 hub -\n",
		  "field 2 (name)", "name of 33 characters");
	check_bad(K1 " h1 router -\n", "field 3 (role)", "bad role");
	check_bad(K1 " h1 HUB -\n", "field 3 (role)", "role is lower case");
	check_bad(K1 " h1 hub 10.1.0.1/24\n", "use 10.1.0.0/24",
		  "host bits in allowed subnet");
	check_bad(K1 " h1 hub 10.1.0.0/24,10.1.0.0/24\n", "duplicate subnet",
		  "duplicate allowed subnet");
	check_bad(K1 ",h1 hub - h2\n", "field 1 (public key)",
		  "comma is not a separator");
	check_bad("\n\n" K1 " h1 hub -\n" K2 " h2 hub - h1\n",
		  "auth:4: field 5 (hubs): hub h2 may not name hubs",
		  "hub with a hubs column");
	check_bad(K1 " s1 spoke -\n", "spoke s1 names no hubs",
		  "spoke without hubs");
}

static void test_carriage_return(void)
{
	check_bad(K1 " h1 hub 10.1.0.0/24\r\n",
		  "auth:1: line ends in CR (DOS line ending); convert the "
		  "file with dos2unix or sed -i 's/\\r$//'", "CRLF line end");
	check_bad(K1 " h1 hub -\n" K2 " h2 hub 10.2.0.0/24\r",
		  "auth:2: line ends in CR", "CR ends the last line");
	check_bad("# DOS file\r\n" K1 " h1 hub -\r\n",
		  "auth:1: line ends in CR", "CR after a comment");
	check_bad(K1 " h1 hub -\n\r\n", "auth:2: line ends in CR",
		  "blank line of one CR");
	check_bad(K1 " h1\rhub -\n",
		  "auth:1: carriage return (CR) in column 48; remove it",
		  "CR inside a line");
	check_bad(K1 " h1 hub - # a\rb\n", "auth:1: carriage return (CR)",
		  "CR inside a comment");
}

/* Returns -1 when libsodium finds no shared key with public key pub. */
static int scalarmult_result(const uint8_t pub[AVPN_KEY_LEN])
{
	uint8_t scalar[32], out[32];
	int rc;

	randombytes_buf(scalar, sizeof(scalar));
	rc = crypto_scalarmult(out, scalar, pub);
	sodium_memzero(scalar, sizeof(scalar));
	return rc;
}

/* Sets key to the little-endian number p + add, p = 2^255 - 19; add is at
 * most 18, so the sum fits below 2^255. */
static void key_p_plus(uint8_t key[AVPN_KEY_LEN], unsigned add)
{
	memset(key, 0xff, AVPN_KEY_LEN);
	key[0] = (uint8_t)(0xed + add);
	key[AVPN_KEY_LEN - 1] = 0x7f;
}

/*
 * Every encoding that auth_key_is_weak rejects gives libsodium no shared
 * key, and its neighbours, which it accepts, give one.  The small-order
 * points have u = 0, 1, p - 1 and two values of order 8.
 */
static void test_weak_keys(void)
{
	static const char order8[2][AVPN_KEY_BASE64_LEN + 1] = {
		"4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=",
		"X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=",
	};
	uint8_t weak[7][AVPN_KEY_LEN], key[AVPN_KEY_LEN];
	char name[80];
	size_t i;
	unsigned add;
	int weak_ok = 1, strong_ok = 1;

	memset(weak, 0, sizeof(weak));
	weak[1][0] = 1;
	key_from_base64(weak[2], order8[0], AVPN_KEY_BASE64_LEN, NULL);
	key_from_base64(weak[3], order8[1], AVPN_KEY_BASE64_LEN, NULL);
	key_p_plus(weak[4], 0);
	weak[4][0] = 0xec; /* p - 1 */
	key_p_plus(weak[5], 0);
	key_p_plus(weak[6], 1);
	for (i = 0; i < 7; i++) {
		memcpy(key, weak[i], sizeof(key));
		snprintf(name, sizeof(name), "small-order point %zu is weak",
			 i);
		CHECK(auth_key_is_weak(key), name);
		snprintf(name, sizeof(name), "libsodium finds point %zu weak",
			 i);
		CHECK(scalarmult_result(key) == -1, name);
		key[AVPN_KEY_LEN - 1] |= 0x80;
		snprintf(name, sizeof(name), "point %zu with the top bit set "
			 "is weak", i);
		CHECK(auth_key_is_weak(key), name);
		snprintf(name, sizeof(name), "libsodium finds point %zu with "
			 "the top bit set weak", i);
		CHECK(scalarmult_result(key) == -1, name);
	}
	/* 2 to 18 and p + 2 to p + 18, their other encodings, and p - 2. */
	for (add = 2; add <= 18; add++) {
		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)add;
		if (auth_key_is_weak(key) || scalarmult_result(key) != 0)
			strong_ok = 0;
		key_p_plus(key, add);
		if (auth_key_is_weak(key) || scalarmult_result(key) != 0)
			strong_ok = 0;
	}
	key_p_plus(key, 0);
	key[0] = 0xeb;
	if (auth_key_is_weak(key) || scalarmult_result(key) != 0)
		strong_ok = 0;
	CHECK(strong_ok, "neighbours of the small-order points are usable");
	for (i = 0; i < 1000; i++) {
		randombytes_buf(key, sizeof(key));
		if (auth_key_is_weak(key))
			weak_ok = 0;
	}
	CHECK(weak_ok, "1000 random keys are not weak");
}

static void test_weak_key_lines(void)
{
	check_bad(K1 " h1 hub -\n"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= s1 spoke - "
		  "h1\n",
		  "auth:2: field 1 (public key): weak key, a small-order "
		  "point that gives no shared key; put the node's public key "
		  "there, from avpn-keygen -p <NODE.key", "all-zero key");
	check_bad("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= h1 hub -\n",
		  "auth:1: field 1 (public key): weak key", "key of u = 1");
	check_bad("7P///////////////////////////////////////38= h1 hub -\n",
		  "auth:1: field 1 (public key): weak key", "key of u = p - 1");
	check_bad("X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEdc= h1 hub -\n",
		  "auth:1: field 1 (public key): weak key",
		  "order-8 key with the top bit set");
}

static void test_bad_links(void)
{
	check_bad(K1 " h1 hub -\n" K1 " h2 hub -\n",
		  "auth:2: duplicate key, already on line 1", "duplicate key");
	check_bad(K1 " h1 hub -\n# x\n" K2 " h1 hub -\n",
		  "auth:3: duplicate name, already on line 1",
		  "duplicate name");
	check_bad(K2 " h1 hub -\n" K1 " h1 hub -\n",
		  "auth:2: duplicate name, already on line 1",
		  "duplicate name, sorted keys");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - h9\n",
		  "auth:2: field 5 (hubs): hub \"h9\" is not a node",
		  "spoke naming unknown hub");
	check_bad(K1 " h1 hub -\n" K2 " s0 spoke - h1\n" K3
		  " s1 spoke - s0\n",
		  "\"s0\" is a spoke", "spoke naming a spoke");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - s1\n",
		  "\"s1\" is a spoke", "spoke naming itself");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - h1,h1\n",
		  "hub h1 is named twice", "hub named twice");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - h1,\n",
		  "empty name", "trailing comma in hubs");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - ,h1\n",
		  "empty name", "leading comma in hubs");
	check_bad(K1 " h1 hub -\n" K2 " s1 spoke - h1,,h1\n",
		  "empty name", "double comma in hubs");
}

static void test_many_hubs(void)
{
	static const char nine_hubs[] =
		K1 " h1 hub -\n" K2 " h2 hub -\n" K3 " h3 hub -\n"
		K4 " h4 hub -\n" K5 " h5 hub -\n" K6 " h6 hub -\n"
		K7 " h7 hub -\n" K8 " h8 hub -\n";
	char text[2048];
	struct auth_list list;
	struct avpn_error e = { "" };

	snprintf(text, sizeof(text), "%s%s", nine_hubs,
		 "AAAAAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= s1 spoke - "
		 "h1,h2,h3,h4,h5,h6,h7,h8\n");
	CHECK(parse(&list, text, &e) == 0, "spoke with 8 hubs");
	CHECK(list.count == 9, "nine nodes");
	CHECK(list.count == 9 && list.nodes[8].hub_count == 8,
	      "8 hubs resolved");
	auth_list_free(&list);

	snprintf(text, sizeof(text), "%s%s%s", nine_hubs,
		 "AAAAAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= h9 hub -\n",
		 "AAAABAQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= s1 spoke - "
		 "h1,h2,h3,h4,h5,h6,h7,h8,h9\n");
	check_bad(text, "more than 8 hubs", "spoke with 9 hubs");
}

static void test_limits(void)
{
	char text[8192];
	const char nul_text[] = K1 " h1 hub -\n\0" K2 " h2 hub -\n";
	struct auth_list list;
	struct avpn_error e = { "" };

	CHECK(auth_list_parse(&list, nul_text, sizeof(nul_text) - 1, "auth",
			      &e) == -1, "NUL byte rejected");
	CHECK(strstr(e.text, "NUL") != NULL, "NUL error");

	memset(text, ' ', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memcpy(text, K1 " h1 hub -", strlen(K1 " h1 hub -"));
	check_bad(text, "auth:1: line longer than", "line too long");
}

static void test_load(void)
{
	struct auth_list list;
	struct avpn_error e = { "" };
	const char *path = unit_path("authorized");

	unit_write_file(path, good_file, 0644);
	CHECK(auth_list_load(&list, path, &e) == 0, "load file");
	CHECK(list.count == 6, "loaded six nodes");
	auth_list_free(&list);

	unit_write_file(path, K1 " h1 hub -\n" K1 " h2 hub -\n", 0644);
	CHECK(auth_list_load(&list, path, &e) == -1, "load bad file");
	CHECK(strncmp(e.text, path, strlen(path)) == 0,
	      "load error names the path");
	CHECK(auth_list_load(&list, unit_path("none"), &e) == -1,
	      "load missing file");
	CHECK(strstr(e.text, "No such file") != NULL, "missing file error");
}

int main(void)
{
	unit_tmpdir();
	if (sodium_init() == -1) {
		CHECK(0, "libsodium initialises");
		return unit_done();
	}
	test_good();
	test_pools();
	test_pool_growth();
	test_may_reach();
	test_bad_lines();
	test_carriage_return();
	test_weak_keys();
	test_weak_key_lines();
	test_bad_links();
	test_many_hubs();
	test_limits();
	test_load();
	return unit_done();
}
