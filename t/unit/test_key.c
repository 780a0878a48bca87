/* Unit tests for common/key.c: base64 keys, X25519 and key files. */
#include <errno.h>
#include <sys/wait.h>

#include <sodium.h>

#include "key.h"
#include "unit.h"
#include "unit_files.h"

/* A valid key: bytes 0, 1, ..., 31 in standard base64. */
static const char counting_key[] =
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static int decode(uint8_t key[AVPN_KEY_LEN], const char *s,
		  struct avpn_error *err)
{
	return key_from_base64(key, s, strlen(s), err);
}

static void test_decode_good(void)
{
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN], want[AVPN_KEY_LEN];
	char out[AVPN_KEY_BASE64_LEN + 1];
	int i;

	for (i = 0; i < AVPN_KEY_LEN; i++)
		want[i] = (uint8_t)i;
	CHECK(decode(key, counting_key, &e) == 0, "decode counting key");
	CHECK(memcmp(key, want, AVPN_KEY_LEN) == 0, "counting key bytes");
	key_to_base64(out, key);
	CHECK_STR(out, counting_key, "encode counting key");

	memset(want, 0xff, sizeof(want));
	key_to_base64(out, want);
	CHECK_STR(out, "//////////////////////////////////////////8=",
		  "encode all-ones key");
	CHECK(decode(key, out, &e) == 0, "decode all-ones key");
	CHECK(memcmp(key, want, AVPN_KEY_LEN) == 0, "all-ones key bytes");
}

static void test_decode_bad(void)
{
	static const struct {
		const char *text;
		const char *why; /* a word the error must contain */
		const char *name;
	} cases[] = {
		{ "", "0 characters", "empty key" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		  "43 characters", "43 characters, padding missing" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
		  "45 characters", "45 characters" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		  "45 characters", "trailing newline inside the length" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8 ",
		  "44th character", "space in place of '='" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
		  "44th character", "no padding, 44 characters" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==",
		  "character 43", "'=' as character 43" },
		{ "-AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		  "character 1", "URL-safe '-' rejected" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH_8=",
		  "character 42", "URL-safe '_' rejected" },
		{ "AAECAwQFBgcICQoLDA0O*xAREhMUFRYXGBkaGxwdHh8=",
		  "character 21", "'*' rejected" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
		  "non-canonical", "last character with padding bits" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/=",
		  "non-canonical", "last character '/' has padding bits" },
		{ "AAAECAwQA\277cICQoLDA0ODxAREhMUFaYRBXkGGxwdHh4=",
		  "character 10", "byte 0xbf rejected" },
		{ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\200=",
		  "character 43", "byte 0x80 rejected" },
		{ "AAECAwQFBgcICQoL DA0ODxAREhMUFRYXGBkaGxwdHh8=",
		  "45 characters", "inner space" },
	};
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e.text[0] = '\0';
		rc = decode(key, cases[i].text, &e);
		CHECK(rc == -1, cases[i].name);
		CHECK(strstr(e.text, cases[i].why) != NULL, cases[i].name);
		if (strstr(e.text, cases[i].why) == NULL)
			printf("#   error was \"%s\"\n", e.text);
	}
}

static void test_decode_nul(void)
{
	char text[AVPN_KEY_BASE64_LEN + 1];
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];

	memcpy(text, counting_key, sizeof(text));
	text[10] = '\0';
	CHECK(key_from_base64(key, text, AVPN_KEY_BASE64_LEN, &e) == -1,
	      "NUL inside a key rejected");
	CHECK(strstr(e.text, "NUL") != NULL, "NUL error names the byte");
	CHECK(key_from_base64(key, counting_key, AVPN_KEY_BASE64_LEN,
			      NULL) == 0, "NULL error pointer allowed");
	CHECK(key_from_base64(key, "x", 1, NULL) == -1,
	      "NULL error pointer on failure");
}

static void hex_key(uint8_t key[AVPN_KEY_LEN], const char *hex)
{
	size_t len = 0;

	if (sodium_hex2bin(key, AVPN_KEY_LEN, hex, strlen(hex), NULL, &len,
			   NULL) != 0 || len != AVPN_KEY_LEN)
		memset(key, 0, AVPN_KEY_LEN);
}

