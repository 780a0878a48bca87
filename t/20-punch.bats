#!/usr/bin/env bats
# avpn-punch without namespaces: option and input errors, and punching
# between nodes on loopback from hand-written self records and peer lines
# (no registry answers there, so only the probes matter).

bats_require_minimum_version 1.5.0

load helper
load registry

setup() {
	setup_tmp
	pids=()
}

teardown() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	teardown_tmp
}

# Writes NAME.key, NAME.pub and NAME.self for a node on 127.0.0.1:PORT
# with no NAT; the registry key is NAME's own and nothing listens on the
# registry endpoint.
make_node() {
	local name=$1 port=$2
	make_keypair "$name" || return 1
	printf '%s\t%s\t127.0.0.1:%s\t127.0.0.1:%s\tnone\t127.0.0.1:%s\t%s\t%s\t-\t%s\n' \
		"$name" "$(cat "$TMP/$name.pub")" "$port" "$port" \
		"$registry_port" "$(cat "$TMP/$name.pub")" "${3:--}" \
		"$(date +%s)" >"$TMP/$name.self"
}

# Prints NAME's peer line as avpn-peers would.
peer_line() {
	local name=$1
	printf '%s\t%s\thub\t%s\t%s\t%s\t%s\t-\tnone\n' "$name" \
		"$(cut -f 2 "$TMP/$name.self")" "$(cut -f 4 "$TMP/$name.self")" \
		"$(cut -f 3 "$TMP/$name.self")" "$(cut -f 8 "$TMP/$name.self")" \
		"$(date +%s)"
}

# Starts avpn-punch for NAME in the background with ARGS, peers from
# NAME.peers, path lines to NAME.paths and stderr to NAME.err.
spawn_punch() {
	local name=$1
	shift
	avpn-punch -k "$TMP/$name.key" -o "$TMP/$name.paths" "$@" \
		"$TMP/$name.self" "$TMP/$name.peers" 2>"$TMP/$name.err" 3>&- &
	pids+=($!)
}

@test "punch without -k is a usage error" {
	run --separate-stderr avpn-punch self peers
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"missing -k KEYFILE"* ]]
	[[ $stderr == *"usage: avpn-punch"* ]]
}

@test "punch without SELF is a usage error" {
	make_keypair a
	run --separate-stderr avpn-punch -k "$TMP/a.key"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"usage: avpn-punch"* ]]
}

@test "punch rejects invalid timeout and TTL" {
	make_keypair a
	run --separate-stderr avpn-punch -k "$TMP/a.key" -t 0 self peers
	[ "$status" -eq 2 ]
	[[ $stderr == *'-t: timeout "0" is too small'* ]]
	run --separate-stderr avpn-punch -k "$TMP/a.key" -L 256 self peers
	[ "$status" -eq 2 ]
	[[ $stderr == *'-L: TTL "256" is too large'* ]]
}

@test "punch rejects SELF and PEERS both on stdin" {
	make_keypair a
	run --separate-stderr avpn-punch -k "$TMP/a.key" -
	[ "$status" -eq 2 ]
	[[ $stderr == *"SELF and PEERS cannot both be read from stdin"* ]]
}

@test "punch rejects a key of another node" {
	registry_port=$(free_udp_port)
	make_node a 40000
	make_keypair other
	: >"$TMP/a.peers"
	run --separate-stderr avpn-punch -k "$TMP/other.key" "$TMP/a.self" \
		"$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"other.key does not belong to the self record"* ]]
}

@test "punch names the file and line of a bad peer line" {
	registry_port=$(free_udp_port)
	make_node a 40000
	printf '# peers\nb\tnot-a-key\thub\n' >"$TMP/a.peers"
	run --separate-stderr avpn-punch -k "$TMP/a.key" "$TMP/a.self" \
		"$TMP/a.peers"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"a.peers:2: peer record has 3 fields, expected 9"* ]]
}

