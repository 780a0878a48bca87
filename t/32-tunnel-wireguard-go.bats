#!/usr/bin/env bats
# avpn-tunnel in namespace A against wireguard-go in namespace B: each side
# starts the handshake once, pings cross the tunnel, `wg show` reads the
# avpn side through its UAPI socket, and the endpoint follows the peer
# when it moves to another port.

bats_require_minimum_version 1.5.0

load helper
load tunnel

setup() {
	require_netns
	command -v wireguard-go >/dev/null || skip "needs wireguard-go"
	command -v wg >/dev/null || skip "needs wg (wireguard-tools)"
	setup_tmp
	tunnel_setup
	write_self a a "$TUNNEL_PORT_A" "$TMP/a.self"
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 10.99.0.2/32 >"$TMP/a.peers"
}

teardown() {
	tunnel_teardown
	teardown_tmp
}

# Starts wireguard-go in B with A as its peer; ARGS go to the peer.
start_wireguard_go() {
	wggo_start B "$IF_B"
	in_ns B wg set "$IF_B" private-key "$TMP/b.key" \
		listen-port "$TUNNEL_PORT_B" peer "$(cat "$TMP/a.pub")" \
		allowed-ips 10.99.0.1/32 "$@"
	in_ns B ip addr add 10.99.0.2/24 dev "$IF_B"
	in_ns B ip link set "$IF_B" up
}

start_avpn() {
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -a 10.99.0.1/24 "$@"
}

@test "avpn initiates and ping crosses" {
	start_wireguard_go
	start_avpn
	ping_ok A 10.99.0.2 15
	wait_log "$TMP/$IF_A.log" \
		"info: handshake with peer b at 192.0.2.2:$TUNNEL_PORT_B completed"
	in_ns A ping -c 3 -i 0.2 -W 2 10.99.0.2
}

@test "wireguard-go initiates and ping crosses" {
	# Without an endpoint for B, avpn cannot start the handshake itself.
	write_peer b b - 10.99.0.2/32 >"$TMP/a.peers"
	start_avpn
	start_wireguard_go endpoint "192.0.2.1:$TUNNEL_PORT_A"
	ping_ok B 10.99.0.1 15
	wait_handshake B "$IF_B" 5
	wait_log "$TMP/$IF_A.log" \
		"info: handshake with peer b at 192.0.2.2:$TUNNEL_PORT_B completed"
	in_ns B ping -c 3 -i 0.2 -W 2 10.99.0.1
	in_ns A ping -c 3 -i 0.2 -W 2 10.99.0.2
}

@test "wg show lists the peer of avpn" {
	start_wireguard_go
	start_avpn
	ping_ok A 10.99.0.2 15
	run --separate-stderr in_ns A wg show "$IF_A"
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${lines[0]}" = "interface: $IF_A" ]
	[ "${lines[1]}" = "  public key: $(cat "$TMP/a.pub")" ]
	[ "${lines[2]}" = "  private key: (hidden)" ]
	[ "${lines[3]}" = "  listening port: $TUNNEL_PORT_A" ]
	[ "${lines[4]}" = "peer: $(cat "$TMP/b.pub")" ]
	[ "${lines[5]}" = "  endpoint: 192.0.2.2:$TUNNEL_PORT_B" ]
	[ "${lines[6]}" = "  allowed ips: 10.99.0.2/32" ]
	[[ "${lines[7]}" =~ ^"  latest handshake: "[0-9]+" seconds ago"$|^"  latest handshake: Now"$ ]]
	[[ "${lines[8]}" =~ ^"  transfer: "[0-9.]+" "[KMG]?i?B" received, "[0-9.]+" "[KMG]?i?B" sent"$ ]]
	[ "${lines[9]}" = "  persistent keepalive: every 20 seconds" ]
}

@test "wg show dump has one line per peer" {
	start_wireguard_go
	start_avpn
	ping_ok A 10.99.0.2 15
	run --separate-stderr in_ns A wg show "$IF_A" dump
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 2 ]
	IFS=$'\t' read -r -a dev <<<"${lines[0]}"
	[ "${dev[1]}" = "$(cat "$TMP/a.pub")" ]
	[ "${dev[2]}" = "$TUNNEL_PORT_A" ]
	[ "${dev[3]}" = off ]
	IFS=$'\t' read -r -a peer <<<"${lines[1]}"
	[ "${peer[0]}" = "$(cat "$TMP/b.pub")" ]
	[ "${peer[1]}" = "(none)" ]
	[ "${peer[2]}" = "192.0.2.2:$TUNNEL_PORT_B" ]
	[ "${peer[3]}" = 10.99.0.2/32 ]
	now=$(date +%s)
	[ "${peer[4]}" -gt $((now - 30)) ]
	[ "${peer[4]}" -le "$now" ]
	[ "${peer[5]}" -gt 0 ]
	[ "${peer[6]}" -gt 0 ]
	[ "${peer[7]}" = 20 ]
}

@test "status file lists peer and counters" {
	start_wireguard_go
	start_avpn
	ping_ok A 10.99.0.2 15
	rm -f "$TMP/$IF_A.status"
	kill -USR1 "$AVPN_PID"
	wait_for_file "$TMP/$IF_A.status"
	run grep -c '^drop	' "$TMP/$IF_A.status"
	[ "$output" = 21 ]
	IFS=$'\t' read -r -a dev <<<"$(sed -n 1p "$TMP/$IF_A.status")"
	[ "${dev[*]}" = "interface $IF_A $(cat "$TMP/a.pub") $TUNNEL_PORT_A 1" ]
	IFS=$'\t' read -r -a peer <<<"$(sed -n 2p "$TMP/$IF_A.status")"
	[ "${#peer[@]}" -eq 9 ]
	[ "${peer[0]}" = peer ]
	[ "${peer[1]}" = b ]
	[ "${peer[2]}" = "$(cat "$TMP/b.pub")" ]
	[ "${peer[3]}" = "192.0.2.2:$TUNNEL_PORT_B" ]
	[ "${peer[4]}" -gt $(($(date +%s) - 30)) ]
	[ "${peer[5]}" -gt 0 ]
	[ "${peer[6]}" -gt 0 ]
	[ "${peer[7]}" = 20 ]
	[ "${peer[8]}" = 10.99.0.2/32 ]
}

@test "endpoint follows peer to new port" {
	start_wireguard_go
	start_avpn
	ping_ok A 10.99.0.2 15
	in_ns B wg set "$IF_B" listen-port 40099
	# The next packet from B comes from the new port.
	ping_ok B 10.99.0.1 15
	wait_log "$TMP/$IF_A.log" \
		"peer b roamed from 192.0.2.2:$TUNNEL_PORT_B to 192.0.2.2:40099"
	run in_ns A wg show "$IF_A" endpoints
	[ "$output" = "$(cat "$TMP/b.pub")	192.0.2.2:40099" ]
	in_ns A ping -c 2 -i 0.2 -W 2 10.99.0.2
}

@test "stop removes the device and socket" {
	start_wireguard_go
	start_avpn
	kill -TERM "$AVPN_PID"
	exit_status=0
	wait "$AVPN_PID" || exit_status=$?
	[ "$exit_status" -eq 0 ]
	grep -q "info: stopped" "$TMP/$IF_A.log"
	grep -q "info: SIGTERM received, stopping" "$TMP/$IF_A.log"
	run in_ns A ip link show "$IF_A"
	[ "$status" -ne 0 ]
	[ ! -e "/var/run/wireguard/$IF_A.sock" ]
}
