/*
 * Status output: the tab-separated status for scripts (-S FILE, or stderr
 * on SIGUSR1) and the UAPI socket that `wg show` and `wg set` talk to.
 *
 * The status has one record per line, its first field naming the kind:
 *   interface  IFNAME  PUBLIC-KEY  LISTEN-PORT  PEERS
 *   peer       NAME  PUBLIC-KEY  ENDPOINT  LATEST-HANDSHAKE  RX-BYTES
 *              TX-BYTES  KEEPALIVE  ALLOWED-IPS
 *   drop       CLASS  COUNT
 * LATEST-HANDSHAKE is in Unix seconds, 0 for never; ENDPOINT and
 * ALLOWED-IPS are "-" when unset or empty; KEEPALIVE is in seconds, 0 for
 * off.  Every drop class is listed, including those at 0.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "sock.h"
#include "tunnel.h"

static const char *const drop_names[DROP_CLASS_COUNT] = {
	[DROP_TRUNCATED] = "truncated",
	[DROP_OVERSIZED] = "oversized",
	[DROP_UNKNOWN_TYPE] = "unknown-type",
	[DROP_MALFORMED] = "malformed",
	[DROP_BAD_MAC] = "bad-mac",
	[DROP_COOKIE] = "cookie-required",
	[DROP_AUTH] = "auth-failed",
	[DROP_UNKNOWN_PEER] = "unknown-peer",
	[DROP_UNKNOWN_INDEX] = "unknown-index",
	[DROP_REPLAY] = "replay",
	[DROP_FLOOD] = "flood",
	[DROP_STATE] = "unexpected",
	[DROP_EXPIRED] = "expired",
	[DROP_WRONG_SOURCE] = "wrong-source",
	[DROP_NO_ROUTE] = "no-route",
	[DROP_NO_ENDPOINT] = "no-endpoint",
	[DROP_QUEUE_FULL] = "queue-full",
	[DROP_HANDSHAKE_FAILED] = "handshake-failed",
	[DROP_SEND_FAILED] = "send-failed",
	[DROP_TUN_WRITE] = "tun-write-failed",
	[DROP_CONTROL] = "control-rejected",
};

const char *drop_class_name(enum drop_class cls)
{
	return drop_names[cls];
}

/* Converts a CLOCK_MONOTONIC time in ms to Unix time. */
static void monotonic_to_wall(uint64_t mono_ms, int64_t *sec, long *nsec)
{
	struct timespec now;
	int64_t ns;

	*sec = 0;
	*nsec = 0;
	if (mono_ms == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec -
	     (int64_t)(clock_monotonic_ms() - mono_ms) * 1000000;
	*sec = ns / 1000000000;
	*nsec = (long)(ns % 1000000000);
}

static void status_format_peer(struct uapi_buf *buf, const struct peer *p)
{
	char key[AVPN_KEY_BASE64_LEN + 1], ep[ENDPOINT_STRLEN];
	char nets[AVPN_MAX_SUBNETS * (SUBNET_STRLEN + 1)];
	struct wg_peer_info info;
	int64_t sec;
	long nsec;

	wg_peer_info(p->wg, &info);
	monotonic_to_wall(info.last_handshake_ms, &sec, &nsec);
	key_to_base64(key, p->public_key);
	endpoint_format(ep, &p->endpoint);
	subnet_list_format(nets, sizeof(nets), &p->allowed);
	uapi_buf_printf(buf, "peer\t%s\t%s\t%s\t%lld\t%llu\t%llu\t%u\t%s\n",
			p->name, key, ep, (long long)sec,
			(unsigned long long)info.rx_bytes,
			(unsigned long long)info.tx_bytes,
			info.persistent_keepalive, nets);
}

static void status_format(struct tunnel *t, struct uapi_buf *buf)
{
	char key[AVPN_KEY_BASE64_LEN + 1];
	const struct peer *p;
	int i;

	key_to_base64(key, t->public_key);
	uapi_buf_printf(buf, "interface\t%s\t%s\t%u\t%zu\n", t->ifname, key,
			t->listen_port, t->peer_count);
	for (p = t->peers; p != NULL; p = p->next)
		status_format_peer(buf, p);
	for (i = 0; i < DROP_CLASS_COUNT; i++)
		uapi_buf_printf(buf, "drop\t%s\t%llu\n", drop_names[i],
				(unsigned long long)t->drops[i]);
}

void status_write(struct tunnel *t)
{
	struct uapi_buf buf = { 0 };
	struct avpn_error e;

	status_format(t, &buf);
	t->status_written_ms = clock_monotonic_ms();
	if (buf.failed) {
		log_msg(LOG_LEVEL_ERROR, "status: out of memory");
	} else if (t->opt.status_file == NULL) {
		fwrite(buf.data, 1, buf.len, stderr);
		fflush(stderr);
	} else if (state_write_atomic(t->opt.status_file, buf.data, buf.len,
				      0644, &e) == -1) {
		log_msg(LOG_LEVEL_ERROR, "status: %s", e.text);
	}
	uapi_buf_free(&buf);
}

/* UAPI "get": the device, then each peer with its allowed IPs. */
static int uapi_allowed_ip(const struct subnet *net, void *arg)
{
	uapi_format_allowed_ip(arg, net);
	return 0;
}

static void status_uapi_get(struct tunnel *t, struct uapi_buf *buf)
{
	struct uapi_peer_info info;
	struct wg_peer_info wi;
	const struct peer *p;

	uapi_format_device(buf, t->private_key, t->listen_port, t->fwmark);
	for (p = t->peers; p != NULL; p = p->next) {
		memset(&info, 0, sizeof(info));
		wg_peer_info(p->wg, &wi);
		memcpy(info.public_key, p->public_key, AVPN_KEY_LEN);
		info.preshared_key = p->has_preshared_key ? p->preshared_key :
							     NULL;
		info.endpoint = p->endpoint;
		info.keepalive = wi.persistent_keepalive;
		monotonic_to_wall(wi.last_handshake_ms,
				  &info.last_handshake_sec,
				  &info.last_handshake_nsec);
		info.rx_bytes = wi.rx_bytes;
		info.tx_bytes = wi.tx_bytes;
		uapi_format_peer(buf, &info);
		allowed_ips_walk(&t->allowed, p, uapi_allowed_ip, buf);
	}
	uapi_buf_printf(buf, "errno=0\n\n");
}

static void uapi_conn_close(struct uapi_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	if (c->buf != NULL) {
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void status_uapi_close_all(struct tunnel *t)
{
	int i;

	for (i = 0; i < TUNNEL_UAPI_CONNECTIONS; i++) {
		if (t->uapi_conns[i].fd != -1)
			uapi_conn_close(&t->uapi_conns[i]);
	}
}

void status_uapi_accept(struct tunnel *t)
{
	struct avpn_error e;
	struct uapi_conn *c = NULL;
	int fd, i;

	fd = accept4(t->uapi_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	for (i = 0; i < TUNNEL_UAPI_CONNECTIONS && c == NULL; i++) {
		if (t->uapi_conns[i].fd == -1)
			c = &t->uapi_conns[i];
	}
	if (c == NULL) {
		log_msg(LOG_LEVEL_WARN, "UAPI: %d connections open already; "
			"closing a new one", TUNNEL_UAPI_CONNECTIONS);
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (loop_watch(t, fd, c, &e) == -1) {
		log_msg(LOG_LEVEL_ERROR, "UAPI: %s", e.text);
		uapi_conn_close(c);
	}
}

/* Writes the whole response, waiting up to a second for a slow reader
 * so a stuck client cannot stall the tunnel for long. */
static void uapi_conn_respond(struct uapi_conn *c, const char *data,
			      size_t len)
{
	struct pollfd pfd = { c->fd, POLLOUT, 0 };
	uint64_t deadline = clock_monotonic_ms() + 1000;
	ssize_t n;

	while (len > 0 && clock_monotonic_ms() < deadline) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n == -1 && errno == EAGAIN) {
			(void)poll(&pfd, 1, 100);
		} else if (n == -1 && errno != EINTR) {
			return;
		}
	}
}

/* Appends what the client sent; returns -1 when it closed or erred. */
static int uapi_conn_read(struct uapi_conn *c)
{
	char *grown;
	size_t cap;
	ssize_t n;

	if (c->cap - c->len < 4096) {
		cap = c->cap ? c->cap * 2 : 8192;
		if (cap > UAPI_REQUEST_MAX + 8192)
			return -1;
		/* Not realloc: a set request may carry a private key, and
		 * the old buffer is wiped before it is freed. */
		grown = malloc(cap);
		if (grown == NULL)
			return -1;
		if (c->buf != NULL) {
			memcpy(grown, c->buf, c->len);
			sodium_memzero(c->buf, c->cap);
			free(c->buf);
		}
		c->buf = grown;
		c->cap = cap;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

static void uapi_conn_handle(struct tunnel *t, struct uapi_conn *c,
			     size_t len)
{
	struct uapi_buf out = { 0 };
	struct uapi_request req;
	struct avpn_error e;
	int errno_value;

	if (uapi_request_parse(&req, c->buf, len, &errno_value, &e) == -1) {
		log_msg(LOG_LEVEL_WARN, "UAPI: %s", e.text);
		uapi_buf_printf(&out, "errno=%d\n\n", errno_value);
	} else if (!req.is_set) {
		status_uapi_get(t, &out);
	} else {
		errno_value = uapi_set_apply(t, &req);
		uapi_buf_printf(&out, "errno=%d\n\n", errno_value);
		uapi_request_free(&req);
	}
	if (!out.failed)
		uapi_conn_respond(c, out.data, out.len);
	uapi_buf_free(&out);
	memmove(c->buf, c->buf + len, c->len - len);
	c->len -= len;
}

/*
 * Sends the errno line that the protocol expects for a request that
 * starts with neither get= nor set=, or that exceeds UAPI_REQUEST_MAX.
 * The caller then closes the connection.
 */
static void uapi_conn_reject(struct uapi_conn *c)
{
	char reply[32];
	int errno_value = EPROTO;

	if (c->len >= UAPI_REQUEST_MAX) {
		errno_value = EMSGSIZE;
		log_msg(LOG_LEVEL_WARN, "UAPI: request longer than %d bytes",
			UAPI_REQUEST_MAX);
	} else {
		log_msg(LOG_LEVEL_WARN, "UAPI: malformed request: expected "
			"get=1 or set=1");
	}
	snprintf(reply, sizeof(reply), "errno=%d\n\n", errno_value);
	uapi_conn_respond(c, reply, strlen(reply));
}

void status_uapi_readable(struct tunnel *t, struct uapi_conn *c)
{
	ssize_t len;

	if (uapi_conn_read(c) == -1) {
		uapi_conn_close(c);
		return;
	}
	while ((len = uapi_request_len(c->buf, c->len)) > 0)
		uapi_conn_handle(t, c, (size_t)len);
	if (len == -1) {
		uapi_conn_reject(c);
		uapi_conn_close(c);
	}
}
