/*
 * A request to the registry and its replies over a connected UDP socket.
 * The request is sealed afresh for every send, because the registry rejects
 * a timestamp it has already seen, and it is resent with exponential backoff
 * until the caller's reply handler reports that it has all it needs or the
 * deadline passes.  Used by avpn-register and avpn-peers.
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

enum exchange_status {
	EXCHANGE_DONE = 0,     /* the reply handler returned true */
	EXCHANGE_TIMEOUT,      /* the deadline passed */
	EXCHANGE_REFUSED,      /* ICMP port unreachable: nothing listens */
	EXCHANGE_KEY_MISMATCH, /* the peer sent its key in MSG_KEY_MISMATCH */
	EXCHANGE_FAILED,       /* a system call failed; err says which */
};

/*
 * Called for every authenticated reply whose echo matches one of our sends,
 * in arrival order.  Returns true when the exchange is complete.
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
	uint8_t mismatch_key[AVPN_KEY_LEN]; /* for EXCHANGE_KEY_MISMATCH */
};

/*
 * Sends request (type and body; the timestamps are set here) and waits for
 * replies.  Datagrams that fail authentication, come from another key,
 * replay an old timestamp or answer no request of ours are dropped and
 * traced.  Returns EXCHANGE_FAILED with err set when a system call fails.
 */
enum exchange_status exchange_run(struct exchange *ex,
				  struct proto_msg *request,
				  exchange_reply_fn on_reply, void *arg,
				  struct avpn_error *err);

/* True when ts is the timestamp of the latest send of this exchange. */
bool exchange_is_latest(const struct exchange *ex, uint64_t ts);

/*
 * Describes a failed exchange with the registry at peer_name in err: no
 * answer within timeout_s seconds, nothing listening, or a key other than
 * the pinned one (pinned_from names where the pin came from).  Returns the
 * exit code for it: AVPN_EXIT_NO_ANSWER, AVPN_EXIT_KEY_MISMATCH or
 * AVPN_EXIT_FAILURE.
 */
int exchange_explain(struct avpn_error *err, enum exchange_status status,
		     const struct exchange *ex, const char *peer_name,
		     unsigned int timeout_s, const char *pinned_from);

#endif