/* The Diffie-Hellman test vector of RFC 7748, section 6.1. */
static void test_rfc7748(void)
{
	uint8_t priv[AVPN_KEY_LEN], pub[AVPN_KEY_LEN], want[AVPN_KEY_LEN];

	hex_key(priv, "77076d0a7318a57d3c16c17251b26645"
		      "df4c2f87ebc0992ab177fba51db92c2a");
	hex_key(want, "8520f0098930a754748b7ddcb43ef75a"
		      "0dbf3a0d26381af4eba4a98eaa9b4e6a");
	CHECK(key_public_from_private(pub, priv) == 0,
	      "RFC 7748 Alice's public key derived");
	CHECK(memcmp(pub, want, AVPN_KEY_LEN) == 0,
	      "RFC 7748 Alice's public key matches");

	hex_key(priv, "5dab087e624a8a4b79e17f8b83800ee6"
		      "6f3bb1292618b6fd1c2f8b27ff88e0eb");
	hex_key(want, "de9edb7d7b7dc1b4d35b61c2ece43537"
		      "3f8343c85b78674dadfc7e146f882b4f");
	CHECK(key_public_from_private(pub, priv) == 0,
	      "RFC 7748 Bob's public key derived");
	CHECK(memcmp(pub, want, AVPN_KEY_LEN) == 0,
	      "RFC 7748 Bob's public key matches");
}

static void test_generate(void)
{
	uint8_t a[AVPN_KEY_LEN], b[AVPN_KEY_LEN], pub[AVPN_KEY_LEN];
	uint8_t again[AVPN_KEY_LEN];
	char text[AVPN_KEY_BASE64_LEN + 1];

	key_generate_private(a);
	key_generate_private(b);
	CHECK(memcmp(a, b, AVPN_KEY_LEN) != 0, "two new keys differ");
	CHECK((a[0] & 7) == 0, "new key: low 3 bits clear");
	CHECK((a[31] & 0x80) == 0, "new key: top bit clear");
	CHECK((a[31] & 0x40) != 0, "new key: bit 254 set");
	key_to_base64(text, a);
	CHECK(strlen(text) == AVPN_KEY_BASE64_LEN, "new key: 44 characters");
	CHECK(decode(again, text, NULL) == 0, "new key decodes");
	CHECK(memcmp(again, a, AVPN_KEY_LEN) == 0, "new key round trip");
	CHECK(key_public_from_private(pub, a) == 0, "new key has public key");
	CHECK(!sodium_is_zero(pub, AVPN_KEY_LEN), "public key not zero");
}

static void test_read_private(void)
{
	char text[128];
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	const char *path = unit_path("good.key");

	snprintf(text, sizeof(text), "%s\n", counting_key);
	unit_write_file(path, text, 0600);
	CHECK(key_read_private_file(key, path, &e) == 0,
	      "private key 0600 with newline");
	CHECK(key[31] == 31, "private key bytes read");

	unit_write_file(path, counting_key, 0600);
	CHECK(key_read_private_file(key, path, &e) == 0,
	      "private key without newline");

	unit_write_file(path, counting_key, 0400);
	CHECK(key_read_private_file(key, path, &e) == 0,
	      "private key 0400 accepted");
}

/* Each mode lets group or others read or write the file. */
static void test_read_private_modes(void)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0620, 0602, 0666 };
	char name[64];
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	const char *path = unit_path("open.key");
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		unit_write_file(path, counting_key, modes[i]);
		snprintf(name, sizeof(name), "private key mode %04o rejected",
			 (unsigned)modes[i]);
		CHECK(key_read_private_file(key, path, &e) == -1, name);
		CHECK(strstr(e.text, path) != NULL, "mode error names path");
		CHECK(strstr(e.text, "chmod 600") != NULL,
		      "mode error names the fix");
	}
}

static void test_read_private_kinds(void)
{
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	const char *target = unit_path("target.key");
	const char *link = unit_path("link.key");

	unit_write_file(target, counting_key, 0600);
	CHECK(symlink(target, link) == 0, "make symlink");
	CHECK(key_read_private_file(key, link, &e) == -1,
	      "private key symlink rejected");
	CHECK(strstr(e.text, link) != NULL, "symlink error names path");
	CHECK(strstr(e.text, "symlink") != NULL, "symlink error says why");

	CHECK(key_read_public_file(key, link, &e) == 0,
	      "public key through symlink accepted");

	CHECK(key_read_private_file(key, unit_dir, &e) == -1,
	      "directory rejected");
	CHECK(strstr(e.text, "not a regular file") != NULL,
	      "directory error says why");

	CHECK(key_read_private_file(key, unit_path("missing.key"), &e) == -1,
	      "missing private key file");
	CHECK(strstr(e.text, "missing.key") != NULL,
	      "missing file error names path");
	CHECK(strstr(e.text, "No such file") != NULL,
	      "missing file error names cause");
}

