/* Unit tests for common/log.c: levels, line format and rate limits. */
#include "log.h"
#include "unit.h"
#include "unit_files.h"

/* Runs the logging calls of fn with stderr sent to a file, and returns
 * what was written in buf. */
static void capture_stderr(void (*fn)(void), char *buf, size_t size)
{
	const char *path = unit_path("stderr");
	int fd, saved;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unit_read_file(path, buf, size);
}

static void log_levels(void)
{
	log_init("avpn-test", LOG_LEVEL_INFO);
	log_msg(LOG_LEVEL_ERROR, "bind %s failed", "192.0.2.1:9350");
	log_msg(LOG_LEVEL_WARN, "retry %d", 2);
	log_msg(LOG_LEVEL_INFO, "started");
	log_msg(LOG_LEVEL_DEBUG, "not shown");
}

static void log_debug(void)
{
	log_init("avpn-test", LOG_LEVEL_DEBUG);
	log_msg(LOG_LEVEL_DEBUG, "shown");
}

static struct log_limit burst_limit = LOG_LIMIT_INIT(60000, 3);

static void log_burst(void)
{
	int i;

	log_init("avpn-test", LOG_LEVEL_INFO);
	for (i = 0; i < 10; i++)
		log_limited(&burst_limit, LOG_LEVEL_WARN, "dropped packet %d",
			    i);
}

/* An interval of 0 ms starts a new window on every call, so each line
 * passes and reports the lines suppressed before it. */
static void log_window(void)
{
	struct log_limit limit = LOG_LIMIT_INIT(0, 1);

	log_init("avpn-test", LOG_LEVEL_INFO);
	limit.used = 1;
	limit.window_start_ms = 1;
	limit.suppressed = 4;
	log_limited(&limit, LOG_LEVEL_WARN, "after the window");
}

int main(void)
{
	char out[4096];

	unit_tmpdir();
	capture_stderr(log_levels, out, sizeof(out));
	CHECK_STR(out,
		  "avpn-test: error: bind 192.0.2.1:9350 failed\n"
		  "avpn-test: warning: retry 2\n"
		  "avpn-test: info: started\n",
		  "levels up to info, one line each");
	capture_stderr(log_debug, out, sizeof(out));
	CHECK_STR(out, "avpn-test: debug: shown\n", "debug level shown");
	capture_stderr(log_burst, out, sizeof(out));
	CHECK_STR(out,
		  "avpn-test: warning: dropped packet 0\n"
		  "avpn-test: warning: dropped packet 1\n"
		  "avpn-test: warning: dropped packet 2\n",
		  "burst of 3 passes");
	CHECK(burst_limit.suppressed == 7, "the other 7 are counted");
	capture_stderr(log_window, out, sizeof(out));
	CHECK_STR(out,
		  "avpn-test: warning: after the window (4 similar messages "
		  "suppressed)\n", "new window reports suppressed lines");
	return unit_done();
}
