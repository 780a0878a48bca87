/*
 * Unit tests for common/punch.c: candidates, the probe schedule, replay
 * checks, answering probes, adopting endpoints and the path line.
 */
#include <sodium.h>

#include "punch.h"
#include "unit.h"

static const uint8_t peer_key[AVPN_KEY_LEN] = { 1, 2, 3 };

static union endpoint ep(const char *s)
{
	union endpoint e;

	if (endpoint_parse(&e, s, 0, NULL) == -1)
		memset(&e, 0, sizeof(e));
	return e;
}

static void test_via_names(void)
{
	enum punch_via via;
	struct avpn_error e = { "" };

	CHECK_STR(punch_via_name(PUNCH_VIA_REFLEXIVE), "reflexive",
		  "reflexive kind is named");
	CHECK(punch_via_parse(&via, "predicted", &e) == 0 &&
	      via == PUNCH_VIA_PREDICTED, "predicted kind parses");
	CHECK(punch_via_parse(&via, "stun", &e) == -1, "unknown kind rejected");
	CHECK(strstr(e.text, "\"stun\"") != NULL, "kind error names value");
}

static void test_candidates(void)
{
	struct punch_peer p;
	union endpoint unset, a = ep("192.0.2.73:40000");
	union endpoint b = ep("192.168.0.1:40000");
	char name[32];
	int i;

	memset(&unset, 0, sizeof(unset));
	punch_peer_init(&p, peer_key, "branch");
	CHECK(punch_candidate_add(&p, &unset, PUNCH_VIA_PUBLIC) == -1,
	      "unset candidate rejected");
	CHECK(punch_candidate_add(&p, &a, PUNCH_VIA_PUBLIC) == 0,
	      "first candidate gets index 0");
	CHECK(punch_candidate_add(&p, &b, PUNCH_VIA_PRIVATE) == 1,
	      "second candidate gets index 1");
	CHECK(punch_candidate_add(&p, &a, PUNCH_VIA_REFLEXIVE) == 0,
	      "duplicate candidate returns first index");
	CHECK(p.candidates[0].via == PUNCH_VIA_PUBLIC,
	      "duplicate keeps the earlier kind");
	for (i = 2; i < PUNCH_MAX_CANDIDATES; i++) {
		snprintf(name, sizeof(name), "203.0.113.%d:1", i);
		a = ep(name);
		punch_candidate_add(&p, &a, PUNCH_VIA_REFLEXIVE);
	}
	a = ep("203.0.113.200:1");
	CHECK(punch_candidate_add(&p, &a, PUNCH_VIA_REFLEXIVE) == -1,
	      "candidate beyond the maximum rejected");
}

static void test_candidates_from_peer(void)
{
	struct punch_peer p;
	union endpoint over = ep("192.0.2.73:51820");
	union endpoint pub = ep("192.0.2.73:1024");
	union endpoint priv = ep("192.168.0.1:40000");

	punch_peer_init(&p, peer_key, "branch");
	punch_candidates_from_peer(&p, &over, &pub, &priv);
	CHECK(p.candidate_count == 4, "four candidates from a NATed peer");
	CHECK(p.candidates[0].via == PUNCH_VIA_OVERRIDE, "override first");
	CHECK(p.candidates[1].via == PUNCH_VIA_PUBLIC, "public second");
	CHECK(p.candidates[2].via == PUNCH_VIA_PRIVATE, "private third");
	CHECK(p.candidates[3].via == PUNCH_VIA_PREDICTED, "predicted last");
	CHECK(endpoint_equal(&p.candidates[3].ep, &(union endpoint){
		.in = ep("192.0.2.73:40000").in }),
	      "predicted is public address with local port");

	punch_peer_init(&p, peer_key, "hq");
	pub = ep("198.51.100.1:40000");
	memset(&over, 0, sizeof(over));
	punch_candidates_from_peer(&p, &over, &pub, &pub);
	CHECK(p.candidate_count == 1, "peer without NAT has one candidate");
	CHECK(p.candidates[0].via == PUNCH_VIA_PUBLIC,
	      "peer without NAT is public");
}

