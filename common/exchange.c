#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "avpn.h"
#include "exchange.h"
#include "sock.h"

/* Larger than any control datagram, so a truncated read shows as oversized. */
#define EXCHANGE_RECV_MAX 2048

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL

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

static uint64_t clock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t ns_to_s_rounded_up(uint64_t ns)
{
	return ns / NS_PER_S + (ns % NS_PER_S != 0);
}

/*
 * Notes a MSG_KEY_MISMATCH datagram.  The socket is connected, so it came
 * from the registry's address, but it is unauthenticated, so anyone who
 * can forge that address can send it.  It counts only when it names a key
 * other than the pinned one and no authenticated reply has come, and then
 * only starts the grace period in which an authenticated reply still wins.
 */
static void note_key_mismatch(struct exchange *ex, const uint8_t *buf,
			      size_t len)
{
	uint8_t key[AVPN_KEY_LEN];

	if (proto_key_mismatch_parse(buf, len, key) < 0) {
		trace(ex, "dropped a malformed key-mismatch datagram");
		return;
	}
	if (memcmp(key, ex->their_public, AVPN_KEY_LEN) == 0) {
		trace(ex, "dropped a key-mismatch datagram that names the "
			  "pinned key");
		return;
	}
	if (ex->authenticated) {
		trace(ex, "dropped a key-mismatch datagram: the registry has "
			  "answered with the pinned key");
		return;
	}
	memcpy(ex->mismatch_key, key, AVPN_KEY_LEN);
	if (ex->mismatch_seen)
		return;
	ex->mismatch_seen = true;
	ex->mismatch_ms = clock_monotonic_ms();
	trace(ex, "received a key mismatch; waiting up to %d ms for a reply "
		  "authenticated by the pinned key",
	      EXCHANGE_MISMATCH_GRACE_MS);
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
	ex->authenticated = true;
	ex->mismatch_seen = false;
	return true;
}

static bool is_clock_error(const struct proto_msg *reply)
{
	return reply->type == MSG_ERROR &&
	       (reply->u.error.code == PERR_CLOCK_SKEW ||
		reply->u.error.code == PERR_STALE_TIMESTAMP);
}

/*
 * Handles PERR_CLOCK_SKEW and PERR_STALE_TIMESTAMP.  Returns the final
 * status, or EXCHANGE_TIMEOUT to go on resending.  A resend carries a newer
 * timestamp, so it helps when the registry's last accepted timestamp is
 * earlier than our clock will be at the deadline: another program with
 * this key, such as avpn-punch, got a later timestamp in first.
 */
static enum exchange_status handle_clock_error(struct exchange *ex,
					       const struct proto_msg *reply)
{
	const struct msg_error *e = &reply->u.error;
	uint64_t now_ns = clock_realtime_ns(), now_ms = clock_monotonic_ms();
	uint64_t left_ms = ex->deadline_ms > now_ms ? ex->deadline_ms - now_ms
						    : 0;

	ex->clock_request_type = e->request_type;
	if (e->code == PERR_CLOCK_SKEW) {
		ex->clock_gap_s = reply->echo > e->time_ns ?
			ns_to_s_rounded_up(reply->echo - e->time_ns) : 0;
		return EXCHANGE_CLOCK_SKEW;
	}
	ex->stale_seen = true;
	ex->clock_gap_s = e->time_ns > now_ns ?
		ns_to_s_rounded_up(e->time_ns - now_ns) : 0;
	if (e->time_ns >= now_ns + left_ms * NS_PER_MS)
		return EXCHANGE_STALE;
	trace(ex, "the registry rejected %s as stale; resending with a newer "
		  "timestamp", proto_type_name(e->request_type));
	return EXCHANGE_TIMEOUT;
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
	if (n > 0 && buf[0] == MSG_KEY_MISMATCH) {
		note_key_mismatch(ex, buf, (size_t)n);
		return EXCHANGE_TIMEOUT;
	}
	if (!open_reply(ex, &reply, buf, (size_t)n))
		return EXCHANGE_TIMEOUT;
	if (is_clock_error(&reply))
		return handle_clock_error(ex, &reply);
	return on_reply(&reply, arg) ? EXCHANGE_DONE : EXCHANGE_TIMEOUT;
}

static uint64_t min_ms(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The deadline, brought forward to the end of the grace period after a
 * key mismatch. */
static uint64_t current_deadline(const struct exchange *ex)
{
	uint64_t grace_end;

	if (!ex->mismatch_seen)
		return ex->deadline_ms;
	grace_end = ex->mismatch_ms + EXCHANGE_MISMATCH_GRACE_MS;
	return min_ms(grace_end, ex->deadline_ms);
}

/* The status of an exchange whose deadline passed without a complete
 * reply.  A rejection seen meanwhile explains more than a timeout. */
static enum exchange_status deadline_status(const struct exchange *ex)
{
	if (ex->mismatch_seen)
		return EXCHANGE_KEY_MISMATCH;
	return ex->stale_seen ? EXCHANGE_STALE : EXCHANGE_TIMEOUT;
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
	ex->authenticated = false;
	ex->mismatch_seen = false;
	ex->stale_seen = false;
	for (;;) {
		if (clock_monotonic_ms() >= current_deadline(ex))
			return deadline_status(ex);
		status = send_request(ex, request, err);
		if (status != EXCHANGE_DONE)
			return status;
		trace(ex, "sent %s request (attempt %u)",
		      proto_type_name(request->type), ex->sends);
		next_send = clock_monotonic_ms() + interval;
		/* A key mismatch can bring the deadline forward meanwhile. */
		while ((ready = wait_readable(ex->fd,
					      min_ms(next_send,
						     current_deadline(ex)),
					      err)) > 0) {
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
	case EXCHANGE_CLOCK_SKEW:
		error_set(err, "registry %s rejected %s: this node's clock is "
			  "%llu s ahead of the registry's, more than the %d s "
			  "allowed; set the clock right (NTP) here, or on the "
			  "registry if its clock is wrong", peer_name,
			  proto_type_name(ex->clock_request_type),
			  (unsigned long long)ex->clock_gap_s,
			  PROTO_MAX_AHEAD_S);
		return AVPN_EXIT_REJECTED;
	case EXCHANGE_STALE:
		error_set(err, "registry %s rejected %s: it accepted a "
			  "timestamp %llu s ahead of this node's clock before "
			  "(the clock went backwards, or a datagram was "
			  "replayed); set the clock right (NTP) or wait that "
			  "long", peer_name,
			  proto_type_name(ex->clock_request_type),
			  (unsigned long long)ex->clock_gap_s);
		return AVPN_EXIT_REJECTED;
	default:
		/* EXCHANGE_FAILED: exchange_run has set err already. */
		return AVPN_EXIT_FAILURE;
	}
}
