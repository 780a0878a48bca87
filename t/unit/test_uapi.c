/* Unit tests for common/uapi.c and common/uapi_parse.c. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "uapi.h"
#include "unit.h"

#define KEY_A "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY_B "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"

static int parse(struct uapi_request *req, const char *text, int *errno_out,
		 struct avpn_error *e)
{
	return uapi_request_parse(req, text, strlen(text), errno_out, e);
}

static void test_request_len(void)
{
	CHECK(uapi_request_len("get=1\n\n", 7) == 7, "get request length");
	CHECK(uapi_request_len("get=1\n", 6) == 0, "incomplete get waits");
	CHECK(uapi_request_len("set=1\nfwmark=1\n\nget=1\n\n", 24) == 16,
	      "first of two requests");
	CHECK(uapi_request_len("hello\n\n", 7) == -1, "junk is rejected");
	CHECK(uapi_request_len("se", 2) == 0, "two bytes wait");
}

static void test_get(void)
{
	struct uapi_request req;
	struct avpn_error e;
	int code;

	CHECK(parse(&req, "get=1\n\n", &code, &e) == 0, "get parses");
	CHECK(!req.is_set, "get is not a set");
	CHECK(parse(&req, "get=2\n\n", &code, &e) == -1, "get=2 rejected");
	CHECK(code == EPROTO, "get=2 answers EPROTO");
}

static void test_set_device_and_peer(void)
{
	static const char text[] =
		"set=1\n"
		"private_key=" KEY_A "\n"
		"listen_port=51820\n"
		"fwmark=0\n"
		"replace_peers=true\n"
		"public_key=" KEY_B "\n"
		"endpoint=192.0.2.7:51820\n"
		"persistent_keepalive_interval=25\n"
		"replace_allowed_ips=true\n"
		"allowed_ip=10.2.0.1/24\n"
		"allowed_ip=fd00::/64\n"
		"protocol_version=1\n"
		"\n";
	struct uapi_request req;
	struct avpn_error e;
	char s[SUBNET_STRLEN], ep[ENDPOINT_STRLEN];
	uint8_t key[32];
	int code;

	CHECK(parse(&req, text, &code, &e) == 0, "full set parses");
	CHECK(req.is_set, "request is a set");
	CHECK(req.has_private_key, "private key present");
	sodium_hex2bin(key, 32, KEY_A, 64, NULL, NULL, NULL);
	CHECK(memcmp(key, req.private_key, 32) == 0, "private key decoded");
	CHECK(req.has_listen_port, "listen port present");
	CHECK(req.listen_port == 51820, "listen port 51820");
	CHECK(req.has_fwmark, "fwmark present");
	CHECK(req.fwmark == 0, "fwmark 0");
	CHECK(req.replace_peers, "replace_peers");
	CHECK(req.peer_count == 1, "one peer");
	CHECK(req.peers[0].has_endpoint, "endpoint present");
	endpoint_format(ep, &req.peers[0].endpoint);
	CHECK_STR(ep, "192.0.2.7:51820", "endpoint value");
	CHECK(req.peers[0].keepalive == 25, "keepalive 25");
	CHECK(req.peers[0].replace_allowed_ips, "replace_allowed_ips");
	CHECK(req.peers[0].allowed_count == 2, "two allowed IPs");
	subnet_format(s, &req.peers[0].allowed[0]);
	CHECK_STR(s, "10.2.0.0/24", "host bits of allowed IP cleared");
	uapi_request_free(&req);
}

static void test_set_errors(void)
{
	struct uapi_request req;
	struct avpn_error e;
	int code;

	CHECK(parse(&req, "set=1\nprivate_key=abc\n\n", &code, &e) == -1,
	      "short key rejected");
	CHECK(code == EINVAL, "short key answers EINVAL");
	CHECK(parse(&req, "set=1\nbogus=1\n\n", &code, &e) == -1,
	      "unknown device key rejected");
	CHECK(code == EPROTO, "unknown key answers EPROTO");
	CHECK(parse(&req, "set=1\npublic_key=" KEY_B "\nlisten_port=1\n\n",
		    &code, &e) == -1, "device key inside peer rejected");
	CHECK(code == EPROTO, "device key inside peer answers EPROTO");
	CHECK(parse(&req, "set=1\nlisten_port=65536\n\n", &code, &e) == -1,
	      "port 65536 rejected");
	CHECK(code == EINVAL, "port 65536 answers EINVAL");
	CHECK(parse(&req, "set=1\npublic_key=" KEY_B "\nremove=yes\n\n",
		    &code, &e) == -1, "remove=yes rejected");
	CHECK(parse(&req, "set=1\npublic_key=" KEY_B "\nendpoint=x:1\n\n",
		    &code, &e) == -1, "endpoint name rejected");
	CHECK(code == EINVAL, "bad endpoint answers EINVAL");
	CHECK(parse(&req, "set=1\npublic_key=" KEY_B "\nallowed_ip=10.0.0.1"
		    "\n\n", &code, &e) == -1, "allowed IP without prefix");
	CHECK(parse(&req, "set=1\npublic_key=" KEY_B "\nprotocol_version=2"
		    "\n\n", &code, &e) == -1, "protocol version 2 rejected");
	CHECK(parse(&req, "set=1\nfwmark\n\n", &code, &e) == -1,
	      "line without = rejected");
	CHECK(code == EPROTO, "line without = answers EPROTO");
}

static void test_format(void)
{
	struct uapi_buf buf = { 0 };
	struct uapi_peer_info peer;
	struct subnet n = { AF_INET, 24, { 10, 2, 0, 0 } };
	uint8_t priv[32];
	struct avpn_error e;

	memset(&peer, 0, sizeof(peer));
	sodium_hex2bin(priv, 32, KEY_A, 64, NULL, NULL, NULL);
	sodium_hex2bin(peer.public_key, 32, KEY_B, 64, NULL, NULL, NULL);
	endpoint_parse(&peer.endpoint, "192.0.2.7:51820", 0, &e);
	peer.keepalive = 20;
	peer.last_handshake_sec = 1700000000;
	peer.rx_bytes = 5;
	peer.tx_bytes = 7;
	uapi_format_device(&buf, priv, 40000, 0);
	uapi_format_peer(&buf, &peer);
	uapi_format_allowed_ip(&buf, &n);
	CHECK(!buf.failed, "format succeeded");
	CHECK_STR(buf.data,
		  "private_key=" KEY_A "\n"
		  "listen_port=40000\n"
		  "public_key=" KEY_B "\n"
		  "protocol_version=1\n"
		  "endpoint=192.0.2.7:51820\n"
		  "last_handshake_time_sec=1700000000\n"
		  "last_handshake_time_nsec=0\n"
		  "tx_bytes=7\nrx_bytes=5\n"
		  "persistent_keepalive_interval=20\n"
		  "allowed_ip=10.2.0.0/24\n",
		  "get response lines");
	uapi_buf_free(&buf);
}

int main(void)
{
	if (sodium_init() == -1)
		return 1;
	test_request_len();
	test_get();
	test_set_device_and_peer();
	test_set_errors();
	test_format();
	return unit_done();
}