static struct punch_config test_config(void)
{
	struct punch_config cfg = PUNCH_CONFIG_DEFAULT;

	cfg.budget_ms = 3000;
	return cfg;
}

static void test_schedule_low_ttl(void)
{
	struct punch_config cfg = test_config();
	struct punch_send out[PUNCH_MAX_CANDIDATES];
	union endpoint pub = ep("192.0.2.73:40000");
	union endpoint priv = ep("192.168.0.1:40000");
	struct punch_peer p;
	uint64_t t = 1000000;
	size_t n;

	punch_peer_init(&p, peer_key, "branch");
	punch_candidate_add(&p, &pub, PUNCH_VIA_PUBLIC);
	punch_candidate_add(&p, &priv, PUNCH_VIA_PRIVATE);
	CHECK(punch_due(&p, &cfg, t, out, 8) == 0, "idle peer sends nothing");
	punch_start(&p, &cfg, true, t);
	n = punch_due(&p, &cfg, t, out, 8);
	CHECK(n == 2, "first round probes both candidates");
	CHECK(out[0].ttl == PUNCH_LOW_TTL_DEFAULT, "public gets low TTL");
	CHECK(out[1].ttl == 0, "private gets normal TTL");
	CHECK(out[0].msg.type == MSG_PROBE, "probe has probe type");
	CHECK(endpoint_equal(&out[0].msg.u.probe.dest, &pub),
	      "probe names its destination");
	CHECK(out[1].msg.timestamp > out[0].msg.timestamp,
	      "probe timestamps increase");
	CHECK(punch_due(&p, &cfg, t + 1000, out, 8) == 0,
	      "nothing due before the gap");
	CHECK(punch_next_us(&p) == t + cfg.low_gap_ms * 1000,
	      "next low round after the gap");
	n = punch_due(&p, &cfg, t + 20000, out, 8);
	CHECK(n == 1, "later low round skips private");
	CHECK(out[0].ttl == PUNCH_LOW_TTL_DEFAULT, "later low round low TTL");
	n = punch_due(&p, &cfg, t + 40000, out, 8);
	CHECK(n == 1, "third low round");
	n = punch_due(&p, &cfg, t + 60000, out, 8);
	CHECK(n == 2, "normal round probes both candidates");
	CHECK(out[0].ttl == 0, "normal round public has normal TTL");
	CHECK(out[1].ttl == 0, "normal round private has normal TTL");
	CHECK(punch_next_us(&p) == t + 60000 + cfg.interval_ms * 1000,
	      "first normal interval");
	punch_due(&p, &cfg, t + 260000, out, 8);
	CHECK(punch_next_us(&p) == t + 260000 + 300000,
	      "interval grows by half");
	CHECK(punch_due(&p, &cfg, t + 3000000, out, 8) == 0,
	      "nothing after the budget");
	CHECK(p.state == PUNCH_EXPIRED, "budget expires the punch");
	CHECK(punch_next_us(&p) == UINT64_MAX, "expired punch has no next");
}

static void test_schedule_no_low_ttl(void)
{
	struct punch_config cfg = test_config();
	struct punch_send out[PUNCH_MAX_CANDIDATES];
	union endpoint pub = ep("192.0.2.73:40000");
	struct punch_peer p;
	unsigned int i;

	punch_peer_init(&p, peer_key, "branch");
	punch_candidate_add(&p, &pub, PUNCH_VIA_PUBLIC);
	punch_start(&p, &cfg, false, 0);
	CHECK(punch_due(&p, &cfg, 0, out, 8) == 1,
	      "without NAT first round probes at once");
	CHECK(out[0].ttl == 0, "without NAT first probe has normal TTL");
	CHECK(punch_next_us(&p) == cfg.interval_ms * 1000,
	      "without NAT no low-TTL gap");
	for (i = 0; i < 10; i++)
		punch_due(&p, &cfg, punch_next_us(&p), out, 8);
	CHECK(p.interval_ms == cfg.max_interval_ms, "interval capped");
}

