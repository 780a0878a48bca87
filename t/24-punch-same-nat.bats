#!/usr/bin/env bats
# Two gateways behind one NAT router: the router does not hairpin, so
# their public endpoints do not reach each other, and avpn-punch must find
# the path over their private endpoints on the router's LAN.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab
load punch

A_PORT=41000
B_PORT=42000

setup() {
	require_netns
	setup_tmp
	registry_setup
	node_add a hub 10.1.0.0/24
	node_add b hub 10.2.0.0/24
	lab_build "a=masquerade@home b=masquerade@home"
	punch_registry_start
	punch_register a "$A_PORT"
	punch_register b "$B_PORT"
	punch_peers a b
}

teardown() {
	lab_teardown
	teardown_tmp
}

@test "same NAT punch uses private endpoints" {
	punch_spawn b -w -t 10
	b_pid=$PUNCH_PID
	lab_wait_udp b "$B_PORT"
	run --separate-stderr lab_exec a avpn-punch -k "$TMP/a.key" -t 10 \
		"$TMP/a.self" "$TMP/a.peers"
	punch_wait "$b_pid"
	echo "a stdout: $output"
	echo "a stderr: $stderr"
	punch_dump a b
	[ "$status" -eq 0 ]
	[ "$PUNCH_STATUS" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$(cut -f 2 <<<"${lines[0]}")" = b ]
	[ "$(cut -f 3 <<<"${lines[0]}")" = "$(lab_addr b):$B_PORT" ]
	[ "$(cut -f 6 <<<"${lines[0]}")" = private ]
	[[ $stderr != *unreachable* ]]
	[ "$(path_field "$TMP/b.paths" a 3)" = "$(lab_addr a):$A_PORT" ]
	[ "$(path_field "$TMP/b.paths" a 6)" = private ]
}

@test "same NAT peers share the public address" {
	# The premise of the test above: both registrations came from the
	# router's one public address.
	[ "$(cut -f 4 "$TMP/a.self" | cut -d: -f1)" = 192.0.2.73 ]
	[ "$(cut -f 4 "$TMP/b.self" | cut -d: -f1)" = 192.0.2.73 ]
	[ "$(cut -f 5 "$TMP/a.peers" | cut -d: -f1)" = "$(lab_addr b)" ]
}
