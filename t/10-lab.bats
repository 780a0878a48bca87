#!/usr/bin/env bats
# The namespace lab of t/lab.bash: addresses, routing, NAT behaviour and
# clean-up.  A UDP reflector (socat) on the registry host answers each
# datagram with the address and port it arrived from.  The reflector's
# shell reads the datagram first: if it exited before socat wrote the
# datagram to it, socat would fail with EPIPE and send no answer.

load helper
load lab

setup() {
	setup_tmp
}

teardown() {
	[ -z "${script_pid:-}" ] || kill -KILL "$script_pid" 2>/dev/null || true
	lab_teardown
	teardown_tmp
}

# Starts the reflector on the registry host's UDP PORT.
start_reflector() {
	lab_spawn registry socat "UDP4-RECVFROM:$1,bind=$LAB_REGISTRY,fork" \
		'SYSTEM:read line; echo $SOCAT_PEERADDR\:$SOCAT_PEERPORT'
	lab_wait_udp registry "$1"
}

# Sends one datagram from NODE's UDP port SPORT to the reflector on PORT;
# prints the reflector's answer, "ADDRESS:PORT".
reflect() {
	lab_exec "$1" timeout 5 socat -T 2 - \
		"UDP4:$LAB_REGISTRY:$3,sourceport=$2" <<<probe
}

# Prints the adsl router's conntrack entries for UDP from SPORT.
flow_from() {
	lab_conntrack adsl -L -p udp --orig-port-src "$1" 2>/dev/null
}

# Checks that NODE has ADDRESS (and PEER, for a point-to-point link) on
# IFACE in its namespace.
assert_addr() {
	local out
	out=$(ip -n "$(lab_ns "$1")" -o -4 addr show dev "$2")
	[[ $out == *"inet $3 "* ]] ||
		{ echo "$1 $2: expected $3, got: $out"; return 1; }
}

@test "seed has the designed addresses" {
	require_netns
	lab_build "$LAB_SEED"
	assert_addr registry wan "203.0.113.28 peer 203.0.113.254/32"
	assert_addr hq wan "198.51.100.1 peer 198.51.100.254/32"
	assert_addr hq lan 10.1.0.1/24
	assert_addr hq-pc eth0 10.1.0.10/24
	assert_addr adsl wan "192.0.2.73 peer 192.0.2.254/32"
	assert_addr adsl lan 192.168.0.254/24
	assert_addr branch wan 192.168.0.1/24
	assert_addr branch lan 10.2.0.1/24
	assert_addr branch-pc eth0 10.2.0.10/24
	assert_addr internet registry "203.0.113.254 peer 203.0.113.28/32"
	assert_addr internet hq "198.51.100.254 peer 198.51.100.1/32"
	assert_addr internet adsl "192.0.2.254 peer 192.0.2.73/32"
	[ "$(lab_addr branch)" = 192.168.0.1 ]
	[ "$(lab_addr branch-pc)" = 10.2.0.10 ]
	[ "$(lab_public branch)" = 192.0.2.73 ]
	[ "$(lab_public hq)" = 198.51.100.1 ]
	[ "$(lab_lan branch)" = 10.2.0.0/24 ]
	[ "$(lab_router branch)" = adsl ]
	[ -z "$(lab_router hq)" ]
}

@test "seed has NAT rules and forwarding" {
	require_netns
	lab_build
	run lab_nft adsl list table ip lab
	[ "$status" -eq 0 ]
	[[ $output == *'oifname "wan" masquerade'* ]]
	[[ $output != *random* ]]
	[[ $output == *"policy drop"* ]]
	[ "$(lab_exec adsl sysctl -n net.ipv4.ip_forward)" = 1 ]
	[ "$(lab_exec hq sysctl -n net.ipv4.ip_forward)" = 1 ]
	[ "$(lab_exec internet sysctl -n net.ipv4.ip_forward)" = 1 ]
	[ "$(lab_exec registry sysctl -n net.ipv4.ip_forward)" = 0 ]
	[ "$(lab_exec branch sysctl -n net.ipv4.conf.wan.rp_filter)" = 0 ]
	run lab_exec hq-pc ip -o link show lo
	[[ $output == *"UP"* ]]
}