@test "punch on loopback prints a path for each side" {
	registry_port=$(free_udp_port)
	port_a=$(free_udp_port)
	port_b=$(free_udp_port)
	make_node a "$port_a" 10.1.0.0/24
	make_node b "$port_b" 10.2.0.0/24
	peer_line b >"$TMP/a.peers"
	peer_line a >"$TMP/b.peers"
	spawn_punch b -t 5
	run --separate-stderr avpn-punch -k "$TMP/a.key" -t 5 "$TMP/a.self" \
		"$TMP/a.peers"
	wait "${pids[0]}"
	b_status=$?
	echo "a: $output / $stderr"
	echo "b: $(cat "$TMP/b.paths") / $(cat "$TMP/b.err")"
	[ "$status" -eq 0 ]
	[ "$b_status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r key name ep port rtt via nets <<<"${lines[0]}"
	[ "$key" = "$(cat "$TMP/b.pub")" ]
	[ "$name" = b ]
	[ "$ep" = "127.0.0.1:$port_b" ]
	[ "$port" = "$port_a" ]
	[[ $rtt =~ ^[0-9]+\.[0-9]{3}$ ]]
	[ "$via" = public ]
	[ "$nets" = 10.2.0.0/24 ]
	[ -z "$stderr" ]
	IFS=$'\t' read -r key name ep port rtt via nets <"$TMP/b.paths"
	[ "$name" = a ]
	[ "$ep" = "127.0.0.1:$port_a" ]
	[ "$port" = "$port_b" ]
	[ "$nets" = 10.1.0.0/24 ]
}

@test "punch answers in wait mode" {
	registry_port=$(free_udp_port)
	port_a=$(free_udp_port)
	port_b=$(free_udp_port)
	make_node a "$port_a"
	make_node b "$port_b"
	peer_line b >"$TMP/a.peers"
	peer_line a >"$TMP/b.peers"
	spawn_punch b -w -t 5
	wait_for_udp_owner "$port_b" "${pids[0]}"
	run --separate-stderr avpn-punch -k "$TMP/a.key" -t 5 "$TMP/a.self" \
		"$TMP/a.peers"
	wait "${pids[0]}"
	b_status=$?
	[ "$status" -eq 0 ]
	[ "$b_status" -eq 0 ]
	[ "$(cut -f 2 "$TMP/b.paths")" = a ]
	[ "$(cut -f 6 "$TMP/b.paths")" = public ]
}

@test "punch reports a silent peer and exits 3" {
	registry_port=$(free_udp_port)
	port_b=$(free_udp_port)
	make_node a "$(free_udp_port)"
	make_node b "$port_b"
	peer_line b >"$TMP/a.peers"
	SECONDS=0
	run --separate-stderr avpn-punch -k "$TMP/a.key" -t 2 "$TMP/a.self" \
		"$TMP/a.peers"
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[[ $stderr == *"b: unreachable: no answer to "*" probes to 127.0.0.1:$port_b"* ]]
	[[ $stderr == *"the registry did not acknowledge the punch request"* ]]
	[ "$SECONDS" -le 3 ]
}

@test "punch exits 6 when some peers answer" {
	registry_port=$(free_udp_port)
	make_node a "$(free_udp_port)"
	make_node b "$(free_udp_port)"
	make_node c "$(free_udp_port)"
	{ peer_line b; peer_line c; } >"$TMP/a.peers"
	peer_line a >"$TMP/b.peers"
	spawn_punch b -w -t 5
	wait_for_udp_owner "$(cut -f 3 "$TMP/b.self" | cut -d: -f2)" "${pids[0]}"
	run --separate-stderr avpn-punch -k "$TMP/a.key" -t 2 -o "$TMP/a.paths" \
		"$TMP/a.self" "$TMP/a.peers"
	[ "$status" -eq 6 ]
	[ -z "$output" ]
	[ "$(cut -f 2 "$TMP/a.paths")" = b ]
	[[ $stderr == *"c: unreachable: no answer"* ]]
	[[ $stderr != *"b: unreachable"* ]]
	[ "$(stat -c %a "$TMP/a.paths")" = 644 ]
}

@test "punch paces requests below the registry limit" {
	# Twelve spokes, registered but silent: every punch request must
	# reach the registry and be forwarded, none rate limited.
	registry_setup
	node_add a hub 10.1.0.0/24
	for i in $(seq 1 12); do
		node_add "s$i" spoke "10.2.$i.0/24" a
	done
	registry_start -v
	for name in a $(seq -f 's%g' 1 12); do
		avpn-register -k "$TMP/$name.key" -r "$REGISTRY" \
			-R "$TMP/registry.pub" -p "$(free_udp_port)" \
			-o "$TMP/$name.self" 2>>"$TMP/register.err"
	done
	avpn-peers -k "$TMP/a.key" -o "$TMP/a.peers" "$TMP/a.self"
	[ "$(wc -l <"$TMP/a.peers")" -eq 12 ]
	run --separate-stderr avpn-punch -v -k "$TMP/a.key" -t 4 \
		"$TMP/a.self" "$TMP/a.peers"
	registry_stop
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[ "$(grep -c "the registry forwarded the punch request" <<<"$stderr")" -eq 12 ]
	[[ $stderr != *"rate limited"* ]]
	! grep -q "over the punch rate limit" "$TMP/registry.log"
}

@test "punch with -o in a missing directory exits 2" {
	run --separate-stderr avpn-punch -k /dev/null -o /nonexistent-avpn-dir/paths self peers
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == *"directory /nonexistent-avpn-dir: No such file or directory"* ]]
}
