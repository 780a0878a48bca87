#include <err.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "avpn.h"
#include "exchange.h"
#include "log.h"
#include "proto.h"
#include "register.h"
#include "sock.h"

/* The reply awaited for one request: its acknowledgement or MSG_ERROR. */
struct reply_slot {
	uint8_t request_type;
	uint8_t ack_type;
	struct proto_msg msg;
};

void trace_progress(void *arg, const char *text)
{
	(void)arg;
	log_msg(LOG_LEVEL_DEBUG, "%s", text);
}

static void exchange_init(struct exchange *ex, struct registration *reg,
			  int fd, uint64_t deadline_ms)
{
	memset(ex, 0, sizeof(*ex));
	ex->fd = fd;
	ex->my_public = reg->public_key;
	ex->their_public = reg->registry_key;
	ex->shared = reg->shared;
	ex->deadline_ms = deadline_ms;
	ex->trace = trace_progress;
}

/*
 * Opens the socket connected to the registry and returns the local endpoint
 * the kernel chose for it.  A random port that cannot be bound (another
 * program holds it without SO_REUSEPORT) is replaced by another one.
 */
static int open_registry_socket(struct registration *reg,
				union endpoint *local)
{
	socklen_t len = sizeof(*local);
	struct avpn_error e;
	int fd, tries;

	for (tries = 1;; tries++) {
		fd = sock_open_udp(&reg->bind, &reg->registry, &e);
		if (fd >= 0)
			break;
		if (!reg->random_port || tries >= REGISTER_PORT_TRIES)
			errx(AVPN_EXIT_FAILURE, "%s", e.text);
		log_msg(LOG_LEVEL_INFO, "%s; trying another port", e.text);
		endpoint_set_port(&reg->bind, sock_random_port());
	}
	memset(local, 0, sizeof(*local));
	if (getsockname(fd, &local->sa, &len) == -1)
		err(AVPN_EXIT_FAILURE, "getsockname");
	return fd;
}

static bool on_reply(const struct proto_msg *reply, void *arg)
{
	struct reply_slot *slot = arg;

	if (reply->type != slot->ack_type &&
	    !(reply->type == MSG_ERROR &&
	      reply->u.error.request_type == slot->request_type))
		return false;
	slot->msg = *reply;
	return true;
}

/* Exits with AVPN_EXIT_REJECTED, naming what to change at the registry. */
static void report_rejection(const struct registration *reg,
			     const struct msg_error *error)
{
	char key[AVPN_KEY_BASE64_LEN + 1], net[SUBNET_STRLEN];
	char list[AVPN_MAX_SUBNETS * SUBNET_STRLEN];

	switch (error->code) {
	case PERR_NOT_AUTHORIZED:
		key_to_base64(key, reg->public_key);
		errx(AVPN_EXIT_REJECTED, "registry %s rejected %s: key not "
		     "authorized; add %s to the registry's authorized-nodes "
		     "file", reg->registry_name, reg->key_path, key);
	case PERR_SUBNET_NOT_ALLOWED:
		if (error->subnet.family != 0) {
			subnet_format(net, &error->subnet);
			errx(AVPN_EXIT_REJECTED, "registry %s rejected %s: "
			     "subnet %s not allowed; list it on the node's "
			     "line in the registry's authorized-nodes file, "
			     "or leave it out of -s", reg->registry_name,
			     reg->key_path, net);
		}
		subnet_list_format(list, sizeof(list), &reg->subnets);
		errx(AVPN_EXIT_REJECTED, "registry %s rejected %s: one of the "
		     "subnets %s not allowed; compare -s with the node's line "
		     "in the registry's authorized-nodes file",
		     reg->registry_name, reg->key_path, list);
	default:
		errx(AVPN_EXIT_REJECTED, "registry %s rejected %s: %s",
		     reg->registry_name, reg->key_path,
		     proto_error_name(error->code));
	}
}

/* Sends MSG_REGISTER until the registry acknowledges it; exits otherwise. */
static void send_registration(struct registration *reg, int fd,
			      const union endpoint *local, enum nat_type nat,
			      struct msg_register_ack *ack)
{
	struct proto_msg request;
	struct reply_slot slot = { .request_type = MSG_REGISTER,
				  .ack_type = MSG_REGISTER_ACK };
	enum exchange_status status;
	struct exchange ex;
	struct avpn_error e;
	int code;

	memset(&request, 0, sizeof(request));
	request.type = MSG_REGISTER;
	request.u.reg.private_ep = *local;
	request.u.reg.override = reg->override;
	request.u.reg.subnets = reg->subnets;
	request.u.reg.nat = (uint8_t)nat;
	exchange_init(&ex, reg, fd, reg->deadline_ms);
	status = exchange_run(&ex, &request, on_reply, &slot, &e);
	if (status != EXCHANGE_DONE) {
		code = exchange_explain(&e, status, &ex, reg->registry_name,
					reg->timeout_s, reg->registry_pub_path);
		errx(code, "%s", e.text);
	}
	if (slot.msg.type == MSG_ERROR)
		report_rejection(reg, &slot.msg.u.error);
	*ack = slot.msg.u.reg_ack;
}

/* Warns why the NAT test found nothing, for a status other than done. */
static void warn_nat_test(enum exchange_status status, const char *name,
			  const struct avpn_error *e)
{
	const char *reason;

	switch (status) {
	case EXCHANGE_TIMEOUT:
		reason = "no answer";
		break;
	case EXCHANGE_REFUSED:
		reason = "nothing listens there";
		break;
	case EXCHANGE_KEY_MISMATCH:
		reason = "it answered with another key";
		break;
	default:
		reason = e->text;
		break;
	}
	log_msg(LOG_LEVEL_WARN, "NAT test on the registry's port %s failed: "
		"%s; NAT type unknown", name, reason);
}

