#!/usr/bin/env bats
# avpn-tunnel drops and counts bad datagrams: wg-forge in namespace B is a
# peer of the tunnel in A and sends one crafted datagram per test; the
# matching drop counter of the status output must go from 0 to 1 and the
# log must say so.

bats_require_minimum_version 1.5.0

load helper
load tunnel

setup() {
	require_netns
	setup_tmp
	tunnel_setup
	write_self a a "$TUNNEL_PORT_A" "$TMP/a.self"
	write_peer forger b "192.0.2.2:$TUNNEL_PORT_B" 10.99.0.2/32 \
		>"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -a 10.99.0.1/24
}

teardown() {
	tunnel_teardown
	teardown_tmp
}

forge() {
	run --separate-stderr in_ns B wg-forge -k "$TMP/b.key" \
		-p "$TMP/a.pub" -b "192.0.2.2:$TUNNEL_PORT_B" -s 10.99.0.2 \
		-d 10.99.0.1 -t 10 "192.0.2.1:$TUNNEL_PORT_A" "$@"
}

# Sends CASE and checks that drop class CLASS went from 0 to 1.
expect_drop() {
	local case=$1 class=$2
	[ "$(drop_count "$IF_A" "$class")" = 0 ]
	forge "$case"
	[ "$status" -eq 0 ]
	[ "$output" = "$case sent" ]
	wait_log "$TMP/$IF_A.log" "dropped packet: $class" 5
	[ "$(drop_count "$IF_A" "$class")" = 1 ]
}

# Prints how many packets avpn-tunnel wrote to its TUN device.
tun_rx_packets() {
	in_ns A cat "/sys/class/net/$IF_A/statistics/rx_packets"
}

@test "valid packet is delivered, not dropped" {
	before=$(tun_rx_packets)
	forge valid
	[ "$status" -eq 0 ]
	[ "$output" = "valid sent" ]
	wait_log "$TMP/$IF_A.log" "handshake with peer forger" 5
	deadline=$((SECONDS + 5))
	until [ "$(tun_rx_packets)" -eq $((before + 1)) ]; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.05
	done
	run grep -c "dropped packet" "$TMP/$IF_A.log"
	[ "$output" = 0 ]
	[ "$(drop_count "$IF_A" replay)" = 0 ]
}

@test "replayed counter is dropped" {
	expect_drop replay replay
}

@test "flipped tag is dropped" {
	expect_drop bad-tag auth-failed
}

@test "inner source outside allowed IPs is dropped" {
	expect_drop wrong-source wrong-source
}

@test "unknown receiver index is dropped" {
	expect_drop unknown-index unknown-index
}

@test "initiation with bad mac1 is dropped" {
	expect_drop bad-mac bad-mac
}

@test "initiation from unknown key is dropped" {
	expect_drop unknown-peer unknown-peer
}

@test "truncated initiation is dropped" {
	expect_drop truncated truncated
}

@test "oversized initiation is dropped" {
	expect_drop oversized oversized
}

@test "unknown message type is dropped" {
	expect_drop unknown-type unknown-type
}

@test "drops leave the tunnel working" {
	forge bad-mac truncated unknown-type valid
	[ "$status" -eq 0 ]
	[ "${lines[3]}" = "valid sent" ]
	wait_handshake A "$IF_A" 5
	kill -0 "$AVPN_PID"
}
