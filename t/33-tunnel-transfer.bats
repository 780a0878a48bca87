#!/usr/bin/env bats
# TCP streams through avpn-tunnel (namespace A) and wireguard-go (B): a
# 10 MiB file arrives intact in each direction, and a stream that lasts
# across several rekeys loses nothing.  tcpcopy (t/tools) sends and
# receives the files; sha256sum compares them.

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
	wggo_start B "$IF_B"
	in_ns B wg set "$IF_B" private-key "$TMP/b.key" \
		listen-port "$TUNNEL_PORT_B" peer "$(cat "$TMP/a.pub")" \
		allowed-ips 10.99.0.1/32 endpoint "192.0.2.1:$TUNNEL_PORT_A"
	in_ns B ip addr add 10.99.0.2/24 dev "$IF_B"
	in_ns B ip link set "$IF_B" up
}

teardown() {
	[ -n "${RECEIVER_PID:-}" ] && tunnel_stop "$RECEIVER_PID"
	tunnel_teardown
	teardown_tmp
}

# Makes $TMP/data of $1 MiB of random bytes.
make_data() {
	head -c "$(($1 * 1024 * 1024))" /dev/urandom >"$TMP/data"
}

# Copies $TMP/data from side $1 to address $2 on side $3 into
# $TMP/received within $4 seconds, and compares the checksums.
copy_and_compare() {
	local from=$1 addr=$2 to=$3 seconds=$4
	rm -f "$TMP/ready" "$TMP/received"
	ip netns exec "$(ns_of "$to")" tcpcopy -l "$addr:5001" \
		-o "$TMP/received" -r "$TMP/ready" -t "$seconds" \
		>"$TMP/receiver.out" 2>&1 3>&- &
	RECEIVER_PID=$!
	wait_for_file "$TMP/ready" 5
	run --separate-stderr in_ns "$from" tcpcopy -c "$addr:5001" \
		-i "$TMP/data" -t "$seconds"
	[ "$status" -eq 0 ]
	[ "$output" = "$(stat -c %s "$TMP/data")" ]
	wait "$RECEIVER_PID"
	RECEIVER_PID=
	[ "$(cat "$TMP/receiver.out")" = "$(stat -c %s "$TMP/data")" ]
	[ "$(sha256sum <"$TMP/received")" = "$(sha256sum <"$TMP/data")" ]
}

@test "10 MiB from avpn arrives intact" {
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -a 10.99.0.1/24
	ping_ok A 10.99.0.2 15
	make_data 10
	copy_and_compare A 10.99.0.2 B 60
}

@test "10 MiB to avpn arrives intact" {
	avpn_start A "$IF_A" "$TMP/a.self" "$TMP/a.peers" -a 10.99.0.1/24
	ping_ok B 10.99.0.1 15
	make_data 10
	copy_and_compare B 10.99.0.1 A 60
}

@test "rekeys during a stream lose nothing" {
	# A rekey every 2 s (the protocol's is 120 s) and a 24 Mbit/s link,
	# so the 24 MiB stream lasts about 8 s and spans several rekeys.
	AVPN_TEST_REKEY_AFTER_MS=2000 avpn_start A "$IF_A" "$TMP/a.self" \
		"$TMP/a.peers" -a 10.99.0.1/24 -v
	# tbf, because this kernel may lack sch_netem.
	in_ns A tc qdisc add dev veth root tbf rate 24mbit burst 32kbit \
		latency 400ms
	ping_ok A 10.99.0.2 15
	make_data 24
	copy_and_compare A 10.99.0.2 B 60
	run grep -c "test rekey: new handshake with peer b" "$TMP/$IF_A.log"
	[ "$output" -ge 2 ]
	run grep -c "handshake with peer b at .* completed (rekey)" \
		"$TMP/$IF_A.log"
	[ "$output" -ge 2 ]
	[ "$(drop_count "$IF_A" auth-failed)" = 0 ]
	[ "$(drop_count "$IF_A" unknown-index)" = 0 ]
	[ "$(drop_count "$IF_A" handshake-failed)" = 0 ]
}
