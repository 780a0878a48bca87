#!/usr/bin/env bats
# Changing avpn-tunnel's peers while it runs: routes follow the peers'
# subnets, SIGHUP reads PEERS again without dropping the session of an
# unchanged peer, `wg set` adds, changes and removes peers, and a path
# line of avpn-punch works as a peer.

bats_require_minimum_version 1.5.0

load helper
load tunnel

setup() {
	require_netns
	command -v wireguard-go >/dev/null || skip "needs wireguard-go"
	command -v wg >/dev/null || skip "needs wg (wireguard-tools)"
	setup_tmp
	tunnel_setup
	make_keypair c
	write_self a a "$TUNNEL_PORT_A" "$TMP/a.self"
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 10.99.0.2/32 >"$TMP/a.peers"
	wggo_start B "$IF_B"
	in_ns B wg set "$IF_B" private-key "$TMP/b.key" \
		listen-port "$TUNNEL_PORT_B" peer "$(cat "$TMP/a.pub")" \
		allowed-ips 10.99.0.1/32
	in_ns B ip addr add 10.99.0.2/24 dev "$IF_B"
	in_ns B ip link set "$IF_B" up
}

teardown() {
	tunnel_teardown
	teardown_tmp
}

start_avpn() {
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -a 10.99.0.1/24
}

# Prints the routes through the tunnel device that avpn-tunnel added.
tunnel_routes() {
	in_ns A ip route show dev "$IF_A" proto static | sed 's/ *$//'
}

# Prints A's latest handshake with b in Unix seconds.
handshake_time() {
	in_ns A wg show "$IF_A" latest-handshakes |
		awk -v k="$(cat "$TMP/b.pub")" '$1 == k { print $2 }'
}

@test "routes follow the peers' subnets" {
	write_peer c c 192.0.2.3:40003 10.60.0.0/24,10.61.0.0/16 \
		>>"$TMP/a.peers"
	start_avpn
	run tunnel_routes
	[ "${lines[*]}" = "10.60.0.0/24 scope link 10.61.0.0/16 scope link 10.99.0.2 scope link" ]
}

@test "SIGHUP adds a peer and keeps the session" {
	start_avpn
	ping_ok A 10.99.0.2 15
	before=$(handshake_time)
	[ "$before" -gt 0 ]
	write_peer c c 192.0.2.3:40003 10.60.0.0/24 >>"$TMP/a.peers"
	kill -HUP "$AVPN_PID"
	wait_log "$TMP/$IF_A.log" "info: SIGHUP: $TMP/a.peers read again, 2 peers" 5
	grep -q "info: peer c added: endpoint 192.0.2.3:40003, allowed IPs 10.60.0.0/24" \
		"$TMP/$IF_A.log"
	run tunnel_routes
	[ "${lines[0]}" = "10.60.0.0/24 scope link" ]
	in_ns A ping -c 2 -i 0.2 -W 1 10.99.0.2
	[ "$(handshake_time)" = "$before" ]
}

@test "SIGHUP removes a peer gone from the file" {
	write_peer c c 192.0.2.3:40003 10.60.0.0/24 >>"$TMP/a.peers"
	start_avpn
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 10.99.0.2/32 >"$TMP/a.peers"
	kill -HUP "$AVPN_PID"
	wait_log "$TMP/$IF_A.log" "info: peer c removed: no longer in $TMP/a.peers" 5
	run tunnel_routes
	[ "$output" = "10.99.0.2 scope link" ]
	run in_ns A wg show "$IF_A" peers
	[ "$output" = "$(cat "$TMP/b.pub")" ]
}

@test "SIGHUP changes a peer's subnets" {
	start_avpn
	ping_ok A 10.99.0.2 15
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 10.99.0.2/32,10.62.0.0/24 \
		>"$TMP/a.peers"
	kill -HUP "$AVPN_PID"
	wait_log "$TMP/$IF_A.log" "info: peer b changed: endpoint 192.0.2.2:$TUNNEL_PORT_B, allowed IPs" 5
	run in_ns A wg show "$IF_A" allowed-ips
	[ "$output" = "$(cat "$TMP/b.pub")	10.62.0.0/24 10.99.0.2/32" ]
	in_ns A ping -c 1 -W 1 10.99.0.2
}

