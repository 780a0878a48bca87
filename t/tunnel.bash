# Set-up shared by the avpn-tunnel tests (t/31..39): two namespaces, A and
# B, joined by one veth pair, with avpn-tunnel or wireguard-go in each.
# Load it after helper.
#
#   tunnel_setup            make the namespaces, the veth pair and the keys
#                           a and b; A is 192.0.2.1/24 on "veth", B is
#                           192.0.2.2/24; tunnel addresses are 10.99.0.1
#                           (A) and 10.99.0.2 (B)
#   tunnel_teardown         stop every process started here (by PID) and
#                           delete the namespaces; safe to call twice
#   write_self NAME KEY PORT FILE   write a self record for key KEY (a
#                           name made by make_keypair) with local port PORT
#   write_peer NAME KEY ENDPOINT SUBNETS    print a peer line
#   avpn_start SIDE IFACE SELF PEERS [ARGS...]  start avpn-tunnel in
#                           namespace SIDE (A or B) with key SIDE's key,
#                           status file $TMP/IFACE.status, stderr to
#                           $TMP/IFACE.log; waits for its UAPI socket; sets
#                           AVPN_PID; stdin comes from $TUNNEL_STDIN if
#                           set
#   wggo_start SIDE IFACE   start wireguard-go in SIDE and wait for its
#                           UAPI socket; sets WGGO_PID
#   tunnel_stop PID         stop one process (TERM, then KILL after 5 s)
#   in_ns SIDE CMD...       run CMD in namespace SIDE
#   drop_count IFACE CLASS  ask avpn-tunnel for its status (SIGUSR1) and
#                           print the count of drop class CLASS
#   wait_handshake SIDE IFACE [SECONDS]  wait until `wg show` there lists
#                           a latest handshake
#   wait_log FILE TEXT [SECONDS]  wait until FILE contains TEXT
#   ping_ok SIDE ADDR [SECONDS]  ping ADDR from SIDE until one reply comes
#                           back, for at most SECONDS (default 10)
#
# In the namespace lab of lab.bash:
#   lab_tunnel_spawn SITE IFACE PEERS [ARGS...]  start avpn-tunnel on
#                           gateway SITE with $TMP/SITE.key and
#                           $TMP/SITE.self, stderr to $TMP/SITE.tunnel.log;
#                           waits for its UAPI socket; sets TUNNEL_PID
#   lab_tunnel_dump SITE... print the avpn-tunnel log of each SITE
#
# Interface names are unique per run because the UAPI sockets of every
# namespace share /var/run/wireguard.

TUNNEL_PORT_A=40001
TUNNEL_PORT_B=40002

tunnel_setup() {
	local id
	id=$(($$ % 10000))$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
	NS_A=avpn-tun-$id-a
	NS_B=avpn-tun-$id-b
	IF_A=ta$id
	IF_B=tb$id
	TUNNEL_PIDS=()
	declare -gA TUNNEL_PID_OF=()
	ip netns add "$NS_A" || return 1
	ip netns add "$NS_B" || return 1
	ip link add veth netns "$NS_A" type veth peer name veth netns "$NS_B" ||
		return 1
	ip -n "$NS_A" addr add 192.0.2.1/24 dev veth
	ip -n "$NS_B" addr add 192.0.2.2/24 dev veth
	in_ns A ip link set veth up && in_ns A ip link set lo up &&
		in_ns B ip link set veth up && in_ns B ip link set lo up ||
		return 1
	make_keypair a && make_keypair b
}

tunnel_teardown() {
	local pid
	for pid in "${TUNNEL_PIDS[@]}"; do
		tunnel_stop "$pid"
	done
	TUNNEL_PIDS=()
	[ -n "${NS_A:-}" ] && ip netns del "$NS_A" 2>/dev/null
	[ -n "${NS_B:-}" ] && ip netns del "$NS_B" 2>/dev/null
	NS_A= NS_B=
	return 0
}

tunnel_stop() {
	local pid=$1 deadline=$((SECONDS + 5))
	kill "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	return 0
}

ns_of() {
	if [ "$1" = A ]; then
		echo "$NS_A"
	else
		echo "$NS_B"
	fi
}

