/*
 * registry-bench: the load client behind t/bench/registry.
 *
 *   registry-bench keys COUNT DIR
 *       derives COUNT node keys and a registry key from fixed seeds.  It
 *       writes DIR/registry.key and DIR/authorized, with 4 hubs and the
 *       rest spokes, each naming one hub and allowed one /24.  It also
 *       writes DIR/nodes.bin: per spoke its public key and the key it
 *       shares with the registry.  The keys are for benchmarks only:
 *       anyone can derive them.
 *   registry-bench run DIR ADDR:PORT SECONDS [REGISTRY_PID]
 *       registers every spoke once (the registry computes each shared key
 *       on first sight), then re-registers spokes round-robin for SECONDS,
 *       and prints the rate of acknowledged registrations of each phase.
 *       With REGISTRY_PID it also prints the registry's CPU time (user and
 *       system, from /proc) and the registrations per CPU second, a figure
 *       that other load on the machine does not lower.
 *
 * Requests go out from 1024 loopback addresses (127.1.0.0/22, chosen per
 * datagram with IP_PKTINFO) so the registry's per-source limit, meant for
 * one site, does not cap the benchmark.  At most WINDOW requests are
 * unanswered at a time.  A reply counts only when it opens with the
 * spoke's key and echoes the spoke's last request.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "proto.h"
#include "sock.h"

#define HUBS 4
#define SOURCES 1024
#define WINDOW 512
#define BATCH 64
/* Unanswered requests older than this are counted as lost. */
#define LOSS_TIMEOUT_MS 500

struct node_keys {
	uint8_t public_key[32];
	uint8_t shared[32];
};

struct bench {
	const struct node_keys *keys; /* spokes, from nodes.bin */
	size_t count;
	uint64_t *last_sent;          /* per spoke: timestamp of the request */
	uint32_t *by_prefix;          /* open addressing: spoke + 1 */
	size_t prefix_mask;
	uint8_t registry_key[32];
	union endpoint registry;
	int fd;
	size_t next;                  /* next spoke to register */
	size_t inflight;
	uint64_t acked, lost, bad;
	uint64_t last_reply_ms;
};

static void derive_private(uint8_t key[32], const char *label, uint64_t i)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, (const uint8_t *)&i, sizeof(i));
	crypto_generichash_final(&st, key, 32);
	key[0] &= 248;
	key[31] &= 127;
	key[31] |= 64;
}

/* The /24 that spoke i may announce: the i-th /24 from 10.0.0.0. */
static void spoke_subnet(struct subnet_list *list, size_t i)
{
	uint32_t net = (10u << 24) + ((uint32_t)i << 8);

	memset(list, 0, sizeof(*list));
	list->count = 1;
	list->nets[0].family = AF_INET;
	list->nets[0].prefix = 24;
	list->nets[0].addr[0] = net >> 24;
	list->nets[0].addr[1] = (net >> 16) & 0xff;
	list->nets[0].addr[2] = (net >> 8) & 0xff;
}

/* Fills every other spoke from first on, so a parent and a child process
 * can split the work. */
static void derive_spokes(struct node_keys *keys, size_t first, size_t count,
			  const uint8_t registry_public[32])
{
	uint8_t private_key[32];
	size_t i;

	for (i = first; i < count; i += 2) {
		derive_private(private_key, "avpn-bench-node", i + HUBS);
		crypto_scalarmult_base(keys[i].public_key, private_key);
		if (proto_shared_key(keys[i].shared, private_key,
				     registry_public) == -1)
			errx(1, "weak derived key %zu", i);
	}
}

static void write_authorized(const char *dir, const struct node_keys *keys,
			     size_t spokes)
{
	char path[4096], key[AVPN_KEY_BASE64_LEN + 1], net[SUBNET_STRLEN];
	uint8_t private_key[32], public_key[32];
	struct subnet_list list;
	size_t i;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/authorized", dir);
	fp = fopen(path, "we");
	if (fp == NULL)
		err(1, "%s", path);
	for (i = 0; i < HUBS; i++) {
		derive_private(private_key, "avpn-bench-node", i);
		crypto_scalarmult_base(public_key, private_key);
		key_to_base64(key, public_key);
		fprintf(fp, "%s h%zu hub -\n", key, i);
	}
	for (i = 0; i < spokes; i++) {
		key_to_base64(key, keys[i].public_key);
		spoke_subnet(&list, i);
		subnet_format(net, &list.nets[0]);
		fprintf(fp, "%s s%zx spoke %s h%zu\n", key, i, net, i % HUBS);
	}
	if (fclose(fp) != 0)
		err(1, "%s", path);
}

