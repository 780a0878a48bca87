/*
 * Error reporting for common/: functions never print or exit, they fill a
 * struct avpn_error with one line of text that cmd/ reports.
 */
#ifndef AVPN_ERROR_H
#define AVPN_ERROR_H

#include <stddef.h>

struct avpn_error {
	char text[256];
};

/* Sets the error text (printf format); returns -1 so callers can write
 * "return error_set(err, ...);".  A NULL err is allowed and ignored. */
int error_set(struct avpn_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
