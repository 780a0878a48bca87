/*
 * File helpers for the unit tests: a private temporary directory per test
 * program, small files written and read back whole, and cleanup.
 */
#ifndef AVPN_UNIT_FILES_H
#define AVPN_UNIT_FILES_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char unit_dir[64];

static inline int unit_remove_entry(const char *path, const struct stat *st,
				    int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Removes the temporary directory and everything in it. */
static inline void unit_tmpdir_remove(void)
{
	if (unit_dir[0] != '\0')
		nftw(unit_dir, unit_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates the temporary directory (mode 0700); exits when that fails,
 * because no file test can run without it. */
static inline const char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(unit_dir, sizeof(unit_dir), "%s/avpn-unit.XXXXXX",
		 base != NULL && strlen(base) < 32 ? base : "/tmp");
	if (mkdtemp(unit_dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(unit_tmpdir_remove);
	return unit_dir;
}

/* Returns unit_dir/name in a static buffer (one of four, rotated). */
static inline const char *unit_path(const char *name)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", unit_dir, name);
	return p;
}

/* Writes text to path, replacing it, and sets its mode.  Returns 0 or -1. */
static inline int unit_write_file(const char *path, const char *text,
				  mode_t mode)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	if (fputs(text, fp) == EOF) {
		fclose(fp);
		return -1;
	}
	if (fclose(fp) == EOF)
		return -1;
	return chmod(path, mode);
}

/* Reads up to size - 1 bytes of path into buf with a NUL.  Returns the
 * length or -1. */
static inline long unit_read_file(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return -1;
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return (long)n;
}

#endif
