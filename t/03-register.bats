#!/usr/bin/env bats
# avpn-register against a real avpn-registry on loopback: the self record,
# port reuse, option checks, and every way the registry can fail to answer
# or reject the node.

load helper
load registry

bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
	registry_start
}

teardown() {
	registry_stop
	[ -z "${HOLD_PID:-}" ] || kill "$HOLD_PID" 2>/dev/null
	teardown_tmp
}

register_hq() {
	avpn-register -k "$TMP/hq.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-t 5 "$@"
}

# Prints field $2 (from 1) of the self record in file $1.
self_field() {
	cut -f "$2" "$1"
}

# Makes $TMP/self by a good registration and keeps a copy to compare.
make_self_file() {
	register_hq -s 10.1.0.0/24 -o "$TMP/self" || return 1
	cp "$TMP/self" "$TMP/self.before"
}

@test "register writes each field of the self record" {
	before=$(date +%s)
	run --separate-stderr register_hq -s 10.1.0.0/24
	after=$(date +%s)
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r -a field <<<"$output"
	[ "${#field[@]}" -eq 10 ]
	[ "${field[0]}" = hq ]
	[ "${field[1]}" = "$(cat "$TMP/hq.pub")" ]
	[[ "${field[2]}" =~ ^127\.0\.0\.1:([0-9]+)$ ]]
	port=${BASH_REMATCH[1]}
	[ "$port" -ge 32768 ]
	[ "$port" -le 61000 ]
	[ "${field[3]}" = "${field[2]}" ]
	[ "${field[4]}" = none ]
	[ "${field[5]}" = "$REGISTRY" ]
	[ "${field[6]}" = "$(cat "$TMP/registry.pub")" ]
	[ "${field[7]}" = 10.1.0.0/24 ]
	[ "${field[8]}" = - ]
	[ "${field[9]}" -ge "$before" ]
	[ "${field[9]}" -le "$after" ]
}

@test "register without subnets records -" {
	run --separate-stderr register_hq
	[ "$status" -eq 0 ]
	[ "$(cut -f 8 <<<"$output")" = - ]
}

@test "register reports NAT type none on loopback" {
	run --separate-stderr register_hq -v
	[ "$status" -eq 0 ]
	[ "$(cut -f 5 <<<"$output")" = none ]
	[[ "$stderr" == *"avpn-register: info: NAT type: none"* ]]
}

@test "register -v logs progress on stderr only" {
	run --separate-stderr register_hq -v -s 10.1.0.0/24
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$stderr" == *"debug: sent REGISTER request (attempt 1)"* ]]
	local=$(cut -f 3 <<<"$output")
	[[ "$stderr" == *"info: registered as hq from $local; the registry observed $local"* ]]
}

@test "register stores a changed NAT type with a second request" {
	run --separate-stderr register_hq -v -o "$TMP/self"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"info: registering again to store NAT type none"* ]]
	[[ "$stderr" == *"sent REGISTER request (attempt 1)"*"sent REGISTER request (attempt 1)"* ]]
	run --separate-stderr register_hq -v -o "$TMP/self"
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"registering again"* ]]
}

@test "register -o writes the file and nothing to stdout" {
	run --separate-stderr register_hq -o "$TMP/self"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(self_field "$TMP/self" 1)" = hq ]
	[ "$(stat -c %a "$TMP/self")" = 644 ]
}

@test "register reuses the port of the -o file" {
	register_hq -o "$TMP/self"
	first=$(self_field "$TMP/self" 3)
	run --separate-stderr register_hq -o "$TMP/self" -v
	[ "$status" -eq 0 ]
	[ "$(self_field "$TMP/self" 3)" = "$first" ]
	[[ "$stderr" == *"info: reusing port ${first##*:} from $TMP/self"* ]]
}

@test "register reuses the port of the SELF operand" {
	register_hq -o "$TMP/old"
	run --separate-stderr register_hq "$TMP/old"
	[ "$status" -eq 0 ]
	[ "$(cut -f 3 <<<"$output")" = "$(self_field "$TMP/old" 3)" ]
}

