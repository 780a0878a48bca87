/* Parsing of UAPI set requests (uapi.h).  Nothing here applies a change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "route.h"
#include "uapi.h"

/* Fails a parse with an errno value for the response and a message. */
#define PARSE_FAIL(state, code, ...)                                   \
	((state)->errno_value = (code), error_set((state)->err, __VA_ARGS__))

struct parse_state {
	struct uapi_request *req;
	struct uapi_peer_set *peer; /* the current peer section, or NULL */
	int errno_value;
	struct avpn_error *err;
};

static int parse_key(struct parse_state *st, uint8_t key[AVPN_KEY_LEN],
		     const char *name, const char *value)
{
	const char *end;
	size_t n;

	if (strlen(value) != 2 * AVPN_KEY_LEN ||
	    sodium_hex2bin(key, AVPN_KEY_LEN, value, 2 * AVPN_KEY_LEN, NULL,
			   &n, &end) != 0 ||
	    n != AVPN_KEY_LEN || *end != '\0')
		return PARSE_FAIL(st, EINVAL, "invalid %s: expected %d hex "
				  "digits", name, 2 * AVPN_KEY_LEN);
	return 0;
}

static int parse_true(struct parse_state *st, bool *flag, const char *name,
		      const char *value)
{
	if (strcmp(value, "true") != 0)
		return PARSE_FAIL(st, EINVAL, "invalid %s \"%.32s\": expected "
				  "true", name, value);
	*flag = true;
	return 0;
}

static int parse_number(struct parse_state *st, long long *n,
			long long max, const char *name, const char *value)
{
	const char *errstr;

	if (value[0] < '0' || value[0] > '9')
		return PARSE_FAIL(st, EINVAL, "invalid %s \"%.32s\"", name,
				  value);
	*n = strtonum(value, 0, max, &errstr);
	if (errstr != NULL)
		return PARSE_FAIL(st, EINVAL, "invalid %s \"%.32s\": %s", name,
				  value, errstr);
	return 0;
}

