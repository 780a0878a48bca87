/*
 * avpn-registry: the Auto VPN registry.  Authenticates nodes from the
 * authorized-nodes file, records the endpoint each registration came
 * from, replies to peer queries, pushes changes, forwards punch requests
 * and reflects the NAT mapping on a second port.
 */
#include <err.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "registry.h"
#include "sock.h"

#define DEFAULT_LIFETIME_S 180
#define MAX_LIFETIME_S 86400
#define MAX_ENTRIES_LIMIT 100000000

/* The loop wakes at least this often to expire entries and save state. */
#define TICK_MS 1000

static struct send_queue main_queue, nat_queue;

/* Global so that wipe_secrets can reach it on every exit path. */
static struct registry registry;

static void wipe_secrets(void)
{
	sodium_memzero(registry.private_key, sizeof(registry.private_key));
}

/*
 * Gives every allocation of 1 MiB or more its own mapping, which free()
 * returns to the kernel.  By default glibc raises that threshold to the
 * size of a freed large block, up to 32 MiB, so after the first load the
 * table's arrays land on the heap and every SIGHUP reload leaves freed
 * gaps there that stay resident.  With a million nodes (glibc 2.36) three
 * reloads grew the resident size from 285 to 311 MiB and the peak to
 * 513 MiB; with the fixed threshold they stay at 237 and 472 MiB.
 */
static void malloc_setup(void)
{
	/* AddressSanitizer's allocator ignores mallopt and returns 0. */
	if (mallopt(M_MMAP_THRESHOLD, 1024 * 1024) == 0)
		log_msg(LOG_LEVEL_DEBUG, "the allocator ignored the malloc "
			"mmap threshold; reloads may leave freed memory "
			"resident");
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: avpn-registry -k KEYFILE -a AUTHFILE "
		"[-l ADDR[:PORT]] [-N PORT]\n"
		"                     [-S STATEFILE] [-T SECONDS] "
		"[-m MAXENTRIES] [-v] [-s]\n");
	exit(AVPN_EXIT_USAGE);
}

static long long number_option(int ch, const char *arg, long long min,
			       long long max, const char *what)
{
	const char *errstr;
	long long n;

	n = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		errx(AVPN_EXIT_USAGE, "-%c: %s \"%s\" is %s; expected %lld-%lld",
		     ch, what, arg, errstr, min, max);
	return n;
}

static void parse_option(int ch, struct config *cfg, long *nat_port)
{
	struct avpn_error e;

	switch (ch) {
	case 'a': cfg->auth_path = optarg; break;
	case 'k': cfg->key_path = optarg; break;
	case 'S': cfg->state_path = optarg; break;
	case 's': cfg->syslog = true; break;
	case 'v': cfg->verbose = true; break;
	case 'l':
		if (endpoint_parse(&cfg->listen, optarg, AVPN_REGISTRY_PORT,
				   &e) == -1)
			errx(AVPN_EXIT_USAGE, "-l: %s", e.text);
		break;
	case 'N':
		*nat_port = (long)number_option(ch, optarg, 0, 65535, "port");
		break;
	case 'T':
		cfg->lifetime_s = (uint32_t)number_option(
			ch, optarg, 1, MAX_LIFETIME_S, "lifetime in seconds");
		break;
	case 'm':
		cfg->max_entries = (size_t)number_option(
			ch, optarg, 1, MAX_ENTRIES_LIMIT, "entry count");
		break;
	case ':':
		warnx("option -%c requires an argument", optopt);
		usage();
	default:
		warnx("unknown option -%c", optopt);
		usage();
	}
}

