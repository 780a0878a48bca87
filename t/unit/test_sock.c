/* Unit tests for common/sock.c on loopback: two sockets share one port,
 * and a connected socket receives its remote's datagrams. */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "avpn.h"
#include "sock.h"
#include "unit.h"

/* Receives one datagram on fd within 2 s; returns its length or -1. */
static ssize_t recv_within(int fd, char *buf, size_t size)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	if (poll(&pfd, 1, 2000) != 1)
		return -1;
	return recv(fd, buf, size, 0);
}

/* Opens an unconnected socket on a kernel-chosen loopback port and fills
 * ep with its address. */
static int open_any(union endpoint *ep)
{
	socklen_t len = sizeof(*ep);
	int fd;

	endpoint_parse(ep, "127.0.0.1:1", 0, NULL);
	endpoint_set_port(ep, 0);
	fd = sock_open_udp(ep, NULL, NULL);
	if (fd != -1)
		getsockname(fd, &ep->sa, &len);
	return fd;
}

static void test_shared_port(void)
{
	union endpoint node, remote, other;
	struct avpn_error e = { "" };
	int tunnel, tool, remote_fd, other_fd;
	char buf[64];

	remote_fd = open_any(&remote);
	other_fd = open_any(&other);
	tunnel = open_any(&node);
	CHECK(tunnel != -1, "tunnel socket opens");
	tool = sock_open_udp(&node, &remote, &e);
	CHECK(tool != -1, "second socket binds the same port");
	if (tool == -1) {
		printf("#   error was \"%s\"\n", e.text);
		return;
	}
	sendto(remote_fd, "to tool", 7, 0, &node.sa, endpoint_len(&node));
	CHECK(recv_within(tool, buf, sizeof(buf)) == 7,
	      "connected socket gets its remote's datagram");
	sendto(other_fd, "to tunnel", 9, 0, &node.sa, endpoint_len(&node));
	CHECK(recv_within(tunnel, buf, sizeof(buf)) == 9,
	      "unconnected socket gets the others");
	close(tool);
	close(tunnel);
	close(remote_fd);
	close(other_fd);
}

static void test_errors(void)
{
	union endpoint v4, v6, unset;
	struct avpn_error e = { "" };
	int fd;

	memset(&unset, 0, sizeof(unset));
	endpoint_parse(&v4, "127.0.0.1:1", 0, NULL);
	endpoint_parse(&v6, "[::1]:1", 0, NULL);
	CHECK(sock_open_udp(&unset, NULL, &e) == -1, "no endpoints rejected");
	CHECK(sock_open_udp(&v4, &v6, &e) == -1, "mixed families rejected");
	CHECK(strstr(e.text, "families") != NULL, "mixed families error");
	/* 192.0.2.1 (TEST-NET-1) is not an address of the root namespace;
	 * the namespace tests assign it only inside their own namespaces. */
	endpoint_parse(&v4, "192.0.2.1:9", 0, NULL);
	CHECK(sock_open_udp(&v4, NULL, &e) == -1, "foreign address rejected");
	CHECK(strstr(e.text, "bind 192.0.2.1:9") != NULL,
	      "bind error names the endpoint");
	endpoint_parse(&v4, "127.0.0.1:9", 0, NULL);
	fd = sock_open_udp(&unset, &v4, &e);
	CHECK(fd != -1, "unset local takes an ephemeral port");
	if (fd != -1)
		close(fd);
}

static void test_random_port(void)
{
	uint16_t port;
	int i, in_range = 1;

	for (i = 0; i < 1000; i++) {
		port = sock_random_port();
		if (port < AVPN_PORT_RANDOM_MIN || port > AVPN_PORT_RANDOM_MAX)
			in_range = 0;
	}
	CHECK(in_range, "1000 random ports in range");
	CHECK(clock_monotonic_ms() > 0, "monotonic clock runs");
}

int main(void)
{
	test_shared_port();
	test_errors();
	test_random_port();
	return unit_done();
}
