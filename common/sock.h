/* UDP sockets that share a node's port between the tunnel and cron tools. */
#ifndef AVPN_SOCK_H
#define AVPN_SOCK_H

#include <stdint.h>

#include "endpoint.h"
#include "error.h"

/*
 * Opens a UDP socket with SO_REUSEADDR and SO_REUSEPORT, bound to local
 * (family from local; address may be the wildcard).  With remote set, the
 * socket is connect()ed to it, so the kernel hands it that remote's
 * datagrams even while an unconnected avpn-tunnel socket shares the port.
 * Returns the descriptor (close-on-exec) or -1 with err set.
 */
int sock_open_udp(const union endpoint *local, const union endpoint *remote,
		  struct avpn_error *err);

/* Picks a random port in AVPN_PORT_RANDOM_MIN..AVPN_PORT_RANDOM_MAX. */
uint16_t sock_random_port(void);

/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t clock_monotonic_ms(void);

#endif
