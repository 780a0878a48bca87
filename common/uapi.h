/*
 * WireGuard's cross-platform userspace API: the text protocol that `wg`
 * speaks over the UNIX socket /var/run/wireguard/IFNAME.sock to a
 * userspace implementation, so `wg show` and `wg set` work on avpn-tunnel.
 *
 * A request is "get=1\n\n" or "set=1\n" followed by key=value lines and an
 * empty line.  Keys are lowercase hex.  A get is answered with the device's
 * key=value lines, then each peer's, then "errno=0\n\n"; a set with
 * "errno=N\n\n" where N is 0 or a positive errno value.  The keys follow
 * the protocol page at wireguard.com/xplatform.
 */
#ifndef AVPN_UAPI_H
#define AVPN_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "endpoint.h"
#include "error.h"
#include "key.h"
#include "subnet.h"

#define UAPI_DIR "/var/run/wireguard"
#define UAPI_PATH_MAX 108 /* sizeof(sun_path) */

/* A request larger than this is rejected (about 15000 allowed IPs). */
#define UAPI_REQUEST_MAX (1024 * 1024)

/*
 * Creates UAPI_DIR (mode 0700) if needed and listens on IFNAME.sock there
 * with mode 0600.  A socket file left by a process that died is replaced;
 * one that still accepts connections is not.  Writes the path to path.
 * Returns the listening descriptor (non-blocking, close-on-exec) or -1.
 */
int uapi_listen(const char *ifname, char path[UAPI_PATH_MAX],
		struct avpn_error *err);

/* A growing text buffer; a failed allocation is sticky in failed. */
struct uapi_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

void uapi_buf_printf(struct uapi_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends len bytes. */
void uapi_buf_append(struct uapi_buf *buf, const void *data, size_t len);
/* Wipes (responses may hold a private key) and frees the buffer. */
void uapi_buf_free(struct uapi_buf *buf);

/*
 * Returns the length of the first complete request in data (through its
 * empty line), 0 when more bytes are needed, or -1 when data cannot be a
 * request (too large, or not starting with "get=" or "set=").
 */
ssize_t uapi_request_len(const char *data, size_t len);

/* One peer section of a set request. */
struct uapi_peer_set {
	uint8_t public_key[AVPN_KEY_LEN];
	bool remove;
	bool update_only;
	bool has_preshared_key;
	uint8_t preshared_key[AVPN_KEY_LEN]; /* all zero clears it */
	bool has_endpoint;
	union endpoint endpoint;
	bool has_keepalive;
	uint16_t keepalive; /* seconds, 0 for off */
	bool replace_allowed_ips;
	size_t allowed_count;
	struct subnet *allowed; /* host bits cleared, as wg does */
};

struct uapi_request {
	bool is_set; /* false for get */
	bool has_private_key;
	uint8_t private_key[AVPN_KEY_LEN]; /* all zero removes it */
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	size_t peer_count;
	struct uapi_peer_set *peers;
};

/*
 * Parses one request of uapi_request_len() bytes.  On error returns -1
 * with err set and *errno_out the errno value to answer with: EPROTO for
 * an unknown key or a malformed line, EINVAL for an invalid value.
 * Nothing is applied here, so a bad request changes nothing.
 */
int uapi_request_parse(struct uapi_request *req, const char *text,
		       size_t len, int *errno_out, struct avpn_error *err);

/* Wipes the keys in req and frees it. */
void uapi_request_free(struct uapi_request *req);

/* The lines of a get response; the caller ends with "errno=0\n\n". */
void uapi_format_device(struct uapi_buf *buf,
			const uint8_t private_key[AVPN_KEY_LEN],
			uint16_t listen_port, uint32_t fwmark);

struct uapi_peer_info {
	uint8_t public_key[AVPN_KEY_LEN];
	const uint8_t *preshared_key; /* NULL when none */
	union endpoint endpoint;      /* family 0 when none */
	uint16_t keepalive;
	int64_t last_handshake_sec;   /* Unix time, 0 for never */
	long last_handshake_nsec;
	uint64_t rx_bytes;
	uint64_t tx_bytes;
};

/* Writes a peer's lines up to, not including, its allowed_ip lines. */
void uapi_format_peer(struct uapi_buf *buf,
		      const struct uapi_peer_info *peer);

void uapi_format_allowed_ip(struct uapi_buf *buf, const struct subnet *net);

#endif
