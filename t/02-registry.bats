#!/usr/bin/env bats
# avpn-registry on loopback, driven by avpn-forge: start-up checks, every
# request and rejection, the peer rules, expiry, pushed updates, punch
# forwarding, SIGHUP reload and the -S state file.

bats_require_minimum_version 1.5.0

load helper

# Hubs hq and dc; spoke b1 names hq, b2 names dc, b3 names both.
setup() {
	setup_tmp
	make_keypair registry
	for node in hq dc b1 b2 b3 stranger; do
		make_keypair "$node"
	done
	auth_line hq hub 10.1.0.0/24 >"$TMP/authorized"
	auth_line dc hub 10.5.0.0/16 >>"$TMP/authorized"
	auth_line b1 spoke 10.2.0.0/24 hq >>"$TMP/authorized"
	auth_line b2 spoke 10.3.0.0/24 dc >>"$TMP/authorized"
	auth_line b3 spoke 10.4.0.0/24,10.40.0.0/16 hq,dc >>"$TMP/authorized"
	REG_PID=
	LISTENERS=()
}

teardown() {
	local pid
	for pid in "${LISTENERS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	stop_registry
	teardown_tmp
}

# Prints an authorized-nodes line: NAME ROLE SUBNETS [HUBS].
auth_line() {
	echo "$(cat "$TMP/$1.pub") $1 $2 $3 ${4:-}"
}

# Waits up to $2 seconds (default 5) until file $1 contains text $3.
wait_for_text() {
	local deadline=$((SECONDS + ${2:-5}))
	until grep -qF -- "$3" "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# Starts the registry on random loopback ports (the NAT-test port is the
# next one) and waits for its "listening on" line.  Another run may hold
# the port, so a bind failure tries other ports.  Sets REG_PID, PORT.
start_registry() {
	local try
	for try in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 12000))
		: >"$TMP/registry.log"
		avpn-registry -k "$TMP/registry.key" -a "$TMP/authorized" \
			-l "127.0.0.1:$PORT" "$@" 2>"$TMP/registry.log" 3>&- &
		REG_PID=$!
		if wait_for_registry; then
			return 0
		fi
		wait "$REG_PID" 2>/dev/null
		REG_PID=
		grep -q "Address already in use" "$TMP/registry.log" || break
	done
	cat "$TMP/registry.log" >&2
	return 1
}

