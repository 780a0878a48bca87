/*
 * Logging for daemons and one-shot tools: every line goes to stderr as
 * "PROGRAM: LEVEL: text", or to syslog after log_use_syslog().
 */
#ifndef AVPN_LOG_H
#define AVPN_LOG_H

#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
		 LOG_LEVEL_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_use_syslog(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A per-call-site limit: at most burst lines per interval_ms; the lines
 * dropped are counted and reported with the next line that passes.
 */
struct log_limit {
	uint32_t interval_ms;
	uint32_t burst;
	uint64_t window_start_ms;
	uint32_t used;
	uint64_t suppressed;
};

#define LOG_LIMIT_INIT(interval, max) { (interval), (max), 0, 0, 0 }

void log_limited(struct log_limit *limit, enum log_level level,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
