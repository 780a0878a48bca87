#!/usr/bin/env bats
# The seed's punch over a bad internet: the internet router drops 20% of
# the packets it sends out of each link and delays them by 50 ms (tc
# netem).  avpn-punch must still find the path on both ends.

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

# Delays and drops what the internet router forwards: tc netem on each
# of its links, or, on a kernel built without sch_netem
# (CONFIG_NET_SCH_NETEM unset), nfq-delay (t/tools) on an NFQUEUE rule.
# Either way each packet crossing the router waits 50 ms and is lost with
# probability 20%.
degrade_internet() {
	local link
	if lab_netem internet registry "delay 50ms loss 20%" 2>/dev/null; then
		for link in hq adsl; do
			lab_netem internet "$link" "delay 50ms loss 20%" ||
				return 1
		done
		return 0
	fi
	echo "# tc netem is not in this kernel: nfq-delay delays and drops" >&3
	lab_exec internet iptables -A FORWARD -j NFQUEUE --queue-num 0 ||
		return 1
	lab_spawn internet nfq-delay 0 50 20 "$TMP/nfq.ready"
	wait_for_file "$TMP/nfq.ready"
}

# Checks the delay: a ping from hq to the registry crosses the router
# twice, so it takes at least 100 ms.
check_delay() {
	local rtt
	rtt=$(lab_exec hq ping -c 10 -i 0.2 -q 203.0.113.28 |
		sed -n 's|.* = \([0-9.]*\)/.*|\1|p')
	echo "ping rtt min: $rtt ms"
	[ "${rtt%.*}" -ge 100 ]
}

@test "seed punch with 20% loss and 50 ms delay" {
	degrade_internet
	check_delay
	punch_spawn branch -w -t 12
	branch_pid=$PUNCH_PID
	lab_wait_udp branch "$BRANCH_PORT"
	run --separate-stderr lab_exec hq avpn-punch -v -k "$TMP/hq.key" \
		-t 12 "$TMP/hq.self" "$TMP/hq.peers"
	punch_wait "$branch_pid"
	echo "hq stdout: $output"
	echo "hq stderr: $stderr"
	punch_dump hq branch
	[ "$status" -eq 0 ]
	[ "$PUNCH_STATUS" -eq 0 ]
	[ "$(cut -f 2 <<<"${lines[0]}")" = branch ]
	[[ $(cut -f 3 <<<"${lines[0]}") == 192.0.2.73:* ]]
	[ "$(path_field "$TMP/branch.paths" hq 3)" = "198.51.100.1:$HQ_PORT" ]
}