static void test_hold(void)
{
	struct punch_config cfg = test_config();
	struct punch_send out[PUNCH_MAX_CANDIDATES];
	union endpoint pub = ep("192.0.2.73:40000");
	struct proto_msg probe, reply;
	struct punch_peer p;

	punch_peer_init(&p, peer_key, "branch");
	punch_candidate_add(&p, &pub, PUNCH_VIA_PUBLIC);
	punch_start(&p, &cfg, true, 0);
	punch_hold(&p, 1000000);
	CHECK(punch_due(&p, &cfg, 0, out, 8) == 1,
	      "low-TTL round goes out during a hold");
	CHECK(out[0].ttl != 0, "probe during a hold has low TTL");
	punch_due(&p, &cfg, 20000, out, 8);
	punch_due(&p, &cfg, 40000, out, 8);
	CHECK(punch_due(&p, &cfg, 60000, out, 8) == 0,
	      "normal round held back");
	CHECK(punch_next_us(&p) == 1000000, "held round waits for the hold");
	punch_hold(&p, 150000);
	CHECK(punch_next_us(&p) == 150000, "shorter hold moves the round");
	CHECK(punch_due(&p, &cfg, 150000, out, 8) == 1,
	      "normal round after the hold");
	CHECK(out[0].ttl == 0, "probe after the hold has normal TTL");

	punch_start(&p, &cfg, false, 0);
	punch_hold(&p, 1000000);
	CHECK(punch_due(&p, &cfg, 0, out, 8) == 0,
	      "without low TTL nothing goes out during a hold");
	memset(&probe, 0, sizeof(probe));
	probe.type = MSG_PROBE;
	punch_probe_received(&p, &probe, &pub, &cfg, false, 5000, &reply);
	CHECK(punch_next_us(&p) == 5000, "peer's probe ends the hold");
	CHECK(punch_due(&p, &cfg, 5000, out, 8) == 1,
	      "probe goes out after the hold ended");
}

static void test_timestamps(void)
{
	struct punch_peer p;

	punch_peer_init(&p, peer_key, "branch");
	CHECK(punch_timestamp_accept(&p, 100), "first timestamp accepted");
	CHECK(!punch_timestamp_accept(&p, 100), "same timestamp is a replay");
	CHECK(!punch_timestamp_accept(&p, 99), "older timestamp is a replay");
	CHECK(punch_timestamp_accept(&p, 101), "newer timestamp accepted");
}

static void test_registry_check(void)
{
	const uint64_t s = 1000000000u, now = 1700000000 * s;
	union endpoint reg = ep("203.0.113.28:9350");
	union endpoint other_port = ep("203.0.113.28:9351");
	struct avpn_error e;

	CHECK(punch_registry_check(&reg, &reg, now - 120 * s, now, &e) == 0,
	      "registry message 120 s old accepted");
	CHECK(punch_registry_check(&reg, &reg, now + 30 * s, now, &e) == 0,
	      "registry clock ahead accepted");
	CHECK(punch_registry_check(&reg, &reg, now - 121 * s, now, &e) == -1,
	      "registry message 121 s old rejected");
	CHECK_STR(e.text, "timestamp 121 s old, more than 120 s (replayed, "
		  "or the clocks of this host and the registry differ)",
		  "age named");
	CHECK(punch_registry_check(&reg, &other_port, now, now, &e) == -1,
	      "registry message from another port rejected");
	CHECK_STR(e.text, "sent from 203.0.113.28:9351, not from the "
		  "registry's endpoint 203.0.113.28:9350", "source named");
}

