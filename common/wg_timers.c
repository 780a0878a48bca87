/*
 * WireGuard's timers as deadlines over the caller's clock.  The handshake
 * and transport code report events such as a packet sent or received or a
 * session derived.  wg_peer_timers() fires the deadlines that have passed
 * and returns what the daemon must send.  The rules are those of the WireGuard
 * paper (Donenfeld, NDSS 2017):
 *
 * - an initiation is retried every WG_REKEY_TIMEOUT_MS plus jitter until a
 *   response arrives, for at most WG_REKEY_ATTEMPT_TIME_MS;
 * - at most one initiation goes out per WG_REKEY_TIMEOUT_MS;
 * - data received and not answered for WG_KEEPALIVE_TIMEOUT_MS gets an
 *   empty keepalive, so the sender knows the session works;
 * - data sent and not answered for WG_KEEPALIVE_TIMEOUT_MS plus
 *   WG_REKEY_TIMEOUT_MS starts a new handshake;
 * - sessions die after WG_REJECT_AFTER_TIME_MS, and all key material is
 *   wiped 3 * WG_REJECT_AFTER_TIME_MS after the last session was derived.
 */
#include <sodium.h>

#include "wg_internal.h"

static uint64_t wg_age(uint64_t now_ms, uint64_t then_ms)
{
	return now_ms >= then_ms ? now_ms - then_ms : 0;
}

/* Returns 0 to WG_REKEY_TIMEOUT_JITTER_MS at random, so that peers which
 * lost packets at the same moment do not retry in lockstep. */
uint64_t wg_timers_jitter(void)
{
	return randombytes_uniform(WG_REKEY_TIMEOUT_JITTER_MS + 1);
}

void wg_timers_authenticated_sent(struct wg_peer *peer, uint64_t now_ms)
{
	peer->keepalive_at = WG_TIMER_OFF;
	if (peer->persistent_keepalive != 0)
		peer->persistent_keepalive_at =
			now_ms + (uint64_t)peer->persistent_keepalive * 1000;
}

void wg_timers_authenticated_received(struct wg_peer *peer, uint64_t now_ms)
{
	peer->new_handshake_at = WG_TIMER_OFF;
	if (peer->persistent_keepalive != 0)
		peer->persistent_keepalive_at =
			now_ms + (uint64_t)peer->persistent_keepalive * 1000;
}

void wg_timers_handshake_sent(struct wg_peer *peer, uint64_t now_ms,
			      bool initiation)
{
	peer->last_handshake_sent_ms = now_ms;
	peer->has_sent_handshake = true;
	wg_timers_authenticated_sent(peer, now_ms);
	if (!initiation)
		return;
	peer->retransmit_at =
		now_ms + WG_REKEY_TIMEOUT_MS + wg_timers_jitter();
	if (!peer->initiation_is_retry)
		peer->handshake_started_ms = now_ms;
	peer->initiation_is_retry = false;
}

void wg_timers_data_sent(struct wg_peer *peer, uint64_t now_ms)
{
	if (peer->new_handshake_at == WG_TIMER_OFF)
		peer->new_handshake_at = now_ms + WG_KEEPALIVE_TIMEOUT_MS +
					 WG_REKEY_TIMEOUT_MS +
					 wg_timers_jitter();
}

void wg_timers_data_received(struct wg_peer *peer, uint64_t now_ms)
{
	if (peer->keepalive_at == WG_TIMER_OFF)
		peer->keepalive_at = now_ms + WG_KEEPALIVE_TIMEOUT_MS;
}

void wg_timers_session_derived(struct wg_peer *peer, uint64_t now_ms)
{
	peer->wipe_at = now_ms + WG_WIPE_AFTER_MS;
}

void wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now_ms)
{
	peer->retransmit_at = WG_TIMER_OFF;
	peer->handshake_wanted = false;
	peer->sent_lastminute_handshake = false;
	peer->last_handshake_ms = now_ms;
}

/* Frees the sessions older than WG_REJECT_AFTER_TIME_MS. */
static void wg_timers_expire_keypairs(struct wg_peer *peer, uint64_t now_ms)
{
	struct wg_keypair **slots[3] = { &peer->previous, &peer->current,
					 &peer->next };
	size_t i;

	for (i = 0; i < 3; i++) {
		struct wg_keypair *kp = *slots[i];

		if (kp != NULL && wg_age(now_ms, kp->created_ms) >=
					  WG_REJECT_AFTER_TIME_MS) {
			wg_keypair_free(peer->dev, kp);
			*slots[i] = NULL;
		}
	}
}

/* Retries the initiation whose retransmit deadline passed, or gives up
 * after WG_REKEY_ATTEMPT_TIME_MS. */
