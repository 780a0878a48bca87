#!/usr/bin/env bats
# avpn-tunnel against hostile or mistaken input: a peer whose subnets
# cover routes the node already has, and a peer key that no shared secret
# can be derived with.  Namespace A runs the tunnel; B only answers ARP.

bats_require_minimum_version 1.5.0

load helper
load tunnel

setup() {
	require_netns
	setup_tmp
	tunnel_setup
	write_self a a "$TUNNEL_PORT_A" "$TMP/a.self"
}

teardown() {
	tunnel_teardown
	teardown_tmp
}

# Prints A's routes of the main table, without trailing blanks.
routes_of_a() {
	in_ns A ip route show table main | sed 's/ *$//'
}

@test "peer with 0.0.0.0/0 keeps the default route" {
	in_ns A ip route add default via 192.0.2.2 dev veth
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 0.0.0.0/0 >"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	run routes_of_a
	[ "${lines[0]}" = "default via 192.0.2.2 dev veth" ]
	grep -qF "warning: route to 0.0.0.0/0 not added: it contains the endpoint 192.0.2.2:$TUNNEL_PORT_B of peer b" \
		"$TMP/$IF_A.log"
	tunnel_stop "$AVPN_PID"
	run routes_of_a
	[ "${lines[0]}" = "default via 192.0.2.2 dev veth" ]
}

@test "peer with the link's subnet keeps its route" {
	# The endpoint lies outside the subnet, so the route is tried.
	write_peer b b "198.51.100.2:$TUNNEL_PORT_B" 192.0.2.0/24 \
		>"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	grep -qF "warning: add route to 192.0.2.0/24 on $IF_A: a route to that subnet exists already" \
		"$TMP/$IF_A.log"
	run in_ns A ip route get 192.0.2.2
	[[ "${lines[0]}" == "192.0.2.2 dev veth "* ]]
	tunnel_stop "$AVPN_PID"
	run routes_of_a
	[ "$output" = "192.0.2.0/24 dev veth proto kernel scope link src 192.0.2.1" ]
}

@test "low-order peer key is rejected" {
	printf 'weak\t%s\thub\t192.0.2.2:40002\t-\t10.99.0.2/32\t0\t-\tnone\n' \
		AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= >"$TMP/a.peers"
	# The timeout ends a tunnel that starts without the peer.
	run --separate-stderr in_ns A timeout 5 avpn-tunnel -k "$TMP/a.key" \
		-i "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:1: public key of weak is weak (a low-order point)" ]
	run in_ns A ip link show "$IF_A"
	[ "$status" -ne 0 ]
}

# Writes A's self record naming B's 192.0.2.2:9350 as the registry, whose
# key pair is r.
write_self_registry() {
	make_keypair r
	printf 'a\t%s\t192.0.2.1:%s\t-\tnone\t192.0.2.2:9350\t%s\t-\t-\t0\n' \
		"$(cat "$TMP/a.pub")" "$TUNNEL_PORT_A" "$(cat "$TMP/r.pub")" \
		>"$TMP/a.self"
	: >"$TMP/a.peers"
}

# Sends A one MSG_BINDING sealed with the registry's key from B's PORT,
# with the extra avpn-forge options in the remaining arguments.
send_as_registry() {
	local port=$1
	shift
	run --separate-stderr in_ns B avpn-forge -k "$TMP/r.key" \
		-R "$TMP/a.pub" -r "192.0.2.1:$TUNNEL_PORT_A" -p "$port" \
		-t 200 "$@" binding
	[ "$status" -eq 0 ]
	[ "$output" = "no reply" ]
	cat "$TMP/$IF_A.log"
}

@test "registry message from another endpoint is dropped" {
	write_self_registry
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -v
	send_as_registry 9351
	wait_log "$TMP/$IF_A.log" "warning: dropped BINDING claiming to be from the registry: sent from 192.0.2.2:9351, not from the registry's endpoint 192.0.2.2:9350" 5
	[ "$(drop_count "$IF_A" control-rejected)" = 1 ]
	run grep -c "ignored BINDING from the registry" "$TMP/$IF_A.log"
	[ "$output" = 0 ]
}

@test "registry message older than 120 s is dropped" {
	write_self_registry
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -v
	# A replay after a restart: the timestamp is new to the process but
	# 10 minutes old.
	send_as_registry 9350 -T "$(($(date +%s) - 600))000000000"
	wait_log "$TMP/$IF_A.log" "warning: dropped BINDING claiming to be from the registry: timestamp 60" 5
	grep -qF "s old, more than 120 s (replayed, or the clocks of this host and the registry differ)" \
		"$TMP/$IF_A.log"
	[ "$(drop_count "$IF_A" control-rejected)" = 1 ]
	# A fresh message from the registry's endpoint is accepted.
	send_as_registry 9350
	wait_log "$TMP/$IF_A.log" "debug: ignored BINDING from the registry" 5
	[ "$(drop_count "$IF_A" control-rejected)" = 1 ]
}

@test "peer endpoint 0.0.0.0 is rejected" {
	write_peer b b "0.0.0.0:$TUNNEL_PORT_B" 10.99.0.2/32 >"$TMP/a.peers"
	run --separate-stderr in_ns A timeout 5 avpn-tunnel -k "$TMP/a.key" \
		-i "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.peers:1: public endpoint of b: endpoint 0.0.0.0:$TUNNEL_PORT_B is an address of 0.0.0.0/8 (this host), not a unicast address" ]
}