wait_for_registry() {
	local deadline=$((SECONDS + 5))
	until grep -q "info: listening on" "$TMP/registry.log"; do
		kill -0 "$REG_PID" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

stop_registry() {
	[ -n "${REG_PID:-}" ] || return 0
	kill -TERM "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	REG_PID=
}

# Runs avpn-forge as node $1 against the registry; the rest are its
# options and mode.
forge() {
	local node=$1
	shift
	avpn-forge -k "$TMP/$node.key" -R "$TMP/registry.pub" \
		-r "127.0.0.1:$PORT" "$@"
}

# Registers node $1 with subnets $2 and keeps listening for $3 seconds
# (default 6) in the background; what arrives goes to $TMP/$1.out.
listen_as() {
	forge "$1" -s "$2" -w -t "$(( ${3:-6} * 1000 ))" register \
		>"$TMP/$1.out" 2>/dev/null 3>&- &
	LISTENERS+=("$!")
	wait_for_text "$TMP/$1.out" 5 "REGISTER_ACK"
}

register() {
	forge "$1" -s "$2" register
}

@test "registry logs its key and addresses at start" {
	start_registry -T 60
	wait_for_text "$TMP/registry.log" 5 "NAT test on"
	run cat "$TMP/registry.log"
	[ "${lines[0]}" = "avpn-registry: info: public key $(cat "$TMP/registry.pub"), 5 authorized nodes from $TMP/authorized, lifetime 60 s, max entries no limit" ]
	[ "${lines[1]}" = "avpn-registry: info: listening on 127.0.0.1:$PORT, NAT test on 127.0.0.1:$((PORT + 1))" ]
	! grep -q "$(cat "$TMP/registry.key")" "$TMP/registry.log"
}

@test "registry stops on SIGTERM with exit 0" {
	start_registry
	kill -TERM "$REG_PID"
	local status=0
	wait "$REG_PID" || status=$?
	REG_PID=
	[ "$status" -eq 0 ]
	grep -q "info: stopping on SIGTERM" "$TMP/registry.log"
	grep -q "info: stopped with 0 registered; dropped: none" \
		"$TMP/registry.log"
}

@test "registry rejects a key file others can read" {
	chmod 0644 "$TMP/registry.key"
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l 127.0.0.1:1
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-registry: $TMP/registry.key: private key has mode 0644, so others can access it; run chmod 600 $TMP/registry.key" ]
}

@test "registry rejects a missing auth file" {
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/missing" -l 127.0.0.1:1
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[ "$stderr" = "avpn-registry: $TMP/missing: No such file or directory" ]
}

@test "registry names the line of a malformed auth file" {
	make_keypair b4
	auth_line b4 spoke 10.6.0.0/24 nowhere >>"$TMP/authorized"
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l 127.0.0.1:1
	[ "$status" -eq 2 ]
	[ "$output" = "" ]
	[[ "$stderr" == "avpn-registry: $TMP/authorized:6: field 5 (hubs): "* ]]
}

@test "registry rejects bad options with exit 2" {
	run --separate-stderr avpn-registry -a "$TMP/authorized"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "avpn-registry: missing -k KEYFILE" ]
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -T 0
	[ "$status" -eq 2 ]
	[ "$stderr" = 'avpn-registry: -T: lifetime in seconds "0" is too small; expected 1-86400' ]
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l 127.0.0.1:65535
	[ "$status" -eq 2 ]
	[[ "$stderr" == "avpn-registry: -N: the listen port is 65535"* ]]
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" extra
	[ "$status" -eq 2 ]
	[[ "${stderr_lines[0]}" == "usage: avpn-registry "* ]]
}

@test "registration returns the observed endpoint" {
	start_registry -T 60
	local port=$((40000 + RANDOM % 20000))
	run --separate-stderr forge hq -p "$port" -s 10.1.0.0/24 register
	[ "$status" -eq 0 ]
	[ "$output" = "REGISTER_ACK len=124 name=hq observed=127.0.0.1:$port lifetime=60 nat_port=$((PORT + 1))" ]
	wait_for_text "$TMP/registry.log" 5 \
		"info: registered hq from 127.0.0.1:$port"
}

@test "NAT-test port reflects the source endpoint" {
	start_registry
	local port=$((40000 + RANDOM % 20000))
	run --separate-stderr avpn-forge -k "$TMP/hq.key" \
		-R "$TMP/registry.pub" -r "127.0.0.1:$((PORT + 1))" \
		-p "$port" binding
	[ "$status" -eq 0 ]
	[ "$output" = "BINDING_ACK len=115 observed=127.0.0.1:$port" ]
}

@test "registry with -N 0 has no NAT-test port" {
	start_registry -N 0
	grep -q "NAT test on no port (disabled)" "$TMP/registry.log"
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[[ "$output" == *" nat_port=0" ]]
	run --separate-stderr avpn-forge -k "$TMP/hq.key" \
		-R "$TMP/registry.pub" -r "127.0.0.1:$((PORT + 1))" binding
	[ "$output" = "no reply" ]
}

@test "unauthorized node gets PERR_NOT_AUTHORIZED" {
	start_registry
	run --separate-stderr forge stranger -s 10.1.0.0/24 register
	[ "$status" -eq 0 ]
	[ "$output" = "ERROR len=116 request=REGISTER code=1 (not authorized) subnet=-" ]
	wait_for_text "$TMP/registry.log" 5 "warning: rejected REGISTER from 127.0.0.1:"
	grep -q "key $(cat "$TMP/stranger.pub") not authorized$" \
		"$TMP/registry.log"
}

@test "unauthorized small request gets no larger reply" {
	start_registry
	run --separate-stderr forge stranger binding
	[ "$status" -eq 0 ]
	[ "$output" = "no reply" ]
	wait_for_text "$TMP/registry.log" 5 \
		"not authorized (no reply: the request is smaller than the reply)"
}