/* Clears the host bits below the prefix, as wg and the kernel do. */
static void mask_host_bits(struct subnet *net)
{
	unsigned i, bits = net->family == AF_INET ? 32 : 128;

	for (i = net->prefix; i < bits; i++)
		net->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static int parse_allowed_ip(struct parse_state *st, const char *value)
{
	struct uapi_peer_set *peer = st->peer;
	struct subnet net, *grown;

	if (route_prefix_parse(&net, value, "allowed_ip", st->err) == -1) {
		st->errno_value = EINVAL;
		return -1;
	}
	mask_host_bits(&net);
	grown = reallocarray(peer->allowed, peer->allowed_count + 1,
			     sizeof(*grown));
	if (grown == NULL)
		return PARSE_FAIL(st, ENOMEM, "out of memory");
	peer->allowed = grown;
	peer->allowed[peer->allowed_count++] = net;
	return 0;
}

static int parse_new_peer(struct parse_state *st, const char *value)
{
	struct uapi_request *req = st->req;
	struct uapi_peer_set *grown;

	grown = reallocarray(req->peers, req->peer_count + 1, sizeof(*grown));
	if (grown == NULL)
		return PARSE_FAIL(st, ENOMEM, "out of memory");
	req->peers = grown;
	st->peer = &req->peers[req->peer_count++];
	memset(st->peer, 0, sizeof(*st->peer));
	return parse_key(st, st->peer->public_key, "public_key", value);
}

static int parse_device_line(struct parse_state *st, const char *key,
			     const char *value)
{
	struct uapi_request *req = st->req;
	long long n;

	if (strcmp(key, "private_key") == 0) {
		req->has_private_key = true;
		return parse_key(st, req->private_key, key, value);
	}
	if (strcmp(key, "listen_port") == 0) {
		req->has_listen_port = true;
		if (parse_number(st, &n, 65535, key, value) == -1)
			return -1;
		req->listen_port = (uint16_t)n;
		return 0;
	}
	if (strcmp(key, "fwmark") == 0) {
		req->has_fwmark = true;
		if (parse_number(st, &n, UINT32_MAX, key, value) == -1)
			return -1;
		req->fwmark = (uint32_t)n;
		return 0;
	}
	if (strcmp(key, "replace_peers") == 0)
		return parse_true(st, &req->replace_peers, key, value);
	return PARSE_FAIL(st, EPROTO, "unknown device key \"%.32s\"", key);
}

static int parse_peer_line(struct parse_state *st, const char *key,
			   const char *value)
{
	struct uapi_peer_set *peer = st->peer;
	long long n;

	if (strcmp(key, "remove") == 0)
		return parse_true(st, &peer->remove, key, value);
	if (strcmp(key, "update_only") == 0)
		return parse_true(st, &peer->update_only, key, value);
	if (strcmp(key, "replace_allowed_ips") == 0)
		return parse_true(st, &peer->replace_allowed_ips, key, value);
	if (strcmp(key, "allowed_ip") == 0)
		return parse_allowed_ip(st, value);
	if (strcmp(key, "preshared_key") == 0) {
		peer->has_preshared_key = true;
		return parse_key(st, peer->preshared_key, key, value);
	}
	if (strcmp(key, "endpoint") == 0) {
		peer->has_endpoint = true;
		if (endpoint_parse(&peer->endpoint, value, 0, st->err) == -1 ||
		    endpoint_check_unicast(&peer->endpoint, st->err) == -1) {
			st->errno_value = EINVAL;
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "persistent_keepalive_interval") == 0) {
		peer->has_keepalive = true;
		if (parse_number(st, &n, 65535, key, value) == -1)
			return -1;
		peer->keepalive = (uint16_t)n;
		return 0;
	}
	if (strcmp(key, "protocol_version") == 0) {
		if (strcmp(value, "1") != 0)
			return PARSE_FAIL(st, EPROTO, "unsupported "
					  "protocol_version \"%.32s\"", value);
		return 0;
	}
	return PARSE_FAIL(st, EPROTO, "unknown peer key \"%.32s\"", key);
}

static int parse_line(struct parse_state *st, char *line)
{
	char *value = strchr(line, '=');

	if (value == NULL)
		return PARSE_FAIL(st, EPROTO, "malformed line \"%.32s\": "
				  "expected key=value", line);
	*value++ = '\0';
	if (strcmp(line, "public_key") == 0)
		return parse_new_peer(st, value);
	if (st->peer == NULL)
		return parse_device_line(st, line, value);
	return parse_peer_line(st, line, value);
}

/* Parses the key=value lines of a set request, one per '\n'. */
static int parse_set_lines(struct parse_state *st, char *lines)
{
	char *line, *next;

	for (line = lines; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL)
			return PARSE_FAIL(st, EPROTO, "unterminated line");
		*next++ = '\0';
		if (*line == '\0')
			break;
		if (parse_line(st, line) == -1)
			return -1;
	}
	return 0;
}

int uapi_request_parse(struct uapi_request *req, const char *text,
		       size_t len, int *errno_out, struct avpn_error *err)
{
	struct parse_state st = { req, NULL, 0, err };
	char *copy;
	int rc = 0;

	memset(req, 0, sizeof(*req));
	*errno_out = 0;
	if (len == 7 && memcmp(text, "get=1\n\n", 7) == 0)
		return 0;
	if (len < 6 || memcmp(text, "set=1\n", 6) != 0) {
		*errno_out = EPROTO;
		return error_set(err, "malformed request: expected get=1 or "
				 "set=1");
	}
	req->is_set = true;
	copy = sodium_malloc(len - 6 + 1);
	if (copy == NULL) {
		*errno_out = ENOMEM;
		return error_set(err, "out of memory");
	}
	memcpy(copy, text + 6, len - 6);
	copy[len - 6] = '\0';
	rc = parse_set_lines(&st, copy);
	sodium_free(copy);
	if (rc == -1) {
		*errno_out = st.errno_value;
		uapi_request_free(req);
	}
	return rc;
}

void uapi_request_free(struct uapi_request *req)
{
	size_t i;

	for (i = 0; i < req->peer_count; i++)
		free(req->peers[i].allowed);
	if (req->peers != NULL) {
		sodium_memzero(req->peers,
			       req->peer_count * sizeof(*req->peers));
		free(req->peers);
	}
	sodium_memzero(req, sizeof(*req));
}