static void parse_options(int argc, char *argv[], struct config *cfg)
{
	struct avpn_error e;
	long nat_port = -1;
	uint16_t port;
	int ch;

	memset(cfg, 0, sizeof(*cfg));
	cfg->lifetime_s = DEFAULT_LIFETIME_S;
	if (endpoint_parse(&cfg->listen, "0.0.0.0", AVPN_REGISTRY_PORT,
			   &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	while ((ch = getopt(argc, argv, ":a:k:l:m:N:S:sT:v")) != -1)
		parse_option(ch, cfg, &nat_port);
	if (optind != argc)
		usage();
	if (cfg->key_path == NULL || cfg->auth_path == NULL) {
		warnx("missing %s", cfg->key_path == NULL ? "-k KEYFILE"
							  : "-a AUTHFILE");
		usage();
	}
	port = endpoint_port(&cfg->listen);
	if (nat_port == -1 && port == 65535)
		errx(AVPN_EXIT_USAGE, "-N: the listen port is 65535, so the "
		     "NAT-test port cannot be the next one; give -N PORT or "
		     "-N 0");
	cfg->nat_port = nat_port == -1 ? port + 1 : (uint16_t)nat_port;
	if (cfg->nat_port == port)
		errx(AVPN_EXIT_USAGE, "-N: the NAT-test port must differ from "
		     "the listen port %u", port);
}

/* Reads the registry's private key; exits on any error. */
static void load_key(struct registry *r, const char *path)
{
	struct avpn_error e;

	if (key_read_private_file(r->private_key, path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (key_public_from_private(r->public_key, r->private_key) == -1) {
		sodium_memzero(r->private_key, sizeof(r->private_key));
		errx(AVPN_EXIT_USAGE, "%s: weak private key; make a new one "
		     "with avpn-keygen", path);
	}
}

static void load_table(struct registry *r)
{
	struct auth_list auth;
	struct avpn_error e;

	if (auth_list_load(&auth, r->cfg->auth_path, &e) == -1 ||
	    table_build(&r->table, &auth, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (r->cfg->state_path != NULL &&
	    persist_load(r, r->cfg->state_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
}

/* Opens the control socket and the NAT-test socket (fd -1 if none). */
static void open_sockets(struct registry *r, int *fd_main, int *fd_nat)
{
	union endpoint nat = r->cfg->listen;
	struct avpn_error e;

	*fd_main = net_open(&r->cfg->listen, &e);
	if (*fd_main == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	*fd_nat = -1;
	if (r->cfg->nat_port != 0) {
		endpoint_set_port(&nat, r->cfg->nat_port);
		*fd_nat = net_open(&nat, &e);
		if (*fd_nat == -1)
			errx(AVPN_EXIT_FAILURE, "NAT-test port: %s", e.text);
	}
	main_queue.fd = *fd_main;
	main_queue.family = r->cfg->listen.sa.sa_family;
	nat_queue.fd = *fd_nat;
	nat_queue.family = r->cfg->listen.sa.sa_family;
	r->main_out = &main_queue;
	r->nat_out = &nat_queue;
}

/* Blocks the signals the loop handles and returns a signalfd for them. */
static int open_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		err(AVPN_EXIT_FAILURE, "sigprocmask");
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd == -1)
		err(AVPN_EXIT_FAILURE, "signalfd");
	return fd;
}

static void log_start(const struct registry *r)
{
	char listen[ENDPOINT_STRLEN], nat[ENDPOINT_STRLEN], key[64];
	union endpoint ep = r->cfg->listen;
	char max[32] = "no limit";

	endpoint_format(listen, &ep);
	endpoint_set_port(&ep, r->cfg->nat_port);
	endpoint_format(nat, &ep);
	key_to_base64(key, r->public_key);
	if (r->cfg->max_entries != 0)
		snprintf(max, sizeof(max), "%zu", r->cfg->max_entries);
	log_msg(LOG_LEVEL_INFO, "public key %s, %zu authorized nodes from %s, "
		"lifetime %u s, max entries %s", key, r->table.auth.count,
		r->cfg->auth_path, r->cfg->lifetime_s, max);
	log_msg(LOG_LEVEL_INFO, "listening on %s, NAT test on %s", listen,
		r->cfg->nat_port != 0 ? nat : "no port (disabled)");
}

/* Returns true when the loop should stop. */
static bool handle_signals(struct registry *r, int fd)
{
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo == SIGHUP) {
			log_msg(LOG_LEVEL_INFO, "reloading %s on SIGHUP",
				r->cfg->auth_path);
			registry_reload(r);
			continue;
		}
		log_msg(LOG_LEVEL_INFO, "stopping on %s",
			info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
		return true;
	}
	return false;
}

/* Milliseconds until the next entry expires or the state is due, at most
 * TICK_MS. */
static int next_timeout(const struct registry *r)
{
	uint64_t wait = TICK_MS, due;
	uint32_t head = r->table.head;

	if (head != NO_NODE) {
		due = r->table.nodes[head].refreshed_ms +
		      (uint64_t)r->cfg->lifetime_s * 1000;
		wait = due > r->now_ms ? due - r->now_ms : 0;
	}
	if (r->dirty && r->cfg->state_path != NULL)
		wait = r->save_due_ms > r->now_ms &&
				       r->save_due_ms - r->now_ms < wait
			       ? r->save_due_ms - r->now_ms
			       : wait;
	return wait > TICK_MS ? TICK_MS : (int)wait;
}

static void run(struct registry *r, int fd_main, int fd_nat, int fd_sig)
{
	struct pollfd pfd[3] = {
		{ .fd = fd_sig, .events = POLLIN },
		{ .fd = fd_main, .events = POLLIN },
		{ .fd = fd_nat, .events = POLLIN }, /* poll skips fd -1 */
	};

	for (;;) {
		registry_clock(r);
		if (poll(pfd, 3, next_timeout(r)) == -1 &&
		    errno != EINTR)
			err(AVPN_EXIT_FAILURE, "poll");
		if ((pfd[0].revents & POLLIN) && handle_signals(r, fd_sig))
			return;
		if (pfd[1].revents & POLLIN)
			net_receive(r, fd_main, r->main_out, false);
		if (fd_nat != -1 && (pfd[2].revents & POLLIN))
			net_receive(r, fd_nat, r->nat_out, true);
		registry_clock(r);
		registry_expire(r);
		net_flush(r, r->main_out);
		net_flush(r, r->nat_out);
		persist_maybe_save(r);
	}
}

static void log_stop(const struct registry *r)
{
	char text[512] = "";
	size_t used = 0;
	int reason;

	for (reason = 0; reason < DROP_REASONS; reason++) {
		if (r->drops[reason] == 0 || used >= sizeof(text))
			continue;
		used += (size_t)snprintf(text + used, sizeof(text) - used,
					 "%s%s %llu", used ? ", " : "",
					 drop_reason_text(reason),
					 (unsigned long long)r->drops[reason]);
	}
	log_msg(LOG_LEVEL_INFO, "stopped with %zu registered; dropped: %s",
		r->table.registered, used ? text : "none");
}

int main(int argc, char *argv[])
{
	struct registry *r = &registry;
	struct config cfg;
	int fd_main, fd_nat, fd_sig;

	parse_options(argc, argv, &cfg);
	/* Every reply takes a 24-byte random nonce.  libsodium's default
	 * source makes a getrandom() call for each; its internal ChaCha20
	 * generator is seeded once (and aborts if used after a fork). */
	randombytes_set_implementation(&randombytes_internal_implementation);
	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium initialisation failed");
	log_init("avpn-registry", cfg.verbose ? LOG_LEVEL_DEBUG
					      : LOG_LEVEL_INFO);
	if (cfg.syslog)
		log_use_syslog();
	malloc_setup();
	r->cfg = &cfg;
	atexit(wipe_secrets);
	registry_clock(r);
	load_key(r, cfg.key_path);
	load_table(r);
	r->sources = calloc(SOURCE_SLOTS, sizeof(*r->sources));
	if (r->sources == NULL)
		err(AVPN_EXIT_FAILURE, "source table");
	randombytes_buf(r->source_hash_key, sizeof(r->source_hash_key));
	fd_sig = open_signals();
	open_sockets(r, &fd_main, &fd_nat);
	log_start(r);
	run(r, fd_main, fd_nat, fd_sig);
	net_flush(r, r->main_out);
	net_flush(r, r->nat_out);
	if (cfg.state_path != NULL)
		persist_save(r);
	log_stop(r);
	table_free(&r->table);
	free(r->sources);
	return AVPN_EXIT_OK;
}
