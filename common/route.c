#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "route.h"

/* A request: the netlink header, one family-specific header and a few
 * attributes. */
#define NL_REQUEST_MAX 256
#define NL_REPLY_MAX 8192

struct nl_request {
	struct nlmsghdr hdr;
	uint8_t body[NL_REQUEST_MAX];
};

static uint32_t nl_sequence;

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int route_prefix_parse(struct subnet *ifaddr, const char *s,
		       const char *what, struct avpn_error *err)
{
	char text[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *errstr;
	unsigned max;
	size_t len;

	memset(ifaddr, 0, sizeof(*ifaddr));
	if (slash == NULL)
		return error_set(err, "invalid %s \"%.64s\": expected "
				 "ADDR/PREFIX", what, s);
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(text))
		return error_set(err, "invalid %s \"%.64s\"", what, s);
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, ifaddr->addr) == 1)
		ifaddr->family = AF_INET;
	else if (inet_pton(AF_INET6, text, ifaddr->addr) == 1)
		ifaddr->family = AF_INET6;
	else
		return error_set(err, "invalid %s \"%.64s\": bad IP "
				 "address", what, s);
	max = ifaddr->family == AF_INET ? 32 : 128;
	if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return error_set(err, "invalid %s \"%.64s\": bad prefix "
				 "length", what, s);
	ifaddr->prefix = (uint8_t)strtonum(slash + 1, 0, max, &errstr);
	if (errstr != NULL)
		return error_set(err, "invalid %s \"%.64s\": prefix "
				 "length %s, expected 0-%u", what, s,
				 errstr, max);
	return 0;
}

int route_ifaddr_parse(struct subnet *ifaddr, const char *s,
		       struct avpn_error *err)
{
	return route_prefix_parse(ifaddr, s, "interface address", err);
}