@test "SIGHUP with a broken file keeps the peers" {
	start_avpn
	printf 'broken\n' >"$TMP/a.peers"
	kill -HUP "$AVPN_PID"
	wait_log "$TMP/$IF_A.log" "error: SIGHUP: $TMP/a.peers:1: 1 fields, expected 9" 5
	grep -q "; peers unchanged" "$TMP/$IF_A.log"
	run in_ns A wg show "$IF_A" peers
	[ "$output" = "$(cat "$TMP/b.pub")" ]
	kill -0 "$AVPN_PID"
}

@test "wg set adds and removes a peer" {
	start_avpn
	in_ns A wg set "$IF_A" peer "$(cat "$TMP/c.pub")" \
		endpoint 192.0.2.3:40003 allowed-ips 10.60.0.0/24 \
		persistent-keepalive 7
	run in_ns A wg show "$IF_A" dump
	[ "${#lines[@]}" -eq 3 ]
	line=$(printf '%s\n' "${lines[@]}" | grep "^$(cat "$TMP/c.pub")")
	IFS=$'\t' read -r -a peer <<<"$line"
	[ "${peer[2]}" = 192.0.2.3:40003 ]
	[ "${peer[3]}" = 10.60.0.0/24 ]
	[ "${peer[7]}" = 7 ]
	run tunnel_routes
	[ "${lines[0]}" = "10.60.0.0/24 scope link" ]
	grep -q "info: peer key-[0-9a-f]* added through UAPI" "$TMP/$IF_A.log"
	in_ns A wg set "$IF_A" peer "$(cat "$TMP/c.pub")" remove
	run in_ns A wg show "$IF_A" peers
	[ "$output" = "$(cat "$TMP/b.pub")" ]
	run tunnel_routes
	[ "$output" = "10.99.0.2 scope link" ]
}

@test "wg set moves allowed IPs between peers" {
	start_avpn
	in_ns A wg set "$IF_A" peer "$(cat "$TMP/c.pub")" \
		allowed-ips 10.99.0.2/32
	grep -q "info: allowed IPs 10.99.0.2/32 moved from peer b to key-" \
		"$TMP/$IF_A.log"
	run in_ns A wg show "$IF_A" allowed-ips
	[[ "$output" == *"$(cat "$TMP/b.pub")	(none)"* ]]
	[[ "$output" == *"$(cat "$TMP/c.pub")	10.99.0.2/32"* ]]
	run tunnel_routes
	[ "$output" = "10.99.0.2 scope link" ]
}

@test "wg set with a bad value is rejected" {
	start_avpn
	run in_ns A wg set "$IF_A" peer "$(cat "$TMP/a.pub")" \
		allowed-ips 10.63.0.0/24
	[ "$status" -ne 0 ]
	grep -q "warning: UAPI: " "$TMP/$IF_A.log"
	run in_ns A wg show "$IF_A" peers
	[ "$output" = "$(cat "$TMP/b.pub")" ]
}

@test "path line of avpn-punch works as a peer" {
	printf '%s\tb\t192.0.2.2:%s\t%s\t0.412\tpublic\t10.99.0.2/32\n' \
		"$(cat "$TMP/b.pub")" "$TUNNEL_PORT_B" "$TUNNEL_PORT_A" \
		>"$TMP/a.peers"
	start_avpn
	grep -q "info: peer b added: endpoint 192.0.2.2:$TUNNEL_PORT_B, allowed IPs 10.99.0.2/32" \
		"$TMP/$IF_A.log"
	ping_ok A 10.99.0.2 15
}

@test "PEERS from stdin is read once" {
	TUNNEL_STDIN=$TMP/a.peers avpn_start A "$IF_A" "$TMP/a.self" - \
		-a 10.99.0.1/24
	ping_ok A 10.99.0.2 15
	kill -HUP "$AVPN_PID"
	wait_log "$TMP/$IF_A.log" "warning: SIGHUP: PEERS is stdin, which cannot be read again; peers unchanged" 5
	in_ns A ping -c 1 -W 1 10.99.0.2
}
