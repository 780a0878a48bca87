#!/usr/bin/env bats
# avpn-punch composes with any WireGuard implementation: after it exits,
# wireguard-go listens on the punched port on both gateways of the seed,
# with the endpoints from the path lines, and completes a handshake
# through the adsl router's NAT.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab
load punch

HQ_PORT=41000
BRANCH_PORT=42000

setup() {
	require_netns
	command -v wireguard-go >/dev/null || skip "wireguard-go not installed"
	command -v wg >/dev/null || skip "wg not installed"
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
	node_add branch spoke 10.2.0.0/24 hq
	lab_build "$LAB_SEED"
	punch_registry_start
	punch_register hq "$HQ_PORT"
	punch_register branch "$BRANCH_PORT"
	punch_peers hq branch
}

teardown() {
	lab_teardown
	teardown_tmp
}

# Prints SITE's WireGuard interface name.  wireguard-go's control socket
# lives in /var/run/wireguard, which every namespace shares, so the name
# carries the lab's random id.
wg_name() {
	echo "w${LAB_ID#*-}${1:0:1}"
}

# Starts wireguard-go on SITE with tunnel address ADDR, listening on the
# local port of SITE's path line for PEER and sending to the endpoint
# printed there.
start_wireguard() {
	local site=$1 addr=$2 peer=$3 paths="$TMP/$1.paths" wgp
	wgp=$(wg_name "$site")
	WG_PROCESS_FOREGROUND=1 lab_spawn "$site" wireguard-go "$wgp" \
		>>"$TMP/$site.wg.log" 2>&1
	local deadline=$((SECONDS + 5))
	until lab_exec "$site" ip link show "$wgp" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	lab_exec "$site" wg set "$wgp" private-key "$TMP/$site.key" \
		listen-port "$(path_field "$paths" "$peer" 4)" \
		peer "$(path_field "$paths" "$peer" 1)" \
		endpoint "$(path_field "$paths" "$peer" 3)" \
		allowed-ips "$(path_field "$paths" "$peer" 7),10.99.0.0/24" \
		persistent-keepalive 1 &&
		lab_exec "$site" ip addr add "$addr/24" dev "$wgp" &&
		lab_exec "$site" ip link set "$wgp" up
}

# Waits up to 10 s for a handshake on SITE's interface; prints its time.
wait_handshake() {
	local deadline=$((SECONDS + 10)) key stamp wgp
	wgp=$(wg_name "$1")
	while [ "$SECONDS" -lt "$deadline" ]; do
		read -r key stamp < <(lab_exec "$1" wg show "$wgp" \
			latest-handshakes)
		if [ "${stamp:-0}" -gt 0 ]; then
			echo "$stamp"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

@test "wireguard-go handshakes on the punched port" {
	punch_spawn branch -w -t 10
	branch_pid=$PUNCH_PID
	lab_wait_udp branch "$BRANCH_PORT"
	run --separate-stderr lab_exec hq avpn-punch -k "$TMP/hq.key" -t 10 \
		-o "$TMP/hq.paths" "$TMP/hq.self" "$TMP/hq.peers"
	punch_wait "$branch_pid"
	punch_dump hq branch
	[ "$status" -eq 0 ]
	[ "$PUNCH_STATUS" -eq 0 ]
	start_wireguard hq 10.99.0.1 branch
	start_wireguard branch 10.99.0.2 hq
	run wait_handshake hq
	echo "hq: $(lab_exec hq wg show "$(wg_name hq)")"
	echo "branch: $(lab_exec branch wg show "$(wg_name branch)")"
	cat "$TMP/hq.wg.log" "$TMP/branch.wg.log"
	lab_conntrack adsl -L
	[ "$status" -eq 0 ]
	run wait_handshake branch
	[ "$status" -eq 0 ]
	run lab_exec hq ping -c 1 -W 2 10.99.0.2
	[ "$status" -eq 0 ]
}
