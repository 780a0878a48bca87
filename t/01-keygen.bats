#!/usr/bin/env bats
# avpn-keygen: new private keys, key files, public keys, interchange with
# wg genkey and wg pubkey, and every rejected input and option.

load helper

bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
}

teardown() {
	teardown_tmp
}

KEY_PATTERN='^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$'

# RFC 7748 section 6.1, Alice's key pair, hex converted to base64.
RFC_PRIVATE=dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=
RFC_PUBLIC=hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=

@test "keygen prints one private key" {
	run --separate-stderr avpn-keygen
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" =~ $KEY_PATTERN ]]
	[ -z "$stderr" ]
}

@test "keygen makes a new key each run" {
	run --separate-stderr avpn-keygen
	[ "$status" -eq 0 ]
	first=$output
	run --separate-stderr avpn-keygen
	[ "$status" -eq 0 ]
	[ "$output" != "$first" ]
}

@test "keygen -p derives the RFC 7748 public key" {
	printf '%s\n' "$RFC_PRIVATE" >"$TMP/alice.key"
	run --separate-stderr avpn-keygen -p <"$TMP/alice.key"
	[ "$status" -eq 0 ]
	[ "$output" = "$RFC_PUBLIC" ]
	[ -z "$stderr" ]
}

@test "keygen -p matches wg pubkey for our key" {
	avpn-keygen >"$TMP/a.key"
	expected=$(wg pubkey <"$TMP/a.key")
	run --separate-stderr avpn-keygen -p <"$TMP/a.key"
	[ "$status" -eq 0 ]
	[ "$output" = "$expected" ]
	[[ "$output" =~ $KEY_PATTERN ]]
}

@test "keygen -p matches wg pubkey for wg genkey" {
	for i in 1 2 3 4 5; do
		wg genkey >"$TMP/wg.key"
		expected=$(wg pubkey <"$TMP/wg.key")
		run --separate-stderr avpn-keygen -p <"$TMP/wg.key"
		[ "$status" -eq 0 ]
		[ "$output" = "$expected" ]
	done
}

@test "keygen -o key works with wg pubkey" {
	run --separate-stderr avpn-keygen -o "$TMP/a.key"
	[ "$status" -eq 0 ]
	expected=$(wg pubkey <"$TMP/a.key")
	run --separate-stderr avpn-keygen -p <"$TMP/a.key"
	[ "$status" -eq 0 ]
	[ "$output" = "$expected" ]
}

@test "keygen -p accepts a key without newline" {
	printf '%s' "$RFC_PRIVATE" >"$TMP/alice.key"
	run --separate-stderr avpn-keygen -p <"$TMP/alice.key"
	[ "$status" -eq 0 ]
	[ "$output" = "$RFC_PUBLIC" ]
}

@test "keygen -o creates a 0600 key file" {
	run --separate-stderr avpn-keygen -o "$TMP/site.key"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(stat -c %a "$TMP/site.key")" = 600 ]
	[ "$(wc -l <"$TMP/site.key")" -eq 1 ]
	[[ "$(cat "$TMP/site.key")" =~ $KEY_PATTERN ]]
}

@test "keygen -o ignores a permissive umask" {
	run --separate-stderr bash -c "umask 000; avpn-keygen -o '$TMP/k'"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$TMP/k")" = 600 ]
}

@test "keygen -o rejects an existing file" {
	printf 'keep me\n' >"$TMP/site.key"
	run --separate-stderr avpn-keygen -o "$TMP/site.key"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "avpn-keygen: $TMP/site.key: file exists; remove it or choose another name (a key file is never overwritten)" ]
	[ "$(cat "$TMP/site.key")" = "keep me" ]
}

@test "keygen -o rejects an existing key file" {
	avpn-keygen -o "$TMP/site.key"
	cp "$TMP/site.key" "$TMP/before"
	run --separate-stderr avpn-keygen -o "$TMP/site.key"
	[ "$status" -eq 1 ]
	cmp "$TMP/site.key" "$TMP/before"
}

@test "keygen -o does not follow a symlink" {
	ln -s "$TMP/target" "$TMP/link.key"
	run --separate-stderr avpn-keygen -o "$TMP/link.key"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$TMP/link.key: file exists"* ]]
	[ ! -e "$TMP/target" ]
}

