/*
 * avpn-keygen: makes an X25519 private key, or derives the public key of
 * one read on stdin.  Keys are 44 characters of base64, the format of
 * wg genkey and wg pubkey, so keys move freely between avpn and wg.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "avpn.h"
#include "key.h"

enum keygen_mode {
	MODE_PRIVATE, /* print a new private key */
	MODE_FILE,    /* write a new private key to a new file */
	MODE_PUBLIC,  /* read a private key, print its public key */
};

#define SYNOPSIS                         \
	"usage: avpn-keygen [-o FILE]\n" \
	"       avpn-keygen -p\n"

static void usage_help(void)
{
	printf(SYNOPSIS
		"\n"
		"  (none)   print a new private key on stdout\n"
		"  -o FILE  write a new private key to FILE, created with mode "
		"0600;\n"
		"           an existing FILE is never overwritten\n"
		"  -p       read a private key on stdin, print its public key\n"
		"  -h       print this help\n");
}

static void usage_error(void)
{
	fputs(SYNOPSIS, stderr);
	exit(AVPN_EXIT_USAGE);
}

/* Writes a key and a newline to stdout with write(2), so no copy of a
 * private key stays behind in a stdio buffer. */
static void print_key(const uint8_t key[AVPN_KEY_LEN])
{
	char line[AVPN_KEY_BASE64_LEN + 2];
	size_t off = 0, len = AVPN_KEY_BASE64_LEN + 1;
	ssize_t n;

	key_to_base64(line, key);
	line[AVPN_KEY_BASE64_LEN] = '\n';
	while (off < len) {
		n = write(STDOUT_FILENO, line + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			sodium_memzero(line, sizeof(line));
			err(AVPN_EXIT_FAILURE, "stdout");
		}
		off += (size_t)n;
	}
	sodium_memzero(line, sizeof(line));
}

/* Warns when stdout is a file that group or others can read, because the
 * private key would be readable there too. */
static void warn_readable_stdout(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == -1 || !S_ISREG(st.st_mode))
		return;
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		warnx("warning: stdout is a file that others can read; "
		      "use -o FILE to create a key file of mode 0600");
}

static void keygen_print_private(void)
{
	uint8_t key[AVPN_KEY_LEN];

	warn_readable_stdout();
	key_generate_private(key);
	print_key(key);
	sodium_memzero(key, sizeof(key));
}

static void keygen_write_file(const char *path)
{
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	int rc;

	key_generate_private(key);
	rc = key_write_private_file(path, key, &e);
	sodium_memzero(key, sizeof(key));
	if (rc == -1)
		errx(AVPN_EXIT_FAILURE, "%s", e.text);
}

static void keygen_print_public(void)
{
	struct avpn_error e;
	uint8_t priv[AVPN_KEY_LEN], pub[AVPN_KEY_LEN];
	int rc;

	if (key_read_private_file(priv, "-", &e) == -1)
		errx(AVPN_EXIT_USAGE, "%s", e.text);
	rc = key_public_from_private(pub, priv);
	sodium_memzero(priv, sizeof(priv));
	if (rc == -1)
		errx(AVPN_EXIT_USAGE, "stdin: invalid private key: its public "
		     "key is the all-zero point");
	print_key(pub);
}

int main(int argc, char *argv[])
{
	enum keygen_mode mode = MODE_PRIVATE;
	const char *path = NULL;
	int ch, modes = 0;

	while ((ch = getopt(argc, argv, "ho:p")) != -1) {
		switch (ch) {
		case 'h':
			usage_help();
			return AVPN_EXIT_OK;
		case 'o':
			mode = MODE_FILE;
			path = optarg;
			modes++;
			break;
		case 'p':
			mode = MODE_PUBLIC;
			modes++;
			break;
		default:
			usage_error();
		}
	}
	if (optind != argc) {
		/* The argument is not echoed: it may be a key. */
		warnx("unexpected argument; keys are read from stdin, never "
		      "from the command line");
		usage_error();
	}
	if (modes > 1) {
		warnx("give at most one of -o FILE and -p, once");
		usage_error();
	}
	if (sodium_init() == -1)
		errx(AVPN_EXIT_FAILURE, "libsodium failed to initialise");
	if (mode == MODE_FILE)
		keygen_write_file(path);
	else if (mode == MODE_PUBLIC)
		keygen_print_public();
	else
		keygen_print_private();
	return AVPN_EXIT_OK;
}
