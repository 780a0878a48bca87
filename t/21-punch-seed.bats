#!/usr/bin/env bats
# Step 3 of the seed in the namespace lab: hq has a public address, branch
# sits behind the adsl router's masquerade NAT with a stateful forward
# filter.  hq punches, the registry forwards the request to branch, and
# both ends print a working path.  The adsl router's conntrack table before
# and after is printed when a test fails.

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

# Prints what a failing test needs: the adsl table before and after, and
# every log.
show_state() {
	echo "--- adsl conntrack before avpn-punch"
	cat "$TMP/adsl.before"
	punch_dump hq branch
}

# Checks branch's path line in $output as printed by hq.
check_hq_output() {
	[ "${#lines[@]}" -eq 1 ]
	[ "$(cut -f 1 <<<"${lines[0]}")" = "$(cat "$TMP/branch.pub")" ]
	[ "$(cut -f 2 <<<"${lines[0]}")" = branch ]
	[[ $(cut -f 3 <<<"${lines[0]}") == 192.0.2.73:* ]]
	[ "$(cut -f 4 <<<"${lines[0]}")" = "$HQ_PORT" ]
	[[ $(cut -f 5 <<<"${lines[0]}") =~ ^[0-9]+\.[0-9]{3}$ ]]
	[ "$(cut -f 7 <<<"${lines[0]}")" = 10.2.0.0/24 ]
}

# Checks hq's path line in branch's paths file.
check_branch_paths() {
	[ "$(path_field "$TMP/branch.paths" hq 1)" = "$(cat "$TMP/hq.pub")" ]
	[ "$(path_field "$TMP/branch.paths" hq 3)" = "198.51.100.1:$HQ_PORT" ]
	[ "$(path_field "$TMP/branch.paths" hq 4)" = "$BRANCH_PORT" ]
	[ "$(path_field "$TMP/branch.paths" hq 6)" = public ]
	[ "$(path_field "$TMP/branch.paths" hq 7)" = 10.1.0.0/24 ]
}

@test "seed punch with branch waiting" {
	punch_spawn branch -w -t 10
	branch_pid=$PUNCH_PID
	lab_wait_udp branch "$BRANCH_PORT"
	lab_conntrack adsl -L >"$TMP/adsl.before" 2>&1
	run --separate-stderr lab_exec hq avpn-punch -k "$TMP/hq.key" -t 10 \
		"$TMP/hq.self" "$TMP/hq.peers"
	punch_wait "$branch_pid"
	echo "hq stdout: $output"
	echo "hq stderr: $stderr"
	show_state
	[ "$status" -eq 0 ]
	[ "$PUNCH_STATUS" -eq 0 ]
	check_hq_output
	[[ $stderr != *unreachable* ]]
	check_branch_paths
	[ ! -s "$TMP/branch.err" ]
}

@test "seed punch with branch punching later" {
	lab_conntrack adsl -L >"$TMP/adsl.before" 2>&1
	punch_spawn hq -t 10
	hq_pid=$PUNCH_PID
	lab_wait_udp hq "$HQ_PORT"
	# branch starts its own punch while hq is already probing, so hq's
	# probes reach adsl first and branch's flow may move to a new port.
	run --separate-stderr lab_exec branch avpn-punch -k "$TMP/branch.key" \
		-t 10 "$TMP/branch.self" "$TMP/branch.peers"
	punch_wait "$hq_pid"
	echo "branch stdout: $output"
	echo "branch stderr: $stderr"
	show_state
	[ "$status" -eq 0 ]
	[ "$PUNCH_STATUS" -eq 0 ]
	[ "$(cut -f 2 <<<"${lines[0]}")" = hq ]
	[ "$(cut -f 3 <<<"${lines[0]}")" = "198.51.100.1:$HQ_PORT" ]
	[[ $stderr != *unreachable* ]]
	[[ $(path_field "$TMP/hq.paths" branch 3) == 192.0.2.73:* ]]
	[ "$(path_field "$TMP/hq.paths" branch 7)" = 10.2.0.0/24 ]
}

@test "seed punch leaves a replied adsl flow" {
	punch_spawn branch -w -t 10
	branch_pid=$PUNCH_PID
	lab_wait_udp branch "$BRANCH_PORT"
	lab_conntrack adsl -L >"$TMP/adsl.before" 2>&1
	run --separate-stderr lab_exec hq avpn-punch -k "$TMP/hq.key" -t 10 \
		"$TMP/hq.self" "$TMP/hq.peers"
	punch_wait "$branch_pid"
	show_state
	[ "$status" -eq 0 ]
	endpoint=$(cut -f 3 <<<"${lines[0]}")
	# The flow branch -> hq has seen replies, and its public port is the
	# one hq printed.
	run lab_conntrack adsl -L -p udp --orig-port-src "$BRANCH_PORT" \
		--dst 198.51.100.1 --orig-port-dst "$HQ_PORT"
	[ "$status" -eq 0 ]
	[[ $output != *UNREPLIED* ]]
	[[ $output == *"dport=${endpoint#*:} "* ]]
}