@test "subnet not allowed is rejected and named" {
	start_registry
	run --separate-stderr forge b1 -s 10.2.0.0/25,10.9.0.0/24 register
	[ "$status" -eq 0 ]
	[ "$output" = "ERROR len=116 request=REGISTER code=2 (subnet not allowed) subnet=10.9.0.0/24" ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: rejected REGISTER from b1 at 127.0.0.1:"
	grep -q "subnet 10.9.0.0/24 not allowed" "$TMP/registry.log"
	run --separate-stderr forge b1 -s 10.2.0.0/25 register
	[[ "$output" == "REGISTER_ACK "* ]]
}

@test "truncated garbage and tampered datagrams get no reply" {
	start_registry
	local fault
	for fault in truncate garbage tamper; do
		run --separate-stderr forge hq -s 10.1.0.0/24 -x "$fault" register
		[ "$status" -eq 0 ]
		[ "$output" = "no reply" ]
	done
	wait_for_text "$TMP/registry.log" 5 "invalid header or length"
	grep -q "warning: dropped datagram from 127.0.0.1:[0-9]*: authentication failed (key of hq)" \
		"$TMP/registry.log"
	[ "$(grep -c "warning: dropped datagram from" "$TMP/registry.log")" -eq 3 ]
	stop_registry
	grep -q "dropped: invalid header or length 1, authentication failed 2" \
		"$TMP/registry.log"
}

@test "replayed registration gets a stale-timestamp error" {
	local stamp
	stamp=$(($(date +%s) * 1000000000))
	start_registry
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" -x replay \
		register
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "REGISTER_ACK "* ]]
	[ "${lines[1]}" = "ERROR len=116 request=REGISTER code=9 (stale timestamp) subnet=- time=$stamp" ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: dropped REGISTER from hq at 127.0.0.1:"
	grep -q ": stale timestamp$" "$TMP/registry.log"
}

@test "older timestamp gets a stale-timestamp error" {
	local stamp
	stamp=$(($(date +%s) * 1000000000))
	start_registry
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" register
	[[ "$output" == "REGISTER_ACK "* ]]
	run --separate-stderr forge hq -s 10.1.0.0/24 -T 1000 register
	[ "$output" = "ERROR len=116 request=REGISTER code=9 (stale timestamp) subnet=- time=$stamp" ]
}

@test "replayed small request gets no reply" {
	start_registry
	run --separate-stderr avpn-forge -k "$TMP/hq.key" \
		-R "$TMP/registry.pub" -r "127.0.0.1:$((PORT + 1))" \
		-x replay binding
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "BINDING_ACK len=115 "* ]]
	[ "${lines[1]}" = "no reply" ]
	[[ "$stderr" == *"(96 bytes, fault replay)" ]]
	wait_for_text "$TMP/registry.log" 5 ": stale timestamp"
}

@test "replayed query gets a stale-timestamp error" {
	start_registry
	register hq 10.1.0.0/24
	run --separate-stderr forge hq -x replay query
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "PEERS "* ]]
	[[ "${lines[1]}" == "ERROR len=116 request=QUERY code=9 (stale timestamp) subnet=- time="* ]]
	[[ "$stderr" == *"(116 bytes, fault replay)" ]]
}

@test "timestamp 10 minutes ahead is accepted" {
	local stamp
	stamp=$((($(date +%s) + 590) * 1000000000))
	start_registry
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" register
	[[ "$output" == "REGISTER_ACK "* ]]
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[ "$output" = "ERROR len=116 request=REGISTER code=9 (stale timestamp) subnet=- time=$stamp" ]
}

@test "timestamp an hour ahead gets a clock-skew error" {
	local before after stamp time
	start_registry
	before=$(($(date +%s) * 1000000000))
	stamp=$((before + 3600 * 1000000000))
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" register
	after=$((($(date +%s) + 1) * 1000000000))
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^"ERROR len=116 request=REGISTER code=8 (clock ahead of the registry's) subnet=- time="([0-9]+)$ ]]
	time=${BASH_REMATCH[1]}
	[ "$time" -ge "$before" ]
	[ "$time" -le "$after" ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: rejected REGISTER from hq at 127.0.0.1:"
	grep -Eq "timestamp 3(599|600) s ahead of the registry's clock$" \
		"$TMP/registry.log"
	# The rejected timestamp is not stored, so hq is not locked out.
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[[ "$output" == "REGISTER_ACK "* ]]
}

