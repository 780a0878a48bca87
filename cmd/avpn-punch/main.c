/*
 * avpn-punch: step 3 of Auto VPN.  Opens NAT paths from the node's
 * registered port to its peers and prints the working endpoint of each
 * peer it reached.  The registry forwards a punch request to every peer, so
 * both sides probe at once.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "log.h"
#include "run.h"
#include "sock.h"

#define DEFAULT_TIMEOUT_S 10
#define MAX_TIMEOUT_S 3600

struct options {
	const char *key_path;
	const char *out_path;
	const char *self_path;
	const char *peers_path;
	unsigned int timeout_s;
	int verbose;
};

/* Wiped at every exit after the keys are read. */
static struct run run;

static void wipe_secrets(void)
{
	sodium_memzero(run.my_private, sizeof(run.my_private));
	sodium_memzero(run.registry_shared, sizeof(run.registry_shared));
	for (size_t i = 0; i < run.peer_count; i++)
		sodium_memzero(run.peers[i].punch.shared,
			       sizeof(run.peers[i].punch.shared));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: avpn-punch -k KEYFILE [-o FILE] [-t SECONDS] [-L TTL] "
		"[-w] [-v]\n"
		"                  SELF [PEERS]\n");
	exit(AVPN_EXIT_USAGE);
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void parse_option(int ch, struct options *opts)
{
	const char *errstr;

	switch (ch) {
	case 'k': opts->key_path = optarg; break;
	case 'o': opts->out_path = optarg; break;
	case 'v': opts->verbose++; break;
	case 'w': run.wait = true; break;
	case 'L':
		run.config.low_ttl = (uint8_t)strtonum(optarg, 0, 255, &errstr);
		if (errstr != NULL)
			errx(AVPN_EXIT_USAGE, "-L: TTL \"%s\" is %s; expected "
			     "0-255 (0 sends no low-TTL probes)", optarg,
			     errstr);
		break;
	case 't':
		opts->timeout_s = (unsigned int)strtonum(optarg, 1,
							 MAX_TIMEOUT_S, &errstr);
		if (errstr != NULL)
			errx(AVPN_EXIT_USAGE, "-t: timeout \"%s\" is %s; "
			     "expected 1-%d seconds", optarg, errstr,
			     MAX_TIMEOUT_S);
		break;
	default:
		usage();
	}
}

static void parse_options(int argc, char *argv[], struct options *opts)
{
	const struct punch_config defaults = PUNCH_CONFIG_DEFAULT;
	int ch;

	memset(opts, 0, sizeof(*opts));
	opts->out_path = "-";
	opts->timeout_s = DEFAULT_TIMEOUT_S;
	run.config = defaults;
	while ((ch = getopt(argc, argv, "k:L:o:t:vw")) != -1)
		parse_option(ch, opts);
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		usage();
	opts->self_path = argv[0];
	opts->peers_path = argc == 2 ? argv[1] : "-";
	if (opts->key_path == NULL) {
		warnx("missing -k KEYFILE");
		usage();
	}
	if (strcmp(opts->self_path, "-") == 0 &&
	    strcmp(opts->peers_path, "-") == 0)
		errx(AVPN_EXIT_USAGE, "SELF and PEERS cannot both be read "
		     "from stdin; name a PEERS file");
}

/*
 * Reads the node's key and checks it against the self record, then
 * derives the key shared with the registry.
 */
