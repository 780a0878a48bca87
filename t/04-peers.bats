#!/usr/bin/env bats
# avpn-peers against a real avpn-registry on loopback: who sees whom under
# the hub-and-spoke rule, the peer line fields, paging, and the failures.

load helper
load registry

bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	registry_setup
	node_add hq hub 10.1.0.0/24
	node_add dc hub 10.3.0.0/24
	node_add branch spoke 10.2.0.0/24 hq
	node_add shop spoke 10.4.0.0/24 hq
	registry_start
}

teardown() {
	registry_stop
	teardown_tmp
}

# Registers NAME with its first allowed subnet into $TMP/NAME.self.
register_node() {
	local net
	net=$(awk -v name="$1" '$2 == name { print $4 }' "$TMP/authorized")
	avpn-register -k "$TMP/$1.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-s "$net" -t 5 -o "$TMP/$1.self"
}

peers_of() {
	local name=$1
	shift
	avpn-peers -k "$TMP/$name.key" -t 5 "$@" "$TMP/$name.self"
}

# Prints the names in the peer lines of $output, one a line.
peer_names() {
	cut -f 1 <<<"$output"
}

@test "peers of two hubs list each other" {
	register_node hq
	register_node dc
	run --separate-stderr peers_of hq
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$(peer_names)" = dc ]
	run --separate-stderr peers_of dc
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = hq ]
}

@test "peers prints each field of the peer line" {
	register_node hq
	before=$(date +%s)
	register_node dc
	run --separate-stderr peers_of hq
	after=$(date +%s)
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	IFS=$'\t' read -r -a field <<<"$output"
	[ "${#field[@]}" -eq 9 ]
	[ "${field[0]}" = dc ]
	[ "${field[1]}" = "$(cat "$TMP/dc.pub")" ]
	[ "${field[2]}" = hub ]
	[ "${field[3]}" = "$(cut -f 4 "$TMP/dc.self")" ]
	[ "${field[4]}" = "$(cut -f 3 "$TMP/dc.self")" ]
	[ "${field[5]}" = 10.3.0.0/24 ]
	[ "${field[6]}" -ge "$before" ]
	[ "${field[6]}" -le "$after" ]
	[ "${field[7]}" = - ]
	[ "${field[8]}" = none ]
}

@test "peers carries the override endpoint" {
	register_node hq
	avpn-register -k "$TMP/dc.key" -r "$REGISTRY" -R "$TMP/registry.pub" \
		-e 198.51.100.3:51820 -o "$TMP/dc.self"
	run --separate-stderr peers_of hq
	[ "$status" -eq 0 ]
	[ "$(cut -f 8 <<<"$output")" = 198.51.100.3:51820 ]
}

@test "peers of a spoke lists only its hubs" {
	for node in hq dc branch shop; do
		register_node "$node"
	done
	run --separate-stderr peers_of branch
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = hq ]
	run --separate-stderr peers_of shop
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = hq ]
}

@test "peers of a hub lists hubs and its spokes by name" {
	for node in shop branch dc hq; do
		register_node "$node"
	done
	run --separate-stderr peers_of hq
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = "$(printf 'branch\ndc\nshop')" ]
	run --separate-stderr peers_of dc
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = hq ]
}

@test "peers of a lone node prints nothing" {
	register_node hq
	run --separate-stderr peers_of hq
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "peers lists many peers over several pages" {
	registry_stop
	for i in $(seq 1 25); do
		node_add "s$i" spoke "10.100.$i.0/24" hq
	done
	registry_start
	register_node hq
	for i in $(seq 1 25); do
		register_node "s$i"
	done
	run --separate-stderr peers_of hq -v
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 25 ]
	[ "$(peer_names)" = "$(seq 1 25 | sed 's/^/s/' | sort)" ]
	[[ "$stderr" == *"received page 2 of"* ]]
}

@test "peers -o writes the same lines atomically" {
	register_node hq
	register_node dc
	run --separate-stderr peers_of hq -o "$TMP/peers"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$(cut -f 1 "$TMP/peers")" = dc ]
	[ "$(stat -c %a "$TMP/peers")" = 644 ]
}

@test "peers reads SELF from stdin" {
	register_node hq
	register_node dc
	run --separate-stderr avpn-peers -k "$TMP/hq.key" - <"$TMP/hq.self"
	[ "$status" -eq 0 ]
	[ "$(peer_names)" = dc ]
}

@test "peers with the wrong key for the self file exits 2" {
	register_node hq
	run --separate-stderr avpn-peers -k "$TMP/dc.key" "$TMP/hq.self"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-peers: $TMP/dc.key: key $(cat "$TMP/dc.pub") does not match the public key $(cat "$TMP/hq.pub") in the self record $TMP/hq.self; use the key that avpn-register ran with" ]
}

@test "peers names the path and line of a malformed self file" {
	printf '# written by hand\nhq\tnot a record\n' >"$TMP/bad.self"
	run --separate-stderr avpn-peers -k "$TMP/hq.key" "$TMP/bad.self"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-peers: $TMP/bad.self:2: "* ]]
}

@test "peers of a missing self file exits 2" {
	run --separate-stderr avpn-peers -k "$TMP/hq.key" "$TMP/none.self"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-peers: $TMP/none.self: No such file or directory" ]]
}