@test "timestamp ahead in a small request gets no reply" {
	local stamp
	stamp=$((($(date +%s) + 3600) * 1000000000))
	start_registry
	run --separate-stderr avpn-forge -k "$TMP/hq.key" \
		-R "$TMP/registry.pub" -r "127.0.0.1:$((PORT + 1))" \
		-T "$stamp" binding
	[ "$output" = "no reply" ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: rejected BINDING from hq at 127.0.0.1:"
}

@test "datagram for another registry key gets KEY_MISMATCH" {
	start_registry
	run --separate-stderr forge hq -x wrong-key query
	[ "$status" -eq 0 ]
	[ "$output" = "KEY_MISMATCH len=36 key=$(cat "$TMP/registry.pub")" ]
	[[ "$stderr" == *"(116 bytes, fault wrong-key)" ]]
	wait_for_text "$TMP/registry.log" 5 "sent KEY_MISMATCH to 127.0.0.1:"
}

@test "spoke query lists only its hubs" {
	start_registry
	for node in hq dc b2 b3; do
		register "$node" "$(grep " $node " "$TMP/authorized" | cut -d' ' -f4)"
	done
	register b1 10.2.0.0/24
	run --separate-stderr forge b1 query
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "PEERS len=222 page=0 pages=1 count=1" ]
	[[ "${lines[1]}" == "PEER name=hq role=hub key=$(cat "$TMP/hq.pub") public=127.0.0.1:"*" subnets=10.1.0.0/24 nat=unknown" ]]
}

@test "hub query lists hubs and its spokes" {
	start_registry
	for node in hq dc b1 b2 b3; do
		register "$node" "$(grep " $node " "$TMP/authorized" | cut -d' ' -f4)"
	done
	run --separate-stderr forge hq query
	[ "$status" -eq 0 ]
	[ "$(grep -c '^PEER ' <<<"$output")" -eq 3 ]
	grep -q "^PEER name=dc role=hub " <<<"$output"
	grep -q "^PEER name=b1 role=spoke .* subnets=10.2.0.0/24 " <<<"$output"
	grep -q "^PEER name=b3 role=spoke .* subnets=10.4.0.0/24,10.40.0.0/16 " \
		<<<"$output"
	! grep -q "name=b2" <<<"$output"
	! grep -q "name=hq" <<<"$output"
}

@test "query lists only registered peers" {
	start_registry
	run --separate-stderr forge b1 query
	[ "$output" = "PEERS len=101 page=0 pages=0 count=0" ]
}

@test "peer list spreads over pages of at most 1200 bytes" {
	local i
	for i in $(seq 1 25); do
		make_keypair "s$i"
		auth_line "s$i" spoke "10.$((100 + i)).0.0/24,10.$((100 + i)).1.0/24,10.$((100 + i)).2.0/24" hq \
			>>"$TMP/authorized"
	done
	start_registry
	register hq 10.1.0.0/24
	for i in $(seq 1 25); do
		register "s$i" "10.$((100 + i)).0.0/24,10.$((100 + i)).1.0/24,10.$((100 + i)).2.0/24" >/dev/null
	done
	run --separate-stderr forge hq query
	[ "$(grep -c '^PEER ' <<<"$output")" -eq 25 ]
	[ "$(grep -c '^PEERS ' <<<"$output")" -gt 2 ]
	local len
	for len in $(grep '^PEERS ' <<<"$output" | sed 's/.* len=\([0-9]*\) .*/\1/'); do
		[ "$len" -le 1200 ]
	done
}

@test "entry expires after -T and peers are told" {
	start_registry -T 2
	# hq registers first, so it expires first, while b1 still listens.
	register hq 10.1.0.0/24
	listen_as b1 10.2.0.0/24 8
	run --separate-stderr forge b3 query
	grep -q "name=hq" <<<"$output"
	wait_for_text "$TMP/registry.log" 6 "info: hq expired (last registered from 127.0.0.1:"
	wait_for_text "$TMP/b1.out" 5 "event=left"
	run --separate-stderr forge b3 query
	! grep -q "name=hq" <<<"$output"
}

