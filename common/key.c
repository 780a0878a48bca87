#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"

/* A key file is 44 characters and a newline; read a little more so that
 * trailing data is seen and rejected. */
#define KEY_FILE_READ_MAX 64

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Finds why s[0..44) is not a canonical key, for the error message only.
 * A valid key is checked and decoded without branches on its characters;
 * this pass runs only on input already known to be invalid.
 */
static int key_explain_invalid(const char *s, struct avpn_error *err)
{
	const char *p;
	size_t i;

	if (s[AVPN_KEY_BASE64_LEN - 1] != '=')
		return error_set(err, "invalid key: expected '=' as the "
				 "44th character");
	for (i = 0; i < AVPN_KEY_BASE64_LEN - 1; i++) {
		if (s[i] == '\0' ||
		    strchr(base64_alphabet, (unsigned char)s[i]) == NULL)
			return error_set(err, "invalid key: character %zu is "
					 "not base64", i + 1);
	}
	/* 43 characters carry 258 bits, so the last one's low 2 bits are
	 * padding and must be zero in the canonical encoding. */
	p = strchr(base64_alphabet, (unsigned char)s[AVPN_KEY_BASE64_LEN - 2]);
	if (((p - base64_alphabet) & 3) != 0)
		return error_set(err, "invalid key: non-canonical base64 "
				 "(character 43 has padding bits set)");
	return error_set(err, "invalid key: not base64");
}

/* Returns 1 when c is in the standard base64 alphabet, without a branch
 * on the character's value. */
static unsigned base64_is_alphabet(unsigned char c)
{
	return ((unsigned)(c - 'A') <= 'Z' - 'A') |
	       ((unsigned)(c - 'a') <= 'z' - 'a') |
	       ((unsigned)(c - '0') <= '9' - '0') | (c == '+') | (c == '/');
}

int key_from_base64(uint8_t key[AVPN_KEY_LEN], const char *s, size_t len,
		    struct avpn_error *err)
{
	unsigned valid = 1;
	size_t i;

	uint8_t out[AVPN_KEY_LEN];
	size_t out_len = 0;
	int rc;

	if (len != AVPN_KEY_BASE64_LEN)
		return error_set(err, "invalid key: %zu characters, expected "
				 "%d", len, AVPN_KEY_BASE64_LEN);
	if (memchr(s, '\0', len) != NULL)
		return error_set(err, "invalid key: contains a NUL byte");
	/* NOTE: libsodium 1.0.18 (Debian 12) decodes bytes 0x80-0xff as if
	 * they were base64 digits, so the alphabet is checked here first. */
	for (i = 0; i < AVPN_KEY_BASE64_LEN - 1; i++)
		valid &= base64_is_alphabet((unsigned char)s[i]);
	if (!valid)
		return key_explain_invalid(s, err);
	/* libsodium's decoder runs in constant time and rejects non-zero
	 * padding bits, missing padding and trailing characters. */
	rc = sodium_base642bin(out, sizeof(out), s, len, NULL, &out_len,
			       NULL, sodium_base64_VARIANT_ORIGINAL);
	if (rc != 0 || out_len != AVPN_KEY_LEN) {
		sodium_memzero(out, sizeof(out));
		return key_explain_invalid(s, err);
	}
	memcpy(key, out, AVPN_KEY_LEN);
	sodium_memzero(out, sizeof(out));
	return 0;
}

