# A registry on loopback for the bats tests of avpn-register and avpn-peers.
# Load it after helper.bash.  Each test gets its own registry key, its own
# authorized-nodes file and a registry on random ports, so the tests can
# run in parallel with other test runs on the same machine.
#
#   registry_setup           make the registry's key pair in $TMP
#   node_add NAME ROLE NETS [HUBS]  make NAME's key pair and authorize it
#   registry_start [--no-nat-test] [ARGS...]  start avpn-registry on
#                            127.0.0.1 with its NAT-test port on the next
#                            port (or none), set REGISTRY (ADDRESS:PORT),
#                            REGISTRY_PORT and REGISTRY_PID; extra ARGS go
#                            to the registry
#   registry_stop            stop it (also when stopped with SIGSTOP)
#   free_udp_port            print a loopback UDP port nothing is bound to
#   wait_for_text FILE TEXT  wait up to 5 s until FILE contains TEXT
#   forge_ahead NAME SECONDS register NAME with avpn-forge, its timestamp
#                            SECONDS ahead of the clock, as a node whose
#                            clock ran ahead would

# Registry ports come from below the node ports (32768-61000), and below
# the kernel's default ephemeral range, so they do not collide with them.
REGISTRY_PORT_MIN=20000
REGISTRY_PORT_SPAN=12000

registry_setup() {
	make_keypair registry || return 1
	: >"$TMP/authorized"
}

# Writes NAME.key and NAME.pub and a line in the authorized-nodes file.
node_add() {
	local name=$1 role=$2 nets=$3 hubs=${4:-}
	make_keypair "$name" || return 1
	printf '%s %s %s %s %s\n' "$(cat "$TMP/$name.pub")" "$name" "$role" \
		"$nets" "$hubs" >>"$TMP/authorized"
}

udp_port_is_bound() {
	[ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]
}

free_udp_port() {
	local port try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((REGISTRY_PORT_MIN + RANDOM % REGISTRY_PORT_SPAN))
		if ! udp_port_is_bound "$port"; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Waits up to 10 s (a sanitizer build starts slowly on a loaded machine)
# until process $2 has a UDP socket on port $1.
wait_for_udp_owner() {
	local port=$1 pid=$2 deadline=$((SECONDS + 10))
	until ss -Hlunp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# Another test run may take the random port first; then try other ports.
registry_start() {
	local try port nat_test=1 nat_port
	if [ "${1:-}" = --no-nat-test ]; then
		nat_test=0
		shift
	fi
	for try in 1 2 3 4 5; do
		port=$(free_udp_port) || return 1
		nat_port=$((port + 1))
		[ "$nat_test" = 1 ] || nat_port=0
		# fd 3 is closed because bats waits for every holder of it.
		avpn-registry -k "$TMP/registry.key" -a "$TMP/authorized" \
			-l "127.0.0.1:$port" -N "$nat_port" "$@" \
			2>>"$TMP/registry.log" 3>&- &
		REGISTRY_PID=$!
		if wait_for_udp_owner "$port" "$REGISTRY_PID" &&
			{ [ "$nat_test" = 0 ] ||
			wait_for_udp_owner "$nat_port" "$REGISTRY_PID"; }; then
			REGISTRY_PORT=$port
			REGISTRY=127.0.0.1:$port
			return 0
		fi
		registry_stop
	done
	echo "registry_start: avpn-registry did not start" >&2
	cat "$TMP/registry.log" >&2
	return 1
}

wait_for_text() {
	local deadline=$((SECONDS + 5))
	until grep -qF -- "$2" "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

forge_ahead() {
	local stamp=$((($(date +%s) + $2) * 1000000000)) reply
	reply=$(avpn-forge -k "$TMP/$1.key" -R "$TMP/registry.pub" \
		-r "$REGISTRY" -T "$stamp" register 2>/dev/null) || return 1
	[[ "$reply" == "REGISTER_ACK "* ]]
}

registry_stop() {
	[ -n "${REGISTRY_PID:-}" ] || return 0
	kill -CONT "$REGISTRY_PID" 2>/dev/null || true
	kill -TERM "$REGISTRY_PID" 2>/dev/null || true
	# The status is the registry's own, non-zero after a failed start, and
	# must not end a caller running under errexit; nor may a kill of a
	# registry that already exited.
	wait "$REGISTRY_PID" 2>/dev/null || true
	REGISTRY_PID=
}