@test "peers get pushed updates when a hub appears and moves" {
	start_registry -T 60
	listen_as b1 10.2.0.0/24
	local port=$((40000 + RANDOM % 20000))
	forge hq -p "$port" -s 10.1.0.0/24 register
	wait_for_text "$TMP/b1.out" 5 "UPDATE len="
	forge hq -p "$((port + 1))" -s 10.1.0.0/24 register
	wait_for_text "$TMP/b1.out" 5 "event=moved"
	run cat "$TMP/b1.out"
	[ "${lines[1]}" = "UPDATE len=218 event=appeared" ]
	[ "${lines[2]}" = "PEER name=hq role=hub key=$(cat "$TMP/hq.pub") public=127.0.0.1:$port private=- subnets=10.1.0.0/24 nat=unknown" ]
	[ "${lines[3]}" = "UPDATE len=218 event=moved" ]
	[[ "${lines[4]}" == *" public=127.0.0.1:$((port + 1)) "* ]]
	wait_for_text "$TMP/registry.log" 5 \
		"info: hq moved from 127.0.0.1:$port to 127.0.0.1:$((port + 1))"
	! grep -q "name=b2\|name=dc" "$TMP/b1.out"
}

@test "peers learn the NAT type a node registered" {
	start_registry
	forge hq -s 10.1.0.0/24 -n endpoint-independent register
	run --separate-stderr forge b1 query
	[[ "${lines[1]}" == "PEER name=hq "*" nat=endpoint-independent" ]]
}

@test "punch is forwarded to an allowed peer" {
	start_registry
	listen_as b1 10.2.0.0/24
	register hq 10.1.0.0/24
	run --separate-stderr forge hq -t 300 punch "$TMP/b1.pub"
	# The acknowledgement echoes the target.
	[ "${lines[0]}" = "PUNCH len=128 target=$(cat "$TMP/b1.pub")" ]
	wait_for_text "$TMP/b1.out" 5 "PUNCH len="
	grep -q "^PUNCH len=[0-9]* target=$(cat "$TMP/b1.pub")$" "$TMP/b1.out"
	grep -q "^PEER name=hq role=hub key=$(cat "$TMP/hq.pub") public=127.0.0.1:" \
		"$TMP/b1.out"
}

