/*
 * Published test vectors for the primitives under the WireGuard core.
 * BLAKE2s: RFC 7693 appendix B and the BLAKE2 reference KAT.  X25519:
 * RFC 7748 sections 5.2 and 6.1.  ChaCha20-Poly1305: RFC 8439 section
 * 2.8.2.  Then the HMAC and KDF built on BLAKE2s, and the TAI64N format.
 */
#include <stdlib.h>
#include <string.h>

#include <blake2.h>
#include <sodium.h>

#include "unit.h"
#include "wg_internal.h"

/* Decodes hex into out.  A malformed literal is a bug in the test, so it
 * ends the run. */
static size_t unhex(uint8_t *out, size_t size, const char *hex)
{
	size_t len;

	if (sodium_hex2bin(out, size, hex, strlen(hex), " ", &len, NULL) !=
	    0) {
		printf("Bail out! invalid hex literal %.20s\n", hex);
		exit(1);
	}
	return len;
}

static int bytes_equal(const uint8_t *got, const char *want_hex)
{
	uint8_t want[256];
	size_t len = unhex(want, sizeof(want), want_hex);

	return memcmp(got, want, len) == 0;
}

static void test_blake2s(void)
{
	uint8_t out[WG_HASH_LEN];
	uint8_t key[32];
	uint8_t in[64];

	wg_hash(out, (const uint8_t *)"abc", 3, NULL, 0);
	CHECK(bytes_equal(out, "508C5E8C327C14E2E1A72BA34EEB452F"
			       "37458B209ED63A294D999B4C86675982"),
	      "blake2s-256 of abc (RFC 7693 appendix B)");

	/* wg_hash of two parts equals the hash of their concatenation. */
	wg_hash(out, (const uint8_t *)"a", 1, (const uint8_t *)"bc", 2);
	CHECK(bytes_equal(out, "508C5E8C327C14E2E1A72BA34EEB452F"
			       "37458B209ED63A294D999B4C86675982"),
	      "blake2s-256 of abc in two parts");

	/* Keyed entries of blake2s-kat.txt: key 00..1f, input 00..(n-1). */
	unhex(key, sizeof(key), "000102030405060708090a0b0c0d0e0f"
				"101112131415161718191a1b1c1d1e1f");
	memcpy(in, key, sizeof(key));
	blake2s(out, NULL, key, 32, 0, sizeof(key));
	CHECK(bytes_equal(out, "48a8997da407876b3d79c0d92325ad3b"
			       "89cbb754d86ab71aee047ad345fd2c49"),
	      "keyed blake2s of empty input (BLAKE2 KAT)");
	blake2s(out, in, key, 32, 1, sizeof(key));
	CHECK(bytes_equal(out, "40d15fee7c328830166ac3f918650f80"
			       "7e7e01e177258cdc0a39b11f598066f1"),
	      "keyed blake2s of one byte (BLAKE2 KAT)");
	blake2s(out, in, key, 32, 32, sizeof(key));
	CHECK(bytes_equal(out, "c03bc642b20959cbe133a0303e0c1abf"
			       "f3e31ec8e1a328ec8565c36decff5265"),
	      "keyed blake2s of 32 bytes (BLAKE2 KAT)");
}

static void test_wireguard_constants(void)
{
	static const char construction[] =
		"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	uint8_t ck[WG_HASH_LEN];
	uint8_t h[WG_HASH_LEN];

	/* The initial chaining key and hash that wireguard-rs publishes as
	 * constants (INITIAL_CK and INITIAL_HS). */
	wg_hash(ck, (const uint8_t *)construction, strlen(construction), NULL,
		0);
	CHECK(bytes_equal(ck, "60e26daef327efc02ec335e2a025d2d0"
			      "16eb4206f87277f52d38d1988b78cd36"),
	      "HASH(construction) is WireGuard's initial chaining key");
	wg_hash(h, ck, sizeof(ck), (const uint8_t *)identifier,
		strlen(identifier));
	CHECK(bytes_equal(h, "2211b361081ac566691243db458ad532"
			     "2d9c6c662293e8b70ee19c65ba079ef3"),
	      "HASH(C || identifier) is WireGuard's initial hash");
}

