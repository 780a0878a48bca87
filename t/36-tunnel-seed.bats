#!/usr/bin/env bats
# The whole seed walkthrough in the namespace lab: hq (public address) and
# branch (behind the adsl router's masquerade NAT) register, fetch their
# peers, punch, and run avpn-tunnel; hq-pc 10.1.0.10 and branch-pc
# 10.2.0.10 then ping each other through the tunnel, also while a
# cron-style avpn-register shares branch's port.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab
load punch
load tunnel

HQ_PORT=41000
BRANCH_PORT=42000

setup() {
	require_netns
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
	node_add branch spoke 10.2.0.0/24 hq
	lab_build "$LAB_SEED"
	punch_registry_start
	punch_register hq "$HQ_PORT"
	punch_register branch "$BRANCH_PORT"
	punch_peers hq branch
	# UAPI sockets of all namespaces share /var/run/wireguard.
	id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	IF_HQ=avh$id
	IF_BRANCH=avb$id
}

teardown() {
	lab_teardown
	teardown_tmp
}

# Prints every log a failing test needs.
show_state() {
	punch_dump hq branch
	lab_tunnel_dump hq branch
}

# hq punches while branch waits for the registry's punch request; both
# write path lines.
punch_both() {
	punch_spawn branch -w -t 10
	local branch_pid=$PUNCH_PID
	lab_wait_udp branch "$BRANCH_PORT"
	lab_exec hq avpn-punch -k "$TMP/hq.key" -t 10 -o "$TMP/hq.paths" \
		"$TMP/hq.self" "$TMP/hq.peers" 2>"$TMP/hq.err"
	punch_wait "$branch_pid"
	[ "$PUNCH_STATUS" -eq 0 ]
}

# Pings ADDR from NODE until one reply comes back, for at most 15 s.
ping_from() {
	local deadline=$((SECONDS + 15))
	while [ "$SECONDS" -lt "$deadline" ]; do
		lab_exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}

@test "pcs ping each other after punching" {
	punch_both
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.paths"
	lab_tunnel_spawn branch "$IF_BRANCH" "$TMP/branch.paths"
	show_state
	ping_from hq-pc 10.2.0.10
	ping_from branch-pc 10.1.0.10
	lab_exec hq-pc ping -c 3 -i 0.2 -W 1 10.2.0.10
	lab_exec branch-pc ping -c 3 -i 0.2 -W 1 10.1.0.10
	grep -q "info: handshake with peer branch at 192.0.2.73:" \
		"$TMP/hq.tunnel.log"
	grep -q "info: handshake with peer hq at 198.51.100.1:$HQ_PORT completed" \
		"$TMP/branch.tunnel.log"
}

@test "pcs ping each other from peer lines" {
	# Without punching, branch's first packet opens its NAT mapping and
	# hq answers where it came from.
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.peers"
	lab_tunnel_spawn branch "$IF_BRANCH" "$TMP/branch.peers"
	show_state
	ping_from branch-pc 10.1.0.10
	ping_from hq-pc 10.2.0.10
	lab_exec hq-pc ping -c 3 -i 0.2 -W 1 10.2.0.10
}

@test "cron register beside the tunnel keeps ping flowing" {
	punch_both
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.paths"
	lab_tunnel_spawn branch "$IF_BRANCH" "$TMP/branch.paths"
	branch_tunnel=$TUNNEL_PID
	ping_from branch-pc 10.1.0.10
	cp "$TMP/branch.self" "$TMP/branch.self.before"
	lab_exec branch-pc ping -c 25 -i 0.2 -W 2 10.1.0.10 \
		>"$TMP/ping.out" 2>&1 3>&- &
	ping_pid=$!
	run punch_register branch "$BRANCH_PORT"
	[ "$status" -eq 0 ]
	run punch_peers branch
	[ "$status" -eq 0 ]
	wait "$ping_pid"
	show_state
	cat "$TMP/ping.out"
	grep -q "25 packets transmitted, 25 received" "$TMP/ping.out"
	# The registry saw the same mapping as before: the tunnel's
	# keepalives kept it.
	[ "$(cut -f 4 "$TMP/branch.self")" = \
	  "$(cut -f 4 "$TMP/branch.self.before")" ]
	kill -0 "$branch_tunnel"
	grep -q "info: started: interface $IF_BRANCH" "$TMP/branch.tunnel.log"
	! grep -q "error" "$TMP/branch.tunnel.log"
}