@test "hq-pc unreachable from the internet" {
	require_netns
	lab_build
	run lab_exec hq-pc ping -c 1 -W 2 "$LAB_REGISTRY"
	[ "$status" -eq 0 ]
	run lab_exec registry ping -c 1 -W 1 10.1.0.10
	[ "$status" -ne 0 ]
	# Even with a route to the LAN the gateway drops new connections.
	lab_exec internet ip route add 10.1.0.0/24 via 198.51.100.1
	run lab_exec registry ping -c 1 -W 1 10.1.0.10
	[ "$status" -eq 1 ]
	[[ $output == *"100% packet loss"* ]]
}

@test "adsl lets in only replies" {
	require_netns
	lab_build
	run lab_exec branch ping -c 1 -W 2 "$LAB_REGISTRY"
	[ "$status" -eq 0 ]
	lab_exec internet ip route add 192.168.0.0/24 via 192.0.2.73
	run lab_exec registry ping -c 1 -W 1 192.168.0.1
	[ "$status" -eq 1 ]
	[[ $output == *"100% packet loss"* ]]
}

@test "branch reaches registry as 192.0.2.73" {
	require_netns
	lab_build
	start_reflector 7000
	run reflect branch 40000 7000
	[ "$status" -eq 0 ]
	[ "$output" = 192.0.2.73:40000 ]
	run lab_conntrack adsl -L -p udp --orig-port-dst 7000
	[ "$status" -eq 0 ]
	[[ $output == *"src=192.168.0.1 dst=203.0.113.28 sport=40000"* ]]
	[[ $output == *"src=203.0.113.28 dst=192.0.2.73 sport=7000"* ]]
}

@test "masquerade keeps the source port" {
	require_netns
	lab_build
	start_reflector 7000
	start_reflector 7001
	run reflect branch 40000 7000
	[ "$output" = 192.0.2.73:40000 ]
	run reflect branch 40000 7001
	[ "$output" = 192.0.2.73:40000 ]
	[ "$(lab_nat_port adsl 40000 7000)" = 40000 ]
	[ "$(lab_nat_port adsl 40000 7001)" = 40000 ]
}

# NOTE: a random port equals the source port, or the first random port,
# with a chance of about 1 in 64000, so this test can fail by bad luck.
@test "random changes the source port" {
	require_netns
	lab_build "a=masquerade b=random"
	[ "$(lab_router b)" = b-nat ]
	[ "$(lab_public b)" = 192.0.2.74 ]
	run lab_nft b-nat list table ip lab
	[[ $output == *'masquerade random'* ]]
	start_reflector 7000
	start_reflector 7001
	first=$(reflect b 40000 7000)
	second=$(reflect b 40000 7001)
	[ "${first%:*}" = 192.0.2.74 ]
	[ "${first#*:}" != 40000 ]
	[ "${second#*:}" != "${first#*:}" ]
	[ "$(lab_nat_port b-nat 40000 7000)" = "${first#*:}" ]
	[ "$(reflect a 40000 7000)" = 192.0.2.73:40000 ]
}

@test "two gateways share one NAT" {
	require_netns
	lab_build "a=masquerade@home b=masquerade@home"
	[ "$(lab_addr a)" = 192.168.0.1 ]
	[ "$(lab_addr b)" = 192.168.0.2 ]
	[ "$(lab_public b)" = 192.0.2.73 ]
	[ "$(lab_lan b)" = 10.2.0.0/24 ]
	start_reflector 7000
	[ "$(reflect a 40000 7000)" = 192.0.2.73:40000 ]
	run reflect b 40001 7000
	[ "$output" = 192.0.2.73:40001 ]
	run lab_exec a ping -c 1 -W 2 192.168.0.2
	[ "$status" -eq 0 ]
}

@test "double NAT leaves from the carrier" {
	require_netns
	lab_build "c=double"
	[ "$(lab_router c)" = c-nat ]
	assert_addr c-cgn lan 172.16.0.254/24
	assert_addr c-nat wan 172.16.0.1/24
	assert_addr c wan 192.168.0.1/24
	start_reflector 7000
	run reflect c 40000 7000
	[ "$output" = 192.0.2.73:40000 ]
	[ "$(lab_nat_port c-nat 40000 7000)" = 40000 ]
	[ "$(lab_nat_port c-cgn 40000 7000)" = 40000 ]
}