static void test_hmac_kdf(void)
{
	uint8_t key[100];
	uint8_t out[WG_HASH_LEN];
	uint8_t t0[WG_HASH_LEN], t1[WG_HASH_LEN], t2[WG_HASH_LEN];
	uint8_t t3[WG_HASH_LEN], k1[WG_HASH_LEN], k2[WG_HASH_LEN];
	uint8_t k3[WG_HASH_LEN], one = 1, two = 2, three = 3;
	size_t i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	/* These expected values are not published vectors: they come from
	 * Python 3's hmac module over hashlib.blake2s, an independent
	 * RFC 2104 implementation. */
	wg_hmac(out, key, 32, (const uint8_t *)"abc", 3, NULL, 0);
	CHECK(bytes_equal(out, "82623be5bc0a391b24dce53e67d028ef"
			       "f92d586de0485ac37822e597d049c74f"),
	      "hmac-blake2s with a 32-byte key");
	wg_hmac(out, key, 100, (const uint8_t *)"ab", 2,
		(const uint8_t *)"c", 1);
	CHECK(bytes_equal(out, "c1b751501db12b753069a918627b6231"
			       "79be55c8cc7ca5c4e14bdf32274ac656"),
	      "hmac-blake2s with a key longer than a block");

	/* KDF3 written out from its definition with the HMAC above. */
	wg_hmac(t0, key, 32, (const uint8_t *)"input", 5, NULL, 0);
	wg_hmac(t1, t0, 32, &one, 1, NULL, 0);
	wg_hmac(t2, t0, 32, t1, 32, &two, 1);
	wg_hmac(t3, t0, 32, t2, 32, &three, 1);
	wg_kdf(k1, k2, k3, key, (const uint8_t *)"input", 5);
	CHECK(memcmp(k1, t1, 32) == 0, "kdf first output");
	CHECK(memcmp(k2, t2, 32) == 0, "kdf second output");
	CHECK(memcmp(k3, t3, 32) == 0, "kdf third output");
	memcpy(k1, key, 32);
	wg_kdf(k1, NULL, NULL, k1, (const uint8_t *)"input", 5);
	CHECK(memcmp(k1, t1, 32) == 0, "kdf output may alias its key");
}

static void test_x25519(void)
{
	uint8_t scalar[32], u[32], out[32];
	uint8_t alice[32], bob[32], alice_pub[32], bob_pub[32];
	uint8_t zero[32] = { 0 };

	unhex(scalar, 32, "a546e36bf0527c9d3b16154b82465edd"
			  "62144c0ac1fc5a18506a2244ba449ac4");
	unhex(u, 32, "e6db6867583030db3594c1a424b15f7c"
		     "726624ec26b3353b10a903a6d0ab1c4c");
	CHECK(wg_dh(out, scalar, u) == 0, "x25519 first vector succeeds");
	CHECK(bytes_equal(out, "c3da55379de9c6908e94ea4df28d084f"
			       "32eccf03491c71f754b4075577a28552"),
	      "x25519 first vector (RFC 7748 5.2)");
	unhex(scalar, 32, "4b66e9d4d1b4673c5ad22691957d6af5"
			  "c11b6421e0ea01d42ca4169e7918ba0d");
	unhex(u, 32, "e5210f12786811d3f4b7959d0538ae2c"
		     "31dbe7106fc03c3efc4cd549c715a493");
	CHECK(wg_dh(out, scalar, u) == 0, "x25519 second vector succeeds");
	CHECK(bytes_equal(out, "95cbde9476e8907d7aade45cb4b873f8"
			       "8b595a68799fa152e6f8f7647aac7957"),
	      "x25519 second vector (RFC 7748 5.2)");

	unhex(alice, 32, "77076d0a7318a57d3c16c17251b26645"
			 "df4c2f87ebc0992ab177fba51db92c2a");
	unhex(bob, 32, "5dab087e624a8a4b79e17f8b83800ee6"
		       "6f3bb1292618b6fd1c2f8b27ff88e0eb");
	crypto_scalarmult_base(alice_pub, alice);
	crypto_scalarmult_base(bob_pub, bob);
	CHECK(bytes_equal(alice_pub, "8520f0098930a754748b7ddcb43ef75a"
				     "0dbf3a0d26381af4eba4a98eaa9b4e6a"),
	      "x25519 alice public key (RFC 7748 6.1)");
	CHECK(bytes_equal(bob_pub, "de9edb7d7b7dc1b4d35b61c2ece43537"
				   "3f8343c85b78674dadfc7e146f882b4f"),
	      "x25519 bob public key (RFC 7748 6.1)");
	CHECK(wg_dh(out, alice, bob_pub) == 0 &&
		      bytes_equal(out, "4a5d9d5ba4ce2de1728e3bf480350f25"
				       "e07e21c947d19e3376f09b3c1e161742"),
	      "x25519 shared secret from alice (RFC 7748 6.1)");
	CHECK(wg_dh(out, bob, alice_pub) == 0 &&
		      bytes_equal(out, "4a5d9d5ba4ce2de1728e3bf480350f25"
				       "e07e21c947d19e3376f09b3c1e161742"),
	      "x25519 shared secret from bob (RFC 7748 6.1)");
	CHECK(wg_dh(out, alice, zero) == -1, "x25519 rejects the zero point");
}

