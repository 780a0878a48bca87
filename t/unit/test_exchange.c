/*
 * Unit tests for common/exchange.c.  A forked child plays the registry on
 * the other end of an AF_UNIX datagram socket pair, which behaves like a
 * connected UDP socket here: send to a closed peer fails with ECONNREFUSED.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "exchange.h"
#include "proto.h"
#include "sock.h"
#include "unit.h"

static uint8_t node_pub[32], node_priv[32];
static uint8_t reg_pub[32], reg_priv[32];
static uint8_t other_pub[32], other_priv[32];
static uint8_t shared_node[32], shared_reg[32], shared_other[32];

/* What the child playing the registry does with the requests it reads. */
typedef void (*registry_fn)(int fd);

/* The handler's record of the replies it was given. */
struct replies {
	unsigned int calls;
	unsigned int calls_needed;
	uint64_t timestamps[8];
	uint64_t echoes[8];
};

static bool on_reply(const struct proto_msg *reply, void *arg)
{
	struct replies *r = arg;

	if (r->calls < 8) {
		r->timestamps[r->calls] = reply->timestamp;
		r->echoes[r->calls] = reply->echo;
	}
	r->calls++;
	return r->calls >= r->calls_needed;
}

/* Reads one request in the child; returns its timestamp, 0 on error. */
static uint64_t read_request(int fd)
{
	uint8_t buf[2048];
	struct proto_msg msg;
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), 0);
	if (n <= 0 || proto_open(&msg, buf, (size_t)n, shared_reg, NULL) < 0)
		return 0;
	return msg.timestamp;
}

/* Seals into buf a REGISTER_ACK that echoes echo, with the given keys. */
static ssize_t seal_ack(uint8_t buf[AVPN_DATAGRAM_MAX], uint64_t echo,
			const uint8_t *from_pub, const uint8_t *shared)
{
	struct proto_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = MSG_REGISTER_ACK;
	msg.timestamp = proto_timestamp();
	msg.echo = echo;
	strcpy(msg.u.reg_ack.name, "hq");
	msg.u.reg_ack.observed.in.sin_family = AF_INET;
	msg.u.reg_ack.observed.in.sin_port = htons(40000);
	return proto_seal(buf, AVPN_DATAGRAM_MAX, &msg, from_pub, node_pub,
			  shared);
}

static void send_ack(int fd, uint64_t echo, const uint8_t *from_pub,
		     const uint8_t *shared)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	ssize_t len = seal_ack(buf, echo, from_pub, shared);

	if (len > 0)
		send(fd, buf, (size_t)len, 0);
}

static void answer_at_once(int fd)
{
	send_ack(fd, read_request(fd), reg_pub, shared_reg);
}

static void answer_third_send(int fd)
{
	read_request(fd);
	read_request(fd);
	send_ack(fd, read_request(fd), reg_pub, shared_reg);
}

/*
 * Sends junk, a forgery, a reply to no request of the node's, a good reply,
 * a replay of it and a second good reply.  The node's handler wants two
 * replies, so it completes only if the replay is dropped.
 */
static void answer_after_junk(int fd)
{
	uint8_t junk[100], good[AVPN_DATAGRAM_MAX];
	uint64_t echo = read_request(fd);
	ssize_t len;

	memset(junk, MSG_REGISTER_ACK, sizeof(junk));
	send(fd, junk, sizeof(junk), 0);
	send_ack(fd, echo, other_pub, shared_other);
	send_ack(fd, echo + 1, reg_pub, shared_reg);
	len = seal_ack(good, echo, reg_pub, shared_reg);
	if (len <= 0)
		return;
	send(fd, good, (size_t)len, 0);
	send(fd, good, (size_t)len, 0);
	send_ack(fd, echo, reg_pub, shared_reg);
}

static void send_key_mismatch(int fd, const uint8_t *key)
{
	uint8_t buf[64];
	ssize_t len = proto_key_mismatch(buf, sizeof(buf), key);

	if (len > 0)
		send(fd, buf, (size_t)len, 0);
}

