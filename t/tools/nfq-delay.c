/*
 * nfq-delay QUEUE DELAY_MS LOSS_PERCENT READYFILE: delays and drops the
 * packets of netfilter queue QUEUE, for kernels built without sch_netem.
 * Every packet is dropped with probability LOSS_PERCENT, the others are
 * accepted DELAY_MS after they arrived, in order.  READYFILE is written
 * once the queue is bound.  Runs until SIGTERM or SIGINT.
 *
 * It speaks nfnetlink_queue directly (linux/netfilter/nfnetlink_queue.h)
 * and asks for packet metadata only, since only the packet id is needed.
 * Used with: iptables -A FORWARD -j NFQUEUE --queue-num QUEUE
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* Packets waiting for their verdict; the kernel queues 1024 by default. */
#define HELD_MAX 4096

struct held {
	uint32_t id;
	uint64_t due_us;
};

static struct held held[HELD_MAX];
static size_t held_head, held_count;
static volatile sig_atomic_t stop_requested;
static uint16_t queue_num;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Appends one attribute at the end of the message in buf. */
static void put_attr(char *buf, uint16_t type, const void *data, size_t len)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(nh->nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Starts a queue message of type msg_type in buf. */
static void start_msg(char *buf, uint16_t msg_type, uint16_t flags)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nfgenmsg *g;

	memset(buf, 0, NLMSG_SPACE(sizeof(*g)));
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(*g));
	nh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | msg_type;
	nh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = NLMSG_DATA(nh);
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(queue_num);
}

static void send_msg(int fd, char *buf)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(fd, buf, nh->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) == -1)
		err(1, "netlink send");
}

static void bind_queue(int fd)
{
	char buf[256];
	struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND };
	struct nfqnl_msg_config_params params = {
		.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META,
	};

	start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
	put_attr(buf, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	send_msg(fd, buf);
	start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
	put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof(params));
	send_msg(fd, buf);
}

/* Waits for the kernel's acknowledgement of each of count requests. */
static void wait_acks(int fd, int count)
{
	char buf[8192];
	struct nlmsghdr *nh;
	const struct nlmsgerr *e;
	ssize_t len;

	while (count > 0) {
		len = recv(fd, buf, sizeof(buf), 0);
		if (len == -1)
			err(1, "netlink receive");
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = NLMSG_DATA(nh);
			if (e->error != 0)
				errx(1, "binding queue %u: %s", queue_num,
				     strerror(-e->error));
			count--;
		}
	}
}

static void verdict(int fd, uint32_t id, uint32_t v)
{
	char buf[256];
	struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl(v),
					    .id = htonl(id) };

	start_msg(buf, NFQNL_MSG_VERDICT, 0);
	put_attr(buf, NFQA_VERDICT_HDR, &vh, sizeof(vh));
	send_msg(fd, buf);
}

/* Returns the packet id of a NFQNL_MSG_PACKET, or -1. */
static int64_t packet_id(const struct nlmsghdr *nh)
{
	const char *p = (const char *)NLMSG_DATA(nh) +
		NLMSG_ALIGN(sizeof(struct nfgenmsg));
	const char *end = (const char *)nh + nh->nlmsg_len;
	const struct nlattr *a;
	struct nfqnl_msg_packet_hdr ph;

	while (p + NLA_HDRLEN <= end) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			return -1;
		if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
		    a->nla_len >= NLA_HDRLEN + sizeof(ph)) {
			memcpy(&ph, p + NLA_HDRLEN, sizeof(ph));
			return ntohl(ph.packet_id);
		}
		p += NLA_ALIGN(a->nla_len);
	}
	return -1;
}

/* Drops the packet or holds it for its delay. */
static void take_packet(int fd, uint32_t id, uint64_t delay_us,
			uint32_t loss)
{
	if (randombytes_uniform(100) < loss) {
		verdict(fd, id, NF_DROP);
		return;
	}
	if (held_count == HELD_MAX) {
		verdict(fd, id, NF_DROP);
		return;
	}
	held[(held_head + held_count) % HELD_MAX] =
		(struct held){ id, now_us() + delay_us };
	held_count++;
}

static void receive(int fd, uint64_t delay_us, uint32_t loss)
{
	char buf[8192];
	struct nlmsghdr *nh;
	ssize_t len;
	int64_t id;

	len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (len == -1) {
		if (errno == ENOBUFS)
			warnx("netlink receive buffer overrun");
		else if (errno != EAGAIN && errno != EINTR)
			err(1, "netlink receive");
		return;
	}
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len);
	     nh = NLMSG_NEXT(nh, len)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);
			if (e->error != 0)
				errx(1, "netlink: %s", strerror(-e->error));
			continue;
		}
		if ((nh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
			continue;
		id = packet_id(nh);
		if (id >= 0)
			take_packet(fd, (uint32_t)id, delay_us, loss);
	}
}

/* Accepts every held packet whose time has come; returns the poll
 * timeout in ms until the next one. */
static int release_due(int fd)
{
	uint64_t now = now_us();

	while (held_count > 0 && held[held_head].due_us <= now) {
		verdict(fd, held[held_head].id, NF_ACCEPT);
		held_head = (held_head + 1) % HELD_MAX;
		held_count--;
	}
	if (held_count == 0)
		return 100;
	return (int)((held[held_head].due_us - now + 999) / 1000);
}

int main(int argc, char *argv[])
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct pollfd pfd = { .events = POLLIN };
	const char *errstr;
	uint64_t delay_us;
	uint32_t loss;
	FILE *ready;

	if (argc != 5)
		errx(2, "usage: nfq-delay QUEUE DELAY_MS LOSS_PERCENT READYFILE");
	if (sodium_init() == -1)
		errx(1, "libsodium failed to initialise");
	queue_num = (uint16_t)strtonum(argv[1], 0, 65535, &errstr);
	if (errstr != NULL)
		errx(2, "queue \"%s\" is %s", argv[1], errstr);
	delay_us = (uint64_t)strtonum(argv[2], 0, 10000, &errstr) * 1000;
	if (errstr != NULL)
		errx(2, "delay \"%s\" is %s", argv[2], errstr);
	loss = (uint32_t)strtonum(argv[3], 0, 100, &errstr);
	if (errstr != NULL)
		errx(2, "loss \"%s\" is %s", argv[3], errstr);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	pfd.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (pfd.fd == -1 ||
	    bind(pfd.fd, (struct sockaddr *)&local, sizeof(local)) == -1)
		err(1, "netlink socket");
	bind_queue(pfd.fd);
	wait_acks(pfd.fd, 2);
	ready = fopen(argv[4], "w");
	if (ready == NULL || fputs("ready\n", ready) == EOF ||
	    fclose(ready) == EOF)
		err(1, "%s", argv[4]);
	while (!stop_requested) {
		if (poll(&pfd, 1, release_due(pfd.fd)) > 0)
			receive(pfd.fd, delay_us, loss);
	}
	return 0;
}