@test "register -p sets the local port" {
	port=$(free_udp_port)
	run --separate-stderr register_hq -p "$port"
	[ "$status" -eq 0 ]
	[ "$(cut -f 3 <<<"$output")" = "127.0.0.1:$port" ]
}

@test "register -p overrides the port of the -o file" {
	make_self_file
	port=$(free_udp_port)
	run --separate-stderr register_hq -p "$port" -o "$TMP/self"
	[ "$status" -eq 0 ]
	[ "$(self_field "$TMP/self" 3)" = "127.0.0.1:$port" ]
}

@test "register -b binds the given address" {
	run --separate-stderr register_hq -b 127.0.0.2
	[ "$status" -eq 0 ]
	[[ "$(cut -f 3 <<<"$output")" == 127.0.0.2:* ]]
	[ "$(cut -f 4 <<<"$output")" = "$(cut -f 3 <<<"$output")" ]
	[ "$(cut -f 5 <<<"$output")" = none ]
}

@test "register -e records the override endpoint" {
	run --separate-stderr register_hq -e 198.51.100.7:51820
	[ "$status" -eq 0 ]
	[ "$(cut -f 9 <<<"$output")" = 198.51.100.7:51820 ]
}

@test "register -e without port uses the local port" {
	run --separate-stderr register_hq -e 198.51.100.7
	[ "$status" -eq 0 ]
	local=$(cut -f 3 <<<"$output")
	[ "$(cut -f 9 <<<"$output")" = "198.51.100.7:${local##*:}" ]
}

@test "register beside a socket that holds the port" {
	port=$(free_udp_port)
	udp-hold "$port" "$TMP/hold.ready" "$TMP/hold.count" 3>&- &
	HOLD_PID=$!
	wait_for_file "$TMP/hold.ready"
	run --separate-stderr register_hq -p "$port"
	[ "$status" -eq 0 ]
	[ "$(cut -f 3 <<<"$output")" = "127.0.0.1:$port" ]
	kill "$HOLD_PID"
	wait "$HOLD_PID"
	HOLD_PID=
	# The registry's reply went to avpn-register's connected socket.
	[ "$(cat "$TMP/hold.count")" = 0 ]
}

@test "register rejects -p 0, 65536 and abc" {
	make_self_file
	for port in 0 65536 abc; do
		run --separate-stderr register_hq -p "$port" -o "$TMP/self"
		[ "$status" -eq 2 ]
		[ "$output" = "" ]
		[[ "$stderr" == "avpn-register: -p: invalid port \"$port\""* ]]
		cmp "$TMP/self" "$TMP/self.before"
	done
}

@test "register rejects a subnet with host bits" {
	make_self_file
	run --separate-stderr register_hq -s 10.1.0.1/24 -o "$TMP/self"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -s: "* ]]
	[[ "$stderr" == *10.1.0.0/24* ]]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register rejects a malformed subnet" {
	run --separate-stderr register_hq -s 10.1.0.0/33
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-register: -s: "*10.1.0.0/33* ]]
}

@test "register rejects a malformed key file" {
	echo "not a key" >"$TMP/bad.key"
	chmod 600 "$TMP/bad.key"
	run --separate-stderr avpn-register -k "$TMP/bad.key" -r "$REGISTRY" \
		-R "$TMP/registry.pub"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-register: $TMP/bad.key: invalid key"* ]]
}

@test "register rejects a key file others can read" {
	chmod 644 "$TMP/hq.key"
	run --separate-stderr register_hq
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-register: $TMP/hq.key: "* ]]
	[[ "$stderr" == *"chmod 600 $TMP/hq.key"* ]]
}

@test "register rejects a malformed registry key file" {
	echo "short" >"$TMP/bad.pub"
	run --separate-stderr avpn-register -k "$TMP/hq.key" -r "$REGISTRY" \
		-R "$TMP/bad.pub"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: $TMP/bad.pub: invalid key"* ]]
}

