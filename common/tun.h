/*
 * Layer-3 TUN devices (IFF_TUN|IFF_NO_PI): each read returns one IP packet
 * and each write injects one, without the 4-byte packet-information header.
 */
#ifndef AVPN_TUN_H
#define AVPN_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/*
 * Creates the TUN device name, or attaches to it when it exists and was
 * left persistent.  The descriptor is non-blocking and close-on-exec.
 * name is at most IFNAMSIZ - 1 characters; the kernel expands a "%d" in
 * it, and the name it chose is copied back into actual.  Returns the
 * descriptor, or -1 with err set.
 */
int tun_open(const char *name, char actual[IFNAMSIZ], struct avpn_error *err);

/* Checks an interface name: 1 to IFNAMSIZ - 1 characters, no '/', no
 * whitespace, not "." or "..". */
int tun_name_check(const char *name, struct avpn_error *err);

/*
 * Finds the source and destination addresses of an IP packet.  Returns the
 * family (AF_INET or AF_INET6; src and dst then point at 4 or 16 bytes
 * inside pkt), or -1 when the packet is too short for its header or is not
 * IPv4 or IPv6.
 */
int tun_packet_addrs(const uint8_t *pkt, size_t len, const uint8_t **src,
		     const uint8_t **dst);

/*
 * Returns the length an IP packet declares in its header (IPv4 total
 * length, IPv6 payload length plus 40), or 0 when the header is missing or
 * inconsistent.  The decrypted plaintext of a WireGuard packet is padded,
 * so this is how the padding is cut off.
 */
size_t tun_packet_len(const uint8_t *pkt, size_t len);

#endif
