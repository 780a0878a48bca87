#!/usr/bin/env bats
# avpn-tunnel's options and input files: every bad value is rejected with
# exit status 2 and a message naming it, before any device is created, so
# these tests need neither root nor namespaces.

bats_require_minimum_version 1.5.0

load helper
load tunnel

setup() {
	setup_tmp
	make_keypair a
	make_keypair b
	write_self a a 40001 "$TMP/a.self"
	write_peer b b 192.0.2.2:40002 10.99.0.2/32 >"$TMP/a.peers"
}

teardown() {
	teardown_tmp
}

usage_line="usage: avpn-tunnel -k KEYFILE -i IFNAME [-a ADDR/PREFIX] [-m MTU] [-S STATUSFILE] [-v] SELF PEERS"

tunnel() {
	run --separate-stderr avpn-tunnel "$@"
}

@test "no arguments prints usage" {
	tunnel
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "$usage_line" ]
}

@test "missing interface prints usage" {
	tunnel -k "$TMP/a.key" "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "$usage_line" ]
}

@test "MTU below 576 is rejected" {
	tunnel -k "$TMP/a.key" -i t0 -m 100 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = 'avpn-tunnel: -m: MTU "100" is too small, expected 576-65535' ]
}

@test "interface address without prefix is rejected" {
	tunnel -k "$TMP/a.key" -i t0 -a 10.99.0.1 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = 'avpn-tunnel: -a: invalid interface address "10.99.0.1": expected ADDR/PREFIX' ]
}

@test "interface name with slash is rejected" {
	tunnel -k "$TMP/a.key" -i a/b "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[[ "$stderr" == 'avpn-tunnel: -i: invalid interface name "a/b"'* ]]
}

@test "interface name of 16 characters is rejected" {
	tunnel -k "$TMP/a.key" -i 0123456789abcdef "$TMP/a.self" \
		"$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = 'avpn-tunnel: -i: invalid interface name "0123456789abcdef": expected 1 to 15 characters' ]
}

@test "missing key file is rejected" {
	tunnel -k "$TMP/none.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-tunnel: $TMP/none.key"* ]]
}

@test "key readable by others is rejected" {
	chmod 0644 "$TMP/a.key"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-tunnel: $TMP/a.key"* ]]
}

@test "key of another node is rejected" {
	tunnel -k "$TMP/b.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.self: the public key of $TMP/b.key is $(cat "$TMP/b.pub"), not the one in the self record; pass the key the record was made with" ]
}

@test "peer line of five fields is rejected" {
	printf 'b\tx\ty\tz\tw\n' >"$TMP/a.peers"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:1: 5 fields, expected 9 (a peer line of avpn-peers) or 7 (a path line of avpn-punch) separated by tabs" ]
}

@test "bad field names its line" {
	{
		echo "# peers"
		write_peer b b 192.0.2.2:40002 10.99.0.2/32
		write_peer c b 192.0.2.3:0 10.99.0.3/32
	} >"$TMP/a.peers"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-tunnel: $TMP/a.peers:3: field 4 (public endpoint): "* ]]
}

@test "same key twice is rejected" {
	{
		write_peer b b 192.0.2.2:40002 10.99.0.2/32
		write_peer c b 192.0.2.3:40002 10.99.0.3/32
	} >"$TMP/a.peers"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:2: public key of c is listed before as b" ]
}

@test "subnet given to two peers is rejected" {
	make_keypair c
	{
		write_peer b b 192.0.2.2:40002 10.99.0.0/24
		write_peer c c 192.0.2.3:40002 10.99.0.0/24
	} >"$TMP/a.peers"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:2: subnet 10.99.0.0/24 of c is given to b before" ]
}

@test "own key as a peer is rejected" {
	write_peer me a 192.0.2.1:40001 10.99.0.1/32 >"$TMP/a.peers"
	tunnel -k "$TMP/a.key" -i t0 "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:1: peer me has this node's own public key" ]
}

@test "SELF and PEERS both stdin is rejected" {
	tunnel -k "$TMP/a.key" -i t0 - -
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-tunnel: SELF and PEERS cannot both be stdin" ]
}

@test "test rekey time out of range is rejected" {
	AVPN_TEST_REKEY_AFTER_MS=5 tunnel -k "$TMP/a.key" -i t0 \
		"$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$stderr" = 'avpn-tunnel: AVPN_TEST_REKEY_AFTER_MS "5" is too small, expected 1000-120000' ]
}
