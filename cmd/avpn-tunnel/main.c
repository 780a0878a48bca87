/*
 * avpn-tunnel: the long-running WireGuard-protocol tunnel between sites.
 * Option parsing, set-up and tear-down; loop.c runs the event loop.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"
#include "sock.h"
#include "tun.h"
#include "tunnel.h"

static void usage(void)
{
	fprintf(stderr, "usage: avpn-tunnel -k KEYFILE -i IFNAME "
		"[-a ADDR/PREFIX] [-m MTU] [-S STATUSFILE] [-v] SELF PEERS\n");
	exit(AVPN_EXIT_USAGE);
}

/* Reads AVPN_TEST_REKEY_AFTER_MS, a test-only shortcut to a rekey. */
static void parse_test_environment(struct tunnel_options *opt)
{
	const char *value = getenv("AVPN_TEST_REKEY_AFTER_MS");
	const char *errstr;

	if (value == NULL || *value == '\0')
		return;
	opt->test_rekey_after_ms = (uint64_t)strtonum(value, 1000,
						      WG_REKEY_AFTER_TIME_MS,
						      &errstr);
	if (errstr != NULL)
		errx(AVPN_EXIT_USAGE, "AVPN_TEST_REKEY_AFTER_MS \"%s\" is %s, "
		     "expected 1000-%d", value, errstr,
		     WG_REKEY_AFTER_TIME_MS);
}

static void parse_options(struct tunnel_options *opt, int argc, char **argv)
{
	struct avpn_error e;
	const char *errstr;
	int ch;

	memset(opt, 0, sizeof(*opt));
	opt->mtu = TUNNEL_MTU_DEFAULT;
	while ((ch = getopt(argc, argv, "a:i:k:m:S:v")) != -1) {
		switch (ch) {
		case 'a':
			if (route_ifaddr_parse(&opt->ifaddr, optarg, &e) == -1)
				errx(AVPN_EXIT_USAGE, "-a: %s", e.text);
			break;
		case 'i':
			if (tun_name_check(optarg, &e) == -1)
				errx(AVPN_EXIT_USAGE, "-i: %s", e.text);
			opt->ifname = optarg;
			break;
		case 'k':
			opt->key_file = optarg;
			break;
		case 'm':
			opt->mtu = (unsigned)strtonum(optarg, TUNNEL_MTU_MIN,
						      TUNNEL_MTU_MAX, &errstr);
			if (errstr != NULL)
				errx(AVPN_EXIT_USAGE, "-m: MTU \"%s\" is %s, "
				     "expected %d-%d", optarg, errstr,
				     TUNNEL_MTU_MIN, TUNNEL_MTU_MAX);
			break;
		case 'S':
			opt->status_file = optarg;
			break;
		case 'v':
			opt->verbose = true;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || opt->key_file == NULL || opt->ifname == NULL)
		usage();
	opt->self_file = argv[optind];
	opt->peers_file = argv[optind + 1];
	if (strcmp(opt->self_file, "-") == 0 &&
	    strcmp(opt->peers_file, "-") == 0)
		errx(AVPN_EXIT_USAGE, "SELF and PEERS cannot both be stdin");
	parse_test_environment(opt);
}

/* Asks for bigger socket buffers; the FORCE variants pass the sysctl
 * limits when we are root, the plain ones are the fallback. */
static void socket_set_buffers(int fd)
{
	int size = TUNNEL_SOCKET_BUFFER;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
				 sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
		       sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
				 sizeof(size));
}

int tunnel_socket_open(struct tunnel *t, uint16_t port,
		       struct avpn_error *err)
{
	union endpoint local;
	int fd;