static void load_keys(const struct options *opts)
{
	struct avpn_error e;
	char text[AVPN_KEY_BASE64_LEN + 1];

	if (key_read_private_file(run.my_private, opts->key_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (key_public_from_private(run.my_public, run.my_private) == -1)
		errx(AVPN_EXIT_USAGE, "%s: weak private key", opts->key_path);
	if (sodium_memcmp(run.my_public, run.self.public_key,
			  AVPN_KEY_LEN) != 0) {
		key_to_base64(text, run.self.public_key);
		errx(AVPN_EXIT_USAGE, "%s does not belong to the self record "
		     "in %s (public key %s); pass the node's own key",
		     opts->key_path, opts->self_path, text);
	}
	run.have_registry = endpoint_is_set(&run.self.registry);
	if (run.have_registry &&
	    proto_shared_key(run.registry_shared, run.my_private,
			     run.self.registry_key) == -1)
		errx(AVPN_EXIT_USAGE, "%s: the registry's public key is weak",
		     opts->self_path);
}

/* Adds every peer line of PEERS to the run, candidates in order. */
static void load_peers(const struct options *opts)
{
	struct peer_record *recs = NULL;
	struct peer_entry *pe;
	struct avpn_error e;
	ssize_t n, i;

	n = peer_records_read(&recs, opts->peers_path, &e);
	if (n == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	for (i = 0; i < n; i++) {
		if (sodium_memcmp(recs[i].public_key, run.my_public,
				  AVPN_KEY_LEN) == 0)
			continue;
		if (punch_peer_record_check(&recs[i], &e) == -1)
			errx(AVPN_EXIT_USAGE, "%s: %s", opts->peers_path,
			     e.text);
		pe = run_find_peer(&run, recs[i].public_key);
		if (pe != NULL)
			errx(AVPN_EXIT_USAGE, "%s: peer %s is listed twice",
			     opts->peers_path, recs[i].name);
		pe = run_add_peer(&run, recs[i].public_key, recs[i].name);
		if (pe == NULL)
			errx(AVPN_EXIT_USAGE, "%s: peer %s: invalid key or "
			     "too many peers", opts->peers_path,
			     recs[i].name);
		pe->listed = true;
		pe->punch.nat = recs[i].nat;
		pe->punch.subnets = recs[i].subnets;
		pe->public_ep = recs[i].public_ep;
		pe->has_override = endpoint_is_set(&recs[i].override);
		punch_candidates_from_peer(&pe->punch, &recs[i].override,
					   &recs[i].public_ep,
					   &recs[i].private_ep);
	}
	free(recs);
}

static void open_socket(void)
{
	char text[ENDPOINT_STRLEN];
	struct avpn_error e;

	if (!endpoint_is_set(&run.self.local) ||
	    endpoint_port(&run.self.local) == 0)
		errx(AVPN_EXIT_USAGE, "the self record has no local endpoint "
		     "to bind");
	run.fd = sock_open_udp(&run.self.local, NULL, &e);
	if (run.fd == -1) {
		endpoint_format(text, &run.self.local);
		errx(AVPN_EXIT_FAILURE, "cannot bind the node's port %s: %s",
		     text, e.text);
	}
}

int main(int argc, char *argv[])
{
	struct avpn_error out_error;
	struct options opts;
	struct avpn_error e;
	int status;

	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium failed to initialise");
	parse_options(argc, argv, &opts);
	if (state_check_writable(opts.out_path, &out_error) == -1)
		errx(AVPN_EXIT_USAGE, "-o %s", out_error.text);
	log_init(getprogname(), opts.verbose >= 2 ? LOG_LEVEL_DEBUG :
		 opts.verbose == 1 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	if (self_record_read(&run.self, opts.self_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	atexit(wipe_secrets);
	load_keys(&opts);
	load_peers(&opts);
	open_socket();
	/* Our own low-TTL probes would reach the far NAT early when no NAT
	 * of ours is in the way. */
	run.low_ttl = run.self.nat != NAT_NONE;
	run.start_us = now_us();
	run.deadline_us = run.start_us + (uint64_t)opts.timeout_s * 1000000;
	run_loop(&run);
	close(run.fd);
	if (report_paths(&run, opts.out_path) == -1)
		exit(AVPN_EXIT_FAILURE);
	report_unreachable(&run);
	status = report_exit_status(&run);
	wipe_secrets();
	free(run.peers);
	run.peers = NULL;
	run.peer_count = 0;
	return status;
}
