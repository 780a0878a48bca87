/*
 * A request to the registry and its replies over a connected UDP socket.
 * The request is sealed afresh for every send, because the registry rejects
 * a timestamp it has already seen, and it is resent with exponential backoff
 * until the caller's reply handler reports that it has all it needs or the
 * deadline passes.  Used by avpn-register and avpn-peers.
 *
 * MSG_KEY_MISMATCH is unauthenticated, so anyone who can send from the
 * registry's address can forge it.  It therefore ends the exchange only
 * when no authenticated reply arrives within EXCHANGE_MISMATCH_GRACE_MS of
 * the first one.
 */
#ifndef AVPN_EXCHANGE_H
#define AVPN_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "key.h"
#include "proto.h"

/* Resend after 250 ms, then 500 ms, 1 s, 2 s, and every 4 s after that. */
#define EXCHANGE_FIRST_RETRY_MS 250
#define EXCHANGE_MAX_RETRY_MS 4000

/* The timestamps of this many sends are kept to match late replies. */
#define EXCHANGE_MAX_SENDS 32

/* How long an authenticated reply may still win after a MSG_KEY_MISMATCH:
 * time for several resends and their round trips. */
#define EXCHANGE_MISMATCH_GRACE_MS 2000

enum exchange_status {
	EXCHANGE_DONE = 0,     /* the reply handler returned true */
	EXCHANGE_TIMEOUT,      /* the deadline passed */
	EXCHANGE_REFUSED,      /* ICMP port unreachable: nothing listens */
	EXCHANGE_KEY_MISMATCH, /* the peer sent its key in MSG_KEY_MISMATCH */
	EXCHANGE_CLOCK_SKEW,   /* PERR_CLOCK_SKEW: our clock is ahead */
	EXCHANGE_STALE,        /* PERR_STALE_TIMESTAMP until the deadline */
	EXCHANGE_FAILED,       /* a system call failed; err says which */
};

/*
 * Called for every authenticated reply whose echo matches one of our sends,
 * in arrival order, except MSG_ERROR with PERR_CLOCK_SKEW or
 * PERR_STALE_TIMESTAMP, which exchange_run handles.  Returns true when the
 * exchange is complete.
 */
typedef bool (*exchange_reply_fn)(const struct proto_msg *reply, void *arg);

/* Receives one line of progress text for -v output. */
typedef void (*exchange_trace_fn)(void *arg, const char *text);

struct exchange {
	int fd;                             /* connected to the peer */
	const uint8_t *my_public;           /* AVPN_KEY_LEN bytes */
	const uint8_t *their_public;        /* the pinned key */
	const uint8_t *shared;              /* proto_shared_key() of the two */
	uint64_t deadline_ms;               /* clock_monotonic_ms() value */
	exchange_trace_fn trace;            /* NULL for no progress text */
	void *trace_arg;

	/* Filled in by exchange_run. */
	unsigned int sends;
	uint64_t sent[EXCHANGE_MAX_SENDS];  /* timestamps of the sends */
	uint64_t last_accepted;             /* the peer's latest timestamp */
	bool authenticated;                 /* an authenticated reply came */
	bool mismatch_seen;                 /* and none came before it */
	uint64_t mismatch_ms;               /* when the first one arrived */
	uint8_t mismatch_key[AVPN_KEY_LEN]; /* for EXCHANGE_KEY_MISMATCH */
	/*
	 * For EXCHANGE_CLOCK_SKEW and EXCHANGE_STALE: the rejected request
	 * type and, in seconds rounded up, how far our clock is ahead of
	 * the registry's, or how far the registry's last accepted timestamp
	 * is ahead of our clock.
	 */
	bool stale_seen;
	uint8_t clock_request_type;
	uint64_t clock_gap_s;
};

/*
 * Sends request (type and body; the timestamps are set here) and waits for
 * replies.  Datagrams that fail authentication, come from another key,
 * replay an old timestamp or answer no request of ours are dropped and
 * traced.  PERR_CLOCK_SKEW ends the exchange at once.  PERR_STALE_TIMESTAMP
 * ends it at once when the registry's last accepted timestamp is later
 * than our clock at the deadline; otherwise the resends, which carry newer
 * timestamps, go on, and EXCHANGE_STALE replaces EXCHANGE_TIMEOUT if no
 * reply completes the exchange.  Returns EXCHANGE_FAILED with err set when
 * a system call fails.
 */
enum exchange_status exchange_run(struct exchange *ex,
				  struct proto_msg *request,
				  exchange_reply_fn on_reply, void *arg,
				  struct avpn_error *err);

/* True when ts is the timestamp of the latest send of this exchange. */
bool exchange_is_latest(const struct exchange *ex, uint64_t ts);

/*
 * Describes a failed exchange with the registry at peer_name in err: no
 * answer within timeout_s seconds, nothing listening, a key other than the
 * pinned one (pinned_from names where the pin came from), or a timestamp
 * rejected for the clock.  Returns the exit code for it:
 * AVPN_EXIT_NO_ANSWER, AVPN_EXIT_KEY_MISMATCH, AVPN_EXIT_REJECTED or
 * AVPN_EXIT_FAILURE.
 */
int exchange_explain(struct avpn_error *err, enum exchange_status status,
		     const struct exchange *ex, const char *peer_name,
		     unsigned int timeout_s, const char *pinned_from);

#endif
