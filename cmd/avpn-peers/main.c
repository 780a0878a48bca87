/*
 * avpn-peers: step 2 of Auto VPN.  Asks the registry, from the node's port
 * and with the registry key pinned in the self record, for the peers this
 * node should reach, and prints one peer line per peer sorted by name.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "exchange.h"
#include "log.h"
#include "proto.h"
#include "sock.h"
#include "state.h"

#define DEFAULT_TIMEOUT_S 10
#define MAX_TIMEOUT_S 3600

struct options {
	const char *key_path;
	const char *out_path;
	const char *self_path;
	unsigned int timeout_s;
	bool verbose;
};

/* The MSG_PEERS pages of the newest query that got a reply. */
struct page_set {
	uint64_t echo;             /* the query they reply to, 0 for none yet */
	uint16_t pages;
	uint16_t received;
	struct msg_peers **page;   /* pages entries, NULL until received */
	bool rejected;
	struct msg_error error;
};

/* Wiped at exit, including the exits on errors after the key is read. */
static uint8_t shared_key[32];

static void wipe_secrets(void)
{
	sodium_memzero(shared_key, sizeof(shared_key));
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: avpn-peers -k KEYFILE [-o FILE] [-t SECONDS] "
		"[-v] SELF\n");
	exit(AVPN_EXIT_USAGE);
}

static void parse_options(int argc, char *argv[], struct options *opts)
{
	const char *errstr;
	int ch;

	memset(opts, 0, sizeof(*opts));
	opts->out_path = "-";
	opts->timeout_s = DEFAULT_TIMEOUT_S;
	while ((ch = getopt(argc, argv, ":k:o:t:v")) != -1) {
		switch (ch) {
		case 'k': opts->key_path = optarg; break;
		case 'o': opts->out_path = optarg; break;
		case 'v': opts->verbose = true; break;
		case 't':
			opts->timeout_s = (unsigned int)strtonum(
				optarg, 1, MAX_TIMEOUT_S, &errstr);
			if (errstr != NULL)
				errx(AVPN_EXIT_USAGE, "-t: timeout \"%s\" is "
				     "%s; expected 1-%d seconds", optarg,
				     errstr, MAX_TIMEOUT_S);
			break;
		case ':':
			warnx("option -%c requires an argument", optopt);
			usage();
		default:
			warnx("unknown option -%c", optopt);
			usage();
		}
	}
	if (opts->key_path == NULL) {
		warnx("missing -k KEYFILE");
		usage();
	}
	if (argc - optind != 1) {
		warnx(argc - optind == 0 ? "missing SELF" :
			"too many operands; expected one SELF file");
		usage();
	}
	opts->self_path = argv[optind];
}

/*
 * Reads the node's key, checks that it is the key the self record was
 * registered with, and derives the key shared with the pinned registry key.
 */
