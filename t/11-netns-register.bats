#!/usr/bin/env bats
# Steps 1 and 2 of the seed in the namespace lab: avpn-register and
# avpn-peers on gateways behind real NAT, against avpn-registry on
# 203.0.113.28, with the NAT's conntrack table as the witness of what the
# registry should have observed.

bats_require_minimum_version 1.5.0

load helper
load registry
load lab

setup() {
	setup_tmp
	registry_setup
}

teardown() {
	lab_teardown
	teardown_tmp
}

# Starts avpn-registry on the registry host with its NAT-test port 9351;
# ARGS go to the registry.
start_registry() {
	lab_spawn registry avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l "$LAB_REGISTRY:9350" -N 9351 "$@" \
		2>>"$TMP/registry.log"
	lab_wait_udp registry 9350 && lab_wait_udp registry 9351
}

# Registers SITE from its gateway, announcing its LAN; ARGS go to
# avpn-register.
register() {
	local site=$1
	shift
	lab_exec "$site" avpn-register -k "$TMP/$site.key" \
		-r "$LAB_REGISTRY" -R "$TMP/registry.pub" \
		-s "$(lab_lan "$site")" -t 5 "$@"
}

# Registers SITE into $TMP/SITE.self.
register_to_file() {
	register "$1" -o "$TMP/$1.self"
}

# Runs avpn-peers on SITE's gateway with its self file.
peers() {
	lab_exec "$1" avpn-peers -k "$TMP/$1.key" -t 5 "$TMP/$1.self"
}

# Prints field $2 (from 1) of SITE's self record.
self_field() {
	cut -f "$2" "$TMP/$1.self"
}

# Builds the seed, authorizes hq as a hub and branch as its spoke, starts
# the registry with ARGS and registers both into their self files.
seed_registered() {
	lab_build "$LAB_SEED" || return 1
	node_add hq hub 10.1.0.0/24 &&
		node_add branch spoke 10.2.0.0/24 hq || return 1
	start_registry "$@" || return 1
	register_to_file hq && register_to_file branch
}

# Prints the peer line named NAME from avpn-peers output in $output.
peer_line() {
	local line
	for line in "${lines[@]}"; do
		[ "${line%%$'\t'*}" = "$1" ] && printf '%s\n' "$line"
	done
	return 0
}

