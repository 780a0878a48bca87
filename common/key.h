/*
 * X25519 keys in WireGuard's format: 32 bytes, written as 44 characters of
 * standard base64 ending in one '='.  Keys from `wg genkey` and `wg pubkey`
 * are accepted as they are, and ours work with wg.
 */
#ifndef AVPN_KEY_H
#define AVPN_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define AVPN_KEY_LEN 32
#define AVPN_KEY_BASE64_LEN 44

/*
 * Decodes exactly one key of 44 base64 characters from s[0..len).  Rejects
 * any other length, characters outside the alphabet, a non-canonical last
 * character and trailing data.  Returns 0 or -1 with err set.
 */
int key_from_base64(uint8_t key[AVPN_KEY_LEN], const char *s, size_t len,
		    struct avpn_error *err);

/* Encodes a key; out receives 44 characters and a NUL. */
void key_to_base64(char out[AVPN_KEY_BASE64_LEN + 1],
		   const uint8_t key[AVPN_KEY_LEN]);

/* Fills key with a new random private key, clamped as X25519 requires. */
void key_generate_private(uint8_t key[AVPN_KEY_LEN]);

/* Derives the public key.  Returns -1 for a key whose public key is the
 * all-zero point (a weak key). */
int key_public_from_private(uint8_t pub[AVPN_KEY_LEN],
			    const uint8_t priv[AVPN_KEY_LEN]);

/*
 * Reads a private key file: one base64 key, an optional newline, nothing
 * else.  "-" reads stdin.  Rejects a file that is not a regular file, that
 * group or others can read or write, or that is a symlink.  The buffer used
 * is wiped.  Returns 0 or -1 with err naming the path and the fix.
 */
int key_read_private_file(uint8_t key[AVPN_KEY_LEN], const char *path,
			  struct avpn_error *err);

/* Reads a public key file (any mode); "-" reads stdin. */
int key_read_public_file(uint8_t key[AVPN_KEY_LEN], const char *path,
			 struct avpn_error *err);

/*
 * Creates path with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 and writes the
 * key in base64 with a newline.  Never overwrites an existing file.
 */
int key_write_private_file(const char *path, const uint8_t key[AVPN_KEY_LEN],
			   struct avpn_error *err);

#endif
