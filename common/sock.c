#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "sock.h"

/* Sets SO_REUSEADDR and SO_REUSEPORT, so the cron tools can bind the port
 * that a running avpn-tunnel holds. */
static int sock_set_reuse(int fd, struct avpn_error *err)
{
	int on = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		return error_set(err, "setsockopt SO_REUSEADDR: %s",
				 strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		return error_set(err, "setsockopt SO_REUSEPORT: %s",
				 strerror(errno));
	return 0;
}

/* Binds fd to local and, when remote is set, connects it there. */
static int sock_bind_connect(int fd, const union endpoint *local,
			     const union endpoint *remote,
			     struct avpn_error *err)
{
	char text[ENDPOINT_STRLEN];

	if (bind(fd, &local->sa, endpoint_len(local)) == -1) {
		endpoint_format(text, local);
		return error_set(err, "bind %s: %s", text, strerror(errno));
	}
	if (remote == NULL || !endpoint_is_set(remote))
		return 0;
	if (connect(fd, &remote->sa, endpoint_len(remote)) == -1) {
		endpoint_format(text, remote);
		return error_set(err, "connect %s: %s", text,
				 strerror(errno));
	}
	return 0;
}

int sock_open_udp(const union endpoint *local, const union endpoint *remote,
		  struct avpn_error *err)
{
	union endpoint any;
	int fd;

	if (!endpoint_is_set(local)) {
		/* No local address: the wildcard of the remote's family on
		 * an ephemeral port. */
		if (remote == NULL || !endpoint_is_set(remote))
			return error_set(err, "no local or remote endpoint "
					 "to open a socket for");
		memset(&any, 0, sizeof(any));
		any.sa.sa_family = remote->sa.sa_family;
		local = &any;
	}
	if (remote != NULL && endpoint_is_set(remote) &&
	    remote->sa.sa_family != local->sa.sa_family)
		return error_set(err, "local and remote endpoints are of "
				 "different address families");
	fd = socket(local->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return error_set(err, "socket: %s", strerror(errno));
	if (sock_set_reuse(fd, err) == -1 ||
	    sock_bind_connect(fd, local, remote, err) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

uint16_t sock_random_port(void)
{
	/* libsodium must not be used when sodium_init() fails. */
	if (sodium_init() == -1)
		abort();
	return (uint16_t)(AVPN_PORT_RANDOM_MIN +
			  randombytes_uniform(AVPN_PORT_RANDOM_MAX -
					      AVPN_PORT_RANDOM_MIN + 1));
}

uint64_t clock_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
