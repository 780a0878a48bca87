#!/usr/bin/env bats
# Control datagrams on a running avpn-tunnel's port, in the seed lab: the
# registry's pushed update adds a peer, a punch request forwarded by the
# registry makes the tunnel probe and answer probes, and a peer whose
# registration expires is removed.

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
	id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	IF_HQ=avh$id
	IF_BRANCH=avb$id
}

teardown() {
	lab_teardown
	teardown_tmp
}

show_state() {
	punch_dump hq branch
	lab_tunnel_dump hq branch
}

# Starts the registry with ARGS and registers hq.
start_registry() {
	punch_registry_start "$@"
	punch_register hq "$HQ_PORT"
}

@test "registry update adds a peer" {
	start_registry
	: >"$TMP/hq.empty"
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.empty" -v
	punch_register branch "$BRANCH_PORT"
	show_state
	wait_log "$TMP/hq.tunnel.log" "info: peer branch added: endpoint 192.0.2.73:" 5
	grep -q "allowed IPs 10.2.0.0/24" "$TMP/hq.tunnel.log"
	run lab_exec hq wg show "$IF_HQ" allowed-ips
	[ "$output" = "$(cat "$TMP/branch.pub")	10.2.0.0/24" ]
	punch_peers branch
	lab_tunnel_spawn branch "$IF_BRANCH" "$TMP/branch.peers" -v
	lab_exec branch-pc ping -c 3 -i 0.3 -W 5 10.1.0.10
	lab_exec hq-pc ping -c 1 -W 2 10.2.0.10
}

@test "registry punch request is answered by the tunnel" {
	start_registry
	punch_register branch "$BRANCH_PORT"
	punch_peers hq branch
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.peers" -v
	# avpn-punch on branch asks the registry, which forwards the request
	# to hq's port, where the tunnel runs.
	run --separate-stderr lab_exec branch avpn-punch -k "$TMP/branch.key" \
		-t 10 "$TMP/branch.self" "$TMP/branch.peers"
	show_state
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(cut -f 2 <<<"$output")" = hq ]
	[ "$(cut -f 3 <<<"$output")" = "198.51.100.1:$HQ_PORT" ]
	grep -q "info: punching toward peer branch" "$TMP/hq.tunnel.log"
	# The path works for the tunnel too.
	cut -f 1-7 <<<"$output" >"$TMP/branch.paths"
	lab_tunnel_spawn branch "$IF_BRANCH" "$TMP/branch.paths" -v
	lab_exec branch-pc ping -c 3 -i 0.3 -W 5 10.1.0.10
}

@test "expired registration removes the peer" {
	start_registry -T 3
	: >"$TMP/hq.empty"
	lab_tunnel_spawn hq "$IF_HQ" "$TMP/hq.empty" -v
	punch_register branch "$BRANCH_PORT"
	wait_log "$TMP/hq.tunnel.log" "info: peer branch added" 5
	# hq registers again beside its tunnel, as cron would, so it is
	# still registered when branch expires.
	punch_register hq "$HQ_PORT"
	wait_log "$TMP/hq.tunnel.log" "info: peer branch removed: it left the registry" 10
	show_state
	run lab_exec hq wg show "$IF_HQ" peers
	[ "$output" = "" ]
	run lab_exec hq ip route show dev "$IF_HQ"
	[ "$output" = "" ]
}
