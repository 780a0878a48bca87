/*
 * tcpcopy: copies one file over one TCP connection, for transfer tests
 * through a tunnel.
 *
 *   tcpcopy -l ADDR:PORT -o OUTFILE [-r READYFILE] [-t SECONDS]
 *   tcpcopy -c ADDR:PORT -i INFILE [-t SECONDS]
 *
 * -l listens, writes READYFILE once the socket listens, accepts one
 * connection and writes everything it receives to OUTFILE until the
 * sender closes.  -c connects (retrying until the deadline while the
 * connection is refused or times out), sends INFILE and waits for the
 * receiver to close.  Both print the byte count on stdout.  -t bounds the
 * whole run (default 60 s).  Exits 0, 1 on a failure, 2 on bad usage, 3 on
 * timeout.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "endpoint.h"
#include "sock.h"

#define COPY_BUFFER 65536

static uint64_t deadline_ms;

static void usage(void)
{
	fprintf(stderr, "usage: tcpcopy -l ADDR:PORT -o OUTFILE [-r READYFILE] "
		"[-t SECONDS]\n       tcpcopy -c ADDR:PORT -i INFILE "
		"[-t SECONDS]\n");
	exit(2);
}

/* Waits for events on fd until the deadline; exits 3 when it passes. */
static void wait_for(int fd, short events)
{
	struct pollfd pfd = { fd, events, 0 };
	uint64_t now;
	int rc;

	for (;;) {
		now = clock_monotonic_ms();
		if (now >= deadline_ms)
			errx(3, "timed out");
		rc = poll(&pfd, 1, (int)(deadline_ms - now));
		if (rc > 0)
			return;
		if (rc == -1 && errno != EINTR)
			err(1, "poll");
	}
}

static int listen_socket(const union endpoint *ep, const char *ready)
{
	int fd, on = 1;
	FILE *f;

	fd = socket(ep->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1)
		err(1, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, &ep->sa, endpoint_len(ep)) == -1 || listen(fd, 1) == -1)
		err(1, "bind or listen");
	if (ready != NULL) {
		f = fopen(ready, "w");
		if (f == NULL || fputs("listening\n", f) == EOF ||
		    fclose(f) == EOF)
			err(1, "%s", ready);
	}
	return fd;
}

static void receive_file(const union endpoint *ep, const char *out,
			 const char *ready)
{
	static char buf[COPY_BUFFER];
	unsigned long long total = 0;
	int lfd, fd, ofd;
	ssize_t n;

	lfd = listen_socket(ep, ready);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (ofd == -1)
		err(1, "%s", out);
	wait_for(lfd, POLLIN);
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	if (fd == -1)
		err(1, "accept");
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n == -1 && errno == EAGAIN) {
			wait_for(fd, POLLIN);
			continue;
		}
		if (n == -1)
			err(1, "read");
		if (write(ofd, buf, (size_t)n) != n)
			err(1, "%s", out);
		total += (unsigned long long)n;
	}
	if (close(ofd) == -1)
		err(1, "%s", out);
	close(fd);
	close(lfd);
	printf("%llu\n", total);
}

/* Connects, retrying while the listener is not there yet. */
static int connect_socket(const union endpoint *ep)
{
	struct timeval tv = { 2, 0 };
	int fd;

	for (;;) {
		fd = socket(ep->sa.sa_family, SOCK_STREAM, 0);
		if (fd == -1)
			err(1, "socket");
		/* Bounds each attempt: SYN retries alone take minutes. */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, &ep->sa, endpoint_len(ep)) == 0)
			return fd;
		if (errno != ECONNREFUSED && errno != ETIMEDOUT &&
		    errno != EINPROGRESS && errno != EHOSTUNREACH &&
		    errno != ENETUNREACH)
			err(1, "connect");
		close(fd);
		if (clock_monotonic_ms() >= deadline_ms)
			errx(3, "timed out connecting");
		usleep(100000);
	}
}

static void send_file(const union endpoint *ep, const char *in)
{
	static char buf[COPY_BUFFER];
	unsigned long long total = 0;
	ssize_t n, off, w;
	int fd, ifd;

	ifd = open(in, O_RDONLY);
	if (ifd == -1)
		err(1, "%s", in);
	fd = connect_socket(ep);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl");
	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w == -1 && errno == EAGAIN) {
				wait_for(fd, POLLOUT);
				w = 0;
			} else if (w == -1) {
				err(1, "write");
			}
		}
		total += (unsigned long long)n;
	}
	if (n == -1)
		err(1, "%s", in);
	if (shutdown(fd, SHUT_WR) == -1)
		err(1, "shutdown");
	/* The receiver closes once it has everything. */
	for (;;) {
		wait_for(fd, POLLIN);
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n == -1 && errno != EAGAIN)
			err(1, "read");
	}
	close(fd);
	close(ifd);
	printf("%llu\n", total);
}

int main(int argc, char **argv)
{
	const char *listen_arg = NULL, *connect_arg = NULL, *in = NULL;
	const char *out = NULL, *ready = NULL, *errstr;
	long long seconds = 60;
	struct avpn_error e;
	union endpoint ep;
	int ch;

	while ((ch = getopt(argc, argv, "c:i:l:o:r:t:")) != -1) {
		switch (ch) {
		case 'c':
			connect_arg = optarg;
			break;
		case 'i':
			in = optarg;
			break;
		case 'l':
			listen_arg = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			ready = optarg;
			break;
		case 't':
			seconds = strtonum(optarg, 1, 3600, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (listen_arg == NULL) == (connect_arg == NULL) ||
	    (listen_arg != NULL && out == NULL) ||
	    (connect_arg != NULL && in == NULL))
		usage();
	deadline_ms = clock_monotonic_ms() + (uint64_t)seconds * 1000;
	if (endpoint_parse(&ep, listen_arg ? listen_arg : connect_arg, 0,
			   &e) == -1)
		errx(2, "%s", e.text);
	if (listen_arg != NULL)
		receive_file(&ep, out, ready);
	else
		send_file(&ep, in);
	return 0;
}