/*
 * Sends MSG_BINDING from the same local port to the registry's NAT-test
 * port.  Returns true with the endpoint observed there, or warns and
 * returns false.
 */
static bool query_binding(struct registration *reg,
			  const union endpoint *test_ep,
			  union endpoint *observed)
{
	char name[ENDPOINT_STRLEN];
	enum exchange_status status;
	struct reply_slot slot = { .request_type = MSG_BINDING,
				  .ack_type = MSG_BINDING_ACK };
	struct proto_msg request;
	struct exchange ex;
	struct avpn_error e;
	uint64_t deadline;
	int fd;

	endpoint_format(name, test_ep);
	fd = sock_open_udp(&reg->bind, test_ep, &e);
	if (fd < 0) {
		warn_nat_test(EXCHANGE_FAILED, name, &e);
		return false;
	}
	deadline = clock_monotonic_ms() + REGISTER_NAT_TEST_MS;
	if (deadline > reg->deadline_ms)
		deadline = reg->deadline_ms;
	memset(&request, 0, sizeof(request));
	request.type = MSG_BINDING;
	exchange_init(&ex, reg, fd, deadline);
	status = exchange_run(&ex, &request, on_reply, &slot, &e);
	close(fd);
	if (status == EXCHANGE_CLOCK_SKEW || status == EXCHANGE_STALE) {
		exchange_explain(&e, status, &ex, name, 0, NULL);
		status = EXCHANGE_FAILED;
	}
	if (status == EXCHANGE_DONE && slot.msg.type == MSG_ERROR) {
		error_set(&e, "the registry rejected it: %s",
			  proto_error_name(slot.msg.u.error.code));
		status = EXCHANGE_FAILED;
	}
	if (status != EXCHANGE_DONE) {
		warn_nat_test(status, name, &e);
		return false;
	}
	*observed = slot.msg.u.binding_ack.observed;
	return true;
}

/*
 * Compares the mapping the registry observed with the one its NAT-test
 * port observed from the same local port.  The same public address and port
 * from both destinations means endpoint-independent mapping, which peers
 * can punch through.
 */
static enum nat_type detect_nat(struct registration *reg,
				const union endpoint *local,
				const struct msg_register_ack *ack)
{
	char text[ENDPOINT_STRLEN];
	union endpoint test_ep, observed;

	if (endpoint_equal(&ack->observed, local))
		return NAT_NONE;
	if (ack->nat_port == 0) {
		log_msg(LOG_LEVEL_WARN, "registry %s has no NAT-test port; "
			"NAT type unknown", reg->registry_name);
		return NAT_UNKNOWN;
	}
	test_ep = reg->registry;
	endpoint_set_port(&test_ep, ack->nat_port);
	if (!query_binding(reg, &test_ep, &observed))
		return NAT_UNKNOWN;
	endpoint_format(text, &observed);
	log_msg(LOG_LEVEL_INFO, "NAT-test port observed %s", text);
	if (endpoint_equal(&observed, &ack->observed))
		return NAT_INDEPENDENT;
	return NAT_DEPENDENT;
}

static void fill_record(struct self_record *rec,
			const struct registration *reg,
			const union endpoint *local,
			const struct msg_register_ack *ack)
{
	memset(rec, 0, sizeof(*rec));
	strlcpy(rec->name, ack->name, sizeof(rec->name));
	memcpy(rec->public_key, reg->public_key, AVPN_KEY_LEN);
	rec->local = *local;
	rec->observed = ack->observed;
	rec->registry = reg->registry;
	memcpy(rec->registry_key, reg->registry_key, AVPN_KEY_LEN);
	rec->subnets = reg->subnets;
	rec->override = reg->override;
	rec->registered_at = (int64_t)time(NULL);
}

static void log_registered(const union endpoint *local,
			   const struct msg_register_ack *ack)
{
	char here[ENDPOINT_STRLEN], seen[ENDPOINT_STRLEN];

	endpoint_format(here, local);
	endpoint_format(seen, &ack->observed);
	log_msg(LOG_LEVEL_INFO, "registered as %s from %s; the registry "
		"observed %s; entry lifetime %u s", ack->name, here, seen,
		ack->lifetime);
}

void register_node(struct registration *reg, struct self_record *rec)
{
	struct msg_register_ack ack, second_ack;
	union endpoint local;
	int fd;

	fd = open_registry_socket(reg, &local);
	if (reg->override_follows_port)
		endpoint_set_port(&reg->override, endpoint_port(&local));
	send_registration(reg, fd, &local, reg->previous_nat, &ack);
	log_registered(&local, &ack);
	fill_record(rec, reg, &local, &ack);
	rec->nat = detect_nat(reg, &local, &ack);
	log_msg(LOG_LEVEL_INFO, "NAT type: %s", nat_type_name(rec->nat));
	/* Peers need our NAT type to tell an impossible path from a lost
	 * answer, so the registry must store the one just found. */
	if (rec->nat != reg->previous_nat) {
		log_msg(LOG_LEVEL_INFO, "registering again to store NAT type "
			"%s", nat_type_name(rec->nat));
		send_registration(reg, fd, &local, rec->nat, &second_ack);
	}
	close(fd);
}