static void stay_silent(int fd)
{
	uint8_t buf[2048];

	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void mismatch_pinned_then_other(int fd)
{
	uint8_t buf[2048];

	recv(fd, buf, sizeof(buf), 0);
	send_key_mismatch(fd, reg_pub);
	send_key_mismatch(fd, other_pub);
	stay_silent(fd);
}

/* A forged key mismatch, then the registry's reply to the next send. */
static void mismatch_then_answer(int fd)
{
	read_request(fd);
	send_key_mismatch(fd, other_pub);
	send_ack(fd, read_request(fd), reg_pub, shared_reg);
	stay_silent(fd);
}

/* A reply, then a key mismatch that must not undo it. */
static void answer_then_mismatch(int fd)
{
	send_ack(fd, read_request(fd), reg_pub, shared_reg);
	send_key_mismatch(fd, other_pub);
	stay_silent(fd);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_clock_error(int fd, uint64_t echo, uint8_t code,
			     uint64_t time_ns)
{
	uint8_t buf[AVPN_DATAGRAM_MAX];
	struct proto_msg msg;
	ssize_t len;

	memset(&msg, 0, sizeof(msg));
	msg.type = MSG_ERROR;
	msg.timestamp = proto_timestamp();
	msg.echo = echo;
	msg.u.error.request_type = MSG_REGISTER;
	msg.u.error.code = code;
	msg.u.error.time_ns = time_ns;
	len = proto_seal(buf, sizeof(buf), &msg, reg_pub, node_pub,
			 shared_reg);
	if (len > 0)
		send(fd, buf, (size_t)len, 0);
}

/* A registry whose clock is an hour behind the node's. */
static void reject_clock_ahead(int fd)
{
	uint64_t ts = read_request(fd);

	send_clock_error(fd, ts, PERR_CLOCK_SKEW, ts - 3600000000000ull);
	stay_silent(fd);
}

/*
 * A registry that accepted a timestamp `ahead_ms` later than its clock at
 * the start: it rejects every request up to that timestamp as stale, and
 * acknowledges the later ones unless `never_ack` is set.
 */
static void reject_stale_until(int fd, uint64_t ahead_ms, bool never_ack)
{
	uint64_t last = realtime_ns() + ahead_ms * 1000000u, ts;

	while ((ts = read_request(fd)) != 0) {
		if (ts <= last || never_ack)
			send_clock_error(fd, ts, PERR_STALE_TIMESTAMP, last);
		else
			send_ack(fd, ts, reg_pub, shared_reg);
	}
}

static void stale_for_an_hour(int fd)
{
	reject_stale_until(fd, 3600 * 1000, false);
}

static void stale_for_300_ms(int fd)
{
	reject_stale_until(fd, 300, false);
}

static void stale_already_past(int fd)
{
	uint64_t ts = read_request(fd);

	/* Another program with this key got 1 ms ahead of this send. */
	send_clock_error(fd, ts, PERR_STALE_TIMESTAMP, ts + 1000000);
	send_ack(fd, read_request(fd), reg_pub, shared_reg);
	stay_silent(fd);
}

static void stale_at_every_send(int fd)
{
	reject_stale_until(fd, 300, true);
}

static void close_at_once(int fd)
{
	(void)fd;
}

/* Runs one exchange against the child; returns its status. */
static enum exchange_status run_against(registry_fn registry,
					struct exchange *ex,
					struct replies *replies,
					uint64_t timeout_ms)
{
	struct proto_msg request;
	struct avpn_error err;
	enum exchange_status status;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == -1)
		return EXCHANGE_FAILED;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		registry(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	if (registry == close_at_once)
		waitpid(pid, NULL, 0);
	memset(ex, 0, sizeof(*ex));
	ex->fd = sv[0];
	ex->my_public = node_pub;
	ex->their_public = reg_pub;
	ex->shared = shared_node;
	ex->deadline_ms = clock_monotonic_ms() + timeout_ms;
	memset(&request, 0, sizeof(request));
	request.type = MSG_REGISTER;
	status = exchange_run(ex, &request, on_reply, replies, &err);
	close(sv[0]);
	/* A datagram socket has no end of file, so a silent child would
	 * wait in recv forever. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return status;
}

static void test_first_answer(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;

	CHECK(run_against(answer_at_once, &ex, &r, 2000) == EXCHANGE_DONE,
	      "a prompt reply completes the exchange");
	CHECK(ex.sends == 1, "a prompt reply needs one send");
	CHECK(r.echoes[0] == ex.sent[0], "the reply echoes the request");
}

static void test_retry(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms(), elapsed;

	CHECK(run_against(answer_third_send, &ex, &r, 5000) == EXCHANGE_DONE,
	      "a reply to the third send completes the exchange");
	elapsed = clock_monotonic_ms() - start;
	CHECK(ex.sends == 3, "two unanswered sends are resent");
	CHECK(r.echoes[0] == ex.sent[2], "the reply echoes the third send");
	CHECK(ex.sent[0] < ex.sent[1], "the second send has a new timestamp");
	CHECK(ex.sent[1] < ex.sent[2], "the third send has a new timestamp");
	CHECK(elapsed >= 750, "resends wait 250 ms, then 500 ms");
	CHECK(elapsed < 1500, "the reply to the third send ends the wait");
}

static void test_drops(void)
{
	struct replies r = { .calls_needed = 2 };
	struct exchange ex;

	CHECK(run_against(answer_after_junk, &ex, &r, 2000) == EXCHANGE_DONE,
	      "an exchange completes after junk datagrams");
	CHECK(r.calls == 2, "junk, forgery and wrong echo are dropped");
	CHECK(r.echoes[0] == ex.sent[0], "the first reply echoes the request");
	CHECK(r.echoes[1] == ex.sent[0], "the second reply echoes the request");
	CHECK(r.timestamps[1] > r.timestamps[0], "a replayed reply is dropped");
}

static void test_key_mismatch(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms(), elapsed;

	CHECK(run_against(mismatch_pinned_then_other, &ex, &r, 5000) ==
		      EXCHANGE_KEY_MISMATCH,
	      "a key mismatch with another key ends the exchange");
	elapsed = clock_monotonic_ms() - start;
	CHECK(elapsed >= EXCHANGE_MISMATCH_GRACE_MS,
	      "a key mismatch waits for the grace period");
	CHECK(elapsed < EXCHANGE_MISMATCH_GRACE_MS + 1000,
	      "a key mismatch ends the exchange after the grace period");
	CHECK(memcmp(ex.mismatch_key, other_pub, 32) == 0,
	      "the key mismatch keeps the registry's key");
	CHECK(r.calls == 0, "a key mismatch reaches no handler");
	CHECK(ex.sends >= 3, "sends go on during the grace period");
}

static void test_key_mismatch_deadline(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms(), elapsed;

	CHECK(run_against(mismatch_pinned_then_other, &ex, &r, 600) ==
		      EXCHANGE_KEY_MISMATCH,
	      "a key mismatch before the deadline ends the exchange");
	elapsed = clock_monotonic_ms() - start;
	CHECK(elapsed < 1000, "the deadline cuts the grace period short");
}

static void test_forged_key_mismatch(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;

	CHECK(run_against(mismatch_then_answer, &ex, &r, 5000) ==
		      EXCHANGE_DONE,
	      "a reply after a forged key mismatch completes the exchange");
	CHECK(r.calls == 1, "the reply after the key mismatch is handled");
	CHECK(r.echoes[0] == ex.sent[1], "the reply echoes the second send");

	memset(&r, 0, sizeof(r));
	r.calls_needed = 2;
	CHECK(run_against(answer_then_mismatch, &ex, &r, 600) ==
		      EXCHANGE_TIMEOUT,
	      "a key mismatch after a reply is ignored");
}

static void test_clock_skew(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms();

	CHECK(run_against(reject_clock_ahead, &ex, &r, 5000) ==
		      EXCHANGE_CLOCK_SKEW,
	      "PERR_CLOCK_SKEW ends the exchange");
	CHECK(clock_monotonic_ms() - start < 1000,
	      "PERR_CLOCK_SKEW ends the exchange at once");
	CHECK(ex.clock_gap_s == 3600, "the clock is 3600 s ahead");
	CHECK(ex.clock_request_type == MSG_REGISTER,
	      "the clock error names the request");
	CHECK(r.calls == 0, "PERR_CLOCK_SKEW reaches no handler");
}

static void test_stale(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms();

	CHECK(run_against(stale_for_an_hour, &ex, &r, 5000) == EXCHANGE_STALE,
	      "a stale timestamp that outlasts the deadline ends the exchange");
	CHECK(clock_monotonic_ms() - start < 1000,
	      "a lasting stale timestamp ends the exchange at once");
	CHECK(ex.clock_gap_s >= 3599, "the registry is an hour ahead");
	CHECK(ex.clock_gap_s <= 3600, "the registry is not more than an hour "
	      "ahead");
	CHECK(r.calls == 0, "PERR_STALE_TIMESTAMP reaches no handler");

	memset(&r, 0, sizeof(r));
	r.calls_needed = 1;
	CHECK(run_against(stale_for_300_ms, &ex, &r, 5000) == EXCHANGE_DONE,
	      "a stale timestamp that ends before the deadline is resent");
	CHECK(ex.sends >= 2, "the stale request is sent again");

	memset(&r, 0, sizeof(r));
	r.calls_needed = 1;
	CHECK(run_against(stale_already_past, &ex, &r, 5000) == EXCHANGE_DONE,
	      "a stale timestamp already passed is resent");

	memset(&r, 0, sizeof(r));
	r.calls_needed = 1;
	CHECK(run_against(stale_at_every_send, &ex, &r, 1000) ==
		      EXCHANGE_STALE,
	      "stale until the deadline reports the stale timestamp");
}

static void test_timeout(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;
	uint64_t start = clock_monotonic_ms(), elapsed;

	CHECK(run_against(stay_silent, &ex, &r, 600) == EXCHANGE_TIMEOUT,
	      "a silent registry times out");
	elapsed = clock_monotonic_ms() - start;
	CHECK(elapsed >= 600, "the exchange waits until the deadline");
	CHECK(elapsed < 1000, "the exchange ends at the deadline");
	CHECK(ex.sends == 2, "sends at 0 and 250 ms fit in 600 ms");
}

static void test_refused(void)
{
	struct replies r = { .calls_needed = 1 };
	struct exchange ex;

	CHECK(run_against(close_at_once, &ex, &r, 2000) == EXCHANGE_REFUSED,
	      "a closed peer is reported as refused");
}

static void test_explain(void)
{
	struct avpn_error err;
	struct exchange ex;

	memset(&ex, 0, sizeof(ex));
	ex.their_public = reg_pub;
	memcpy(ex.mismatch_key, other_pub, 32);
	CHECK(exchange_explain(&err, EXCHANGE_TIMEOUT, &ex, "127.0.0.1:9350",
			       3, "r.pub") == AVPN_EXIT_NO_ANSWER,
	      "a timeout maps to exit 3");
	CHECK_STR(err.text, "no answer from 127.0.0.1:9350 after 3 s "
		  "(registry down, address wrong, or UDP blocked)",
		  "a timeout names the registry and the time");
	CHECK(exchange_explain(&err, EXCHANGE_REFUSED, &ex, "127.0.0.1:9350",
			       3, "r.pub") == AVPN_EXIT_NO_ANSWER,
	      "refused maps to exit 3");
	CHECK(exchange_explain(&err, EXCHANGE_KEY_MISMATCH, &ex, "x", 3,
			       "r.pub") == AVPN_EXIT_KEY_MISMATCH,
	      "a key mismatch maps to exit 4");
	CHECK(strstr(err.text, "from r.pub") != NULL,
	      "a key mismatch names where the pin came from");
	ex.clock_request_type = MSG_QUERY;
	ex.clock_gap_s = 3600;
	CHECK(exchange_explain(&err, EXCHANGE_CLOCK_SKEW, &ex, "x", 3,
			       "r.pub") == AVPN_EXIT_REJECTED,
	      "a clock ahead maps to exit 5");
	CHECK_STR(err.text, "registry x rejected QUERY: this node's clock is "
		  "3600 s ahead of the registry's, more than the 600 s "
		  "allowed; set the clock right (NTP) here, or on the "
		  "registry if its clock is wrong",
		  "a clock ahead names the gap and the fix");
	CHECK(exchange_explain(&err, EXCHANGE_STALE, &ex, "x", 3,
			       "r.pub") == AVPN_EXIT_REJECTED,
	      "a stale timestamp maps to exit 5");
	CHECK_STR(err.text, "registry x rejected QUERY: it accepted a "
		  "timestamp 3600 s ahead of this node's clock before (the "
		  "clock went backwards, or a datagram was replayed); set "
		  "the clock right (NTP) or wait that long",
		  "a stale timestamp names the causes and the fix");
}

int main(void)
{
	if (sodium_init() == -1)
		return 1;
	crypto_box_curve25519xchacha20poly1305_keypair(node_pub, node_priv);
	crypto_box_curve25519xchacha20poly1305_keypair(reg_pub, reg_priv);
	crypto_box_curve25519xchacha20poly1305_keypair(other_pub, other_priv);
	proto_shared_key(shared_node, node_priv, reg_pub);
	proto_shared_key(shared_reg, reg_priv, node_pub);
	proto_shared_key(shared_other, other_priv, node_pub);
	test_first_answer();
	test_retry();
	test_drops();
	test_key_mismatch();
	test_key_mismatch_deadline();
	test_forged_key_mismatch();
	test_clock_skew();
	test_stale();
	test_timeout();
	test_refused();
	test_explain();
	return unit_done();
}
