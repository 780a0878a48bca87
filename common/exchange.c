#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "avpn.h"
#include "exchange.h"
#include "sock.h"

/* Larger than any control datagram, so a truncated read shows as oversized. */
#define EXCHANGE_RECV_MAX 2048

static void trace(const struct exchange *ex, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void trace(const struct exchange *ex, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	if (ex->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ex->trace(ex->trace_arg, text);
}

static bool answers_our_request(const struct exchange *ex, uint64_t echo)
{
	unsigned int i, kept;

	kept = ex->sends < EXCHANGE_MAX_SENDS ? ex->sends : EXCHANGE_MAX_SENDS;
	for (i = 0; i < kept; i++)
		if (ex->sent[i] == echo && echo != 0)
			return true;
	return false;
}

bool exchange_is_latest(const struct exchange *ex, uint64_t ts)
{
	if (ex->sends == 0)
		return false;
	return ex->sent[(ex->sends - 1) % EXCHANGE_MAX_SENDS] == ts;
}

/* Seals the request with a new timestamp and sends it. */
static enum exchange_status send_request(struct exchange *ex,
					 struct proto_msg *request,
					 struct avpn_error *err)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	ssize_t len;

	request->timestamp = proto_timestamp();
	request->echo = 0;
	len = proto_seal(buf, sizeof(buf), request, ex->my_public,
			 ex->their_public, ex->shared);
	if (len < 0) {
		error_set(err, "%s request does not fit in %d bytes",
			  proto_type_name(request->type), AVPN_DATAGRAM_MAX);
		return EXCHANGE_FAILED;
	}
	ex->sent[ex->sends % EXCHANGE_MAX_SENDS] = request->timestamp;
	ex->sends++;
	if (send(ex->fd, buf, (size_t)len, 0) == len)
		return EXCHANGE_DONE;
	if (errno == ECONNREFUSED)
		return EXCHANGE_REFUSED;
	/* A full send buffer or a transient route error: the retry covers it. */
	if (errno == EAGAIN || errno == ENOBUFS || errno == EHOSTUNREACH ||
	    errno == ENETUNREACH) {
		trace(ex, "send failed: %s; will retry", strerror(errno));
		return EXCHANGE_DONE;
	}
	error_set(err, "send: %s", strerror(errno));
	return EXCHANGE_FAILED;
}

/*
 * Checks a MSG_KEY_MISMATCH datagram.  It is unauthenticated, so it only
 * counts when the key it carries differs from the pinned one; the socket is
 * connected, so it can only come from the registry's address.
 */
static bool is_key_mismatch(struct exchange *ex, const uint8_t *buf,
			    size_t len)
{
	if (proto_key_mismatch_parse(buf, len, ex->mismatch_key) < 0) {
		trace(ex, "dropped a malformed key-mismatch datagram");
		return false;
	}
	if (memcmp(ex->mismatch_key, ex->their_public, AVPN_KEY_LEN) == 0) {
		trace(ex, "dropped a key-mismatch datagram that names the "
			  "pinned key");
		return false;
	}
	return true;
}

/* Authenticates a datagram; returns false (and traces why) to drop it. */
static bool open_reply(struct exchange *ex, struct proto_msg *reply,
		       const uint8_t *buf, size_t len)
{
	uint8_t type, sender[AVPN_KEY_LEN];
	struct avpn_error why;
	bool for_me;

	if (proto_peek(buf, len, &type, sender, ex->my_public, &for_me) < 0) {
		trace(ex, "dropped a %zu-byte datagram without a valid header",
		      len);
		return false;
	}
	if (!for_me || memcmp(sender, ex->their_public, AVPN_KEY_LEN) != 0) {
		trace(ex, "dropped a %s datagram sealed by another key or for "
			  "another recipient", proto_type_name(type));
		return false;
	}
	if (proto_open(reply, buf, len, ex->shared, &why) < 0) {
		trace(ex, "dropped a %s datagram: %s", proto_type_name(type),
		      why.text);
		return false;
	}
	if (reply->timestamp <= ex->last_accepted) {
		trace(ex, "dropped a replayed %s datagram",
		      proto_type_name(type));
		return false;
	}
	if (!answers_our_request(ex, reply->echo)) {
		trace(ex, "dropped a %s datagram that replies to no request "
			  "of ours", proto_type_name(type));
		return false;
	}
	ex->last_accepted = reply->timestamp;
	return true;
}

/*
 * Reads one datagram.  Returns EXCHANGE_DONE when on_reply completed the
 * exchange, EXCHANGE_TIMEOUT to keep waiting, or a final status.
 */
static enum exchange_status receive_one(struct exchange *ex,
					exchange_reply_fn on_reply, void *arg,
					struct avpn_error *err)
{
	uint8_t buf[EXCHANGE_RECV_MAX];
	struct proto_msg reply;
	ssize_t n;

	n = recv(ex->fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			return EXCHANGE_REFUSED;
		if (errno == EAGAIN || errno == EINTR)
			return EXCHANGE_TIMEOUT;
		/* An ICMP error from a router on the way: the retry covers it. */
		if (errno == EHOSTUNREACH || errno == ENETUNREACH) {
			trace(ex, "recv: %s; will retry", strerror(errno));
			return EXCHANGE_TIMEOUT;
		}
		error_set(err, "recv: %s", strerror(errno));
		return EXCHANGE_FAILED;
	}
	if ((size_t)n > sizeof(buf)) {
		trace(ex, "dropped an oversized datagram of %zd bytes", n);
		return EXCHANGE_TIMEOUT;
	}
	if (n > 0 && buf[0] == MSG_KEY_MISMATCH)
		return is_key_mismatch(ex, buf, (size_t)n) ?
			EXCHANGE_KEY_MISMATCH : EXCHANGE_TIMEOUT;
	if (!open_reply(ex, &reply, buf, (size_t)n))
		return EXCHANGE_TIMEOUT;
	return on_reply(&reply, arg) ? EXCHANGE_DONE : EXCHANGE_TIMEOUT;
}

/* Waits for readability until until_ms; returns 1 readable, 0 time up. */
static int wait_readable(int fd, uint64_t until_ms, struct avpn_error *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t now;
	int n;

	for (;;) {
		now = clock_monotonic_ms();
		if (now >= until_ms)
			return 0;
		n = poll(&pfd, 1, (int)(until_ms - now));
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return error_set(err, "poll: %s", strerror(errno));
	}
}

enum exchange_status exchange_run(struct exchange *ex,
				  struct proto_msg *request,
				  exchange_reply_fn on_reply, void *arg,
				  struct avpn_error *err)
{
	enum exchange_status status;
	uint64_t interval = EXCHANGE_FIRST_RETRY_MS, next_send;
	int ready;

	ex->sends = 0;
	for (;;) {
		if (clock_monotonic_ms() >= ex->deadline_ms)
			return EXCHANGE_TIMEOUT;
		status = send_request(ex, request, err);
		if (status != EXCHANGE_DONE)
			return status;
		trace(ex, "sent %s request (attempt %u)",
		      proto_type_name(request->type), ex->sends);
		next_send = clock_monotonic_ms() + interval;
		if (next_send > ex->deadline_ms)
			next_send = ex->deadline_ms;
		while ((ready = wait_readable(ex->fd, next_send, err)) > 0) {
			status = receive_one(ex, on_reply, arg, err);
			if (status != EXCHANGE_TIMEOUT)
				return status;
		}
		if (ready < 0)
			return EXCHANGE_FAILED;
		if (interval < EXCHANGE_MAX_RETRY_MS)
			interval *= 2;
		trace(ex, "no complete answer yet; resending");
	}
}

int exchange_explain(struct avpn_error *err, enum exchange_status status,
		     const struct exchange *ex, const char *peer_name,
		     unsigned int timeout_s, const char *pinned_from)
{
	char got[AVPN_KEY_BASE64_LEN + 1], pinned[AVPN_KEY_BASE64_LEN + 1];

	switch (status) {
	case EXCHANGE_TIMEOUT:
		error_set(err, "no answer from %s after %u s (registry down, "
			  "address wrong, or UDP blocked)", peer_name,
			  timeout_s);
		return AVPN_EXIT_NO_ANSWER;
	case EXCHANGE_REFUSED:
		error_set(err, "nothing listens on %s (ICMP port unreachable)",
			  peer_name);
		return AVPN_EXIT_NO_ANSWER;
	case EXCHANGE_KEY_MISMATCH:
		key_to_base64(got, ex->mismatch_key);
		key_to_base64(pinned, ex->their_public);
		error_set(err, "registry %s answered with key %s, not the "
			  "pinned key %s from %s", peer_name, got, pinned,
			  pinned_from);
		return AVPN_EXIT_KEY_MISMATCH;
	default:
		/* EXCHANGE_FAILED: exchange_run has set err already. */
		return AVPN_EXIT_FAILURE;
	}
}