static void load_keys(const struct options *opts,
		      const struct self_record *self)
{
	char have[AVPN_KEY_BASE64_LEN + 1], want[AVPN_KEY_BASE64_LEN + 1];
	uint8_t private_key[AVPN_KEY_LEN], public_key[AVPN_KEY_LEN];
	struct avpn_error e;
	bool weak_private, weak_public;

	if (key_read_private_file(private_key, opts->key_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	weak_private = key_public_from_private(public_key, private_key) == -1;
	weak_public = !weak_private &&
		      proto_shared_key(shared_key, private_key,
				       self->registry_key) == -1;
	sodium_memzero(private_key, sizeof(private_key));
	if (weak_private)
		errx(AVPN_EXIT_USAGE, "%s: weak private key; make a new one "
		     "with avpn-keygen", opts->key_path);
	if (memcmp(public_key, self->public_key, AVPN_KEY_LEN) != 0) {
		key_to_base64(have, public_key);
		key_to_base64(want, self->public_key);
		errx(AVPN_EXIT_USAGE, "%s: key %s does not match the public "
		     "key %s in the self record %s; use the key that "
		     "avpn-register ran with", opts->key_path, have, want,
		     opts->self_path);
	}
	if (weak_public)
		errx(AVPN_EXIT_USAGE, "%s: weak registry key (all-zero shared "
		     "secret); run avpn-register with the registry's real "
		     "public key", opts->self_path);
}

static void page_set_reset(struct page_set *set, uint64_t echo,
			   uint16_t pages)
{
	uint16_t i;

	for (i = 0; i < set->pages; i++)
		free(set->page[i]);
	free(set->page);
	set->page = NULL;
	set->echo = echo;
	set->pages = pages;
	set->received = 0;
	if (pages == 0)
		return;
	set->page = calloc(pages, sizeof(*set->page));
	if (set->page == NULL)
		err(AVPN_EXIT_FAILURE, "calloc");
}

/*
 * Keeps the pages that reply to the newest query.  Pages of an older
 * query are dropped, so the list never mixes two states of the registry.
 */
static bool on_peers_reply(const struct proto_msg *reply, void *arg)
{
	const struct msg_peers *p = &reply->u.peers;
	struct page_set *set = arg;

	if (reply->type == MSG_ERROR &&
	    reply->u.error.request_type == MSG_QUERY) {
		set->rejected = true;
		set->error = reply->u.error;
		return true;
	}
	if (reply->type != MSG_PEERS || reply->echo < set->echo)
		return false;
	if (reply->echo > set->echo)
		page_set_reset(set, reply->echo, p->pages);
	if (p->pages != set->pages)
		return false;
	if (p->pages == 0)
		return true;
	if (p->page >= set->pages || set->page[p->page] != NULL)
		return false;
	set->page[p->page] = malloc(sizeof(*p));
	if (set->page[p->page] == NULL)
		err(AVPN_EXIT_FAILURE, "malloc");
	*set->page[p->page] = *p;
	set->received++;
	log_msg(LOG_LEVEL_DEBUG, "received page %u of %u with %u peers",
		p->page + 1, p->pages, p->count);
	return set->received == set->pages;
}

static void trace_progress(void *arg, const char *text)
{
	(void)arg;
	log_msg(LOG_LEVEL_DEBUG, "%s", text);
}

/* Exits with AVPN_EXIT_REJECTED, naming what to change at the registry. */
static void __attribute__((noreturn))
report_rejection(const struct options *opts, const struct self_record *self,
		 const char *registry_name, const struct msg_error *error)
{
	char key[AVPN_KEY_BASE64_LEN + 1];

	if (error->code == PERR_NOT_AUTHORIZED) {
		key_to_base64(key, self->public_key);
		errx(AVPN_EXIT_REJECTED, "registry %s rejected %s: key not "
		     "authorized; add %s to the registry's authorized-nodes "
		     "file", registry_name, opts->key_path, key);
	}
	errx(AVPN_EXIT_REJECTED, "registry %s rejected the peer query from "
	     "%s: %s", registry_name, opts->key_path,
	     proto_error_name(error->code));
}

/* Sends MSG_QUERY until every page has arrived; exits otherwise. */
static void query_peers(const struct options *opts,
			const struct self_record *self, struct page_set *set)
{
	char name[ENDPOINT_STRLEN], pinned_from[300];
	struct proto_msg request;
	enum exchange_status status;
	struct exchange ex;
	struct avpn_error e;
	int fd;

	endpoint_format(name, &self->registry);
	fd = sock_open_udp(&self->local, &self->registry, &e);
	if (fd == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	memset(&ex, 0, sizeof(ex));
	ex.fd = fd;
	ex.my_public = self->public_key;
	ex.their_public = self->registry_key;
	ex.shared = shared_key;
	ex.deadline_ms = clock_monotonic_ms() + opts->timeout_s * 1000ULL;
	ex.trace = trace_progress;
	memset(&request, 0, sizeof(request));
	request.type = MSG_QUERY;
	status = exchange_run(&ex, &request, on_peers_reply, set, &e);
	close(fd);
	if (status != EXCHANGE_DONE) {
		snprintf(pinned_from, sizeof(pinned_from), "the self record %s",
			 opts->self_path);
		errx(exchange_explain(&e, status, &ex, name, opts->timeout_s,
				      pinned_from), "%s", e.text);
	}
	if (set->rejected)
		report_rejection(opts, self, name, &set->error);
}

static int compare_names(const void *a, const void *b)
{
	const struct peer_record *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Converts every received peer into a peer record, sorted by name. */
static struct peer_record *collect_peers(const struct page_set *set,
					 size_t *count)
{
	struct peer_record *recs;
	size_t n = 0, total = 0;
	uint16_t i, j;

	for (i = 0; i < set->pages; i++)
		total += set->page[i]->count;
	recs = calloc(total > 0 ? total : 1, sizeof(*recs));
	if (recs == NULL)
		err(AVPN_EXIT_FAILURE, "calloc");
	for (i = 0; i < set->pages; i++)
		for (j = 0; j < set->page[i]->count; j++)
			proto_peer_to_record(&recs[n++],
					     &set->page[i]->peers[j]);
	qsort(recs, n, sizeof(*recs), compare_names);
	*count = n;
	return recs;
}

/* Formats the peer lines into one buffer and writes it to path at once. */
static void write_peers(const char *path, const struct peer_record *recs,
			size_t count)
{
	char line[4096], *data;
	size_t len = 0, i;
	struct avpn_error e;
	int n;

	data = malloc(count * sizeof(line) + 1);
	if (data == NULL)
		err(AVPN_EXIT_FAILURE, "malloc");
	for (i = 0; i < count; i++) {
		n = peer_record_format(line, sizeof(line), &recs[i]);
		if (n < 0 || (size_t)n >= sizeof(line))
			errx(AVPN_EXIT_FAILURE, "peer %s: line too long to "
			     "format", recs[i].name);
		memcpy(data + len, line, (size_t)n);
		len += (size_t)n;
	}
	data[len] = '\0';
	if (state_write_atomic(path, data, len, 0644, &e) == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
	free(data);
}

int main(int argc, char *argv[])
{
	struct avpn_error out_error;
	struct page_set set = { 0 };
	struct self_record self;
	struct peer_record *recs;
	struct options opts;
	struct avpn_error e;
	size_t count;

	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium failed to initialize");
	atexit(wipe_secrets);
	parse_options(argc, argv, &opts);
	if (state_check_writable(opts.out_path, &out_error) == -1)
		errx(AVPN_EXIT_USAGE, "-o %s", out_error.text);
	log_init("avpn-peers", opts.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if (self_record_read(&self, opts.self_path, &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	if (endpoint_port(&self.local) == 0)
		errx(AVPN_EXIT_USAGE, "%s: the self record has no local port; "
		     "run avpn-register again", opts.self_path);
	if (!endpoint_is_set(&self.registry))
		errx(AVPN_EXIT_USAGE, "%s: the self record has no registry "
		     "endpoint; run avpn-register again", opts.self_path);
	load_keys(&opts, &self);
	query_peers(&opts, &self, &set);
	wipe_secrets();
	recs = collect_peers(&set, &count);
	log_msg(LOG_LEVEL_INFO, "%zu peers", count);
	write_peers(opts.out_path, recs, count);
	free(recs);
	page_set_reset(&set, 0, 0);
	return AVPN_EXIT_OK;
}