in_ns() {
	local ns
	ns=$(ns_of "$1")
	shift
	ip netns exec "$ns" "$@"
}

# The registry fields are filled with a made-up key: these tests run no
# registry.
write_self() {
	local name=$1 key=$2 port=$3 file=$4 addr=192.0.2.1
	[ "$key" = b ] && addr=192.0.2.2
	printf '%s\t%s\t%s:%s\t-\tnone\t-\t%s\t-\t-\t0\n' "$name" \
		"$(cat "$TMP/$key.pub")" "$addr" "$port" \
		"$(cat "$TMP/$key.pub")" >"$file"
}

write_peer() {
	printf '%s\t%s\thub\t%s\t-\t%s\t0\t-\tnone\n' "$1" \
		"$(cat "$TMP/$2.pub")" "$3" "$4"
}

# Waits up to 5 s for the UAPI socket of IFACE; fails early if PID died.
wait_uapi() {
	local iface=$1 pid=$2 deadline=$((SECONDS + 5))
	until [ -S "/var/run/wireguard/$iface.sock" ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

avpn_start() {
	local side=$1 iface=$2 self=$3 peers=$4 key=a
	shift 4
	[ "$side" = B ] && key=b
	# ip netns exec runs the program in its own process, so $! is the
	# program's PID.
	ip netns exec "$(ns_of "$side")" avpn-tunnel -k "$TMP/$key.key" \
		-i "$iface" -S "$TMP/$iface.status" "$@" "$self" "$peers" \
		<"${TUNNEL_STDIN:-/dev/null}" 2>"$TMP/$iface.log" 3>&- &
	AVPN_PID=$!
	TUNNEL_PIDS+=("$AVPN_PID")
	TUNNEL_PID_OF[$iface]=$AVPN_PID
	wait_uapi "$iface" "$AVPN_PID"
}

wggo_start() {
	local side=$1 iface=$2
	ip netns exec "$(ns_of "$side")" wireguard-go -f "$iface" \
		>"$TMP/$iface.log" 2>&1 3>&- &
	WGGO_PID=$!
	TUNNEL_PIDS+=("$WGGO_PID")
	wait_uapi "$iface" "$WGGO_PID"
}

# Prints field 3 of the "drop CLASS" line of a fresh status file.
drop_count() {
	local iface=$1 class=$2 pid=${TUNNEL_PID_OF[$1]:-}
	[ -n "$pid" ] || return 1
	rm -f "$TMP/$iface.status"
	kill -USR1 "$pid" || return 1
	wait_for_file "$TMP/$iface.status" 5 || return 1
	awk -F '\t' -v c="$class" '$1 == "drop" && $2 == c { print $3 }' \
		"$TMP/$iface.status"
}

wait_handshake() {
	local side=$1 iface=$2 deadline=$((SECONDS + ${3:-10})) t
	while [ "$SECONDS" -lt "$deadline" ]; do
		t=$(in_ns "$side" wg show "$iface" latest-handshakes |
			awk '{ print $2 }' | head -n 1)
		[ -n "$t" ] && [ "$t" != 0 ] && return 0
		sleep 0.1
	done
	return 1
}

wait_log() {
	local file=$1 text=$2 deadline=$((SECONDS + ${3:-10}))
	until grep -qF -- "$text" "$file" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

ping_ok() {
	local side=$1 addr=$2 deadline=$((SECONDS + ${3:-10}))
	while [ "$SECONDS" -lt "$deadline" ]; do
		in_ns "$side" ping -c 1 -W 1 "$addr" >/dev/null 2>&1 && return 0
	done
	return 1
}

lab_tunnel_spawn() {
	local site=$1 iface=$2 peers=$3
	shift 3
	lab_spawn "$site" avpn-tunnel -k "$TMP/$site.key" -i "$iface" "$@" \
		"$TMP/$site.self" "$peers" 2>"$TMP/$site.tunnel.log"
	TUNNEL_PID=$LAB_PID
	wait_uapi "$iface" "$TUNNEL_PID"
}

lab_tunnel_dump() {
	local site
	for site in "$@"; do
		echo "--- $site: avpn-tunnel"
		cat "$TMP/$site.tunnel.log" 2>/dev/null || true
	done
}