@test "keygen -o in a missing directory fails" {
	run --separate-stderr avpn-keygen -o "$TMP/none/site.key"
	[ "$status" -eq 1 ]
	[ "$stderr" = "avpn-keygen: $TMP/none/site.key: No such file or directory" ]
}

@test "keygen -p rejects a short key" {
	run --separate-stderr avpn-keygen -p <<<"abc"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "avpn-keygen: stdin: invalid key: 3 characters, expected 44" ]
}

@test "keygen -p rejects a bad character" {
	run --separate-stderr avpn-keygen -p <<<"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC-="
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-keygen: stdin: invalid key: character 43 is not base64" ]
}

@test "keygen -p rejects a non-canonical key" {
	# The last digit 'p' carries padding bits that 'o' clears.
	run --separate-stderr avpn-keygen -p <<<"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp="
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-keygen: stdin: invalid key: non-canonical base64 (character 43 has padding bits set)" ]
}

@test "keygen -p rejects a missing '='" {
	run --separate-stderr avpn-keygen -p <<<"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-keygen: stdin: invalid key: expected '=' as the 44th character" ]
}

@test "keygen -p rejects data after the key" {
	printf '%s\n%s\n' "$RFC_PRIVATE" "$RFC_PRIVATE" >"$TMP/two"
	run --separate-stderr avpn-keygen -p <"$TMP/two"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "avpn-keygen: stdin: trailing data after the key (expected one key and an optional newline)" ]
}

@test "keygen -p rejects a trailing space" {
	printf '%s \n' "$RFC_PRIVATE" >"$TMP/space"
	run --separate-stderr avpn-keygen -p <"$TMP/space"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"trailing data"* ]]
}

@test "keygen -p rejects CRLF" {
	printf '%s\r\n' "$RFC_PRIVATE" >"$TMP/crlf"
	run --separate-stderr avpn-keygen -p <"$TMP/crlf"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"trailing data"* ]]
}

@test "keygen -p rejects empty input" {
	run --separate-stderr avpn-keygen -p </dev/null
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "avpn-keygen: stdin: empty, expected one key" ]
}

@test "keygen rejects an unknown option" {
	run --separate-stderr avpn-keygen -x
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "avpn-keygen: invalid option -- 'x'" ]
	[ "${stderr_lines[1]}" = "usage: avpn-keygen [-o FILE]" ]
	[ "${stderr_lines[2]}" = "       avpn-keygen -p" ]
}

@test "keygen rejects a key on the command line" {
	run --separate-stderr avpn-keygen -p "$RFC_PRIVATE"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "${stderr_lines[0]}" = "avpn-keygen: unexpected argument; keys are read from stdin, never from the command line" ]
	[[ "$stderr" != *"$RFC_PRIVATE"* ]]
}

@test "keygen -o needs a file name" {
	run --separate-stderr avpn-keygen -o
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "avpn-keygen: option requires an argument -- 'o'" ]
}

@test "keygen rejects -o with -p" {
	run --separate-stderr avpn-keygen -p -o "$TMP/k"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "avpn-keygen: give at most one of -o FILE and -p, once" ]
	[ ! -e "$TMP/k" ]
}

@test "keygen -h prints usage on stdout" {
	run --separate-stderr avpn-keygen -h
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: avpn-keygen [-o FILE]" ]
	[[ "$output" == *"-o FILE"*"0600"* ]]
	[ -z "$stderr" ]
}

@test "keygen warns when stdout is world-readable" {
	run --separate-stderr bash -c "umask 022; avpn-keygen >'$TMP/open.key'"
	[ "$status" -eq 0 ]
	[ "$stderr" = "avpn-keygen: warning: stdout is a file that others can read; use -o FILE to create a key file of mode 0600" ]
	[[ "$(cat "$TMP/open.key")" =~ $KEY_PATTERN ]]
}

@test "keygen does not warn for a private stdout" {
	run --separate-stderr bash -c "umask 077; avpn-keygen >'$TMP/closed.key'"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "keygen reports a failed write" {
	run --separate-stderr bash -c "avpn-keygen >/dev/full"
	[ "$status" -eq 1 ]
	[ "$stderr" = "avpn-keygen: stdout: No space left on device" ]
}
