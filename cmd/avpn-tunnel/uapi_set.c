/* UAPI "set" requests (`wg set`) applied to the running tunnel. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "sock.h"
#include "tunnel.h"

static int set_private_key(struct tunnel *t, const uint8_t key[AVPN_KEY_LEN])
{
	struct avpn_error e;
	struct peer *p;

	if (sodium_is_zero(key, AVPN_KEY_LEN)) {
		log_msg(LOG_LEVEL_WARN, "UAPI: removing the private key is "
			"not supported");
		return EINVAL;
	}
	if (sodium_memcmp(key, t->private_key, AVPN_KEY_LEN) == 0)
		return 0;
	if (wg_device_set_private_key(t->wg, key, &e) == -1) {
		log_msg(LOG_LEVEL_WARN, "UAPI: %s", e.text);
		return EINVAL;
	}
	memcpy(t->private_key, key, AVPN_KEY_LEN);
	wg_device_public_key(t->wg, t->public_key);
	control_init(t);
	for (p = t->peers; p != NULL; p = p->next)
		control_peer_init(t, p);
	log_msg(LOG_LEVEL_INFO, "private key changed through UAPI; every "
		"session restarts");
	return 0;
}

static int set_fwmark(struct tunnel *t, uint32_t mark)
{
	if (setsockopt(t->udp_fd, SOL_SOCKET, SO_MARK, &mark,
		       sizeof(mark)) == -1) {
		log_msg(LOG_LEVEL_WARN, "UAPI: set fwmark %u: %s", mark,
			strerror(errno));
		return errno;
	}
	t->fwmark = mark;
	return 0;
}

static int set_listen_port(struct tunnel *t, uint16_t port)
{
	struct avpn_error e;
	int fd;

	if (port == t->listen_port)
		return 0;
	if (port == 0)
		port = sock_random_port();
	fd = tunnel_socket_open(t, port, &e);
	if (fd == -1 || loop_replace_socket(t, fd, &e) == -1) {
		log_msg(LOG_LEVEL_WARN, "UAPI: %s", e.text);
		if (fd != -1)
			close(fd);
		return EADDRINUSE;
	}
	log_msg(LOG_LEVEL_INFO, "listening on UDP port %u instead of %u",
		port, t->listen_port);
	t->listen_port = port;
	return 0;
}

static void set_preshared_key(struct peer *p, const uint8_t key[AVPN_KEY_LEN])
{
	p->has_preshared_key = !sodium_is_zero(key, AVPN_KEY_LEN);
	memcpy(p->preshared_key, key, AVPN_KEY_LEN);
	wg_peer_set_preshared_key(p->wg, p->has_preshared_key ? key : NULL);
}

/* Applies one peer section; returns 0 or an errno value. */
static int set_peer(struct tunnel *t, const struct uapi_peer_set *ps)
{
	struct peer *p = peer_find(t, ps->public_key);
	struct avpn_error e;
	size_t i;

	if (ps->remove) {
		if (p != NULL) {
			log_msg(LOG_LEVEL_INFO, "peer %s removed through "
				"UAPI", p->name);
			peer_destroy(p);
		}
		return 0;
	}
	if (p == NULL && ps->update_only)
		return 0;
	if (p == NULL) {
		p = peer_create(t, ps->public_key, NULL, ORIGIN_UAPI, &e);
		if (p == NULL) {
			log_msg(LOG_LEVEL_WARN, "UAPI: %s", e.text);
			return EINVAL;
		}
		log_msg(LOG_LEVEL_INFO, "peer %s added through UAPI", p->name);
	}
	if (ps->has_preshared_key)
		set_preshared_key(p, ps->preshared_key);
	if (ps->has_endpoint) {
		p->configured = ps->endpoint;
		peer_set_endpoint(p, &ps->endpoint);
	}
	if (ps->has_keepalive)
		wg_peer_set_persistent_keepalive(p->wg, ps->keepalive);
	if (ps->replace_allowed_ips)
		(void)peer_set_allowed(p, NULL, 0, &e);
	for (i = 0; i < ps->allowed_count; i++) {
		if (peer_add_allowed(p, &ps->allowed[i], &e) == -1) {
			log_msg(LOG_LEVEL_WARN, "UAPI: %s", e.text);
			return ENOSPC;
		}
	}
	peer_touch(p);
	return 0;
}

int uapi_set_apply(struct tunnel *t, const struct uapi_request *req)
{
	size_t i;
	int rc = 0;

	if (req->has_private_key)
		rc = set_private_key(t, req->private_key);
	if (rc == 0 && req->has_fwmark)
		rc = set_fwmark(t, req->fwmark);
	if (rc == 0 && req->has_listen_port)
		rc = set_listen_port(t, req->listen_port);
	if (rc != 0)
		return rc;
	if (req->replace_peers) {
		log_msg(LOG_LEVEL_INFO, "UAPI: replacing all %zu peers",
			t->peer_count);
		while (t->peers != NULL)
			peer_destroy(t->peers);
	}
	for (i = 0; i < req->peer_count; i++) {
		rc = set_peer(t, &req->peers[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}
