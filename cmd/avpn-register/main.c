/*
 * avpn-register: step 1 of Auto VPN.  Registers the node with the registry
 * from the node's UDP port and writes the self record: what the registry
 * observed (the public mapping) and the NAT's mapping behaviour.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "log.h"
#include "proto.h"
#include "register.h"
#include "sock.h"
#include "state.h"

#define DEFAULT_TIMEOUT_S 10
#define MAX_TIMEOUT_S 3600

struct options {
	const char *key_path;
	const char *registry_arg;
	const char *registry_pub_path;
	const char *bind_arg;
	const char *override_arg;
	const char *out_path;
	const char *self_path; /* the SELF operand, or NULL */
	uint16_t port;         /* -p, or 0 */
	bool verbose;
};

/* Wiped at exit, including the exits on errors after the keys are read. */
static struct registration registration;

static void wipe_secrets(void)
{
	sodium_memzero(registration.shared, sizeof(registration.shared));
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: avpn-register -k KEYFILE -r HOST[:PORT] "
		"-R REGISTRY_PUBFILE\n"
		"                     [-s SUBNETS] [-p PORT] [-b ADDR] "
		"[-e OVERRIDE] [-o FILE]\n"
		"                     [-t SECONDS] [-v] [SELF]\n");
	exit(AVPN_EXIT_USAGE);
}

static void require_option(const char *value, const char *option)
{
	if (value == NULL) {
		warnx("missing %s", option);
		usage();
	}
}

static void parse_option(int ch, struct options *opts,
			 struct registration *reg)
{
	struct avpn_error e;
	const char *errstr;

	switch (ch) {
	case 'b': opts->bind_arg = optarg; break;
	case 'e': opts->override_arg = optarg; break;
	case 'k': opts->key_path = optarg; break;
	case 'o': opts->out_path = optarg; break;
	case 'r': opts->registry_arg = optarg; break;
	case 'R': opts->registry_pub_path = optarg; break;
	case 'v': opts->verbose = true; break;
	case 'p':
		if (port_parse(&opts->port, optarg, &e) == -1)
			errx(AVPN_EXIT_USAGE, "-p: %s", e.text);
		break;
	case 's':
		if (subnet_list_parse(&reg->subnets, optarg, &e) == -1)
			errx(AVPN_EXIT_USAGE, "-s: %s", e.text);
		break;
	case 't':
		reg->timeout_s = (unsigned int)strtonum(optarg, 1,
							MAX_TIMEOUT_S, &errstr);
		if (errstr != NULL)
			errx(AVPN_EXIT_USAGE, "-t: timeout \"%s\" is %s; "
			     "expected 1-%d seconds", optarg, errstr,
			     MAX_TIMEOUT_S);
		break;
	case ':':
		warnx("option -%c requires an argument", optopt);
		usage();
	default:
		warnx("unknown option -%c", optopt);
		usage();
	}
}

static void parse_options(int argc, char *argv[], struct options *opts,
			  struct registration *reg)
{
	int ch;

	memset(opts, 0, sizeof(*opts));
	opts->out_path = "-";
	reg->timeout_s = DEFAULT_TIMEOUT_S;
	while ((ch = getopt(argc, argv, ":b:e:k:o:p:R:r:s:t:v")) != -1)
		parse_option(ch, opts, reg);
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		opts->self_path = argv[optind];
	require_option(opts->key_path, "-k KEYFILE");
	require_option(opts->registry_arg, "-r HOST[:PORT]");
	require_option(opts->registry_pub_path, "-R REGISTRY_PUBFILE");
}

/* Resolves -r and keeps a name for messages: "HOST (ADDRESS:PORT)". */
static void resolve_registry(struct registration *reg, const char *arg)
{
	char text[ENDPOINT_STRLEN];
	struct avpn_error e;

	if (endpoint_resolve(&reg->registry, arg, AVPN_REGISTRY_PORT, &e) == -1)
		errx(AVPN_EXIT_USAGE, "-r: %s", e.text);
	endpoint_format(text, &reg->registry);
	if (strcmp(arg, text) == 0)
		strlcpy(reg->registry_name, text, sizeof(reg->registry_name));
	else
		snprintf(reg->registry_name, sizeof(reg->registry_name),
			 "%s (%s)", arg, text);
}

/*
 * Reads the node's key and the registry's pinned key and derives the key
 * they share.  The private key is wiped before any exit.
 */