int route_open(struct avpn_error *err)
{
	struct sockaddr_nl local;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return error_set(err, "netlink socket: %s", strerror(errno));
	memset(&local, 0, sizeof(local));
	local.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) == -1) {
		error_set(err, "bind netlink socket: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Starts a request of the given type with a zeroed family header of
 * body_len bytes. */
static void *nl_begin(struct nl_request *req, uint16_t type, uint16_t flags,
		      size_t body_len)
{
	memset(req, 0, sizeof(*req));
	req->hdr.nlmsg_len = NLMSG_LENGTH(body_len);
	req->hdr.nlmsg_type = type;
	req->hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	req->hdr.nlmsg_seq = ++nl_sequence;
	return NLMSG_DATA(&req->hdr);
}

static void nl_add_attr(struct nl_request *req, uint16_t type,
			const void *data, size_t len)
{
	struct rtattr *rta;

	rta = (struct rtattr *)((uint8_t *)req +
				NLMSG_ALIGN(req->hdr.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->hdr.nlmsg_len = NLMSG_ALIGN(req->hdr.nlmsg_len) +
			     (uint32_t)RTA_ALIGN(rta->rta_len);
}

/* Returns the kernel's answer to request seq: 0 or a negative errno. */
static int nl_read_ack(int nl, uint32_t seq)
{
	union {
		struct nlmsghdr hdr;
		uint8_t bytes[NL_REPLY_MAX];
	} reply;
	struct nlmsghdr *h;
	struct nlmsgerr *e;
	ssize_t n;

	for (;;) {
		n = recv(nl, &reply, sizeof(reply), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		for (h = &reply.hdr; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = NLMSG_DATA(h);
			return e->error;
		}
	}
}

/* Sends the request and waits for its acknowledgement. */
static int nl_talk(int nl, struct nl_request *req)
{
	struct sockaddr_nl kernel;

	memset(&kernel, 0, sizeof(kernel));
	kernel.nl_family = AF_NETLINK;
	if (sendto(nl, &req->hdr, req->hdr.nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		return -errno;
	return nl_read_ack(nl, req->hdr.nlmsg_seq);
}

/* Formats "10.2.0.0/24 on avpn0" style context for errors. */
static void describe(char *out, size_t size, unsigned ifindex,
		     const struct subnet *net)
{
	char ifname[IF_NAMESIZE] = "?";
	char addr[INET6_ADDRSTRLEN] = "?";

	if_indextoname(ifindex, ifname);
	inet_ntop(net->family, net->addr, addr, sizeof(addr));
	snprintf(out, size, "%s/%u on %s", addr, net->prefix, ifname);
}

int route_link_up(int nl, unsigned ifindex, unsigned mtu,
		  struct avpn_error *err)
{
	char ifname[IF_NAMESIZE] = "?";
	struct nl_request req;
	struct ifinfomsg *ifi;
	uint32_t value = mtu;
	int rc;

	ifi = nl_begin(&req, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	nl_add_attr(&req, IFLA_MTU, &value, sizeof(value));
	rc = nl_talk(nl, &req);
	if (rc == 0)
		return 0;
	if_indextoname(ifindex, ifname);
	return error_set(err, "set MTU %u and link up on %s: %s", mtu, ifname,
			 strerror(-rc));
}

int route_addr_add(int nl, unsigned ifindex, const struct subnet *ifaddr,
		   struct avpn_error *err)
{
	struct nl_request req;
	struct ifaddrmsg *ifa;
	char what[96];
	int rc;

	ifa = nl_begin(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE,
		       sizeof(*ifa));
	ifa->ifa_family = ifaddr->family;
	ifa->ifa_prefixlen = ifaddr->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	nl_add_attr(&req, IFA_LOCAL, ifaddr->addr, addr_len(ifaddr->family));
	nl_add_attr(&req, IFA_ADDRESS, ifaddr->addr,
		    addr_len(ifaddr->family));
	rc = nl_talk(nl, &req);
	if (rc == 0)
		return 0;
	describe(what, sizeof(what), ifindex, ifaddr);
	return error_set(err, "add address %s: %s", what, strerror(-rc));
}

/* Builds an RTM_NEWROUTE or RTM_DELROUTE request for net via ifindex. */
static void route_request(struct nl_request *req, uint16_t type,
			  uint16_t flags, unsigned ifindex,
			  const struct subnet *net)
{
	struct rtmsg *rtm;
	uint32_t oif = ifindex;

	rtm = nl_begin(req, type, flags, sizeof(*rtm));
	rtm->rtm_family = net->family;
	rtm->rtm_dst_len = net->prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	nl_add_attr(req, RTA_DST, net->addr, addr_len(net->family));
	nl_add_attr(req, RTA_OIF, &oif, sizeof(oif));
}

int route_add(int nl, unsigned ifindex, const struct subnet *net,
	      struct avpn_error *err)
{
	struct nl_request req;
	char what[96];
	int rc;

	/* NLM_F_EXCL, not NLM_F_REPLACE: a replace would take over the
	 * default route or a LAN's connected route of the same metric, and
	 * closing the device would then delete it for good. */
	route_request(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex,
		      net);
	rc = nl_talk(nl, &req);
	if (rc == 0)
		return 0;
	describe(what, sizeof(what), ifindex, net);
	if (rc == -EEXIST)
		return error_set(err, "add route to %s: a route to that "
				 "subnet exists already; it is kept and the "
				 "subnet's traffic does not enter the tunnel",
				 what);
	return error_set(err, "add route to %s: %s", what, strerror(-rc));
}

int route_del(int nl, unsigned ifindex, const struct subnet *net,
	      struct avpn_error *err)
{
	struct nl_request req;
	char what[96];
	int rc;

	route_request(&req, RTM_DELROUTE, 0, ifindex, net);
	rc = nl_talk(nl, &req);
	if (rc == 0 || rc == -ESRCH || rc == -ENODEV)
		return 0;
	describe(what, sizeof(what), ifindex, net);
	return error_set(err, "delete route to %s: %s", what, strerror(-rc));
}
