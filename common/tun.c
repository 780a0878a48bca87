#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>


#include "tun.h"

#define IPV4_HEADER_LEN 20
#define IPV6_HEADER_LEN 40

int tun_name_check(const char *name, struct avpn_error *err)
{
	size_t len = strlen(name);
	size_t i;

	if (len == 0 || len >= IFNAMSIZ)
		return error_set(err, "invalid interface name \"%s\": "
				 "expected 1 to %d characters", name,
				 IFNAMSIZ - 1);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return error_set(err, "invalid interface name \"%s\"", name);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c == '/' || c == ':' || c >= 0x7f)
			return error_set(err, "invalid interface name \"%s\": "
					 "no '/', ':', spaces or control "
					 "characters", name);
	}
	return 0;
}

int tun_open(const char *name, char actual[IFNAMSIZ], struct avpn_error *err)
{
	struct ifreq ifr;
	int fd;

	if (tun_name_check(name, err) == -1)
		return -1;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return error_set(err, "open /dev/net/tun: %s",
				 strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		error_set(err, "create TUN device %s: %s", name,
			  strerror(errno));
		close(fd);
		return -1;
	}
	strlcpy(actual, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

int tun_packet_addrs(const uint8_t *pkt, size_t len, const uint8_t **src,
		     const uint8_t **dst)
{
	if (len < 1)
		return -1;
	switch (pkt[0] >> 4) {
	case 4:
		if (len < IPV4_HEADER_LEN)
			return -1;
		*src = pkt + 12;
		*dst = pkt + 16;
		return AF_INET;
	case 6:
		if (len < IPV6_HEADER_LEN)
			return -1;
		*src = pkt + 8;
		*dst = pkt + 24;
		return AF_INET6;
	default:
		return -1;
	}
}

size_t tun_packet_len(const uint8_t *pkt, size_t len)
{
	size_t declared;

	if (len < 1)
		return 0;
	switch (pkt[0] >> 4) {
	case 4:
		if (len < IPV4_HEADER_LEN)
			return 0;
		declared = (size_t)pkt[2] << 8 | pkt[3];
		if (declared < IPV4_HEADER_LEN)
			return 0;
		break;
	case 6:
		if (len < IPV6_HEADER_LEN)
			return 0;
		declared = ((size_t)pkt[4] << 8 | pkt[5]) + IPV6_HEADER_LEN;
		break;
	default:
		return 0;
	}
	return declared <= len ? declared : 0;
}