@test "register rejects a malformed -o file" {
	printf 'hq\tnot a record\n' >"$TMP/self"
	run --separate-stderr register_hq -o "$TMP/self"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: $TMP/self:1: "* ]]
	[ "$(cat "$TMP/self")" = "$(printf 'hq\tnot a record')" ]
}

@test "register rejects a bad -r, -b, -e and -t" {
	run --separate-stderr avpn-register -k "$TMP/hq.key" \
		-r 127.0.0.1:0 -R "$TMP/registry.pub"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -r: "* ]]
	run --separate-stderr register_hq -b 127.0.0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -b: invalid address \"127.0.0\""* ]]
	run --separate-stderr register_hq -b ::1
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -b: address ::1 is not of the registry's address family"* ]]
	run --separate-stderr register_hq -e 198.51.100.7:0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -e: "* ]]
	run --separate-stderr register_hq -t 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: -t: timeout \"0\" is too small"* ]]
}

@test "register rejects an unknown option with usage" {
	run --separate-stderr register_hq -x
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == *"usage: avpn-register -k KEYFILE"* ]]
}

@test "register requires -k, -r and -R" {
	run --separate-stderr avpn-register -r "$REGISTRY" -R "$TMP/registry.pub"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: missing -k KEYFILE"* ]]
	run --separate-stderr avpn-register -k "$TMP/hq.key" -R "$TMP/registry.pub"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: missing -r HOST[:PORT]"* ]]
	run --separate-stderr avpn-register -k "$TMP/hq.key" -r "$REGISTRY"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-register: missing -R REGISTRY_PUBFILE"* ]]
}