static void test_probe_received(void)
{
	struct punch_config cfg = test_config();
	union endpoint from = ep("192.0.2.73:1025");
	union endpoint me = ep("198.51.100.1:40000");
	struct proto_msg probe, reply;
	struct punch_peer p;

	punch_peer_init(&p, peer_key, "branch");
	memset(&probe, 0, sizeof(probe));
	probe.type = MSG_PROBE;
	probe.timestamp = 5000;
	probe.u.probe.probe_id = 77;
	probe.u.probe.dest = me;
	punch_probe_received(&p, &probe, &from, &cfg, false, 42, &reply);
	CHECK(reply.type == MSG_PROBE_REPLY, "reply has reply type");
	CHECK(reply.echo == 5000, "reply echoes the probe timestamp");
	CHECK(reply.u.probe.probe_id == 77, "reply echoes the probe id");
	CHECK(endpoint_equal(&reply.u.probe.observed, &from),
	      "reply carries the observed endpoint");
	CHECK(endpoint_equal(&reply.u.probe.dest, &me),
	      "reply carries the probe destination");
	CHECK(p.candidate_count == 1 &&
	      p.candidates[0].via == PUNCH_VIA_REFLEXIVE,
	      "probe source adopted as reflexive");
	CHECK(p.state == PUNCH_TRYING, "idle peer starts probing back");
	CHECK(punch_next_us(&p) == 42, "probing back starts at once");
	CHECK(p.last_probe_us == 42, "probe arrival time recorded");
	CHECK(p.probes_received == 1, "probe arrival counted");
}

/* Sends the first round to p and returns the probe sent to index i. */
static struct proto_msg first_probe(struct punch_peer *p, size_t i)
{
	struct punch_config cfg = test_config();
	struct punch_send out[PUNCH_MAX_CANDIDATES];

	punch_start(p, &cfg, false, 1000);
	punch_due(p, &cfg, 1000, out, PUNCH_MAX_CANDIDATES);
	return out[i].msg;
}

static struct proto_msg reply_to(const struct proto_msg *probe)
{
	struct proto_msg reply;

	memset(&reply, 0, sizeof(reply));
	reply.type = MSG_PROBE_REPLY;
	reply.echo = probe->timestamp;
	reply.u.probe.probe_id = probe->u.probe.probe_id;
	reply.u.probe.observed = ep("192.0.2.74:40000");
	return reply;
}

static void test_reply_received(void)
{
	union endpoint pub = ep("192.0.2.73:40000");
	union endpoint moved = ep("192.0.2.73:1025");
	union endpoint priv = ep("192.168.0.1:40000");
	struct proto_msg probe, reply;
	struct punch_peer p;

	punch_peer_init(&p, peer_key, "branch");
	punch_candidate_add(&p, &pub, PUNCH_VIA_PUBLIC);
	punch_candidate_add(&p, &priv, PUNCH_VIA_PRIVATE);
	probe = first_probe(&p, 0);
	reply = reply_to(&probe);
	reply.echo++;
	CHECK(!punch_reply_received(&p, &reply, &pub, 2000),
	      "reply with wrong echo unmatched");
	reply = reply_to(&probe);
	reply.u.probe.probe_id++;
	CHECK(!punch_reply_received(&p, &reply, &pub, 2000),
	      "reply with wrong id unmatched");
	CHECK(p.state == PUNCH_TRYING, "unmatched reply changes nothing");
	reply = reply_to(&probe);
	CHECK(punch_reply_received(&p, &reply, &moved, 3500),
	      "matching reply accepted");
	CHECK(p.state == PUNCH_REACHED, "matching reply reaches the peer");
	CHECK(endpoint_equal(&p.working, &moved),
	      "working endpoint is the reply source");
	CHECK(p.found == PUNCH_VIA_REFLEXIVE, "moved source is reflexive");
	CHECK(p.rtt_us == 2500, "round trip from the probe send time");
	CHECK(endpoint_equal(&p.seen_as, &reply.u.probe.observed),
	      "observed endpoint recorded");
	CHECK(punch_next_us(&p) == UINT64_MAX, "reached peer stops probing");
	/* The first round also probed the private candidate. */
	probe.timestamp = p.pending[1].timestamp;
	probe.u.probe.probe_id = p.pending[1].probe_id;
	reply = reply_to(&probe);
	CHECK(punch_reply_received(&p, &reply, &priv, 5000),
	      "later private reply accepted");
	CHECK(p.found == PUNCH_VIA_PRIVATE, "private kind replaces reflexive");
	CHECK(endpoint_equal(&p.working, &priv),
	      "private endpoint replaces the public one");
}

