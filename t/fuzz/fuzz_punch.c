/*
 * libFuzzer target for common/punch.c.  The first input byte picks the
 * mode:
 *   even: the rest is a path line for punch_path_parse; a line that
 *         parses must format to a line that parses to the same text;
 *   odd:  the rest is a script of events for one punch_peer (probes and
 *         replies from fuzzed endpoints, clock steps, holds), checked
 *         against the invariants of the candidate list and the schedule.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "punch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_path(const uint8_t *data, size_t size)
{
	char line[1024], out[1024], again[1024];
	struct punch_path path, back;
	int n;

	if (size >= sizeof(line))
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if (punch_path_parse(&path, line, NULL) == -1)
		return;
	n = punch_path_format(out, sizeof(out), &path);
	if (n <= 0 || (size_t)n >= sizeof(out))
		abort();
	out[n - 1] = '\0';
	if (punch_path_parse(&back, out, NULL) == -1)
		abort();
	punch_path_format(again, sizeof(again), &back);
	again[n - 1] = '\0';
	if (strcmp(out, again) != 0)
		abort();
}

/* An IPv4 endpoint in 192.0.2.0/24 from two script bytes. */
static union endpoint fuzz_endpoint(uint8_t host, uint8_t port)
{
	union endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.in.sin_family = AF_INET;
	ep.in.sin_addr.s_addr = htonl(0xc0000200u | host);
	ep.in.sin_port = htons((uint16_t)(1000 + port));
	return ep;
}

static void check_invariants(const struct punch_peer *p)
{
	if (p->candidate_count > PUNCH_MAX_CANDIDATES)
		abort();
	if (p->pending_next >= PUNCH_MAX_PENDING)
		abort();
	if (p->state == PUNCH_REACHED && !endpoint_is_set(&p->working))
		abort();
	if (p->state == PUNCH_TRYING && punch_next_us(p) == UINT64_MAX)
		abort();
}

/* Replies to the pending probe picked by pick, from ep. */
static void fuzz_reply(struct punch_peer *p, uint8_t pick,
		       const union endpoint *ep, uint64_t now)
{
	const struct punch_pending *pending =
		&p->pending[pick % PUNCH_MAX_PENDING];
	struct proto_msg reply;

	memset(&reply, 0, sizeof(reply));
	reply.type = MSG_PROBE_REPLY;
	reply.echo = pending->timestamp ^ (pick & 0x80);
	reply.u.probe.probe_id = pending->probe_id;
	reply.u.probe.observed = *ep;
	punch_reply_received(p, &reply, ep, now);
}

static void fuzz_events(const uint8_t *data, size_t size)
{
	struct punch_config cfg = PUNCH_CONFIG_DEFAULT;
	struct punch_send out[PUNCH_MAX_CANDIDATES];
	static const uint8_t key[AVPN_KEY_LEN] = { 7 };
	struct proto_msg probe, reply;
	struct punch_peer p;
	union endpoint ep;
	uint64_t now = 0;
	size_t i;

	punch_peer_init(&p, key, "fuzz");
	memset(&probe, 0, sizeof(probe));
	probe.type = MSG_PROBE;
	for (i = 0; i + 2 < size; i += 3) {
		ep = fuzz_endpoint(data[i + 1], data[i + 2]);
		switch (data[i] % 6) {
		case 0:
			punch_candidate_add(&p, &ep, data[i] / 6 % 5);
			break;
		case 1:
			punch_start(&p, &cfg, data[i] & 0x40, now);
			break;
		case 2:
			now += (uint64_t)data[i + 1] * 1000 * data[i + 2];
			punch_due(&p, &cfg, now, out, PUNCH_MAX_CANDIDATES);
			break;
		case 3:
			probe.timestamp++;
			punch_probe_received(&p, &probe, &ep, &cfg,
					     data[i] & 0x40, now, &reply);
			break;
		case 4:
			fuzz_reply(&p, data[i + 1], &ep, now);
			break;
		default:
			punch_hold(&p, now + (uint64_t)data[i + 1] * 10000);
		}
		check_invariants(&p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		if (sodium_init() == -1)
			abort();
		ready = true;
	}
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_path(data + 1, size - 1);
	else
		fuzz_events(data + 1, size - 1);
	return 0;
}
