#!/usr/bin/env bats
# avpn-punch between two sites for every pair of NAT kinds, the first site
# punching and the second waiting with -w:
#
#   public      a public address, no NAT
#   masquerade  Linux masquerade: endpoint-independent mapping with
#               address-and-port-dependent filtering
#   taken       masquerade, with another LAN host of the same NAT holding
#               the site's port towards the registry, so the NAT gives the
#               site's registration another port
#   random      masquerade random: endpoint-dependent mapping
#   forwarded   masquerade with a port forward of the site's port on its
#               NAT router, registered with avpn-register -e
#   forwarded-random  the same behind masquerade random
#
# A pair gets a direct path unless one side's mapping is endpoint-dependent
# and the other side has a NAT without a port forward; those pairs must
# fail in under 15 s
# with a diagnosis naming the endpoint-dependent NAT.  Each test prints
# its result and time as a "# matrix" line and appends it to
# $AVPN_BUILD/punch-matrix.txt; the times are reported, not asserted.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab
load punch

X_PORT=41000
Y_PORT=42000

setup() {
	require_netns
	setup_tmp
	registry_setup
	node_add x hub 10.1.0.0/24
	node_add y spoke 10.2.0.0/24 x
	[ "$BATS_TEST_NUMBER" -ne 1 ] || : >"$AVPN_BUILD/punch-matrix.txt"
}

teardown() {
	lab_teardown
	teardown_tmp
}

# Prints the lab word for SITE of KIND.  A taken site shares its NAT
# router with the blocker SITEb.
lab_word() {
	case $2 in
	public | masquerade | random) echo "$1=$2" ;;
	taken) echo "$1=masquerade@${1}nat" ;;
	forwarded) echo "$1=masquerade" ;;
	double) echo "$1=double" ;;
	forwarded-random) echo "$1=random" ;;
	esac
}

# Forwards UDP PORT on SITE's NAT router to SITE, as an operator does for
# a manual port forward, and prints the -e option for avpn-register.
port_forward() {
	local router addr
	router=$(lab_router "$1") && addr=$(lab_addr "$1") || return 1
	lab_nft "$router" -f - <<-EOF || return 1
	table ip lab {
		chain prerouting {
			type nat hook prerouting priority dstnat; policy accept;
			iifname "wan" udp dport $2 dnat to $addr:$2
		}
		chain forward {
			ct status dnat accept
		}
	}
	EOF
	echo "-e $(lab_public "$1"):$2"
}

# Prints the extra avpn-register options for SITE of KIND from PORT.
register_options() {
	case $2 in
	forwarded*) port_forward "$1" "$3" ;;
	esac
}

# Prints the blocker's lab word for a taken SITE.  Blockers come after the
# sites, so x and y keep the LANs 10.1.0.0/24 and 10.2.0.0/24.
blocker_word() {
	[ "$2" != taken ] || echo "${1}b=masquerade@${1}nat"
}

# Builds the lab for x of KIND_X and y of KIND_Y and registers both.
build_pair() {
	local words="$(lab_word x "$1") $(lab_word y "$2")"
	words+=" $(blocker_word x "$1") $(blocker_word y "$2")"
	lab_build "$words"
	punch_registry_start
	[ "$1" != taken ] || punch_block_port xb "$X_PORT"
	[ "$2" != taken ] || punch_block_port yb "$Y_PORT"
	local x_options y_options
	x_options=$(register_options x "$1" "$X_PORT") &&
		y_options=$(register_options y "$2" "$Y_PORT")
	# The options are words on purpose: "-e ADDRESS:PORT" or nothing.
	# shellcheck disable=SC2086
	punch_register x "$X_PORT" $x_options
	# shellcheck disable=SC2086
	punch_register y "$Y_PORT" $y_options
	punch_peers x y
	# The premise of "taken": the NAT gave the registration another port.
	[ "$1" != taken ] ||
		[ "$(cut -f 4 "$TMP/x.self" | cut -d: -f2)" != "$X_PORT" ]
	[ "$2" != taken ] ||
		[ "$(cut -f 4 "$TMP/y.self" | cut -d: -f2)" != "$Y_PORT" ]
}

# Runs the pair: y waits with the options in Y_ARGS, x punches with ARGS.
# Sets status, output, stderr, elapsed_ms and y_status.
run_pair() {
	local start x_kind=$1 y_kind=$2
	shift 2
	build_pair "$x_kind" "$y_kind"
	# Y_ARGS are words on purpose, such as "-L 3".
	# shellcheck disable=SC2086
	punch_spawn y -w -t 15 ${Y_ARGS:-}
	y_pid=$PUNCH_PID
	lab_wait_udp y "$Y_PORT"
	start=${EPOCHREALTIME/./}
	run --separate-stderr lab_exec x avpn-punch -v -k "$TMP/x.key" -t 12 \
		"$@" "$TMP/x.self" "$TMP/x.peers"
	elapsed_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
	[ "$status" -eq 0 ] || lab_stop "$y_pid"
	punch_wait "$y_pid"
	y_status=$PUNCH_STATUS
	echo "x stdout: $output"
	echo "x stderr: $stderr"
	punch_dump x y
}

