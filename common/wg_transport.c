/*
 * Transport messages: encryption under the current session, decryption
 * with the replay window, and the rotation of a peer's three sessions
 * (previous, current and the responder's unconfirmed next).
 */
#include <string.h>

#include <sodium.h>

#include "wg_internal.h"

/* Milliseconds from then to now; 0 if the caller's clock went back. */
static uint64_t wg_age(uint64_t now_ms, uint64_t then_ms)
{
	return now_ms >= then_ms ? now_ms - then_ms : 0;
}

/* True when counter is new and inside the window; changes nothing. */
bool wg_replay_check(const struct wg_replay *r, uint64_t counter)
{
	uint64_t word;

	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	if (counter > r->greatest)
		return true;
	if (r->greatest - counter >= WG_REPLAY_WINDOW)
		return false;
	word = r->bitmap[(counter / 64) % WG_REPLAY_WORDS];
	return (word & (UINT64_C(1) << (counter % 64))) == 0;
}

/*
 * Marks counter as received.  A counter past the greatest one moves the
 * window: the words it skips are cleared, as in RFC 6479, so the cost does
 * not depend on how far it jumps.  Returns false for a replayed counter
 * or one behind the window.
 */
bool wg_replay_update(struct wg_replay *r, uint64_t counter)
{
	uint64_t top, skipped, i;

	if (!wg_replay_check(r, counter))
		return false;
	if (counter > r->greatest) {
		top = r->greatest / 64;
		skipped = counter / 64 - top;
		if (skipped > WG_REPLAY_WORDS)
			skipped = WG_REPLAY_WORDS;
		for (i = 1; i <= skipped; i++)
			r->bitmap[(top + i) % WG_REPLAY_WORDS] = 0;
		r->greatest = counter;
	}
	r->bitmap[(counter / 64) % WG_REPLAY_WORDS] |=
		UINT64_C(1) << (counter % 64);
	return true;
}

/*
 * Adds a new session.  An initiator's session becomes current at once, the
 * old current stays as previous for packets still in flight, and a
 * pending next one (from a handshake we responded to) takes the previous slot
 * instead.  A responder's session waits in next until the initiator's
 * first transport message shows that the initiator has it too.
 */
void wg_keypair_install(struct wg_peer *peer, struct wg_keypair *kp)
{
	struct wg_device *dev = peer->dev;

	if (kp->initiator) {
		if (peer->next != NULL) {
			wg_keypair_free(dev, peer->previous);
			wg_keypair_free(dev, peer->current);
			peer->previous = peer->next;
			peer->next = NULL;
		} else {
			wg_keypair_free(dev, peer->previous);
			peer->previous = peer->current;
		}
		peer->current = kp;
		return;
	}
	wg_keypair_free(dev, peer->next);
	wg_keypair_free(dev, peer->previous);
	peer->previous = NULL;
	peer->next = kp;
}

/* Makes the responder's next session current once data arrived on it. */
static void wg_keypair_confirm(struct wg_peer *peer, uint64_t now_ms)
{
	wg_keypair_free(peer->dev, peer->previous);
	peer->previous = peer->current;
	peer->current = peer->next;
	peer->next = NULL;
	wg_timers_handshake_complete(peer, now_ms);
}

static bool wg_keypair_can_send(const struct wg_keypair *kp, uint64_t now_ms)
{
	return kp != NULL &&
	       wg_age(now_ms, kp->created_ms) < WG_REJECT_AFTER_TIME_MS &&
	       kp->send_counter < WG_REJECT_AFTER_MESSAGES;
}

bool wg_peer_can_send(const struct wg_peer *peer, uint64_t now_ms)
{
	return wg_keypair_can_send(peer->current, now_ms);
}

/*
 * Asks for a new handshake before the session runs out: after
 * WG_REKEY_AFTER_MESSAGES messages, or after WG_REKEY_AFTER_TIME_MS when
 * we were the initiator (only the initiator renews on age, so the two
 * sides do not both start a handshake at once).
 */
static void wg_keep_fresh_on_send(struct wg_peer *peer,
				  const struct wg_keypair *kp,
				  uint64_t now_ms)
{
	if (kp->send_counter >= WG_REKEY_AFTER_MESSAGES ||
	    (kp->initiator &&
	     wg_age(now_ms, kp->created_ms) >= WG_REKEY_AFTER_TIME_MS))
		peer->handshake_wanted = true;
}