static unsigned wg_timers_retransmit(struct wg_peer *peer, uint64_t now_ms)
{
	peer->retransmit_at = WG_TIMER_OFF;
	if (wg_age(now_ms, peer->handshake_started_ms) >=
	    WG_REKEY_ATTEMPT_TIME_MS) {
		wg_handshake_clear(peer->dev, &peer->handshake);
		peer->handshake_wanted = false;
		if (peer->wipe_at == WG_TIMER_OFF)
			peer->wipe_at = now_ms + WG_WIPE_AFTER_MS;
		return WG_TIMER_HANDSHAKE_FAILED;
	}
	peer->initiation_is_retry = true;
	return WG_TIMER_SEND_INITIATION;
}

/* Starts the requested handshake, unless one is running or the last
 * went out less than WG_REKEY_TIMEOUT_MS ago. */
static unsigned wg_timers_want_handshake(struct wg_peer *peer,
					 uint64_t now_ms)
{
	if (peer->retransmit_at != WG_TIMER_OFF) {
		/* Retrying already: new demand restarts the attempt time, so
		 * a peer with traffic to send never gives up. */
		peer->handshake_started_ms = now_ms;
		peer->handshake_wanted = false;
		return 0;
	}
	if (peer->has_sent_handshake &&
	    wg_age(now_ms, peer->last_handshake_sent_ms) < WG_REKEY_TIMEOUT_MS)
		return 0;
	peer->handshake_wanted = false;
	peer->initiation_is_retry = false;
	return WG_TIMER_SEND_INITIATION;
}

/*
 * Arms the deadlines that the requested actions will arm once taken, so
 * that *next_ms already covers them.  A daemon that keeps only that value
 * then still retries an initiation that it could not send (no endpoint
 * yet), and gives up after WG_REKEY_ATTEMPT_TIME_MS.  Taking the action
 * sets the same deadlines again.
 */
static void wg_timers_prearm(struct wg_peer *peer, uint64_t now_ms,
			     unsigned actions)
{
	if (actions & WG_TIMER_SEND_INITIATION) {
		if (!peer->initiation_is_retry)
			peer->handshake_started_ms = now_ms;
		peer->retransmit_at =
			now_ms + WG_REKEY_TIMEOUT_MS + wg_timers_jitter();
	}
	if ((actions & WG_TIMER_SEND_KEEPALIVE) &&
	    peer->persistent_keepalive != 0)
		peer->persistent_keepalive_at =
			now_ms + (uint64_t)peer->persistent_keepalive * 1000;
}

static uint64_t wg_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The earliest armed deadline, or WG_TIMER_OFF. */
static uint64_t wg_timers_deadline(const struct wg_peer *peer)
{
	const struct wg_keypair *kps[3] = { peer->previous, peer->current,
					    peer->next };
	uint64_t next = WG_TIMER_OFF;
	size_t i;

	next = wg_min(next, peer->retransmit_at);
	next = wg_min(next, peer->new_handshake_at);
	next = wg_min(next, peer->keepalive_at);
	next = wg_min(next, peer->persistent_keepalive_at);
	next = wg_min(next, peer->wipe_at);
	for (i = 0; i < 3; i++)
		if (kps[i] != NULL)
			next = wg_min(next, kps[i]->created_ms +
						    WG_REJECT_AFTER_TIME_MS);
	if (peer->handshake_wanted)
		next = wg_min(next, peer->last_handshake_sent_ms +
					    WG_REKEY_TIMEOUT_MS);
	return next;
}

unsigned wg_peer_timers(struct wg_peer *peer, uint64_t now_ms,
			uint64_t *next_ms)
{
	unsigned actions = 0;

	wg_timers_expire_keypairs(peer, now_ms);
	if (peer->wipe_at <= now_ms) {
		peer->wipe_at = WG_TIMER_OFF;
		wg_peer_clear_keys(peer);
		actions |= WG_TIMER_KEYS_WIPED;
	}
	if (peer->retransmit_at <= now_ms)
		actions |= wg_timers_retransmit(peer, now_ms);
	if (peer->new_handshake_at <= now_ms) {
		peer->new_handshake_at = WG_TIMER_OFF;
		peer->handshake_wanted = true;
	}
	if (peer->keepalive_at <= now_ms) {
		peer->keepalive_at = WG_TIMER_OFF;
		actions |= WG_TIMER_SEND_KEEPALIVE;
	}
	if (peer->persistent_keepalive_at <= now_ms) {
		peer->persistent_keepalive_at = WG_TIMER_OFF;
		if (peer->persistent_keepalive != 0)
			actions |= WG_TIMER_SEND_KEEPALIVE;
	}
	if (actions & WG_TIMER_SEND_INITIATION)
		peer->handshake_wanted = false; /* a retry serves the demand */
	else if (peer->handshake_wanted)
		actions |= wg_timers_want_handshake(peer, now_ms);
	wg_timers_prearm(peer, now_ms, actions);
	*next_ms = wg_timers_deadline(peer);
	return actions;
}