	memset(&local, 0, sizeof(local));
	local.sa.sa_family = (sa_family_t)t->family;
	endpoint_set_port(&local, port);
	fd = sock_open_udp(&local, NULL, err);
	if (fd == -1)
		return -1;
	socket_set_buffers(fd);
	if (t->fwmark != 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &t->fwmark,
		       sizeof(t->fwmark)) == -1) {
		error_set(err, "set fwmark %u: %s", t->fwmark,
			  strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the private key and creates the protocol device. */
static void setup_keys(struct tunnel *t)
{
	struct avpn_error e;

	if (key_read_private_file(t->private_key, t->opt.key_file, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (key_public_from_private(t->public_key, t->private_key) == -1)
		errx(AVPN_EXIT_USAGE, "%s: weak private key", t->opt.key_file);
	t->wg = wg_device_new(t->private_key, &e);
	if (t->wg == NULL)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

/* Creates the TUN device, brings it up and gives it its address. */
static void setup_interface(struct tunnel *t)
{
	struct avpn_error e;

	t->tun_fd = tun_open(t->opt.ifname, t->ifname, &e);
	if (t->tun_fd == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	t->ifindex = if_nametoindex(t->ifname);
	if (t->ifindex == 0)
		err(AVPN_EXIT_FAILURE, "%s", t->ifname);
	t->nl_fd = route_open(&e);
	if (t->nl_fd == -1 ||
	    route_link_up(t->nl_fd, t->ifindex, t->opt.mtu, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	if (t->opt.ifaddr.family != 0 &&
	    route_addr_add(t->nl_fd, t->ifindex, &t->opt.ifaddr, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

/* Reads and checks every input before anything is created, so bad input
 * exits with AVPN_EXIT_USAGE and leaves no device behind. */
static void setup(struct tunnel *t)
{
	struct peer_entries list;
	struct avpn_error e;

	setup_keys(t);
	if (config_load_self(t, &e) == -1 ||
	    config_read_peers(t, &list, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	t->udp_fd = tunnel_socket_open(t, t->listen_port, &e);
	if (t->udp_fd == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	if (dp_batch_init(&t->rx, &e) == -1 ||
	    dp_batch_init(&t->tx, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	setup_interface(t);
	control_init(t);
	config_apply_peers(t, &list);
	config_free_peers(&list);
	t->uapi_fd = uapi_listen(t->ifname, t->uapi_path, &e);
	if (t->uapi_fd == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	if (loop_setup(t, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

static void teardown(struct tunnel *t)
{
	status_uapi_close_all(t);
	if (t->uapi_fd != -1) {
		close(t->uapi_fd);
		unlink(t->uapi_path);
	}
	while (t->peers != NULL)
		peer_destroy(t->peers);
	allowed_ips_free(&t->allowed);
	wg_device_free(t->wg);
	dp_batch_free(&t->rx);
	dp_batch_free(&t->tx);
	sodium_memzero(t->private_key, sizeof(t->private_key));
	sodium_memzero(t->registry_shared, sizeof(t->registry_shared));
	/* Closing the TUN descriptor deletes the device and its routes. */
	close(t->tun_fd);
	close(t->udp_fd);
	close(t->nl_fd);
}

/* At most this many log lines per drop class every 10 s. */
#define DROP_LOG_BURST 5
#define DROP_LOG_INTERVAL_MS 10000

int main(int argc, char **argv)
{
	static const struct log_limit drop_limit =
		LOG_LIMIT_INIT(DROP_LOG_INTERVAL_MS, DROP_LOG_BURST);
	static struct tunnel t;
	int i, status;

	parse_options(&t.opt, argc, argv);
	log_init("avpn-tunnel", t.opt.verbose ? LOG_LEVEL_DEBUG :
						LOG_LEVEL_INFO);
	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium failed to initialise");
	t.udp_fd = t.tun_fd = t.nl_fd = t.uapi_fd = -1;
	t.epoll_fd = t.signal_fd = t.timer_fd = -1;
	allowed_ips_init(&t.allowed);
	for (i = 0; i < DROP_CLASS_COUNT; i++)
		t.drop_limits[i] = drop_limit;
	setup(&t);
	status = loop_run(&t);
	teardown(&t);
	log_msg(LOG_LEVEL_INFO, "stopped");
	return status;
}