@test "punch to a peer not allowed is rejected" {
	start_registry
	register b1 10.2.0.0/24
	register b2 10.3.0.0/24
	run --separate-stderr forge b1 punch "$TMP/b2.pub"
	[ "$output" = "ERROR len=116 request=PUNCH code=6 (peer not allowed) subnet=-" ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: rejected PUNCH from b1 at 127.0.0.1:"
	grep -q "target b2 not allowed" "$TMP/registry.log"
}

@test "punch to an unknown or absent peer is rejected" {
	start_registry
	register b1 10.2.0.0/24
	run --separate-stderr forge b1 punch "$TMP/stranger.pub"
	[ "$output" = "ERROR len=116 request=PUNCH code=5 (peer not registered) subnet=-" ]
	run --separate-stderr forge b1 punch "$TMP/hq.pub"
	[ "$output" = "ERROR len=116 request=PUNCH code=5 (peer not registered) subnet=-" ]
	wait_for_text "$TMP/registry.log" 5 "target hq not registered"
	grep -q "target key not authorized" "$TMP/registry.log"
}

@test "punches beyond the rate limit are rejected" {
	start_registry
	register b1 10.2.0.0/24
	register hq 10.1.0.0/24
	# 15 punches at once: the burst of 10 passes, the rest are refused.
	run --separate-stderr forge b1 -c 15 -t 500 punch "$TMP/hq.pub"
	[ "$(grep -c "code=4 (rate limited)" <<<"$output")" -eq 5 ]
	[ "$(grep -c "^PUNCH len=" <<<"$output")" -eq 10 ]
	[ "$(grep -c "^ERROR " <<<"$output")" -eq 5 ]
	wait_for_text "$TMP/registry.log" 5 "over the punch rate limit"
}

@test "one source beyond its rate limit is dropped" {
	start_registry
	register b1 10.2.0.0/24
	# 3000 queries in about 30 ms: a burst of 2000 passes, then 1000/s.
	run --separate-stderr forge b1 -c 3000 -t 1000 query
	[ "$status" -eq 0 ]
	replies=$(grep -c "^PEERS " <<<"$output")
	[ "$replies" -ge 2000 ]
	[ "$replies" -lt 2900 ]
	wait_for_text "$TMP/registry.log" 5 \
		"warning: dropped datagram from 127.0.0.1:"
	grep -q "over the per-source rate limit" "$TMP/registry.log"
}

@test "table full is rejected beyond -m" {
	start_registry -m 1
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[[ "$output" == "REGISTER_ACK "* ]]
	run --separate-stderr forge b1 -s 10.2.0.0/24 register
	[ "$output" = "ERROR len=116 request=REGISTER code=3 (registry table full) subnet=-" ]
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[[ "$output" == "REGISTER_ACK "* ]]
}

@test "SIGHUP reload adds and removes nodes" {
	start_registry
	listen_as b1 10.2.0.0/24
	register hq 10.1.0.0/24
	wait_for_text "$TMP/b1.out" 5 "event=appeared"
	auth_line stranger hub 10.8.0.0/24 >"$TMP/authorized.new"
	auth_line b1 spoke 10.2.0.0/24 stranger >>"$TMP/authorized.new"
	mv "$TMP/authorized.new" "$TMP/authorized"
	kill -HUP "$REG_PID"
	wait_for_text "$TMP/registry.log" 5 "info: reloaded $TMP/authorized: 2 nodes (1 added, 4 removed), 1 registered"
	grep -q "info: hq left: removed from the authorized-nodes file" \
		"$TMP/registry.log"
	wait_for_text "$TMP/b1.out" 5 "event=left"
	run --separate-stderr forge stranger -s 10.8.0.0/24 register
	[[ "$output" == "REGISTER_ACK len="*" name=stranger "* ]]
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[ "$output" = "ERROR len=116 request=REGISTER code=1 (not authorized) subnet=-" ]
	run --separate-stderr forge b1 query
	[[ "${lines[1]}" == "PEER name=stranger role=hub "* ]]
}

@test "bad reload keeps the old list" {
	start_registry
	echo "not-a-key hq hub 10.1.0.0/24" >"$TMP/authorized"
	kill -HUP "$REG_PID"
	wait_for_text "$TMP/registry.log" 5 "error: reload failed, keeping the 5 nodes loaded before: $TMP/authorized:1: field 1 (public key): "
	run --separate-stderr forge hq -s 10.1.0.0/24 register
	[[ "$output" == "REGISTER_ACK "* ]]
	kill -0 "$REG_PID"
}

@test "state file keeps entries and timestamps across a restart" {
	local stamp
	stamp=$(($(date +%s) * 1000000000))
	start_registry -S "$TMP/state"
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" register
	[[ "$output" == "REGISTER_ACK "* ]]
	stop_registry
	[ "$(stat -c %a "$TMP/state")" = 600 ]
	grep -q "^$(cat "$TMP/hq.pub")	$stamp	127.0.0.1:" "$TMP/state"
	start_registry -S "$TMP/state"
	grep -q "info: loaded 1 nodes (1 registered) from $TMP/state" \
		"$TMP/registry.log"
	run --separate-stderr forge hq -s 10.1.0.0/24 -T "$stamp" register
	[ "$output" = "ERROR len=116 request=REGISTER code=9 (stale timestamp) subnet=- time=$stamp" ]
	wait_for_text "$TMP/registry.log" 5 "stale timestamp"
	run --separate-stderr forge b1 query
	[[ "${lines[1]}" == "PEER name=hq role=hub "* ]]
}

@test "malformed state file stops the start" {
	printf 'garbage\n' >"$TMP/state"
	run --separate-stderr avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l 127.0.0.1:1 -S "$TMP/state"
	[ "$status" -eq 2 ]
	[ "$stderr" = "avpn-registry: $TMP/state:1: expected 8 tab-separated fields" ]
}
