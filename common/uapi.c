#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "route.h"
#include "uapi.h"

/* Connects to an existing socket file: true when a process accepts on it. */
static bool uapi_socket_alive(const struct sockaddr_un *addr)
{
	bool alive;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return false;
	alive = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return alive;
}

static int uapi_make_dir(struct avpn_error *err)
{
	struct stat st;

	if (mkdir(UAPI_DIR, 0700) == -1 && errno != EEXIST)
		return error_set(err, "create %s: %s", UAPI_DIR,
				 strerror(errno));
	if (lstat(UAPI_DIR, &st) == -1)
		return error_set(err, "%s: %s", UAPI_DIR, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_set(err, "%s is not a directory", UAPI_DIR);
	return 0;
}

/* Binds with umask 077, so the socket is never reachable by others. */
static int uapi_bind(int fd, const struct sockaddr_un *addr,
		     struct avpn_error *err)
{
	mode_t old = umask(0077);
	int rc;

	rc = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
	umask(old);
	if (rc == -1)
		return error_set(err, "bind %s: %s", addr->sun_path,
				 strerror(errno));
	if (chmod(addr->sun_path, 0600) == -1 || listen(fd, 16) == -1) {
		error_set(err, "listen on %s: %s", addr->sun_path,
			  strerror(errno));
		unlink(addr->sun_path);
		return -1;
	}
	return 0;
}

int uapi_listen(const char *ifname, char path[UAPI_PATH_MAX],
		struct avpn_error *err)
{
	struct sockaddr_un addr;
	int fd, n;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.sock",
		     UAPI_DIR, ifname);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		return error_set(err, "socket path for %s is too long",
				 ifname);
	if (uapi_make_dir(err) == -1)
		return -1;
	if (uapi_socket_alive(&addr))
		return error_set(err, "%s is in use by another process",
				 addr.sun_path);
	if (unlink(addr.sun_path) == -1 && errno != ENOENT)
		return error_set(err, "remove stale %s: %s", addr.sun_path,
				 strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return error_set(err, "socket: %s", strerror(errno));
	if (uapi_bind(fd, &addr, err) == -1) {
		close(fd);
		return -1;
	}
	memcpy(path, addr.sun_path, sizeof(addr.sun_path));
	return fd;
}

static bool uapi_buf_reserve(struct uapi_buf *buf, size_t more)
{
	size_t cap;
	char *data;

	if (buf->failed)
		return false;
	if (buf->len + more + 1 <= buf->cap)
		return true;
	cap = buf->cap ? buf->cap : 1024;
	while (cap < buf->len + more + 1)
		cap *= 2;
	data = sodium_malloc(cap);
	if (data == NULL) {
		buf->failed = true;
		return false;
	}
	if (buf->data != NULL) {
		memcpy(data, buf->data, buf->len);
		sodium_free(buf->data);
	}
	buf->data = data;
	buf->cap = cap;
	return true;
}

void uapi_buf_append(struct uapi_buf *buf, const void *data, size_t len)
{
	if (!uapi_buf_reserve(buf, len))
		return;
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void uapi_buf_printf(struct uapi_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !uapi_buf_reserve(buf, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t)n;
}

void uapi_buf_free(struct uapi_buf *buf)
{
	/* sodium_free wipes the memory before it releases it. */
	if (buf->data != NULL)
		sodium_free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

ssize_t uapi_request_len(const char *data, size_t len)
{
	const char *end;

	if (len >= 4 && memcmp(data, "get=", 4) != 0 &&
	    memcmp(data, "set=", 4) != 0)
		return -1;
	end = memmem(data, len, "\n\n", 2);
	if (end != NULL)
		return end - data + 2;
	return len >= UAPI_REQUEST_MAX ? -1 : 0;
}

static void uapi_format_key(struct uapi_buf *buf, const char *name,
			    const uint8_t key[AVPN_KEY_LEN])
{
	char hex[2 * AVPN_KEY_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), key, AVPN_KEY_LEN);
	uapi_buf_printf(buf, "%s=%s\n", name, hex);
	sodium_memzero(hex, sizeof(hex));
}

void uapi_format_device(struct uapi_buf *buf,
			const uint8_t private_key[AVPN_KEY_LEN],
			uint16_t listen_port, uint32_t fwmark)
{
	if (!sodium_is_zero(private_key, AVPN_KEY_LEN))
		uapi_format_key(buf, "private_key", private_key);
	uapi_buf_printf(buf, "listen_port=%u\n", listen_port);
	if (fwmark != 0)
		uapi_buf_printf(buf, "fwmark=%u\n", fwmark);
}

void uapi_format_peer(struct uapi_buf *buf, const struct uapi_peer_info *peer)
{
	char ep[ENDPOINT_STRLEN];

	uapi_format_key(buf, "public_key", peer->public_key);
	if (peer->preshared_key != NULL)
		uapi_format_key(buf, "preshared_key", peer->preshared_key);
	uapi_buf_printf(buf, "protocol_version=1\n");
	if (endpoint_is_set(&peer->endpoint)) {
		endpoint_format(ep, &peer->endpoint);
		uapi_buf_printf(buf, "endpoint=%s\n", ep);
	}
	uapi_buf_printf(buf,
			"last_handshake_time_sec=%lld\n"
			"last_handshake_time_nsec=%ld\n"
			"tx_bytes=%llu\nrx_bytes=%llu\n"
			"persistent_keepalive_interval=%u\n",
			(long long)peer->last_handshake_sec,
			peer->last_handshake_nsec,
			(unsigned long long)peer->tx_bytes,
			(unsigned long long)peer->rx_bytes, peer->keepalive);
}

void uapi_format_allowed_ip(struct uapi_buf *buf, const struct subnet *net)
{
	char text[SUBNET_STRLEN];

	subnet_format(text, net);
	uapi_buf_printf(buf, "allowed_ip=%s\n", text);
}
