#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "sock.h"

/* One log line: longer text is cut. */
#define LOG_LINE_MAX 1024

static const char *log_progname = "avpn";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_to_syslog;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const int log_syslog_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_threshold = level;
}

void log_use_syslog(void)
{
	openlog(log_progname, LOG_PID, LOG_DAEMON);
	log_to_syslog = 1;
}

/* Writes one finished line in a single call, so that lines from several
 * threads do not mix. */
static void log_write(enum log_level level, const char *text)
{
	if (log_to_syslog) {
		syslog(log_syslog_priorities[level], "%s", text);
		return;
	}
	fprintf(stderr, "%s: %s: %s\n", log_progname, log_level_names[level],
		text);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];

	if (level > log_threshold || level < LOG_LEVEL_ERROR)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	log_write(level, text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_limited(struct log_limit *limit, enum log_level level,
		 const char *fmt, ...)
{
	char text[LOG_LINE_MAX];
	uint64_t now = clock_monotonic_ms();
	va_list ap;

	if (level > log_threshold || level < LOG_LEVEL_ERROR)
		return;
	if (limit->used == 0 || now - limit->window_start_ms >=
				    limit->interval_ms) {
		limit->window_start_ms = now;
		limit->used = 0;
	}
	if (limit->used >= limit->burst) {
		limit->suppressed++;
		return;
	}
	limit->used++;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (limit->suppressed > 0) {
		log_msg(level, "%s (%llu similar messages suppressed)", text,
			(unsigned long long)limit->suppressed);
		limit->suppressed = 0;
		return;
	}
	log_write(level, text);
}
