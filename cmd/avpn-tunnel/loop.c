/*
 * The event loop: one epoll set for the UDP socket, the TUN device,
 * signals, the timer tick and the UAPI socket.  Each descriptor's epoll
 * tag is the address of the field that contains it, or of its UAPI
 * connection.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "sock.h"
#include "tunnel.h"

/* How often the -S status file is rewritten, in milliseconds. */
#define STATUS_INTERVAL_MS 10000

#define LOOP_EVENTS 16

int loop_watch(struct tunnel *t, int fd, void *tag, struct avpn_error *err)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = tag;
	if (epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return error_set(err, "epoll_ctl: %s", strerror(errno));
	return 0;
}

int loop_replace_socket(struct tunnel *t, int fd, struct avpn_error *err)
{
	int old = t->udp_fd;

	t->udp_fd = fd;
	if (loop_watch(t, fd, &t->udp_fd, err) == -1) {
		t->udp_fd = old;
		return -1;
	}
	(void)epoll_ctl(t->epoll_fd, EPOLL_CTL_DEL, old, NULL);
	close(old);
	return 0;
}

static int loop_open_signals(struct tunnel *t, struct avpn_error *err)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return error_set(err, "sigprocmask: %s", strerror(errno));
	t->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (t->signal_fd == -1)
		return error_set(err, "signalfd: %s", strerror(errno));
	return 0;
}

static int loop_open_timer(struct tunnel *t, struct avpn_error *err)
{
	struct itimerspec tick;

	t->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->timer_fd == -1)
		return error_set(err, "timerfd_create: %s", strerror(errno));
	memset(&tick, 0, sizeof(tick));
	tick.it_interval.tv_nsec = TUNNEL_TICK_MS * 1000000L;
	tick.it_value = tick.it_interval;
	if (timerfd_settime(t->timer_fd, 0, &tick, NULL) == -1)
		return error_set(err, "timerfd_settime: %s", strerror(errno));
	return 0;
}

int loop_setup(struct tunnel *t, struct avpn_error *err)
{
	int i;

	for (i = 0; i < TUNNEL_UAPI_CONNECTIONS; i++)
		t->uapi_conns[i].fd = -1;
	t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epoll_fd == -1)
		return error_set(err, "epoll_create1: %s", strerror(errno));
	if (loop_open_signals(t, err) == -1 || loop_open_timer(t, err) == -1)
		return -1;
	if (loop_watch(t, t->udp_fd, &t->udp_fd, err) == -1 ||
	    loop_watch(t, t->tun_fd, &t->tun_fd, err) == -1 ||
	    loop_watch(t, t->signal_fd, &t->signal_fd, err) == -1 ||
	    loop_watch(t, t->timer_fd, &t->timer_fd, err) == -1 ||
	    loop_watch(t, t->uapi_fd, &t->uapi_fd, err) == -1)
		return -1;
	return 0;
}

static void loop_signal(struct tunnel *t)
{
	struct signalfd_siginfo si;

	while (read(t->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			t->reload = true;
			break;
		case SIGUSR1:
			t->dump_status = true;
			break;
		default:
			log_msg(LOG_LEVEL_INFO, "SIG%s received, stopping",
				sigabbrev_np((int)si.ssi_signo));
			t->stop = true;
		}
	}
}

/* The timer tick: peer timers that are due, punch probes, the test
 * rekey and the periodic status file. */
static void loop_tick(struct tunnel *t)
{
	uint64_t expirations, now = clock_monotonic_ms();
	struct peer *p;

	(void)read(t->timer_fd, &expirations, sizeof(expirations));
	for (p = t->peers; p != NULL; p = p->next) {
		if (p->timer_due_ms <= now)
			hs_run_timers(t, p, now);
		control_run_timers(t, p, now * 1000);
		hs_test_rekey(t, p, now);
	}
	if (t->opt.status_file != NULL &&
	    now - t->status_written_ms >= STATUS_INTERVAL_MS)
		status_write(t);
}

/* Runs the timers of the peers handled in this turn.  Peers touched
 * while this runs wait for the next turn or the tick. */
static void loop_end_turn(struct tunnel *t)
{
	uint64_t now = clock_monotonic_ms();
	struct peer *p = t->touched, *next;

	t->touched = NULL;
	for (; p != NULL; p = next) {
		next = p->touched_next;
		p->touched = false;
		p->touched_next = NULL;
		hs_run_timers(t, p, now);
	}
	dp_flush(t);
}

static void loop_reload(struct tunnel *t)
{
	struct peer_entries list;
	struct avpn_error e;

	t->reload = false;
	if (strcmp(t->opt.peers_file, "-") == 0) {
		log_msg(LOG_LEVEL_WARN, "SIGHUP: PEERS is stdin, which cannot "
			"be read again; peers unchanged");
		return;
	}
	if (config_read_peers(t, &list, &e) == -1) {
		log_msg(LOG_LEVEL_ERROR, "SIGHUP: %s; peers unchanged",
			e.text);
		return;
	}
	config_apply_peers(t, &list);
	config_free_peers(&list);
	log_msg(LOG_LEVEL_INFO, "SIGHUP: %s read again, %zu peers",
		t->opt.peers_file, t->peer_count);
}

static void loop_dispatch(struct tunnel *t, const struct epoll_event *ev)
{
	void *tag = ev->data.ptr;

	if (tag == &t->udp_fd)
		dp_udp_readable(t);
	else if (tag == &t->tun_fd)
		dp_tun_readable(t);
	else if (tag == &t->signal_fd)
		loop_signal(t);
	else if (tag == &t->timer_fd)
		loop_tick(t);
	else if (tag == &t->uapi_fd)
		status_uapi_accept(t);
	else
		status_uapi_readable(t, tag);
}

static void loop_log_start(const struct tunnel *t)
{
	log_msg(LOG_LEVEL_INFO, "started: interface %s, MTU %u, UDP port %u, "
		"%zu peers, UAPI socket %s", t->ifname, t->opt.mtu,
		t->listen_port, t->peer_count, t->uapi_path);
}

int loop_run(struct tunnel *t)
{
	struct epoll_event events[LOOP_EVENTS];
	int i, n, status = AVPN_EXIT_OK;

	loop_log_start(t);
	if (t->opt.status_file != NULL)
		status_write(t);
	while (!t->stop) {
		n = epoll_wait(t->epoll_fd, events, LOOP_EVENTS, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_msg(LOG_LEVEL_ERROR, "epoll_wait: %s",
				strerror(errno));
			status = AVPN_EXIT_FAILURE;
			break;
		}
		for (i = 0; i < n; i++)
			loop_dispatch(t, &events[i]);
		loop_end_turn(t);
		if (t->reload)
			loop_reload(t);
		if (t->dump_status) {
			t->dump_status = false;
			status_write(t);
		}
	}
	close(t->epoll_fd);
	close(t->signal_fd);
	close(t->timer_fd);
	return status;
}