@test "peers rejects a key file others can read" {
	register_node hq
	chmod 640 "$TMP/hq.key"
	run --separate-stderr peers_of hq
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"chmod 600 $TMP/hq.key"* ]]
}

@test "peers rejects an unknown option and a missing SELF" {
	run --separate-stderr avpn-peers -k "$TMP/hq.key" -x "$TMP/hq.self"
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == *"usage: avpn-peers -k KEYFILE [-o FILE] [-t SECONDS] [-v] SELF"* ]]
	run --separate-stderr avpn-peers -k "$TMP/hq.key"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-peers: missing SELF"* ]]
	run --separate-stderr avpn-peers "$TMP/hq.self"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-peers: missing -k KEYFILE"* ]]
	run --separate-stderr avpn-peers -k "$TMP/hq.key" -t abc "$TMP/hq.self"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-peers: -t: timeout \"abc\" is invalid"* ]]
}

@test "peers with another pinned registry key exits 4" {
	register_node hq
	make_keypair other
	awk -v key="$(cat "$TMP/other.pub")" 'BEGIN { FS = OFS = "\t" }
		{ $7 = key; print }' "$TMP/hq.self" >"$TMP/other.self"
	printf 'old\n' >"$TMP/peers"
	run --separate-stderr avpn-peers -k "$TMP/hq.key" -o "$TMP/peers" \
		"$TMP/other.self"
	[ "$status" -eq 4 ]
	[ "$stderr" = "avpn-peers: registry $REGISTRY answered with key $(cat "$TMP/registry.pub"), not the pinned key $(cat "$TMP/other.pub") from the self record $TMP/other.self" ]
	[ "$(cat "$TMP/peers")" = old ]
}

@test "peers to a stopped registry exits 3 after -t" {
	register_node hq
	printf 'old\n' >"$TMP/peers"
	kill -STOP "$REGISTRY_PID"
	start=$SECONDS
	run --separate-stderr peers_of hq -t 2 -o "$TMP/peers"
	elapsed=$((SECONDS - start))
	[ "$status" -eq 3 ]
	[ "$stderr" = "avpn-peers: no answer from $REGISTRY after 2 s (registry down, address wrong, or UDP blocked)" ]
	[ "$elapsed" -le 4 ]
	[ "$(cat "$TMP/peers")" = old ]
}

@test "peers to a closed port exits 3" {
	register_node hq
	registry_stop
	run --separate-stderr peers_of hq
	[ "$status" -eq 3 ]
	[ "$stderr" = "avpn-peers: nothing listens on $REGISTRY (ICMP port unreachable)" ]
}

@test "peers of a node no longer authorized exits 5" {
	register_node hq
	register_node dc
	# dc is the hub no spoke names, so the file stays valid without it.
	grep -v " dc hub " "$TMP/authorized" >"$TMP/authorized.new"
	mv "$TMP/authorized.new" "$TMP/authorized"
	kill -HUP "$REGISTRY_PID"
	# The reload is done once the registry rejects dc's query.
	deadline=$((SECONDS + 5))
	while peers_of dc -t 1 >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ]
		sleep 0.1
	done
	run --separate-stderr peers_of dc -t 1
	[ "$status" -eq 5 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-peers: registry $REGISTRY rejected $TMP/dc.key: key not authorized; add $(cat "$TMP/dc.pub") to the registry's authorized-nodes file" ]
}

@test "peers after the clock went back exits 5" {
	register_node hq
	printf 'old\n' >"$TMP/peers"
	forge_ahead hq 300
	start=$SECONDS
	run --separate-stderr peers_of hq -o "$TMP/peers"
	[ "$status" -eq 5 ]
	[ "$output" = "" ]
	[[ "$stderr" =~ ^"avpn-peers: registry $REGISTRY rejected QUERY: it accepted a timestamp "(29[0-9]|300)" s ahead of this node's clock before (the clock went backwards, or a datagram was replayed); set the clock right (NTP) or wait that long"$ ]]
	[ $((SECONDS - start)) -le 2 ]
	[ "$(cat "$TMP/peers")" = old ]
}

@test "peers ignores a forged key mismatch" {
	require_netns
	local pid port
	register_node hq
	register_node dc
	make_keypair other
	port=$(cut -f 3 "$TMP/hq.self")
	port=${port##*:}
	kill -STOP "$REGISTRY_PID"
	peers_of hq -v -t 10 >"$TMP/out" 2>"$TMP/err" 3>&- &
	pid=$!
	wait_for_text "$TMP/err" "sent QUERY request (attempt 1)"
	mismatch-spoof -K "$TMP/other.pub" "$REGISTRY" "127.0.0.1:$port"
	wait_for_text "$TMP/err" "received a key mismatch"
	kill -CONT "$REGISTRY_PID"
	wait "$pid"
	[ "$(cut -f 1 "$TMP/out")" = dc ]
	! grep -q "answered with key" "$TMP/err"
}

@test "peers with -o in a missing directory exits 2" {
	register_node hq
	run --separate-stderr peers_of hq -o "$TMP/missing/peers"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"directory $TMP/missing: No such file or directory; create it or choose another path"* ]]
}