void key_to_base64(char out[AVPN_KEY_BASE64_LEN + 1],
		   const uint8_t key[AVPN_KEY_LEN])
{
	sodium_bin2base64(out, AVPN_KEY_BASE64_LEN + 1, key, AVPN_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

void key_generate_private(uint8_t key[AVPN_KEY_LEN])
{
	/* sodium_init() is idempotent.  libsodium must not be used when it
	 * fails, and then no key can be made safely, so abort. */
	if (sodium_init() == -1)
		abort();
	randombytes_buf(key, AVPN_KEY_LEN);
	/* Clamping as RFC 7748 section 5 describes, as wg genkey does. */
	key[0] &= 248;
	key[31] &= 127;
	key[31] |= 64;
}

int key_public_from_private(uint8_t pub[AVPN_KEY_LEN],
			    const uint8_t priv[AVPN_KEY_LEN])
{
	/* crypto_scalarmult_base clamps the scalar itself, so an unclamped
	 * key gives the same public key as wg pubkey does. */
	if (crypto_scalarmult_base(pub, priv) != 0)
		return -1;
	if (sodium_is_zero(pub, AVPN_KEY_LEN))
		return -1;
	return 0;
}

/* Rejects a private key file that is not a regular file or that group or
 * others may read or write. */
static int key_check_private_mode(int fd, const char *path,
				  struct avpn_error *err)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return error_set(err, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return error_set(err, "%s: private key is not a regular file",
				 path);
	if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0)
		return error_set(err, "%s: private key has mode %04o, so "
				 "others can access it; run chmod 600 %s",
				 path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/* Reads the whole of fd (up to size - 1 bytes) into buf.  Returns the
 * length, or -1 on a read error. */
static ssize_t key_read_fd(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

/* Decodes the contents of a key file: one key, an optional newline. */
static int key_parse_file(uint8_t key[AVPN_KEY_LEN], const char *buf,
			  size_t len, const char *name, struct avpn_error *err)
{
	struct avpn_error why;

	if (len == 0)
		return error_set(err, "%s: empty, expected one key", name);
	if (buf[len - 1] == '\n')
		len--;
	if (len > AVPN_KEY_BASE64_LEN)
		return error_set(err, "%s: trailing data after the key "
				 "(expected one key and an optional newline)",
				 name);
	if (key_from_base64(key, buf, len, &why) == -1)
		return error_set(err, "%s: %s", name, why.text);
	return 0;
}

/* Opens path (or stdin for "-") and decodes one key from it.  A private
 * key file is opened without following a symlink and must be mode 0600. */
static int key_read_file(uint8_t key[AVPN_KEY_LEN], const char *path,
			 int private, struct avpn_error *err)
{
	struct avpn_error tmp;
	char buf[KEY_FILE_READ_MAX];
	const char *name = path;
	ssize_t len;
	int fd, flags, rc = -1;

	if (err == NULL)
		err = &tmp;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
		name = "stdin";
	} else {
		flags = O_RDONLY | O_CLOEXEC | (private ? O_NOFOLLOW : 0);
		fd = open(path, flags);
		if (fd == -1 && errno == ELOOP && private)
			return error_set(err, "%s: private key is a symlink; "
					 "give the real path", path);
		if (fd == -1)
			return error_set(err, "%s: %s", path, strerror(errno));
		if (private && key_check_private_mode(fd, path, err) == -1)
			goto out;
	}
	len = key_read_fd(fd, buf, sizeof(buf));
	if (len == -1)
		error_set(err, "%s: %s", name, strerror(errno));
	else
		rc = key_parse_file(key, buf, (size_t)len, name, err);
	sodium_memzero(buf, sizeof(buf));
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int key_read_private_file(uint8_t key[AVPN_KEY_LEN], const char *path,
			  struct avpn_error *err)
{
	return key_read_file(key, path, 1, err);
}

int key_read_public_file(uint8_t key[AVPN_KEY_LEN], const char *path,
			 struct avpn_error *err)
{
	return key_read_file(key, path, 0, err);
}

/* Writes all of buf to fd, retrying short writes. */
static int key_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int key_write_private_file(const char *path, const uint8_t key[AVPN_KEY_LEN],
			   struct avpn_error *err)
{
	char line[AVPN_KEY_BASE64_LEN + 2];
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd == -1 && errno == EEXIST)
		return error_set(err, "%s: file exists; remove it or choose "
				 "another name (a key file is never "
				 "overwritten)", path);
	if (fd == -1)
		return error_set(err, "%s: %s", path, strerror(errno));
	key_to_base64(line, key);
	line[AVPN_KEY_BASE64_LEN] = '\n';
	line[AVPN_KEY_BASE64_LEN + 1] = '\0';
	if (key_write_all(fd, line, AVPN_KEY_BASE64_LEN + 1) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		sodium_memzero(line, sizeof(line));
		close(fd);
		unlink(path);
		return error_set(err, "%s: %s", path, strerror(saved));
	}
	sodium_memzero(line, sizeof(line));
	if (close(fd) == -1) {
		saved = errno;
		unlink(path);
		return error_set(err, "%s: %s", path, strerror(saved));
	}
	return 0;
}