static void test_read_contents(void)
{
	static const struct {
		const char *suffix;
		const char *why;
		const char *name;
	} cases[] = {
		{ "\n\n", "trailing data", "two newlines rejected" },
		{ "\r\n", "trailing data", "CRLF rejected" },
		{ " \n", "trailing data", "trailing space rejected" },
		{ "\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		  "trailing data", "two keys rejected" },
	};
	char text[256];
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	const char *path = unit_path("contents.key");
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", counting_key,
			 cases[i].suffix);
		unit_write_file(path, text, 0600);
		CHECK(key_read_private_file(key, path, &e) == -1,
		      cases[i].name);
		CHECK(strstr(e.text, cases[i].why) != NULL, cases[i].name);
	}
	unit_write_file(path, "", 0600);
	CHECK(key_read_private_file(key, path, &e) == -1, "empty file");
	CHECK(strstr(e.text, "empty") != NULL, "empty file error");
	unit_write_file(path, "\n", 0600);
	CHECK(key_read_private_file(key, path, &e) == -1, "newline only");
	unit_write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n",
			0600);
	CHECK(key_read_private_file(key, path, &e) == -1,
	      "non-canonical key in file");
	CHECK(strncmp(e.text, path, strlen(path)) == 0,
	      "key error starts with path");
}

static void test_read_public(void)
{
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	const char *path = unit_path("peer.pub");

	unit_write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
			0644);
	CHECK(key_read_public_file(key, path, &e) == 0,
	      "public key 0644 accepted");
	unit_write_file(path, "not a key\n", 0644);
	CHECK(key_read_public_file(key, path, &e) == -1,
	      "public key file with junk");
}

/* Runs key_read_private_file("-") with stdin fed from a pipe. */
static void test_read_stdin(void)
{
	struct avpn_error e;
	uint8_t key[AVPN_KEY_LEN];
	int fds[2], saved;

	saved = dup(STDIN_FILENO);
	if (pipe(fds) == -1 || saved == -1) {
		CHECK(0, "pipe for stdin");
		return;
	}
	if (write(fds[1], counting_key, AVPN_KEY_BASE64_LEN) == -1)
		CHECK(0, "write to pipe");
	close(fds[1]);
	dup2(fds[0], STDIN_FILENO);
	close(fds[0]);
	CHECK(key_read_private_file(key, "-", &e) == 0, "key read from stdin");
	CHECK(key[1] == 1, "key bytes from stdin");
	CHECK(key_read_private_file(key, "-", &e) == -1, "stdin at its end");
	CHECK(strstr(e.text, "stdin") != NULL, "stdin error says stdin");
	dup2(saved, STDIN_FILENO);
	close(saved);
}

static void test_write_private(void)
{
	char text[128];
	struct avpn_error e;
	struct stat st;
	uint8_t key[AVPN_KEY_LEN];
	const char *path = unit_path("new.key");
	const char *link = unit_path("dangling.key");

	decode(key, counting_key, NULL);
	CHECK(key_write_private_file(path, key, &e) == 0, "write key file");
	CHECK(stat(path, &st) == 0, "stat new key file");
	CHECK((st.st_mode & 07777) == 0600, "new key file has mode 0600");
	unit_read_file(path, text, sizeof(text));
	CHECK(strncmp(text, counting_key, AVPN_KEY_BASE64_LEN) == 0,
	      "key file has the key");
	CHECK_STR(text + AVPN_KEY_BASE64_LEN, "\n", "key file ends in newline");

	unit_write_file(path, "old\n", 0600);
	CHECK(key_write_private_file(path, key, &e) == -1,
	      "existing file not overwritten");
	CHECK(strstr(e.text, path) != NULL, "exists error names path");
	CHECK(strstr(e.text, "file exists") != NULL, "exists error says why");
	unit_read_file(path, text, sizeof(text));
	CHECK_STR(text, "old\n", "existing file untouched");

	CHECK(symlink(unit_path("victim"), link) == 0, "make dangling link");
	CHECK(key_write_private_file(link, key, &e) == -1,
	      "dangling symlink not followed");
	CHECK(access(unit_path("victim"), F_OK) == -1,
	      "symlink target not created");

	CHECK(key_write_private_file(unit_path("no/such/dir.key"), key,
				     &e) == -1, "missing directory");
	CHECK(strstr(e.text, "no/such/dir.key") != NULL,
	      "missing directory error names path");
}

int main(void)
{
	if (sodium_init() == -1)
		return 1;
	unit_tmpdir();
	test_decode_good();
	test_decode_bad();
	test_decode_nul();
	test_rfc7748();
	test_generate();
	test_read_private();
	test_read_private_modes();
	test_read_private_kinds();
	test_read_contents();
	test_read_public();
	test_read_stdin();
	test_write_private();
	return unit_done();
}