@test "register to a closed port exits 3 at once" {
	make_self_file
	port=$(free_udp_port)
	start=$SECONDS
	run --separate-stderr avpn-register -k "$TMP/hq.key" \
		-r "127.0.0.1:$port" -R "$TMP/registry.pub" -o "$TMP/self"
	[ "$status" -eq 3 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-register: nothing listens on 127.0.0.1:$port (ICMP port unreachable)" ]
	[ $((SECONDS - start)) -le 2 ]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register to a stopped registry exits 3 after -t" {
	make_self_file
	kill -STOP "$REGISTRY_PID"
	start=$SECONDS
	run --separate-stderr register_hq -t 2 -o "$TMP/self"
	elapsed=$((SECONDS - start))
	[ "$status" -eq 3 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-register: no answer from $REGISTRY after 2 s (registry down, address wrong, or UDP blocked)" ]
	[ "$elapsed" -ge 1 ]
	[ "$elapsed" -le 4 ]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register retries until a stopped registry resumes" {
	kill -STOP "$REGISTRY_PID"
	register_hq -v -t 10 >"$TMP/out" 2>"$TMP/err" 3>&- &
	pid=$!
	deadline=$((SECONDS + 5))
	until grep -q "resending" "$TMP/err"; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.05
	done
	kill -CONT "$REGISTRY_PID"
	wait "$pid"
	[ "$(cut -f 1 "$TMP/out")" = hq ]
	grep -q "sent REGISTER request (attempt 2)" "$TMP/err"
}

@test "register with the wrong registry key exits 4" {
	make_self_file
	make_keypair other
	run --separate-stderr register_hq -R "$TMP/other.pub" -o "$TMP/self"
	[ "$status" -eq 4 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-register: registry $REGISTRY answered with key $(cat "$TMP/registry.pub"), not the pinned key $(cat "$TMP/other.pub") from $TMP/other.pub" ]
	cmp "$TMP/self" "$TMP/self.before"
}

# Stops the registry, runs register_hq -v -t 10 on a free port in the
# background and waits for its first request, so that a forgery sent now
# arrives before any answer.  Sets RUN_PID and NODE_PORT.
register_while_stopped() {
	NODE_PORT=$(free_udp_port)
	kill -STOP "$REGISTRY_PID"
	register_hq -v -t 10 -p "$NODE_PORT" >"$TMP/out" 2>"$TMP/err" 3>&- &
	RUN_PID=$!
	wait_for_text "$TMP/err" "sent REGISTER request (attempt 1)"
}

@test "register ignores a forged key mismatch" {
	require_netns
	make_keypair other
	register_while_stopped
	mismatch-spoof -K "$TMP/other.pub" "$REGISTRY" "127.0.0.1:$NODE_PORT"
	wait_for_text "$TMP/err" "received a key mismatch"
	kill -CONT "$REGISTRY_PID"
	wait "$RUN_PID"
	[ "$(cut -f 1 "$TMP/out")" = hq ]
	[ "$(cut -f 3 "$TMP/out")" = "127.0.0.1:$NODE_PORT" ]
	! grep -q "error\|answered with key" "$TMP/err"
}

@test "register exits 4 after a lone key mismatch" {
	require_netns
	local start
	make_keypair other
	register_while_stopped
	start=$SECONDS
	mismatch-spoof -K "$TMP/other.pub" "$REGISTRY" "127.0.0.1:$NODE_PORT"
	status=0
	wait "$RUN_PID" || status=$?
	[ "$status" -eq 4 ]
	[ "$(cat "$TMP/out")" = "" ]
	[ "$(tail -n 1 "$TMP/err")" = "avpn-register: registry $REGISTRY answered with key $(cat "$TMP/other.pub"), not the pinned key $(cat "$TMP/registry.pub") from $TMP/registry.pub" ]
	# The grace period, not the 10 s of -t, ends the wait.
	[ $((SECONDS - start)) -ge 1 ]
	[ $((SECONDS - start)) -le 4 ]
}

@test "register after the clock went back exits 5" {
	make_self_file
	forge_ahead hq 300
	start=$SECONDS
	run --separate-stderr register_hq -s 10.1.0.0/24 -o "$TMP/self"
	[ "$status" -eq 5 ]
	[ "$output" = "" ]
	[[ "$stderr" =~ ^"avpn-register: registry $REGISTRY rejected REGISTER: it accepted a timestamp "(29[0-9]|300)" s ahead of this node's clock before (the clock went backwards, or a datagram was replayed); set the clock right (NTP) or wait that long"$ ]]
	[ $((SECONDS - start)) -le 2 ]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register waits out a short clock step back" {
	forge_ahead hq 2
	run --separate-stderr register_hq -v -s 10.1.0.0/24
	[ "$status" -eq 0 ]
	[ "$(cut -f 1 <<<"$output")" = hq ]
	[[ "$stderr" == *"the registry rejected REGISTER as stale; resending"* ]]
}

@test "register with an unauthorized key exits 5" {
	make_self_file
	make_keypair stranger
	run --separate-stderr avpn-register -k "$TMP/stranger.key" \
		-r "$REGISTRY" -R "$TMP/registry.pub" -o "$TMP/self"
	[ "$status" -eq 5 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-register: registry $REGISTRY rejected $TMP/stranger.key: key not authorized; add $(cat "$TMP/stranger.pub") to the registry's authorized-nodes file" ]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register of a subnet not allowed exits 5" {
	make_self_file
	run --separate-stderr register_hq -s 10.1.0.0/24,10.9.0.0/24 \
		-o "$TMP/self"
	[ "$status" -eq 5 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-register: registry $REGISTRY rejected $TMP/hq.key: subnet 10.9.0.0/24 not allowed;"* ]]
	cmp "$TMP/self" "$TMP/self.before"
}

@test "register without a NAT-test port behind no NAT" {
	registry_stop
	registry_start --no-nat-test
	run --separate-stderr register_hq
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "$(cut -f 5 <<<"$output")" = none ]
}

@test "register with -o in a missing directory sends nothing" {
	run --separate-stderr register_hq -o "$TMP/missing/self"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"-o $TMP/missing/self: directory $TMP/missing: No such file or directory; create it or choose another path"* ]]
	run grep -c 'registered hq' "$TMP/registry.log"
	[ "$output" = 0 ]
}

@test "register with -o naming a directory exits 2" {
	mkdir "$TMP/dir"
	run --separate-stderr register_hq -o "$TMP/dir"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$TMP/dir: is a directory; name a file"* ]]
}
