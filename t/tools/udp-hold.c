/*
 * udp-hold PORT READYFILE COUNTFILE: plays a running avpn-tunnel.
 * Binds an unconnected UDP socket to 0.0.0.0:PORT with SO_REUSEADDR and
 * SO_REUSEPORT, writes READYFILE once bound, counts the datagrams that
 * reach it and writes the count to COUNTFILE on SIGTERM or SIGINT.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "sock.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		err(1, "%s", path);
}

int main(int argc, char *argv[])
{
	struct pollfd pfd = { .events = POLLIN };
	struct sigaction sa;
	union endpoint local;
	struct avpn_error e;
	unsigned long count = 0;
	char buf[2048], text[32];
	uint16_t port;

	if (argc != 4)
		errx(2, "usage: udp-hold PORT READYFILE COUNTFILE");
	if (port_parse(&port, argv[1], &e) == -1)
		errx(2, "%s", e.text);
	memset(&local, 0, sizeof(local));
	local.sa.sa_family = AF_INET;
	endpoint_set_port(&local, port);
	pfd.fd = sock_open_udp(&local, NULL, &e);
	if (pfd.fd == -1)
		errx(1, "%s", e.text);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	write_file(argv[2], "ready\n");
	while (!stop_requested) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (recv(pfd.fd, buf, sizeof(buf), 0) >= 0)
			count++;
	}
	snprintf(text, sizeof(text), "%lu\n", count);
	write_file(argv[3], text);
	return 0;
}