@test "peer endpoints broadcast and multicast are rejected" {
	local ep
	for ep in 255.255.255.255:1 224.0.0.1:1 '[::]:1' '[ff02::1]:1'; do
		write_peer b b "$ep" 10.99.0.2/32 >"$TMP/a.peers"
		run --separate-stderr in_ns A timeout 5 avpn-tunnel \
			-k "$TMP/a.key" -i "$IF_A" "$TMP/a.self" "$TMP/a.peers"
		[ "$status" -eq 2 ]
		[[ "$stderr" == "avpn-tunnel: $TMP/a.peers:1: public endpoint of b: endpoint $ep is "*", not a unicast address" ]]
	done
}

@test "path line endpoint 0.0.0.0 is rejected" {
	printf '%s\tb\t0.0.0.0:40002\t40001\t1.000\tpublic\t10.99.0.2/32\n' \
		"$(cat "$TMP/b.pub")" >"$TMP/a.paths"
	run --separate-stderr in_ns A timeout 5 avpn-tunnel -k "$TMP/a.key" \
		-i "$IF_A" "$TMP/a.self" "$TMP/a.paths"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-tunnel: $TMP/a.paths:1: endpoint: endpoint 0.0.0.0:40002 is an address of 0.0.0.0/8 (this host), not a unicast address" ]
}

@test "UAPI endpoint 0.0.0.0 is rejected" {
	: >"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	run --separate-stderr in_ns A wg set "$IF_A" peer "$(cat "$TMP/b.pub")" \
		endpoint 0.0.0.0:40002
	[ "$status" -ne 0 ]
	run in_ns A wg show "$IF_A" peers
	[ "$output" = "" ]
	grep -qF "endpoint 0.0.0.0:40002 is an address of 0.0.0.0/8 (this host), not a unicast address" \
		"$TMP/$IF_A.log"
}

@test "avpn-punch rejects peer endpoint 0.0.0.0" {
	write_peer b b "0.0.0.0:$TUNNEL_PORT_B" 10.99.0.2/32 >"$TMP/a.peers"
	run --separate-stderr in_ns A avpn-punch -k "$TMP/a.key" -t 1 \
		"$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-punch: $TMP/a.peers: public endpoint of b: endpoint 0.0.0.0:$TUNNEL_PORT_B is an address of 0.0.0.0/8 (this host), not a unicast address" ]
}

@test "subnet containing the peer's endpoint gets no route" {
	write_peer b b "192.0.2.2:$TUNNEL_PORT_B" 192.0.2.2/32,10.99.0.2/32 \
		>"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	grep -qF "warning: route to 192.0.2.2/32 not added: it contains the endpoint 192.0.2.2:$TUNNEL_PORT_B of peer b, whose datagrams would loop through $IF_A" \
		"$TMP/$IF_A.log"
	run in_ns A ip route get 192.0.2.2
	[[ "${lines[0]}" == "192.0.2.2 dev veth "* ]]
	# The peer's other subnet is routed through the tunnel.
	run in_ns A ip route get 10.99.0.2
	[[ "${lines[0]}" == "10.99.0.2 dev $IF_A "* ]]
	run in_ns A wg show "$IF_A" allowed-ips
	[[ "$output" == *"192.0.2.2/32"* ]]
}

# Sends the UAPI request in file $1 to A's socket; the reply is in $output.
uapi_request() {
	run --separate-stderr in_ns A socat -t 2 - \
		"UNIX-CONNECT:/var/run/wireguard/$IF_A.sock" <"$1"
}

@test "UAPI set with a bad allowed_ip names it" {
	: >"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	printf 'set=1\npublic_key=%s\nallowed_ip=10.99.0.2/33\n\n' \
		"$(base64 -d <"$TMP/b.pub" | od -An -tx1 | tr -d ' \n')" \
		>"$TMP/request"
	uapi_request "$TMP/request"
	[ "$status" -eq 0 ]
	[ "$output" = "errno=22" ]
	grep -qF 'warning: UAPI: invalid allowed_ip "10.99.0.2/33": prefix length too large, expected 0-32' \
		"$TMP/$IF_A.log"
}

@test "UAPI request other than get or set gets errno" {
	: >"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	printf 'list=1\n\n' >"$TMP/request"
	uapi_request "$TMP/request"
	[ "$status" -eq 0 ]
	[ "$output" = "errno=71" ]
	grep -qF "warning: UAPI: malformed request: expected get=1 or set=1" \
		"$TMP/$IF_A.log"
}

@test "send failure names the destination" {
	# The tunnel's socket is IPv4, so sending to an IPv6 endpoint fails.
	write_peer b b "[2001:db8::2]:$TUNNEL_PORT_B" 10.99.0.2/32 \
		>"$TMP/a.peers"
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers"
	run in_ns A ping -c 1 -W 1 10.99.0.2
	[ "$status" -ne 0 ]
	wait_log "$TMP/$IF_A.log" "dropped packet: send-failed, to [2001:db8::2]:$TUNNEL_PORT_B (1 so far)" 5
}