@test "loss drops packets on a link" {
	require_netns
	lab_build
	lab_loss branch wan 100
	run lab_exec branch ping -c 1 -W 1 "$LAB_REGISTRY"
	[ "$status" -eq 1 ]
	lab_loss branch wan 50
	run lab_exec branch ping -q -c 100 -i 0.01 -W 1 "$LAB_REGISTRY"
	[[ $output =~ ([0-9]+)\ received ]]
	# 50% loss of 100 pings falls outside 20-80 with odds below 1e-9.
	[ "${BASH_REMATCH[1]}" -ge 20 ]
	[ "${BASH_REMATCH[1]}" -le 80 ]
	lab_loss branch wan 0
	run lab_exec branch ping -c 1 -W 1 "$LAB_REGISTRY"
	[ "$status" -eq 0 ]
	run lab_loss branch wan 101
	[ "$status" -eq 1 ]
	[ "$output" = "lab: invalid loss '101'; expected 0 to 100" ]
}

@test "short UDP timeout expires a mapping" {
	require_netns
	lab_build
	lab_udp_timeout adsl 1 2
	run lab_exec adsl sysctl -n net.netfilter.nf_conntrack_udp_timeout
	[ "$output" = 1 ]
	# The reflector is not started, so the flow stays one-way.
	lab_exec branch timeout 5 socat -u - \
		"UDP4:$LAB_REGISTRY:7000,sourceport=40000" <<<probe
	[ -n "$(flow_from 40000)" ]
	deadline=$((SECONDS + 5))
	while [ -n "$(flow_from 40000)" ]; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.1
	done
}

@test "teardown leaves no namespace and no process" {
	require_netns
	lab_build
	start_reflector 7000
	lab_exec branch sleep 60 3>&- &
	stray=$!
	reflect branch 40000 7000
	namespaces=$(lab_namespaces)
	pids=$(lab_pids)
	[ "$(wc -l <<<"$namespaces")" -eq 7 ]
	[ -n "$pids" ]
	lab_teardown
	run ip netns list
	for ns in $namespaces; do
		[[ $output != *"$ns"* ]]
	done
	for pid in $pids $stray; do
		[ ! -e "/proc/$pid" ]
	done
	run lab_teardown
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "building twice works" {
	require_netns
	lab_build
	first=$LAB_ID
	lab_teardown
	lab_build
	[ "$LAB_ID" != "$first" ]
	run lab_exec branch ping -c 1 -W 2 "$LAB_REGISTRY"
	[ "$status" -eq 0 ]
}

@test "two labs run side by side" {
	require_netns
	lab_build
	run bash -c 'source "$1"; lab_build && lab_exec branch-pc \
		ping -c 1 -W 2 "$LAB_REGISTRY" >/dev/null && lab_namespaces' \
		- "$AVPN_ROOT/t/lab.bash"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 7 ]
	for ns in $output; do
		[ ! -e "/run/netns/$ns" ]
	done
	run lab_exec branch-pc ping -c 1 -W 2 "$LAB_REGISTRY"
	[ "$status" -eq 0 ]
}

# True while PID runs; a zombie, which kill -0 still finds, does not count.
process_running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

@test "interrupted script tears its lab down" {
	require_netns
	cat >"$TMP/script" <<-'EOF'
	source "$1"
	lab_build
	lab_spawn branch sleep 60
	lab_namespaces >"$2.tmp"
	echo "$LAB_PID" >>"$2.tmp"
	mv "$2.tmp" "$2"
	wait
	EOF
	# Job control gives the script its own process group, as a terminal
	# would.  A shell that starts with SIGINT ignored (any background job
	# of a non-interactive shell) cannot trap it, so perl restores the
	# default before running the script.
	set -m
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
		bash "$TMP/script" "$AVPN_ROOT/t/lab.bash" "$TMP/ready" 3>&- &
	script_pid=$!
	set +m
	wait_for_file "$TMP/ready" 10
	kill -INT -- "-$script_pid"
	deadline=$((SECONDS + 10))
	while process_running "$script_pid"; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.05
	done
	status=0
	wait "$script_pid" || status=$?
	[ "$status" -eq 130 ]
	for name in $(cat "$TMP/ready"); do
		case $name in
		avpn-lab-*) [ ! -e "/run/netns/$name" ] ;;
		*) ! process_running "$name" ;;
		esac
	done
}

@test "invalid descriptions are rejected" {
	require_netns
	lab_init
	for description in "a=bogus" "a=public@r" "A=public" \
		"a=public a=public" "a=masquerade@r b=random@r" \
		"registry=public" "a=masquerade@b b=public"; do
		run lab_build "$description"
		[ "$status" -eq 1 ]
		[[ $output == "lab: "* ]]
		[ -z "$(lab_namespaces)" ]
	done
}
