/*
 * The WireGuard primitives: HASH and MAC are BLAKE2s (libb2), HMAC and the
 * HKDF-style KDF are built from BLAKE2s as the WireGuard paper (Donenfeld,
 * NDSS 2017) defines them, DH is X25519 and AEAD is ChaCha20-Poly1305
 * (libsodium).
 */
#include <string.h>

#include <blake2.h>
#include <sodium.h>

#include "wg_internal.h"

#define BLAKE2S_BLOCK_LEN 64

/* HASH(a || b): BLAKE2s with a 32-byte output. */
void wg_hash(uint8_t out[WG_HASH_LEN], const uint8_t *a, size_t a_len,
	     const uint8_t *b, size_t b_len)
{
	blake2s_state state;

	blake2s_init(&state, WG_HASH_LEN);
	blake2s_update(&state, a, a_len);
	if (b_len > 0)
		blake2s_update(&state, b, b_len);
	blake2s_final(&state, out, WG_HASH_LEN);
	sodium_memzero(&state, sizeof(state));
}

/* MAC(key, in): keyed BLAKE2s with a 16-byte output. */
void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len,
	    const uint8_t *in, size_t len)
{
	blake2s_state state;

	blake2s_init_key(&state, WG_MAC_LEN, key, key_len);
	blake2s_update(&state, in, len);
	blake2s_final(&state, out, WG_MAC_LEN);
	sodium_memzero(&state, sizeof(state));
}

/*
 * HMAC(key, a || b) with BLAKE2s as the hash (RFC 2104): the key padded to
 * the 64-byte block, XORed with 0x36 for the inner hash and 0x5c for the
 * outer one.  A key longer than a block is hashed first.
 */
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t key_len,
	     const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint8_t block[BLAKE2S_BLOCK_LEN];
	uint8_t inner[WG_HASH_LEN];
	blake2s_state state;
	size_t i;

	memset(block, 0, sizeof(block));
	if (key_len > BLAKE2S_BLOCK_LEN)
		wg_hash(block, key, key_len, NULL, 0);
	else
		memcpy(block, key, key_len);

	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	blake2s_init(&state, WG_HASH_LEN);
	blake2s_update(&state, block, sizeof(block));
	blake2s_update(&state, a, a_len);
	if (b_len > 0)
		blake2s_update(&state, b, b_len);
	blake2s_final(&state, inner, sizeof(inner));

	for (i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	blake2s_init(&state, WG_HASH_LEN);
	blake2s_update(&state, block, sizeof(block));
	blake2s_update(&state, inner, sizeof(inner));
	blake2s_final(&state, out, WG_HASH_LEN);

	sodium_memzero(block, sizeof(block));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&state, sizeof(state));
}

/*
 * KDF_n(chaining_key, in), n = 1 to 3: t0 = HMAC(chaining_key, in),
 * t1 = HMAC(t0, 0x1), t2 = HMAC(t0, t1 || 0x2), t3 = HMAC(t0, t2 || 0x3).
 * Pass NULL for the outputs not needed; out t1 may alias chaining_key.
 */
void wg_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3,
	    const uint8_t chaining_key[WG_HASH_LEN], const uint8_t *in,
	    size_t len)
{
	uint8_t t0[WG_HASH_LEN];
	uint8_t out[WG_HASH_LEN];
	uint8_t counter;

	wg_hmac(t0, chaining_key, WG_HASH_LEN, in, len, NULL, 0);

	counter = 1;
	wg_hmac(out, t0, sizeof(t0), &counter, 1, NULL, 0);
	if (t1 != NULL)
		memcpy(t1, out, WG_HASH_LEN);
	if (t2 != NULL || t3 != NULL) {
		counter = 2;
		wg_hmac(out, t0, sizeof(t0), out, WG_HASH_LEN, &counter, 1);
		if (t2 != NULL)
			memcpy(t2, out, WG_HASH_LEN);
	}
	if (t3 != NULL) {
		counter = 3;
		wg_hmac(out, t0, sizeof(t0), out, WG_HASH_LEN, &counter, 1);
		memcpy(t3, out, WG_HASH_LEN);
	}
	sodium_memzero(t0, sizeof(t0));
	sodium_memzero(out, sizeof(out));
}

/* X25519.  Returns -1 when the result is all zeros (a low-order point). */
int wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN],
	  const uint8_t public_key[WG_KEY_LEN])
{
	if (crypto_scalarmult(out, private_key, public_key) != 0) {
		sodium_memzero(out, WG_KEY_LEN);
		return -1;
	}
	return 0;
}

void wg_dh_generate(uint8_t private_key[WG_KEY_LEN],
		    uint8_t public_key[WG_KEY_LEN])
{
	randombytes_buf(private_key, WG_KEY_LEN);
	/* Clamp as RFC 7748 does, so the stored key is the one used. */
	private_key[0] &= 248;
	private_key[31] &= 127;
	private_key[31] |= 64;
	crypto_scalarmult_base(public_key, private_key);
}

/* The 96-bit nonce: 32 zero bits, then the counter in little-endian. */
static void wg_aead_nonce(uint8_t nonce[WG_AEAD_NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_put_le64(nonce + 4, counter);
}

/* AEAD(key, counter, plain, ad) into out: len bytes and a 16-byte tag.
 * out may equal plain. */
void wg_aead_encrypt(uint8_t *out, const uint8_t key[WG_KEY_LEN],
		     uint64_t counter, const uint8_t *plain, size_t len,
		     const uint8_t *ad, size_t ad_len)
{
	uint8_t nonce[WG_AEAD_NONCE_LEN];

	wg_aead_nonce(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, len, ad,
						  ad_len, NULL, nonce, key);
}

/* Decrypts len bytes of ciphertext and tag into out (len - 16 bytes).
 * Returns -1 when the tag does not verify. */
int wg_aead_decrypt(uint8_t *out, const uint8_t key[WG_KEY_LEN],
		    uint64_t counter, const uint8_t *cipher, size_t len,
		    const uint8_t *ad, size_t ad_len)
{
	uint8_t nonce[WG_AEAD_NONCE_LEN];

	if (len < WG_TAG_LEN)
		return -1;
	wg_aead_nonce(nonce, counter);
	return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL,
							 cipher, len, ad,
							 ad_len, nonce, key);
}

/*
 * TAI64N of a Unix time: seconds plus 2^62 plus the 10 s that TAI was
 * ahead of UTC in 1970, then nanoseconds, both big-endian.  Nanoseconds are
 * rounded down to a multiple of 2^24 (about 16.8 ms), which is finer than
 * the one initiation per 20 ms a responder accepts, so the timestamp does
 * not leak the sender's precise clock.
 */
void wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t wall_ns)
{
	uint64_t seconds = wall_ns / 1000000000 + (UINT64_C(1) << 62) + 10;
	uint32_t nanoseconds = (uint32_t)(wall_ns % 1000000000);
	int i;

	nanoseconds &= ~(uint32_t)((1 << 24) - 1);
	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)seconds;
		seconds >>= 8;
	}
	for (i = 11; i >= 8; i--) {
		out[i] = (uint8_t)nanoseconds;
		nanoseconds >>= 8;
	}
}
