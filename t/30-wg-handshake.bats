#!/usr/bin/env bats
# The WireGuard core in common/wg_*.c against wireguard-go: the probe in
# t/tools/wg-handshake-probe.c runs a handshake and a ping through the
# tunnel with a wireguard-go instance inside a network namespace that each
# test creates, configured with `wg set` from 0600 key files.

bats_require_minimum_version 1.5.0

load helper

setup() {
	require_netns
	command -v wireguard-go >/dev/null || skip "needs wireguard-go"
	command -v wg >/dev/null || skip "needs wg (wireguard-tools)"
	setup_tmp
	# Names unique per run: tests on this machine run in parallel, and
	# wireguard-go's control sockets share one directory for all
	# namespaces.  Interface names have at most 15 characters.
	NS=avpn-wg-$$-$RANDOM
	IFACE=awg$(($$ % 100000))x$RANDOM
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	make_keypair server
	make_keypair client
}

teardown() {
	[ -n "${PROBE_PID:-}" ] && kill "$PROBE_PID" 2>/dev/null
	stop_wireguard_go
	[ -n "${NS:-}" ] && ip netns del "$NS"
	teardown_tmp
}

# Starts wireguard-go in the foreground inside $NS, records its PID and
# waits up to 5 s for its control socket.
start_wireguard_go() {
	ip netns exec "$NS" wireguard-go -f "$IFACE" >"$TMP/wireguard-go.log" \
		2>&1 &
	WG_PID=$!
	local deadline=$((SECONDS + 5))
	until [ -S "/var/run/wireguard/$IFACE.sock" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		kill -0 "$WG_PID" || return 1
		sleep 0.05
	done
}

# Stops the wireguard-go this test started, by PID, waiting up to 5 s.
stop_wireguard_go() {
	[ -n "${WG_PID:-}" ] || return 0
	kill "$WG_PID" 2>/dev/null
	local deadline=$((SECONDS + 5))
	while kill -0 "$WG_PID" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -KILL "$WG_PID" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	WG_PID=
}

# Configures the server side: its key, port 51820 and the client as a
# peer owning 10.99.0.2; ARGS are added to the peer's settings.
configure_server() {
	ip netns exec "$NS" wg set "$IFACE" private-key "$TMP/server.key" \
		listen-port 51820 \
		peer "$(cat "$TMP/client.pub")" allowed-ips 10.99.0.2/32 "$@"
	ip -n "$NS" addr add 10.99.0.1/24 dev "$IFACE"
	ip -n "$NS" link set "$IFACE" up
}

# Runs the probe inside $NS against the server; ARGS go before ENDPOINT.
probe() {
	run --separate-stderr ip netns exec "$NS" wg-handshake-probe \
		-k "$TMP/client.key" "$@" 127.0.0.1:51820
}

# Starts the probe as responder on 127.0.0.1:40000 inside $NS in the
# background, records its PID and waits up to 5 s for its socket; ARGS
# are added to its options.
start_responder() {
	ip netns exec "$NS" wg-handshake-probe -k "$TMP/client.key" \
		-p "$TMP/server.pub" -l -b 127.0.0.1:40000 "$@" \
		127.0.0.1:51820 >"$TMP/probe.out" 2>"$TMP/probe.err" &
	PROBE_PID=$!
	local deadline=$((SECONDS + 5))
	until [ -n "$(ip netns exec "$NS" ss -Huan 'sport = :40000')" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		kill -0 "$PROBE_PID" || return 1
		sleep 0.05
	done
}

# Prints the server's latest-handshake time of the client, 0 for never.
server_latest_handshake() {
	ip netns exec "$NS" wg show "$IFACE" latest-handshakes |
		awk -v key="$(cat "$TMP/client.pub")" '$1 == key { print $2 }'
}

@test "probe handshake with wireguard-go" {
	start_wireguard_go
	configure_server
	[ "$(server_latest_handshake)" = 0 ]

	probe -p "$TMP/server.pub" -t 10
	[ "$status" -eq 0 ]
	[ "$output" = "handshake ok" ]
	[ "$stderr" = "" ]
	[ "$(server_latest_handshake)" -gt 0 ]
}

@test "probe ping through wireguard-go" {
	start_wireguard_go
	configure_server

	probe -p "$TMP/server.pub" -t 10 -s 10.99.0.2 -d 10.99.0.1
	[ "$status" -eq 0 ]
	[ "$output" = "handshake ok
ping ok" ]
	[ "$stderr" = "" ]
	run ip netns exec "$NS" wg show "$IFACE" transfer
	[ "$status" -eq 0 ]
	# The server received at least an initiation, a keepalive and the
	# echo request: 148 + 32 + 76 bytes.
	received=$(awk '{ print $2 }' <<<"$output")
	[ "$received" -ge 256 ]
}

@test "probe with a preshared key" {
	umask 077
	wg genpsk >"$TMP/psk"
	start_wireguard_go
	configure_server preshared-key "$TMP/psk"

	probe -p "$TMP/server.pub" -P "$TMP/psk" -t 10 -s 10.99.0.2 \
		-d 10.99.0.1
	[ "$status" -eq 0 ]
	[ "$output" = "handshake ok
ping ok" ]
	[ "$stderr" = "" ]
}

@test "probe without the preshared key gets no session" {
	umask 077
	wg genpsk >"$TMP/psk"
	start_wireguard_go
	configure_server preshared-key "$TMP/psk"

	# wireguard-go answers, but the response does not decrypt without
	# the same preshared key.
	probe -p "$TMP/server.pub" -t 2
	[ "$status" -eq 3 ]
	[ "$output" = "" ]
	[[ "$stderr" == *"response dropped: authentication failed"* ]]
	[[ "$stderr" == *"no handshake response from 127.0.0.1:51820 within 2 s"* ]]
}

@test "probe with the wrong server key gets no answer" {
	make_keypair other
	start_wireguard_go
	configure_server

	# mac1 is keyed with the server's public key, so wireguard-go drops
	# the initiation without any work.
	probe -p "$TMP/other.pub" -t 2
	[ "$status" -eq 3 ]
	[ "$output" = "" ]
	[ "$stderr" = "wg-handshake-probe: no handshake response from 127.0.0.1:51820 within 2 s" ]
	[ "$(server_latest_handshake)" = 0 ]
}

@test "probe unknown to the server gets no answer" {
	start_wireguard_go
	ip netns exec "$NS" wg set "$IFACE" private-key "$TMP/server.key" \
		listen-port 51820
	ip -n "$NS" link set "$IFACE" up

	probe -p "$TMP/server.pub" -t 2
	[ "$status" -eq 3 ]
	[ "$output" = "" ]
	[ "$stderr" = "wg-handshake-probe: no handshake response from 127.0.0.1:51820 within 2 s" ]
}

@test "wireguard-go handshake with responding probe" {
	start_wireguard_go
	configure_server endpoint 127.0.0.1:40000
	start_responder -t 10 -s 10.99.0.2 -d 10.99.0.1

	# The ping makes wireguard-go start the handshake, and its echo
	# request is the first transport message the probe receives.
	run ip netns exec "$NS" ping -c 1 -W 8 10.99.0.2
	[ "$status" -eq 0 ]
	probe_status=0
	wait "$PROBE_PID" || probe_status=$?
	PROBE_PID=
	[ "$probe_status" -eq 0 ]
	[ "$(cat "$TMP/probe.out")" = "handshake ok
ping ok" ]
	[ "$(cat "$TMP/probe.err")" = "" ]
	[ "$(server_latest_handshake)" -gt 0 ]
}

@test "responding probe times out without an initiation" {
	start_wireguard_go
	configure_server

	# The server has no endpoint for the client, so it never initiates.
	start_responder -t 2
	probe_status=0
	wait "$PROBE_PID" || probe_status=$?
	PROBE_PID=
	[ "$probe_status" -eq 3 ]
	[ "$(cat "$TMP/probe.out")" = "" ]
	[ "$(cat "$TMP/probe.err")" = "wg-handshake-probe: no confirmed handshake from 127.0.0.1:51820 within 2 s" ]
}