static void *map_nodes(const char *dir, size_t count, bool create)
{
	char path[4096];
	size_t size = count * sizeof(struct node_keys);
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/nodes.bin", dir);
	fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0644);
	if (fd == -1 || (create && ftruncate(fd, (off_t)size) == -1))
		err(1, "%s", path);
	p = mmap(NULL, size, create ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(1, "mmap %s", path);
	close(fd);
	return p;
}

static int cmd_keys(size_t total, const char *dir)
{
	uint8_t registry_private[32], registry_public[32];
	struct avpn_error e;
	struct node_keys *keys;
	char path[4096];
	size_t spokes = total - HUBS;
	pid_t child;
	int status;

	derive_private(registry_private, "avpn-bench-registry", 0);
	crypto_scalarmult_base(registry_public, registry_private);
	snprintf(path, sizeof(path), "%s/registry.key", dir);
	if (key_write_private_file(path, registry_private, &e) == -1)
		errx(1, "%s", e.text);
	keys = map_nodes(dir, spokes, true);
	child = fork();
	if (child == -1)
		err(1, "fork");
	derive_spokes(keys, child == 0 ? 1 : 0, spokes, registry_public);
	if (child == 0)
		_exit(0);
	if (waitpid(child, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		errx(1, "key derivation in the child failed");
	write_authorized(dir, keys, spokes);
	sodium_memzero(registry_private, sizeof(registry_private));
	return 0;
}

static size_t prefix_slot(const struct bench *b, const uint8_t *prefix)
{
	uint32_t h;

	memcpy(&h, prefix, 4);
	return (h * 2654435761u) & b->prefix_mask;
}

static void index_prefixes(struct bench *b)
{
	size_t size = 16, i, s;

	while (size < 2 * b->count)
		size *= 2;
	b->by_prefix = calloc(size, sizeof(*b->by_prefix));
	b->last_sent = calloc(b->count, sizeof(*b->last_sent));
	if (b->by_prefix == NULL || b->last_sent == NULL)
		err(1, "index");
	b->prefix_mask = size - 1;
	for (i = 0; i < b->count; i++) {
		s = prefix_slot(b, b->keys[i].public_key);
		while (b->by_prefix[s] != 0)
			s = (s + 1) & b->prefix_mask;
		b->by_prefix[s] = (uint32_t)i + 1;
	}
}

/* Finds the spoke a reply is for, by the recipient id in its header, and
 * checks that it acknowledges that spoke's last request. */
static bool reply_valid(struct bench *b, const uint8_t *buf, size_t len)
{
	struct proto_msg m;
	size_t s;
	uint32_t i;

	if (len < PROTO_MIN_LEN)
		return false;
	for (s = prefix_slot(b, buf + 36); (i = b->by_prefix[s]) != 0;
	     s = (s + 1) & b->prefix_mask) {
		if (memcmp(b->keys[i - 1].public_key, buf + 36, 4) != 0)
			continue;
		if (proto_open(&m, buf, len, b->keys[i - 1].shared, NULL) == 0)
			return m.type == MSG_REGISTER_ACK &&
			       m.echo == b->last_sent[i - 1];
	}
	return false;
}

/* Sends up to BATCH registrations, each from the next spoke. */
static void send_batch(struct bench *b, size_t n)
{
	static uint8_t bufs[BATCH][AVPN_DATAGRAM_MAX];
	static uint8_t control[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct proto_msg m;
	struct cmsghdr *c;
	struct in_pktinfo info;
	size_t k, spoke;
	ssize_t len;
	int sent;

	memset(msgs, 0, sizeof(msgs));
	for (k = 0; k < n; k++) {
		spoke = b->next++ % b->count;
		memset(&m, 0, sizeof(m));
		m.type = MSG_REGISTER;
		m.timestamp = proto_timestamp();
		spoke_subnet(&m.u.reg.subnets, spoke);
		/* avpn-register always sends its LAN endpoint. */
		m.u.reg.private_ep.in.sin_family = AF_INET;
		m.u.reg.private_ep.in.sin_port = htons(40000);
		m.u.reg.private_ep.in.sin_addr.s_addr =
			htonl(0xc0a80000u | (spoke & 0xffff));
		len = proto_seal(bufs[k], sizeof(bufs[k]), &m,
				 b->keys[spoke].public_key, b->registry_key,
				 b->keys[spoke].shared);
		if (len < 0)
			errx(1, "cannot seal");
		b->last_sent[spoke] = m.timestamp;
		memset(&info, 0, sizeof(info));
		info.ipi_spec_dst.s_addr = htonl((127u << 24) | (1u << 16) |
						 ((uint32_t)(spoke % SOURCES) + 1));
		iov[k].iov_base = bufs[k];
		iov[k].iov_len = (size_t)len;
		msgs[k].msg_hdr.msg_iov = &iov[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
		msgs[k].msg_hdr.msg_name = &b->registry.sa;
		msgs[k].msg_hdr.msg_namelen = endpoint_len(&b->registry);
		msgs[k].msg_hdr.msg_control = control[k];
		msgs[k].msg_hdr.msg_controllen = sizeof(control[k]);
		c = CMSG_FIRSTHDR(&msgs[k].msg_hdr);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(info));
		memcpy(CMSG_DATA(c), &info, sizeof(info));
	}
	sent = sendmmsg(b->fd, msgs, (unsigned int)n, 0);
	if (sent < 0)
		err(1, "sendmmsg");
	b->inflight += (size_t)sent;
}

static void receive_batch(struct bench *b)
{
	static uint8_t bufs[BATCH][AVPN_DATAGRAM_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int n, k;

	memset(msgs, 0, sizeof(msgs));
	for (k = 0; k < BATCH; k++) {
		iov[k].iov_base = bufs[k];
		iov[k].iov_len = sizeof(bufs[k]);
		msgs[k].msg_hdr.msg_iov = &iov[k];
		msgs[k].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(b->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
	for (k = 0; k < n; k++) {
		if (reply_valid(b, bufs[k], msgs[k].msg_len))
			b->acked++;
		else
			b->bad++;
		if (b->inflight > 0)
			b->inflight--;
	}
	if (n > 0)
		b->last_reply_ms = clock_monotonic_ms();
}

/* Keeps WINDOW requests in flight until total were acknowledged or lost,
 * or until deadline_ms.  Returns the acknowledged count. */
static uint64_t pump(struct bench *b, uint64_t total, uint64_t deadline_ms)
{
	struct pollfd pfd = { .fd = b->fd, .events = POLLIN };
	uint64_t start = b->acked + b->lost + b->bad, now, sent = 0;
	uint64_t acked_before = b->acked;
	size_t n;

	b->inflight = 0;
	b->last_reply_ms = clock_monotonic_ms();
	while (b->acked + b->lost + b->bad - start < total) {
		now = clock_monotonic_ms();
		if (now >= deadline_ms)
			break;
		while (b->inflight + BATCH <= WINDOW && sent < total) {
			n = total - sent < BATCH ? (size_t)(total - sent) : BATCH;
			send_batch(b, n);
			sent += n;
		}
		if (poll(&pfd, 1, 50) > 0)
			receive_batch(b);
		else if (now - b->last_reply_ms > LOSS_TIMEOUT_MS) {
			b->lost += b->inflight;
			b->inflight = 0;
			b->last_reply_ms = now;
		}
	}
	return b->acked - acked_before;
}

static void open_socket(struct bench *b)
{
	union endpoint any;
	struct avpn_error e;
	int size = 8 * 1024 * 1024;

	memset(&any, 0, sizeof(any));
	any.in.sin_family = AF_INET;
	b->fd = sock_open_udp(&any, NULL, &e);
	if (b->fd == -1)
		errx(1, "%s", e.text);
	setsockopt(b->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	setsockopt(b->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
}

/* Returns the CPU time of process pid in seconds, or 0 without a pid. */
static double cpu_seconds(pid_t pid)
{
	unsigned long long user = 0, sys = 0;
	char path[64];
	FILE *fp;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "re");
	if (fp == NULL)
		return 0;
	/* Fields 14 and 15; the command name in field 2 has no ')' here. */
	if (fscanf(fp, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u "
		   "%*u %*u %llu %llu", &user, &sys) != 2)
		user = sys = 0;
	fclose(fp);
	return (double)(user + sys) / (double)sysconf(_SC_CLK_TCK);
}

static void print_phase(const char *phase, uint64_t acked, uint64_t ms,
			const struct bench *b, double cpu)
{
	printf("%s: %llu in %.2f s, %.0f/s (lost %llu, bad %llu)", phase,
	       (unsigned long long)acked, (double)ms / 1000,
	       (double)acked * 1000.0 / (double)(ms + 1),
	       (unsigned long long)b->lost, (unsigned long long)b->bad);
	if (cpu > 0)
		printf("; registry CPU %.2f s, %.0f per CPU second", cpu,
		       (double)acked / cpu);
	printf("\n");
	fflush(stdout);
}

static int cmd_run(const char *dir, const char *registry, int seconds,
		   pid_t pid)
{
	uint8_t registry_private[32];
	char path[4096];
	struct avpn_error e;
	struct bench b;
	struct stat st;
	uint64_t t0, t1, acked;
	double cpu;

	memset(&b, 0, sizeof(b));
	snprintf(path, sizeof(path), "%s/nodes.bin", dir);
	if (stat(path, &st) == -1)
		err(1, "%s", path);
	b.count = (size_t)st.st_size / sizeof(struct node_keys);
	b.keys = map_nodes(dir, b.count, false);
	derive_private(registry_private, "avpn-bench-registry", 0);
	crypto_scalarmult_base(b.registry_key, registry_private);
	if (endpoint_parse(&b.registry, registry, 0, &e) == -1)
		errx(1, "%s", e.text);
	index_prefixes(&b);
	open_socket(&b);

	cpu = cpu_seconds(pid);
	t0 = clock_monotonic_ms();
	acked = pump(&b, b.count, t0 + 600 * 1000);
	t1 = clock_monotonic_ms();
	print_phase("first registrations", acked, t1 - t0, &b,
		    cpu_seconds(pid) - cpu);
	b.lost = b.bad = 0;
	cpu = cpu_seconds(pid);
	t0 = clock_monotonic_ms();
	acked = pump(&b, UINT64_MAX, t0 + (uint64_t)seconds * 1000);
	t1 = clock_monotonic_ms();
	print_phase("refresh registrations", acked, t1 - t0, &b,
		    cpu_seconds(pid) - cpu);
	return b.count > 0 && acked == 0;
}

int main(int argc, char *argv[])
{
	const char *errstr = NULL;
	long long n;
	pid_t pid;

	if (sodium_init() == -1)
		errx(1, "libsodium initialisation failed");
	if (argc == 4 && strcmp(argv[1], "keys") == 0) {
		n = strtonum(argv[2], HUBS + 1, 16000000, &errstr);
		if (errstr != NULL)
			errx(2, "COUNT %s: %s", argv[2], errstr);
		return cmd_keys((size_t)n, argv[3]);
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "run") == 0) {
		n = strtonum(argv[4], 1, 3600, &errstr);
		if (errstr != NULL)
			errx(2, "SECONDS %s: %s", argv[4], errstr);
		pid = argc == 6 ? (pid_t)strtonum(argv[5], 1, INT32_MAX,
						  &errstr) : 0;
		if (errstr != NULL)
			errx(2, "REGISTRY_PID %s: %s", argv[5], errstr);
		return cmd_run(argv[2], argv[3], (int)n, pid);
	}
	fprintf(stderr, "usage: registry-bench keys COUNT DIR\n"
		"       registry-bench run DIR ADDR:PORT SECONDS "
		"[REGISTRY_PID]\n");
	return 2;
}