ssize_t wg_encrypt(struct wg_peer *peer, uint64_t now_ms, uint8_t *out,
		   size_t out_size, const uint8_t *packet, size_t len)
{
	struct wg_keypair *kp = peer->current;
	uint8_t *body = out + WG_TRANSPORT_HEADER_LEN;
	size_t padded, total;
	uint64_t counter;

	if (!wg_keypair_can_send(kp, now_ms)) {
		peer->handshake_wanted = true;
		return WG_ERR_NO_KEYPAIR;
	}
	if (len > out_size || out_size < WG_TRANSPORT_LEN(len))
		return WG_ERR_BUFFER;
	padded = WG_PADDED_LEN(len);
	total = WG_TRANSPORT_LEN(len);

	if (len > 0)
		memmove(body, packet, len);
	memset(body + len, 0, padded - len);
	counter = kp->send_counter++;
	memset(out, 0, WG_TRANSPORT_HEADER_LEN);
	out[0] = WG_MSG_TRANSPORT;
	wg_put_le32(out + WG_DATA_RECEIVER, kp->remote_index);
	wg_put_le64(out + WG_DATA_COUNTER, counter);
	wg_aead_encrypt(body, kp->send_key, counter, body, padded, NULL, 0);

	peer->tx_bytes += total;
	wg_timers_authenticated_sent(peer, now_ms);
	if (len > 0)
		wg_timers_data_sent(peer, now_ms);
	wg_keep_fresh_on_send(peer, kp, now_ms);
	return (ssize_t)total;
}

/*
 * Asks for a new handshake once, when an initiator's session nears
 * WG_REJECT_AFTER_TIME_MS while packets still arrive on it: without it a
 * peer that only receives would see the session die under it.
 */
static void wg_keep_fresh_on_receive(struct wg_peer *peer, uint64_t now_ms)
{
	const struct wg_keypair *kp = peer->current;

	if (kp != NULL && kp->initiator && !peer->sent_lastminute_handshake &&
	    wg_age(now_ms, kp->created_ms) >= WG_REKEY_ON_RECEIVE_MS) {
		peer->sent_lastminute_handshake = true;
		peer->handshake_wanted = true;
	}
}

ssize_t wg_decrypt(struct wg_device *dev, const uint8_t *msg, size_t len,
		   uint64_t now_ms, uint8_t *out, struct wg_peer **peer_out)
{
	struct wg_index *entry;
	struct wg_keypair *kp;
	struct wg_peer *peer;
	uint64_t counter;
	size_t plain_len;

	if (wg_message_type(msg, len) != WG_MSG_TRANSPORT)
		return WG_ERR_MALFORMED;
	entry = wg_index_lookup(dev, wg_get_le32(msg + WG_DATA_RECEIVER));
	if (entry == NULL || entry->kind != WG_INDEX_KEYPAIR)
		return WG_ERR_UNKNOWN_INDEX;
	kp = entry->keypair;
	peer = entry->peer;
	counter = wg_get_le64(msg + WG_DATA_COUNTER);
	if (wg_age(now_ms, kp->created_ms) >= WG_REJECT_AFTER_TIME_MS ||
	    counter >= WG_REJECT_AFTER_MESSAGES)
		return WG_ERR_EXPIRED;
	/* Check before decrypting to spare the work on a replay, and update
	 * only after the tag verified, so forgeries cannot move the window. */
	if (!wg_replay_check(&kp->replay, counter))
		return WG_ERR_REPLAY;
	if (wg_aead_decrypt(out, kp->receive_key, counter,
			    msg + WG_TRANSPORT_HEADER_LEN,
			    len - WG_TRANSPORT_HEADER_LEN, NULL, 0) != 0)
		return WG_ERR_DECRYPT;
	if (!wg_replay_update(&kp->replay, counter))
		return WG_ERR_REPLAY;

	if (kp == peer->next)
		wg_keypair_confirm(peer, now_ms);
	plain_len = len - WG_TRANSPORT_MIN_LEN;
	peer->rx_bytes += len;
	wg_timers_authenticated_received(peer, now_ms);
	if (plain_len > 0)
		wg_timers_data_received(peer, now_ms);
	wg_keep_fresh_on_receive(peer, now_ms);
	*peer_out = peer;
	return (ssize_t)plain_len;
}