static void test_path_line(void)
{
	struct punch_path path, back;
	struct avpn_error e = { "" };
	char line[512];
	int n;

	memset(&path, 0, sizeof(path));
	memcpy(path.public_key, peer_key, AVPN_KEY_LEN);
	strlcpy(path.name, "branch", sizeof(path.name));
	path.endpoint = ep("192.0.2.73:40000");
	path.local_port = 41000;
	path.rtt_us = 12345;
	path.via = PUNCH_VIA_REFLEXIVE;
	subnet_list_parse(&path.subnets, "10.2.0.0/24,10.3.0.0/16", NULL);
	n = punch_path_format(line, sizeof(line), &path);
	CHECK(n > 0, "path line formats");
	CHECK(line[n - 1] == '\n', "path line ends in newline");
	CHECK(strstr(line, "\tbranch\t192.0.2.73:40000\t41000\t12.345\t"
		      "reflexive\t10.2.0.0/24,10.3.0.0/16\n") != NULL,
	      "path line fields in order");
	line[n - 1] = '\0';
	CHECK(punch_path_parse(&back, line, &e) == 0, "path line parses");
	CHECK(memcmp(back.public_key, peer_key, AVPN_KEY_LEN) == 0 &&
	      strcmp(back.name, "branch") == 0 &&
	      endpoint_equal(&back.endpoint, &path.endpoint) &&
	      back.local_port == 41000 && back.rtt_us == 12345 &&
	      back.via == PUNCH_VIA_REFLEXIVE && back.subnets.count == 2,
	      "path line round trip");
}

static void check_bad_path(const char *line, const char *why)
{
	struct avpn_error e = { "" };
	struct punch_path path;
	char name[160];

	snprintf(name, sizeof(name), "path rejected: %s", why);
	CHECK(punch_path_parse(&path, line, &e) == -1, name);
	snprintf(name, sizeof(name), "path error mentions \"%s\"", why);
	CHECK(strstr(e.text, why) != NULL, name);
	if (strstr(e.text, why) == NULL)
		printf("#   error was \"%s\"\n", e.text);
}

static void test_path_errors(void)
{
	char key[AVPN_KEY_BASE64_LEN + 1], line[512];

	key_to_base64(key, peer_key);
	snprintf(line, sizeof(line), "%s\tb\t192.0.2.1:1\t2\t1.5\tpublic\t-",
		 key);
	check_bad_path(line, "round-trip time");
	snprintf(line, sizeof(line), "%s\tb\t192.0.2.1:1\t2\t1.500\tstun\t-",
		 key);
	check_bad_path(line, "path kind");
	snprintf(line, sizeof(line), "%s\tb\t192.0.2.1:1\t2\t1.500", key);
	check_bad_path(line, "too few");
	snprintf(line, sizeof(line), "%s\tb\t192.0.2.1:1\t0\t1.500\tpublic\t-",
		 key);
	check_bad_path(line, "local port");
	snprintf(line, sizeof(line), "%s\tb\t192.0.2.1\t2\t1.500\tpublic\t-",
		 key);
	check_bad_path(line, "endpoint");
	check_bad_path("short\tb\t192.0.2.1:1\t2\t1.500\tpublic\t-",
		       "public key");
}

int main(void)
{
	if (sodium_init() == -1)
		return 1;
	test_via_names();
	test_candidates();
	test_candidates_from_peer();
	test_schedule_low_ttl();
	test_schedule_no_low_ttl();
	test_hold();
	test_timestamps();
	test_registry_check();
	test_probe_received();
	test_reply_received();
	test_path_line();
	test_path_errors();
	return unit_done();
}