# Waits until the Unix time passes $1, so a new timestamp differs.
wait_for_second_after() {
	local deadline=$((SECONDS + 3))
	until [ "$(date +%s)" -gt "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

@test "branch registers with the NAT's mapping" {
	require_netns
	lab_build "$LAB_SEED"
	node_add branch spoke 10.2.0.0/24 hq
	node_add hq hub 10.1.0.0/24
	start_registry
	run --separate-stderr register_to_file branch
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(self_field branch 1)" = branch ]
	[[ $(self_field branch 3) =~ ^192\.168\.0\.1:([0-9]+)$ ]]
	port=${BASH_REMATCH[1]}
	mapped=$(lab_nat_port adsl "$port" 9350)
	[ "$(self_field branch 4)" = "192.0.2.73:$mapped" ]
	# masquerade keeps the port when it is free.
	[ "$mapped" = "$port" ]
	[ "$(self_field branch 5)" = endpoint-independent ]
	[ "$(self_field branch 6)" = 203.0.113.28:9350 ]
	[ "$(self_field branch 8)" = 10.2.0.0/24 ]
	[ "$(self_field branch 9)" = - ]
}

@test "hq registers with its own address" {
	require_netns
	lab_build "$LAB_SEED"
	node_add hq hub 10.1.0.0/24
	start_registry
	run --separate-stderr register hq
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r -a field <<<"$output"
	[ "${field[0]}" = hq ]
	[[ ${field[2]} =~ ^198\.51\.100\.1:[0-9]+$ ]]
	[ "${field[3]}" = "${field[2]}" ]
	[ "${field[4]}" = none ]
	[ "${field[7]}" = 10.1.0.0/24 ]
}

@test "gateways see each other's endpoints" {
	require_netns
	seed_registered
	run --separate-stderr peers hq
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r -a field <<<"$output"
	[ "${field[0]}" = branch ]
	[ "${field[1]}" = "$(cat "$TMP/branch.pub")" ]
	[ "${field[2]}" = spoke ]
	[[ ${field[3]} == 192.0.2.73:* ]]
	[ "${field[3]}" = "$(self_field branch 4)" ]
	[[ ${field[4]} == 192.168.0.1:* ]]
	[ "${field[4]}" = "$(self_field branch 3)" ]
	[ "${field[5]}" = 10.2.0.0/24 ]

	run --separate-stderr peers branch
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r -a field <<<"$output"
	[ "${field[0]}" = hq ]
	[ "${field[2]}" = hub ]
	[[ ${field[3]} == 198.51.100.1:* ]]
	[ "${field[3]}" = "$(self_field hq 4)" ]
	[ "${field[4]}" = "$(self_field hq 3)" ]
	[ "${field[5]}" = 10.1.0.0/24 ]
}

@test "spokes see only their hubs" {
	require_netns
	lab_build "$LAB_SEED shop=masquerade"
	node_add hq hub 10.1.0.0/24
	node_add branch spoke 10.2.0.0/24 hq
	node_add shop spoke 10.3.0.0/24 hq
	start_registry
	register_to_file hq
	register_to_file branch
	register_to_file shop
	[[ $(self_field shop 4) == 192.0.2.74:* ]]

	run --separate-stderr peers hq
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ -n "$(peer_line branch)" ]
	[ -n "$(peer_line shop)" ]

	for spoke in branch shop; do
		run --separate-stderr peers "$spoke"
		[ "$status" -eq 0 ]
		[ "$stderr" = "" ]
		[ "${#lines[@]}" -eq 1 ]
		[ "$(cut -f 1 <<<"$output")" = hq ]
	done
}

@test "entry expires without refresh" {
	require_netns
	seed_registered -T 2
	run --separate-stderr peers hq
	[ "$status" -eq 0 ]
	[ -n "$(peer_line branch)" ]
	# hq keeps refreshing; branch stops.
	deadline=$((SECONDS + 10))
	while [ -n "$(peer_line branch)" ]; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.2
		register_to_file hq
		run --separate-stderr peers hq
		[ "$status" -eq 0 ]
	done
	[ "${#lines[@]}" -eq 0 ]
}

@test "random NAT is endpoint-dependent" {
	require_netns
	lab_build "hq=public c=random"
	node_add hq hub 10.1.0.0/24
	node_add c spoke 10.2.0.0/24 hq
	start_registry
	run --separate-stderr register_to_file c
	[ "$status" -eq 0 ]
	[ "$(self_field c 5)" = endpoint-dependent ]
	[[ $(self_field c 3) =~ ^192\.168\.0\.1:([0-9]+)$ ]]
	port=${BASH_REMATCH[1]}
	mapped=$(lab_nat_port c-nat "$port" 9350)
	[ "$(self_field c 4)" = "192.0.2.73:$mapped" ]
	# The NAT-test port 9351 saw another public port.
	[ "$(lab_nat_port c-nat "$port" 9351)" != "$mapped" ]
}

@test "second register reuses port and refreshes" {
	require_netns
	seed_registered
	cp "$TMP/branch.self" "$TMP/branch.first"
	run --separate-stderr peers hq
	seen_first=$(peer_line branch | cut -f 7)
	wait_for_second_after "$(self_field branch 10)"
	wait_for_second_after "$seen_first"

	run --separate-stderr register_to_file branch
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "$(self_field branch 3)" = "$(cut -f 3 "$TMP/branch.first")" ]
	[ "$(self_field branch 4)" = "$(cut -f 4 "$TMP/branch.first")" ]
	[ "$(self_field branch 10)" -gt "$(cut -f 10 "$TMP/branch.first")" ]
	port=$(self_field branch 3)
	port=${port##*:}
	run --separate-stderr lab_conntrack adsl -L -p udp \
		--orig-port-src "$port" --orig-port-dst 9350
	[ "${#lines[@]}" -eq 1 ]

	run --separate-stderr peers hq
	[ "$status" -eq 0 ]
	seen_second=$(peer_line branch | cut -f 7)
	[ "$seen_second" -gt "$seen_first" ]
}
