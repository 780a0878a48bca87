/* The peer table and the main loop of avpn-punch. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "run.h"

/* The loop wakes at least this often to check the linger time. */
#define POLL_MAX_MS 100

struct peer_entry *run_find_peer(struct run *r, const uint8_t *key)
{
	size_t i;

	for (i = 0; i < r->peer_count; i++)
		if (memcmp(r->peers[i].punch.public_key, key,
			   AVPN_KEY_LEN) == 0)
			return &r->peers[i];
	return NULL;
}

/* Doubles the table.  The old copy contains shared keys, so it is wiped. */
static int run_grow(struct run *r)
{
	size_t size = r->peer_size ? r->peer_size * 2 : 16;
	struct peer_entry *peers;

	if (size > MAX_PEERS)
		size = MAX_PEERS;
	if (size <= r->peer_count)
		return -1;
	peers = calloc(size, sizeof(*peers));
	if (peers == NULL)
		return -1;
	if (r->peers != NULL) {
		memcpy(peers, r->peers, r->peer_count * sizeof(*peers));
		sodium_memzero(r->peers, r->peer_count * sizeof(*peers));
		free(r->peers);
	}
	r->peers = peers;
	r->peer_size = size;
	return 0;
}

/* Adds a peer and derives its shared key; NULL for a weak key or a full
 * table.  Pointers to other entries are invalid afterwards. */
struct peer_entry *run_add_peer(struct run *r, const uint8_t *key,
				const char *name)
{
	struct peer_entry *pe;

	if (r->peer_count == r->peer_size && run_grow(r) == -1)
		return NULL;
	pe = &r->peers[r->peer_count];
	memset(pe, 0, sizeof(*pe));
	punch_peer_init(&pe->punch, key, name);
	if (proto_shared_key(pe->punch.shared, r->my_private, key) == -1)
		return NULL;
	r->peer_count++;
	return pe;
}

/* Starts probing pe with a budget that ends at the deadline, or sooner
 * when the NAT types leave no direct path. */
void run_start_peer(struct run *r, struct peer_entry *pe, uint64_t now)
{
	struct punch_config cfg = r->config;
	uint64_t left_ms = now < r->deadline_us ?
		(r->deadline_us - now) / 1000 : 0;

	if (report_impossible(r, pe) && left_ms > IMPOSSIBLE_BUDGET_MS)
		left_ms = IMPOSSIBLE_BUDGET_MS;
	cfg.budget_ms = (uint32_t)left_ms;
	punch_start(&pe->punch, &cfg, r->low_ttl, now);
}

/* True when pe needs no more time: reached and quiet for LINGER_MS, or
 * given up (in -w mode a listed peer must be reached). */
static bool run_peer_done(const struct run *r, const struct peer_entry *pe,
			  uint64_t now)
{
	uint64_t last;

	switch (pe->punch.state) {
	case PUNCH_REACHED:
		last = pe->reached_us > pe->punch.last_probe_us ?
			pe->reached_us : pe->punch.last_probe_us;
		return now - last >= (uint64_t)LINGER_MS * 1000;
	case PUNCH_TRYING:
		return false;
	default:
		return !r->wait || !pe->listed;
	}
}

static bool run_finished(const struct run *r, uint64_t now)
{
	size_t i, listed = 0;

	for (i = 0; i < r->peer_count; i++) {
		if (!run_peer_done(r, &r->peers[i], now))
			return false;
		if (r->peers[i].listed)
			listed++;
	}
	/* With no peers given, -w replies to every peer that punches, until
	 * -t. */
	return !(r->wait && listed == 0);
}

static int run_poll_timeout(const struct run *r, uint64_t now)
{
	uint64_t next = r->deadline_us, t;
	size_t i;

	for (i = 0; i < r->peer_count; i++) {
		t = punch_next_us(&r->peers[i].punch);
		if (t < next)
			next = t;
	}
	t = registry_next_us(r);
	if (t < next)
		next = t;
	if (next <= now)
		return 0;
	t = (next - now + 999) / 1000;
	return t < POLL_MAX_MS ? (int)t : POLL_MAX_MS;
}

static void run_begin(struct run *r, uint64_t now)
{
	size_t i;

	if (r->wait)
		return;
	r->request_tokens = REQUEST_RATE;
	r->request_refill_us = now;
	for (i = 0; i < r->peer_count; i++) {
		run_start_peer(r, &r->peers[i], now);
		if (!r->have_registry)
			continue;
		r->peers[i].request = REQUEST_SENT;
		r->peers[i].request_next_us = now;
		/* Sending the request shortens the hold to HOLD_NO_ACK_MS. */
		punch_hold(&r->peers[i].punch, r->deadline_us);
	}
}

void run_loop(struct run *r)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	uint64_t now = now_us();

	if (r->peer_count == 0 && !r->wait)
		log_msg(LOG_LEVEL_WARN, "no peers to punch");
	run_begin(r, now);
	for (;;) {
		now = now_us();
		if (now >= r->deadline_us)
			break;
		/* Our first low-TTL probes leave before the punch request,
		 * so our NAT's mapping is open before the registry can
		 * make the peer probe us. */
		net_send_probes(r, now);
		registry_send_requests(r, now);
		if (run_finished(r, now))
			break;
		if (poll(&pfd, 1, run_poll_timeout(r, now)) == -1 &&
		    errno != EINTR) {
			log_msg(LOG_LEVEL_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd.revents & POLLIN)
			net_receive(r);
	}
}
