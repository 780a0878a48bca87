/*
 * A minimal TAP producer for the unit tests: CHECK records one assertion,
 * and unit_done() prints the plan and returns the exit status.
 */
#ifndef AVPN_UNIT_H
#define AVPN_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_count;
static int unit_failed;

static inline void unit_check(int ok, const char *name, const char *file,
			      int line)
{
	unit_count++;
	if (ok) {
		printf("ok %d - %s\n", unit_count, name);
		return;
	}
	unit_failed++;
	printf("not ok %d - %s\n#   at %s:%d\n", unit_count, name, file, line);
}

#define CHECK(cond, name) unit_check(!!(cond), (name), __FILE__, __LINE__)
#define CHECK_STR(got, want, name)                                        \
	do {                                                              \
		const char *got_ = (got), *want_ = (want);                \
		unit_check(strcmp(got_, want_) == 0, (name), __FILE__,    \
			   __LINE__);                                     \
		if (strcmp(got_, want_) != 0)                             \
			printf("#   got \"%s\", expected \"%s\"\n", got_, \
			       want_);                                    \
	} while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