# Reports the pair's result on fd 3 and in the matrix file.
report() {
	local result=$3 path_ms
	path_ms=$(sed -n 's/.*reachable at .*after \([0-9]*\) ms.*/\1/p' \
		<<<"$stderr")
	if [ "$status" -eq 0 ]; then
		result="path via $(cut -f 6 <<<"${lines[0]}") after ${path_ms:-?} ms"
	fi
	printf '# matrix %-16s -> %-16s %-36s exit %s in %5d ms (NAT %s, %s)\n' \
		"$1" "$2" "$result" "$status" "$elapsed_ms" \
		"$(cut -f 5 "$TMP/x.self")" "$(cut -f 5 "$TMP/y.self")" |
		tee -a "$AVPN_BUILD/punch-matrix.txt" >&3
}

# Asserts a direct path on both sides.
assert_direct() {
	report "$1" "$2"
	[ "$status" -eq 0 ]
	[ "$y_status" -eq 0 ]
	[ "$(cut -f 2 <<<"${lines[0]}")" = y ]
	[ "$(cut -f 4 <<<"${lines[0]}")" = "$X_PORT" ]
	[ "$(cut -f 7 <<<"${lines[0]}")" = 10.2.0.0/24 ]
	[[ $stderr != *unreachable* ]]
	[ "$(path_field "$TMP/y.paths" x 4)" = "$Y_PORT" ]
	[ "$(path_field "$TMP/y.paths" x 7)" = 10.1.0.0/24 ]
}

# Asserts the failure with a diagnosis naming the endpoint-dependent NAT.
assert_impossible() {
	report "$1" "$2" "no path (diagnosed)"
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[[ $stderr == *"y: unreachable: no direct path: "* ]]
	[[ $stderr == *"endpoint-dependent mapping"* ]]
	[ "$elapsed_ms" -lt 15000 ]
}

@test "matrix public to public" {
	run_pair public public
	assert_direct public public
}

@test "matrix public to masquerade" {
	run_pair public masquerade
	assert_direct public masquerade
}

@test "matrix public to taken" {
	run_pair public taken
	assert_direct public taken
}

@test "matrix public to random" {
	run_pair public random
	assert_direct public random
}

@test "matrix masquerade to public" {
	run_pair masquerade public
	assert_direct masquerade public
}

@test "matrix masquerade to masquerade" {
	run_pair masquerade masquerade
	assert_direct masquerade masquerade
}

@test "matrix masquerade to taken" {
	run_pair masquerade taken
	assert_direct masquerade taken
}

@test "matrix masquerade to random" {
	run_pair masquerade random
	assert_impossible masquerade random
	[[ $stderr == *"y's NAT (seen as 192.0.2."*") has endpoint-dependent"* ]]
}

@test "matrix taken to public" {
	run_pair taken public
	assert_direct taken public
}

@test "matrix taken to masquerade" {
	run_pair taken masquerade
	assert_direct taken masquerade
}

@test "matrix taken to taken" {
	run_pair taken taken
	assert_direct taken taken
}

@test "matrix taken to random" {
	run_pair taken random
	assert_impossible taken random
}

@test "matrix random to public" {
	run_pair random public
	assert_direct random public
}

@test "matrix random to masquerade" {
	run_pair random masquerade
	assert_impossible random masquerade
	[[ $stderr == *"our NAT (seen as 192.0.2."*") has endpoint-dependent"* ]]
}

@test "matrix random to taken" {
	run_pair random taken
	assert_impossible random taken
}

@test "matrix random to random" {
	run_pair random random
	assert_impossible random random
	[[ $stderr == *"both have endpoint-dependent mapping"* ]]
}

@test "matrix random to forwarded" {
	run_pair random forwarded
	assert_direct random forwarded
	[ "$(cut -f 6 <<<"${lines[0]}")" = override ]
}

@test "matrix forwarded to random" {
	run_pair forwarded random
	assert_direct forwarded random
	[ "$(path_field "$TMP/y.paths" x 6)" = override ]
}

@test "matrix random to forwarded-random" {
	run_pair random forwarded-random
	assert_direct random forwarded-random
	[ "$(cut -f 6 <<<"${lines[0]}")" = override ]
}

@test "matrix forwarded peer line carries override" {
	build_pair masquerade forwarded
	[ "$(cut -f 9 "$TMP/y.self")" = "192.0.2.74:$Y_PORT" ]
	[ "$(cut -f 8 "$TMP/x.peers")" = "192.0.2.74:$Y_PORT" ]
}

@test "matrix double to masquerade" {
	# The starting node's low-TTL probes open only its inner NAT, so the
	# waiting node holds its normal probes until the first one arrives.
	run_pair double masquerade
	assert_direct double masquerade
}

@test "matrix masquerade to double with TTL 3" {
	# Behind two NATs, TTL 3 passes both and expires at the next router.
	Y_ARGS="-L 3" run_pair masquerade double
	assert_direct masquerade double
}

@test "matrix masquerade to double hints at TTL 3" {
	run_pair masquerade double
	report masquerade double "no path (TTL 2)"
	[ "$status" -eq 3 ]
	[[ $stderr == *"y: unreachable: no answer to "* ]]
	[[ $stderr == *"a node behind two NATs needs -L 3"* ]]
}
