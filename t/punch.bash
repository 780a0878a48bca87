# Set-up shared by the avpn-punch tests (t/2N-punch-*.bats): a registry on
# 203.0.113.28 in the namespace lab, sites registered from their gateways
# and their peer lines fetched.  Load it after helper, registry and lab.
#
#   punch_registry_start [ARGS...]  start avpn-registry in the lab
#   punch_register SITE PORT [ARGS...]  run avpn-register on SITE from
#                            PORT into $TMP/SITE.self (ARGS go to it)
#   punch_peers SITE...      run avpn-peers on each SITE into
#                            $TMP/SITE.peers, once every site registered
#   punch_spawn SITE [ARGS...]  start avpn-punch on SITE in the background
#                            (ARGS are its options): path lines go to
#                            $TMP/SITE.paths, stderr to $TMP/SITE.err; sets
#                            PUNCH_PID
#   punch_wait PID           wait for that avpn-punch; sets PUNCH_STATUS
#   punch_block_port SITE PORT  send one datagram from SITE's UDP PORT to
#                            both registry ports, so SITE's NAT router maps
#                            that port towards the registry for 30 s
#   path_field FILE NAME N   print field N of the path line for peer NAME
#   punch_dump SITE...       print the registry's log, each SITE's stderr
#                            and the conntrack table of its NAT router

# The registry's port is fixed, because each lab has its own namespaces.
PUNCH_REGISTRY_PORT=9350

punch_registry_start() {
	lab_spawn registry avpn-registry -k "$TMP/registry.key" \
		-a "$TMP/authorized" -l "$LAB_REGISTRY:$PUNCH_REGISTRY_PORT" \
		-N $((PUNCH_REGISTRY_PORT + 1)) -v "$@" 2>>"$TMP/registry.log"
	lab_wait_udp registry "$PUNCH_REGISTRY_PORT" &&
		lab_wait_udp registry $((PUNCH_REGISTRY_PORT + 1))
}

punch_register() {
	local site=$1 port=$2
	shift 2
	lab_exec "$site" avpn-register -k "$TMP/$site.key" \
		-r "$LAB_REGISTRY" -R "$TMP/registry.pub" \
		-s "$(lab_lan "$site")" -p "$port" -t 5 -o "$TMP/$site.self" \
		"$@" 2>>"$TMP/$site.register.err"
}

punch_peers() {
	local site
	for site in "$@"; do
		lab_exec "$site" avpn-peers -k "$TMP/$site.key" -t 5 \
			-o "$TMP/$site.peers" "$TMP/$site.self" \
			2>>"$TMP/$site.register.err" || return 1
	done
}

punch_spawn() {
	local site=$1
	shift
	lab_spawn "$site" avpn-punch -k "$TMP/$site.key" \
		-o "$TMP/$site.paths" "$@" "$TMP/$site.self" \
		"$TMP/$site.peers" 2>"$TMP/$site.err"
	PUNCH_PID=$LAB_PID
}

punch_wait() {
	PUNCH_STATUS=0
	wait "$1" || PUNCH_STATUS=$?
}

punch_block_port() {
	local port
	for port in "$PUNCH_REGISTRY_PORT" $((PUNCH_REGISTRY_PORT + 1)); do
		lab_exec "$1" socat -u - \
			"UDP4-SENDTO:$LAB_REGISTRY:$port,sourceport=$2" \
			<<<blocker || return 1
	done
}

path_field() {
	local key name rest
	while IFS=$'\t' read -r key name rest; do
		if [ "$name" = "$2" ]; then
			printf '%s\t%s\t%s\n' "$key" "$name" "$rest" |
				cut -f "$3"
			return 0
		fi
	done <"$1"
	return 1
}

punch_dump() {
	local site router
	echo "--- registry log"
	cat "$TMP/registry.log" 2>/dev/null || true
	for site in "$@"; do
		echo "--- $site: avpn-register and avpn-peers"
		cat "$TMP/$site.register.err" 2>/dev/null || true
		echo "--- $site: self record and peer lines"
		cat "$TMP/$site.self" "$TMP/$site.peers" 2>/dev/null || true
		echo "--- $site: avpn-punch stderr"
		cat "$TMP/$site.err" 2>/dev/null || true
		router=$(lab_router "$site")
		[ -n "$router" ] || continue
		echo "--- $router: conntrack"
		lab_conntrack "$router" -L 2>&1
	done
	return 0
}