static void load_keys(struct registration *reg, const struct options *opts)
{
	uint8_t private_key[AVPN_KEY_LEN];
	struct avpn_error e;
	bool weak_private, weak_public;

	if (key_read_private_file(private_key, opts->key_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (key_read_public_file(reg->registry_key, opts->registry_pub_path,
				 &e) == -1) {
		sodium_memzero(private_key, sizeof(private_key));
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	}
	weak_private = key_public_from_private(reg->public_key,
					       private_key) == -1;
	weak_public = !weak_private &&
		      proto_shared_key(reg->shared, private_key,
				       reg->registry_key) == -1;
	sodium_memzero(private_key, sizeof(private_key));
	if (weak_private)
		errx(AVPN_EXIT_USAGE, "%s: weak private key; make a new one "
		     "with avpn-keygen", opts->key_path);
	if (weak_public)
		errx(AVPN_EXIT_USAGE, "%s: weak public key (all-zero shared "
		     "secret); get the registry's real public key",
		     opts->registry_pub_path);
	reg->key_path = opts->key_path;
	reg->registry_pub_path = opts->registry_pub_path;
}

/*
 * Returns the port to register from: -p, else the local port of an
 * existing self record (the SELF operand, or the -o file when it exists),
 * else a random one.  Keeping the port keeps the NAT mapping that peers
 * and a running avpn-tunnel rely on.  The NAT type of that record is sent
 * in the first registration, so an unchanged NAT causes no second one.
 */
static uint16_t choose_port(const struct options *opts,
			    struct registration *reg)
{
	struct self_record old;
	struct avpn_error e;
	const char *path = opts->self_path;
	uint16_t port;

	reg->random_port = false;
	reg->previous_nat = NAT_UNKNOWN;
	if (opts->port != 0)
		return opts->port;
	if (path == NULL && strcmp(opts->out_path, "-") != 0 &&
	    (access(opts->out_path, F_OK) == 0 || errno != ENOENT))
		path = opts->out_path;
	if (path == NULL) {
		reg->random_port = true;
		return sock_random_port();
	}
	if (self_record_read(&old, path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	port = endpoint_port(&old.local);
	if (port == 0)
		errx(AVPN_EXIT_USAGE, "%s: the self record has no local port; "
		     "give one with -p", path);
	reg->previous_nat = old.nat;
	log_msg(LOG_LEVEL_INFO, "reusing port %u from %s", port, path);
	return port;
}

/* Sets the local endpoint to bind: -b or the wildcard, and the port. */
static void parse_bind(struct registration *reg, const char *arg,
		       uint16_t port)
{
	union endpoint *b = &reg->bind;
	int family = reg->registry.sa.sa_family;

	memset(b, 0, sizeof(*b));
	b->sa.sa_family = (sa_family_t)family;
	if (arg != NULL) {
		if (inet_pton(AF_INET, arg, &b->in.sin_addr) == 1)
			b->sa.sa_family = AF_INET;
		else if (inet_pton(AF_INET6, arg, &b->in6.sin6_addr) == 1)
			b->sa.sa_family = AF_INET6;
		else
			errx(AVPN_EXIT_USAGE, "-b: invalid address \"%s\": "
			     "expected a numeric IPv4 or IPv6 address", arg);
		if (b->sa.sa_family != family)
			errx(AVPN_EXIT_USAGE, "-b: address %s is not of the "
			     "registry's address family (%s)", arg,
			     reg->registry_name);
	}
	endpoint_set_port(b, port);
}

/* Parses -e; without a port the override uses the node's local port. */
static void parse_override(struct registration *reg, const char *arg)
{
	struct avpn_error e;

	memset(&reg->override, 0, sizeof(reg->override));
	if (arg == NULL)
		return;
	if (endpoint_parse(&reg->override, arg, 0, &e) == 0)
		return;
	/* Any non-zero default port: the real one is known after bind. */
	if (endpoint_parse(&reg->override, arg, 1, &e) == -1)
		errx(AVPN_EXIT_USAGE, "-e: %s", e.text);
	reg->override_follows_port = true;
}

static void write_record(const char *path, const struct self_record *rec)
{
	char line[4096];
	struct avpn_error e;
	int len;

	len = self_record_format(line, sizeof(line), rec);
	if (len < 0 || (size_t)len >= sizeof(line))
		errx(AVPN_EXIT_FAILURE, "self record too long to format");
	if (state_write_atomic(path, line, (size_t)len, 0644, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

int main(int argc, char *argv[])
{
	struct avpn_error out_error;
	struct registration *reg = &registration;
	struct self_record rec;
	struct options opts;
	uint16_t port;

	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium failed to initialize");
	atexit(wipe_secrets);
	parse_options(argc, argv, &opts, reg);
	if (state_check_writable(opts.out_path, &out_error) == -1)
		errx(AVPN_EXIT_USAGE, "-o %s", out_error.text);
	log_init("avpn-register",
		 opts.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	parse_override(reg, opts.override_arg);
	load_keys(reg, &opts);
	port = choose_port(&opts, reg);
	resolve_registry(reg, opts.registry_arg);
	parse_bind(reg, opts.bind_arg, port);
	reg->deadline_ms = clock_monotonic_ms() + reg->timeout_s * 1000ULL;
	register_node(reg, &rec);
	wipe_secrets();
	write_record(opts.out_path, &rec);
	return AVPN_EXIT_OK;
}