static const char aead_plain[] =
	"Ladies and Gentlemen of the class of '99: If I could offer you only "
	"one tip for the future, sunscreen would be it.";

static void test_aead(void)
{
	uint8_t key[32], nonce[12], ad[12];
	uint8_t cipher[sizeof(aead_plain) - 1 + 16];
	uint8_t back[sizeof(aead_plain)];
	size_t len = sizeof(aead_plain) - 1;

	unhex(key, 32, "808182838485868788898a8b8c8d8e8f"
		       "909192939495969798999a9b9c9d9e9f");
	unhex(nonce, 12, "070000004041424344454647");
	unhex(ad, 12, "50515253c0c1c2c3c4c5c6c7");
	crypto_aead_chacha20poly1305_ietf_encrypt(
		cipher, NULL, (const uint8_t *)aead_plain, len, ad, sizeof(ad),
		NULL, nonce, key);
	CHECK(bytes_equal(cipher,
			  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fe"
			  "a9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
			  "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c"
			  "9803aee328091b58fab324e4fad675945585808b4831d7bc"
			  "3ff4def08e4b7a9de576d26586cec64b6116"),
	      "chacha20-poly1305 ciphertext (RFC 8439 2.8.2)");
	CHECK(bytes_equal(cipher + len, "1ae10b594f09e26a7e902ecbd0600691"),
	      "chacha20-poly1305 tag (RFC 8439 2.8.2)");

	/* WireGuard's nonce is 4 zero bytes and the little-endian counter,
	 * so counter 0x4746454443424140 gives nonce 00000000 40414243...47. */
	wg_aead_encrypt(cipher, key, UINT64_C(0x4746454443424140),
			(const uint8_t *)aead_plain, len, ad, sizeof(ad));
	nonce[0] = 0;
	CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(
		      back, NULL, NULL, cipher, len + 16, ad, sizeof(ad),
		      nonce, key) == 0,
	      "wg_aead_encrypt puts the counter after 4 zero bytes");
	CHECK(wg_aead_decrypt(back, key, UINT64_C(0x4746454443424140),
			      cipher, len + 16, ad, sizeof(ad)) == 0 &&
		      memcmp(back, aead_plain, len) == 0,
	      "wg_aead_decrypt opens its own ciphertext");
	cipher[3] ^= 1;
	CHECK(wg_aead_decrypt(back, key, UINT64_C(0x4746454443424140),
			      cipher, len + 16, ad, sizeof(ad)) == -1,
	      "wg_aead_decrypt rejects a flipped bit");
}

static void test_tai64n(void)
{
	uint8_t out[WG_TIMESTAMP_LEN];
	uint8_t later[WG_TIMESTAMP_LEN];

	/* 2017-02-27 00:00:00 UTC plus 0.5 s: 1488153600 = 0x58b36c00. */
	wg_tai64n(out, UINT64_C(1488153600) * 1000000000 + 500000000);
	CHECK(bytes_equal(out, "4000000058b36c0a"),
	      "tai64n seconds are 2^62 + 10 + unix time");
	/* 500000000 = 0x1dcd6500, rounded down to a multiple of 2^24. */
	CHECK(bytes_equal(out + 8, "1d000000"),
	      "tai64n nanoseconds are rounded down to 2^24");
	wg_tai64n(later, UINT64_C(1488153600) * 1000000000 + 520000000);
	CHECK(memcmp(later, out, WG_TIMESTAMP_LEN) > 0,
	      "tai64n 20 ms later compares greater");
}

int main(void)
{
	if (sodium_init() < 0) {
		printf("Bail out! sodium_init failed\n");
		return 1;
	}
	test_blake2s();
	test_wireguard_constants();
	test_hmac_kdf();
	test_x25519();
	test_aead();
	test_tai64n();
	return unit_done();
}
