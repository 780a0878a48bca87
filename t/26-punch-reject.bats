#!/usr/bin/env bats
# What avpn-punch and the registry reject, each logged: a probe sealed
# with a key other than the one its header names, a probe replayed byte
# for byte, and a punch request for a peer the authorized-nodes file keeps
# the sender from reaching.  probe-send (t/tools) forges and replays.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab
load punch

HQ_PORT=41000
BRANCH_PORT=42000

setup() {
	require_netns
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
	node_add branch spoke 10.2.0.0/24 hq
	node_add other spoke 10.3.0.0/24 hq
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

# Starts hq waiting for 4 s: it answers probes from branch only.
start_hq_waiting() {
	punch_spawn hq -w -t 4
	hq_pid=$PUNCH_PID
	lab_wait_udp hq "$HQ_PORT"
}

@test "forged probe is dropped and logged" {
	make_keypair mallory
	start_hq_waiting
	run --separate-stderr lab_exec branch probe-send \
		-k "$TMP/mallory.key" -K "$TMP/branch.pub" -p "$TMP/hq.pub" \
		"198.51.100.1:$HQ_PORT"
	punch_wait "$hq_pid"
	cat "$TMP/hq.err"
	[ "$status" -eq 0 ]
	[ "$output" = "replies 0" ]
	grep -q "dropped forged PROBE from 192.0.2.73:[0-9]* claiming to be branch" \
		"$TMP/hq.err"
	[ "$PUNCH_STATUS" -eq 3 ]
	[ ! -s "$TMP/hq.paths" ]
}

@test "replayed probe is dropped and logged" {
	start_hq_waiting
	run --separate-stderr lab_exec branch probe-send -c 3 \
		-k "$TMP/branch.key" -p "$TMP/hq.pub" "198.51.100.1:$HQ_PORT"
	punch_wait "$hq_pid"
	cat "$TMP/hq.err"
	[ "$status" -eq 0 ]
	# The first copy is answered, the two replays are not.
	[ "$output" = "replies 1" ]
	[ "$(grep -c "dropped replayed PROBE from branch" "$TMP/hq.err")" -eq 2 ]
}

@test "probe from an unknown key is dropped and logged" {
	make_keypair stranger
	start_hq_waiting
	run --separate-stderr lab_exec branch probe-send \
		-k "$TMP/stranger.key" -p "$TMP/hq.pub" "198.51.100.1:$HQ_PORT"
	punch_wait "$hq_pid"
	cat "$TMP/hq.err"
	[ "$output" = "replies 0" ]
	grep -qF "key $(cat "$TMP/stranger.pub") is not a peer" "$TMP/hq.err"
}

@test "punch request for a forbidden peer is rejected" {
	# Spokes never reach each other: "other", a second spoke of hq,
	# asks to punch branch with branch's peer line copied from hq's.
	lab_build "other=public"
	punch_register other 43000
	punch_peers other
	grep "^branch	" "$TMP/hq.peers" >"$TMP/other.peers"
	SECONDS=0
	run --separate-stderr lab_exec other avpn-punch -k "$TMP/other.key" \
		-t 10 "$TMP/other.self" "$TMP/other.peers"
	echo "$stderr"
	cat "$TMP/registry.log"
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[[ $stderr == *"branch: unreachable: the registry did not forward the punch request: "* ]]
	[[ $stderr == *"not allowed"* ]]
	[ "$SECONDS" -lt 5 ]
	grep -q "other.*not allowed" "$TMP/registry.log"
}
