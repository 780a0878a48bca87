/* Constants shared by every avpn program: ports, limits and exit codes. */
#ifndef AVPN_H
#define AVPN_H

#define AVPN_VERSION "0.1.0"

/* The registry's control port and its second port for NAT detection. */
#define AVPN_REGISTRY_PORT 9350
#define AVPN_NAT_TEST_PORT 9351

/* A node's port is drawn from this range on first registration. */
#define AVPN_PORT_RANDOM_MIN 32768
#define AVPN_PORT_RANDOM_MAX 61000

/* A node may announce at most this many subnets. */
#define AVPN_MAX_SUBNETS 16

/* Node names: 1 to 32 characters from [A-Za-z0-9._-]. */
#define AVPN_NAME_MAX 32

/* No control datagram is larger than this, so it passes any path MTU. */
#define AVPN_DATAGRAM_MAX 1200

/*
 * Exit codes, the same for every program and documented in avpn(7).
 * 0 is success; the rest tell a script which phase to look at.
 */
enum avpn_exit {
	AVPN_EXIT_OK = 0,
	AVPN_EXIT_FAILURE = 1,      /* I/O or system error */
	AVPN_EXIT_USAGE = 2,        /* bad option, argument or input file */
	AVPN_EXIT_NO_ANSWER = 3,    /* the registry (or peer) did not answer */
	AVPN_EXIT_KEY_MISMATCH = 4, /* the registry's key is not the pinned one */
	AVPN_EXIT_REJECTED = 5,     /* the registry rejected the request */
	AVPN_EXIT_PARTIAL = 6,      /* avpn-punch: some peers unreachable */
};

#endif
