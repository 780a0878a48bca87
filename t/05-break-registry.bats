#!/usr/bin/env bats
# Attacks on avpn-registry, avpn-register and avpn-peers on loopback: input
# files they cannot read or that lack a field, and runs killed while they
# write their -o file or racing another run on it.

bats_require_minimum_version 1.5.0

load helper
load registry

setup() {
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
}

teardown() {
	registry_stop
	teardown_tmp
}

# Prints a self record of hq whose registry endpoint is $1.
self_line() {
	printf 'hq\t%s\t127.0.0.1:40000\t127.0.0.1:40000\tnone\t%s\t%s\t-\t-\t1700000000\n' \
		"$(cat "$TMP/hq.pub")" "$1" "$(cat "$TMP/registry.pub")"
}

@test "registry rejects a state file it cannot read" {
	local port
	port=$(free_udp_port)
	mkdir "$TMP/state"
	# A registry that starts anyway runs until timeout stops it (124).
	run --separate-stderr timeout 5 avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l "127.0.0.1:$port" -N 0 -S "$TMP/state"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-registry: $TMP/state: Is a directory" ]
}

@test "peers rejects a self record without registry endpoint" {
	self_line - >"$TMP/hq.self"
	run --separate-stderr avpn-peers -k "$TMP/hq.key" -t 2 "$TMP/hq.self"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-peers: $TMP/hq.self: the self record has no registry endpoint; run avpn-register again" ]
}

@test "register killed while writing keeps the old file" {
	local i pid
	registry_start
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s 10.1.0.0/24 -t 5 -o "$TMP/hq.self"
	for i in $(seq 30); do
		avpn-register -k "$TMP/hq.key" -r "$REGISTRY" \
			-R "$TMP/registry.pub" -s 10.1.0.0/24 -t 5 \
			-o "$TMP/hq.self" 2>/dev/null 3>&- &
		pid=$!
		sleep "0.00$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		[ "$(wc -l <"$TMP/hq.self")" -eq 1 ]
		[ "$(awk -F '\t' 'NF == 10' "$TMP/hq.self" | wc -l)" -eq 1 ]
		# Only a kill between link and rename leaves .hq.self.tmp.
		[ "$(find "$TMP" -name '.hq.self.*' | wc -l)" -le 1 ]
	done
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s 10.1.0.0/24 -t 5 -o "$TMP/hq.self"
	[ -z "$(find "$TMP" -name '.hq.self.*')" ]
}

@test "two register runs share one -o file" {
	local first second
	registry_start
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s 10.1.0.0/24 -t 5 -o "$TMP/hq.self"
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s 10.1.0.0/24 -t 5 -o "$TMP/hq.self" 3>&- &
	first=$!
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s 10.1.0.0/24 -t 5 -o "$TMP/hq.self" 3>&- &
	second=$!
	wait "$first"
	wait "$second"
	[ "$(wc -l <"$TMP/hq.self")" -eq 1 ]
	[ "$(awk -F '\t' 'NF == 10' "$TMP/hq.self" | wc -l)" -eq 1 ]
}
