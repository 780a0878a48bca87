# The avpn test lab: sites, NAT routers, a registry host and an internet
# router in network namespaces, joined by veth pairs, with real kernel NAT
# (nftables masquerade).  Sourced by the bats tests, the benchmarks and the
# demo script.  Needs root, iproute2, nftables and conntrack.
#
# A lab is described by words SITE=KIND[@ROUTER], for example
#
#   lab_build "hq=public branch=masquerade@adsl"   (the seed, $LAB_SEED)
#   lab_build "a=masquerade b=random"              (b's NAT: masquerade random)
#   lab_build "a=masquerade@home b=masquerade@home" (two gateways, one NAT)
#   lab_build "c=double"                           (a NAT behind a NAT)
#
# SITE names a gateway: [a-z][a-z0-9]*, at most 11 characters.  Its LAN is
# 10.N.0.0/24 (N counts sites from 1): the gateway is 10.N.0.1 on "lan"
# and the node SITE-pc is 10.N.0.10 on "eth0".  The gateway masquerades
# its LAN's traffic out of "wan" and drops new connections from "wan" to
# the LAN, like a branch router does.  KIND is one of
#
#   public      the gateway's "wan" is a public address, 198.51.100.1, .2 ...
#   masquerade  the gateway sits behind a NAT router doing "masquerade"
#               (keeps the source port when free: endpoint-independent)
#   random      the same with "masquerade random": a random port for each
#               new flow, so the mapping is endpoint-dependent
#   double      the gateway sits behind a home NAT (SITE-nat) that sits
#               behind a carrier NAT (SITE-cgn) on 172.16.C.0/24
#
# The NAT router is named ROUTER, or SITE-nat without "@ROUTER"; sites that
# name the same ROUTER share it (and must give the same KIND).  Router
# number R (from 0) has the public "wan" 192.0.2.(73+R) and a bridge "lan"
# 192.168.R.254/24; its gateways get 192.168.R.1, .2 ... on their "wan".
# Its nftables table "ip lab" masquerades out of "wan" and forwards from
# "wan" only established and related packets.
#
# Every lab has the node "registry" (203.0.113.28 on "wan") and the node
# "internet", the router joining every public address.  Each public node
# has its own point-to-point link to it: the internet router's end is
# named after the node and has the address .254 of the node's /24.
#
# Each node is a namespace "avpn-lab-ID-NODE" with a run id unique to this
# process, so parallel runs never collide.  Forwarding is on in routers
# and gateways, rp_filter is off and loopback is up everywhere.
#
# Functions (errors go to stderr prefixed "lab:", and return 1):
#   lab_init                 start an empty lab; sets LAB_ID and LAB_DIR
#   lab_build [DESCRIPTION]  add the sites; without one, build $LAB_SEED
#   lab_teardown             kill the lab's processes, delete its
#                            namespaces; safe to call twice
#   lab_exec NODE CMD...     run CMD in NODE's namespace
#   lab_spawn NODE CMD...    start CMD in the background there, record its
#                            PID for lab_teardown and set LAB_PID to it
#   lab_stop PID             stop one spawned process (TERM, then KILL)
#   lab_wait_udp NODE PORT [SECONDS]  wait (default 5 s) for a UDP socket
#                            bound to PORT in NODE
#   lab_ns NODE              print NODE's namespace name
#   lab_addr NODE [IFACE]    print the IPv4 address of IFACE (default:
#                            "wan", or "eth0" on a PC)
#   lab_public NODE          print the address NODE's traffic leaves the
#                            last NAT with
#   lab_lan SITE             print SITE's LAN, 10.N.0.0/24
#   lab_router SITE          print the NAT router next to SITE's gateway
#                            (nothing for a public site)
#   lab_nodes                print the node names, one a line
#   lab_namespaces           print the namespace names, one a line
#   lab_pids                 print the recorded PIDs, one a line
#   lab_conntrack NODE [ARGS...]  run conntrack (default -L) in NODE
#   lab_nft NODE [ARGS...]   run nft (default list ruleset) in NODE
#   lab_nat_port ROUTER SPORT DPORT  print the public port ROUTER mapped
#                            its UDP flow from SPORT to DPORT to, read from
#                            its conntrack table
#   lab_netem NODE IFACE [NETEM]  set netem on IFACE's egress, e.g.
#                            "delay 50ms loss 20%"; no NETEM removes it
#   lab_loss NODE IFACE PERCENT  drop PERCENT of the packets arriving on
#                            IFACE with nftables (no netem needed); 0
#                            removes the rule
#   lab_udp_timeout NODE SECONDS [STREAM_SECONDS]  set the conntrack UDP
#                            timeouts (one-way flows, flows with replies)
#   lab_sysctl NODE KEY=VALUE...  set sysctls in NODE
#
# Outside bats, lab_init traps EXIT, INT and TERM to call lab_teardown,
# unless LAB_NO_TRAP=1; bats tests call lab_teardown from teardown().

LAB_SEED="hq=public branch=masquerade@adsl"
LAB_REGISTRY=203.0.113.28

_lab_error() {
	printf 'lab: %s\n' "$*" >&2
	return 1
}

_lab_random_hex() {
	od -An -N4 -tx1 /dev/urandom | tr -d ' \n'
}

# --- state ------------------------------------------------------------------

lab_init() {
	if [ -n "${LAB_DIR:-}" ] && [ -d "$LAB_DIR" ]; then
		_lab_error "lab $LAB_ID is running; call lab_teardown first"
		return 1
	fi
	_lab_require ip nft conntrack tc ss sysctl || return 1
	LAB_ID=$BASHPID-$(_lab_random_hex)
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/avpn-lab.XXXXXX") || return 1
	: >"$LAB_DIR/namespaces"
	: >"$LAB_DIR/pids"
	LAB_PID=
	declare -ga LAB_NODES=()
	declare -gA LAB_ADDR=() LAB_PUBLIC=() LAB_KIND=() LAB_SITE_LAN=() \
		LAB_SITE_ROUTER=() LAB_ROUTER_LAN=() LAB_ROUTER_HOSTS=()
	LAB_SITES=0 LAB_ROUTERS=0 LAB_CARRIERS=0 LAB_PUBLIC_HOSTS=0
	_lab_trap_install
}

_lab_require() {
	local cmd
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null ||
			_lab_error "$cmd not found; run scripts/install-deps" ||
			return 1
	done
}

_lab_trap_install() {
	# bats has its own EXIT trap; its functions, unlike its variables,
	# are not inherited by scripts that a test runs.
	declare -F skip >/dev/null && declare -F run >/dev/null && return 0
	[ "${LAB_NO_TRAP:-0}" = 1 ] && return 0
	trap 'lab_teardown' EXIT
	trap 'lab_teardown; exit 130' INT
	trap 'lab_teardown; exit 143' TERM
}

_lab_known() {
	[ -n "${LAB_KIND[$1]:-}" ]
}

lab_ns() {
	_lab_known "$1" || _lab_error "no node '$1' in the lab" || return 1
	printf 'avpn-lab-%s-%s\n' "$LAB_ID" "$1"
}

lab_nodes() {
	[ "${#LAB_NODES[@]}" -eq 0 ] || printf '%s\n' "${LAB_NODES[@]}"
}

lab_namespaces() {
	[ -n "${LAB_DIR:-}" ] && cat "$LAB_DIR/namespaces" 2>/dev/null
	return 0
}

lab_pids() {
	[ -n "${LAB_DIR:-}" ] || return 0
	local pid start
	while read -r pid start; do
		printf '%s\n' "$pid"
	done <"$LAB_DIR/pids"
}

lab_addr() {
	local node=$1 iface=${2:-wan}
	_lab_known "$node" || _lab_error "no node '$node' in the lab" ||
		return 1
	[ $# -ge 2 ] || [ "${LAB_KIND[$node]}" != pc ] || iface=eth0
	[ -n "${LAB_ADDR[$node/$iface]:-}" ] ||
		_lab_error "$node has no address on '$iface'" || return 1
	printf '%s\n' "${LAB_ADDR[$node/$iface]}"
}

lab_public() {
	[ -n "${LAB_PUBLIC[$1]:-}" ] ||
		_lab_error "$1 has no public address" || return 1
	printf '%s\n' "${LAB_PUBLIC[$1]}"
}

lab_lan() {
	[ -n "${LAB_SITE_LAN[$1]:-}" ] ||
		_lab_error "no site '$1' in the lab" || return 1
	printf '%s\n' "${LAB_SITE_LAN[$1]}"
}

lab_router() {
	[ -n "${LAB_SITE_LAN[$1]:-}" ] ||
		_lab_error "no site '$1' in the lab" || return 1
	[ -z "${LAB_SITE_ROUTER[$1]}" ] ||
		printf '%s\n' "${LAB_SITE_ROUTER[$1]}"
}

# --- running commands --------------------------------------------------------

lab_exec() {
	local ns
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# fd 3 is closed because bats waits for every holder of it to exit.
lab_spawn() {
	local ns start
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@" 3>&- &
	LAB_PID=$!
	start=$(_lab_start_time "$LAB_PID") || start=-
	printf '%s %s\n' "$LAB_PID" "$start" >>"$LAB_DIR/pids"
}

# Prints field 22 of /proc/PID/stat, the start time, which distinguishes
# the recorded process from an unrelated one that reused its PID.
_lab_start_time() {
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -ra fields <<<"${stat##*) }"
	printf '%s\n' "${fields[19]}"
}

# True while PID runs, is not a zombie and started at START.
_lab_alive() {
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -ra fields <<<"${stat##*) }"
	[ "${fields[0]}" != Z ] && [ "${fields[19]}" = "$2" ]
}

lab_stop() {
	local pid start
	while read -r pid start; do
		[ "$pid" = "$1" ] && _lab_kill_verified "$pid $start"
	done <"$LAB_DIR/pids"
	return 0
}

lab_wait_udp() {
	local ns=$(lab_ns "$1") port=$2 deadline=$((SECONDS + ${3:-5}))
	[ -n "$ns" ] || return 1
	until [ -n "$(ss -N "$ns" -Hlun "sport = :$port" 2>/dev/null)" ]; do
		[ "$SECONDS" -lt "$deadline" ] ||
			_lab_error "no UDP socket on port $port in $1" ||
			return 1
		sleep 0.05
	done
}

# --- netfilter, tc and sysctls -----------------------------------------------

lab_conntrack() {
	local node=$1
	shift
	[ $# -gt 0 ] || set -- -L
	lab_exec "$node" conntrack "$@"
}

lab_nft() {
	local node=$1
	shift
	[ $# -gt 0 ] || set -- list ruleset
	lab_exec "$node" nft "$@"
}

# NOTE: needs sch_netem, which kernels built without CONFIG_NET_SCH_NETEM
# lack, so t/10-lab.bats tests lab_loss and not this function.
lab_netem() {
	local ns
	ns=$(lab_ns "$1") || return 1
	if [ -z "${3:-}" ]; then
		tc -n "$ns" qdisc del dev "$2" root 2>/dev/null || true
		return 0
	fi
	# The netem parameters are words on purpose: "delay 50ms loss 20%".
	# shellcheck disable=SC2086
	tc -n "$ns" qdisc replace dev "$2" root netem $3
}

# Drops PERCENT of the IPv4 packets arriving on IFACE (ARP passes) with
# an nftables rule on its ingress hook, so it works without sch_netem.
# The egress hook would match the outgoing side, but on kernel 6.18 it
# saw every packet twice and let packets it had dropped through.
lab_loss() {
	local node=$1 iface=$2 percent=$3
	[[ $percent =~ ^([0-9]|[1-9][0-9]|100)$ ]] ||
		_lab_error "invalid loss '$percent'; expected 0 to 100" ||
		return 1
	lab_nft "$node" delete chain netdev lab_loss "$iface" 2>/dev/null ||
		true
	[ "$percent" -gt 0 ] || return 0
	# "< 100" is out of numgen's range 0-99, so compare with "<=".
	lab_nft "$node" -f - <<-EOF
	table netdev lab_loss {
		chain $iface {
			type filter hook ingress device "$iface" \
				priority filter;
			meta protocol ip numgen random mod 100 \
				<= $((percent - 1)) drop
		}
	}
	EOF
}

lab_nat_port() {
	local entry
	entry=$(lab_conntrack "$1" -L -p udp --orig-port-src "$2" \
		--orig-port-dst "$3" 2>/dev/null) || return 1
	# The second dport is the reply direction's: the mapped port.
	[[ $entry =~ dport=[0-9]+\ .*dport=([0-9]+) ]] ||
		_lab_error "$1 has no UDP flow from port $2 to port $3" ||
		return 1
	printf '%s\n' "${BASH_REMATCH[1]}"
}

lab_sysctl() {
	local node=$1
	shift
	lab_exec "$node" sysctl -q -w "$@"
}

lab_udp_timeout() {
	lab_sysctl "$1" "net.netfilter.nf_conntrack_udp_timeout=$2" \
		"net.netfilter.nf_conntrack_udp_timeout_stream=${3:-$2}"
}

# --- building blocks ---------------------------------------------------------

# Creates NODE of KIND (internet, registry, router, gateway or pc).  The
# namespace is recorded before it exists, so an interrupted build still
# gets torn down.
_lab_node_add() {
	local node=$1 ns
	LAB_KIND[$node]=$2
	ns=$(lab_ns "$node")
	printf '%s\n' "$ns" >>"$LAB_DIR/namespaces"
	ip netns add "$ns" || return 1
	LAB_NODES+=("$node")
	ip -n "$ns" link set dev lo up || return 1
	lab_sysctl "$node" net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 || return 1
	case $2 in
	registry | pc) ;;
	*) lab_sysctl "$node" net.ipv4.ip_forward=1 || return 1 ;;
	esac
	# With br_netfilter loaded, bridged frames would pass the router's
	# forward filter, which drops traffic between its LAN hosts.
	[ "$2" != router ] ||
		lab_sysctl "$node" net.bridge.bridge-nf-call-iptables=0 \
			2>/dev/null || true
}

# Creates a veth pair: IF_A in NODE_A, IF_B in NODE_B, both up.  Each end
# is made inside its namespace, so nothing appears in the root one.
_lab_veth() {
	local ns_a ns_b
	ns_a=$(lab_ns "$1") && ns_b=$(lab_ns "$3") || return 1
	ip -n "$ns_a" link add name "$2" type veth \
		peer name "$4" netns "$ns_b" &&
		ip -n "$ns_a" link set dev "$2" up &&
		ip -n "$ns_b" link set dev "$4" up
}

# Links NODE's "wan" to the internet router point-to-point: NODE gets ADDR
# and a default route, the internet router ADDR's .254 and a /32 route.
_lab_uplink() {
	local node=$1 addr=$2 gw=${2%.*}.254
	_lab_veth internet "$node" "$node" wan &&
		ip -n "$(lab_ns internet)" addr add "$gw" peer "$addr" \
			dev "$node" &&
		ip -n "$(lab_ns "$node")" addr add "$addr" peer "$gw" dev wan &&
		ip -n "$(lab_ns "$node")" route add default via "$gw" ||
		return 1
	LAB_ADDR[$node/wan]=$addr
	LAB_ADDR[internet/$node]=$gw
	LAB_PUBLIC[$node]=$addr
}

# Plugs NODE's "wan" into ROUTER's LAN bridge with the next free address.
_lab_attach() {
	local router=$1 node=$2 net=${LAB_ROUTER_LAN[$1]} host addr
	host=$((LAB_ROUTER_HOSTS[$router] + 1))
	[ "$host" -lt 254 ] || _lab_error "$router's LAN is full" || return 1
	LAB_ROUTER_HOSTS[$router]=$host
	addr=$net.$host
	_lab_veth "$router" "$node" "$node" wan &&
		ip -n "$(lab_ns "$router")" link set dev "$node" master lan &&
		ip -n "$(lab_ns "$node")" addr add "$addr/24" dev wan &&
		ip -n "$(lab_ns "$node")" route add default via "$net.254" ||
		return 1
	LAB_ADDR[$node/wan]=$addr
	LAB_PUBLIC[$node]=${LAB_PUBLIC[$router]}
}

_lab_core() {
	_lab_known internet && return 0
	_lab_node_add internet internet &&
		_lab_node_add registry registry &&
		_lab_uplink registry "$LAB_REGISTRY"
}

# The NAT router's ruleset.  The forward policy is drop, so from "wan" only
# replies and ICMP errors about existing flows get through.  UDP from "wan"
# that matches no session reaches the router itself, which has no socket
# for it; the input chain only counts those datagrams, so the conntrack
# entry they leave behind stays, as on a real Linux router.
_lab_router_rules() {
	local random=
	[ "$2" = random ] && random=" random"
	lab_nft "$1" -f - <<-EOF
	table ip lab {
		chain postrouting {
			type nat hook postrouting priority srcnat;
			oifname "wan" masquerade$random
		}
		chain forward {
			type filter hook forward priority filter; policy drop;
			ct state established,related accept
			iifname "lan" oifname "wan" accept
		}
		chain input {
			type filter hook input priority filter; policy accept;
			iifname "wan" meta l4proto udp ct state new counter \
				comment "unsolicited UDP: no session matched"
		}
	}
	EOF
}

# Creates NAT router NAME doing KIND with the LAN bridge NET.0/24 (NET is
# three octets) at NET.254.  The caller links its "wan".
_lab_router_add() {
	local name=$1 kind=$2 net=$3 ns
	_lab_node_add "$name" router || return 1
	ns=$(lab_ns "$name")
	ip -n "$ns" link add name lan type bridge &&
		ip -n "$ns" link set dev lan up &&
		ip -n "$ns" addr add "$net.254/24" dev lan &&
		_lab_router_rules "$name" "$kind" || return 1
	LAB_ROUTER_LAN[$name]=$net
	LAB_ROUTER_HOSTS[$name]=0
}

# The next public NAT address: 192.0.2.73, .74 ... .253.
_lab_next_nat_wan() {
	local host=$((73 + LAB_ROUTERS + LAB_CARRIERS))
	[ "$host" -le 253 ] || _lab_error "out of NAT addresses" || return 1
	printf '192.0.2.%s\n' "$host"
}

# Creates ROUTER behind the internet unless it exists.
_lab_router_ensure() {
	local router=$1 kind=$2 wan
	_lab_known "$router" && return 0
	[ "$LAB_ROUTERS" -lt 256 ] || _lab_error "out of router LANs" ||
		return 1
	wan=$(_lab_next_nat_wan) || return 1
	_lab_router_add "$router" "$kind" "192.168.$LAB_ROUTERS" &&
		_lab_uplink "$router" "$wan" || return 1
	LAB_ROUTERS=$((LAB_ROUTERS + 1))
}

# Creates SITE-cgn behind the internet and SITE-nat behind it.
_lab_double_nat() {
	local site=$1 wan
	wan=$(_lab_next_nat_wan) || return 1
	_lab_router_add "$site-cgn" masquerade "172.16.$LAB_CARRIERS" &&
		_lab_uplink "$site-cgn" "$wan" || return 1
	LAB_CARRIERS=$((LAB_CARRIERS + 1))
	_lab_router_add "$site-nat" masquerade "192.168.$LAB_ROUTERS" &&
		_lab_attach "$site-cgn" "$site-nat" || return 1
	LAB_ROUTERS=$((LAB_ROUTERS + 1))
}

# The gateway's ruleset: its LAN leaves masqueraded, and nothing new
# enters the LAN from "wan".  Traffic from other interfaces (a tunnel)
# passes.
_lab_gateway_rules() {
	lab_nft "$1" -f - <<-EOF
	table ip lab {
		chain postrouting {
			type nat hook postrouting priority srcnat;
			oifname "wan" ip saddr $2 masquerade
		}
		chain forward {
			type filter hook forward priority filter; policy accept;
			iifname "wan" ct state established,related accept
			iifname "wan" drop
		}
	}
	EOF
}

# Gives gateway SITE its LAN 10.N.0.0/24 with SITE-pc on it.
_lab_site_lan() {
	local site=$1 n=$((LAB_SITES + 1)) pc=$1-pc
	[ "$n" -le 255 ] || _lab_error "out of site LANs" || return 1
	_lab_node_add "$pc" pc &&
		_lab_veth "$site" lan "$pc" eth0 &&
		ip -n "$(lab_ns "$site")" addr add "10.$n.0.1/24" dev lan &&
		ip -n "$(lab_ns "$pc")" addr add "10.$n.0.10/24" dev eth0 &&
		ip -n "$(lab_ns "$pc")" route add default via "10.$n.0.1" &&
		_lab_gateway_rules "$site" "10.$n.0.0/24" || return 1
	LAB_SITES=$n
	LAB_SITE_LAN[$site]=10.$n.0.0/24
	LAB_ADDR[$site/lan]=10.$n.0.1
	LAB_ADDR[$pc/eth0]=10.$n.0.10
	LAB_PUBLIC[$pc]=${LAB_PUBLIC[$site]}
}

# Builds one site from SITE KIND ROUTER, as checked by _lab_parse_word.
_lab_site_build() {
	local site=$1 kind=$2 router=$3
	_lab_node_add "$site" gateway || return 1
	case $kind in
	public)
		[ "$LAB_PUBLIC_HOSTS" -lt 253 ] ||
			_lab_error "out of public addresses" || return 1
		LAB_PUBLIC_HOSTS=$((LAB_PUBLIC_HOSTS + 1))
		_lab_uplink "$site" "198.51.100.$LAB_PUBLIC_HOSTS" ;;
	double)
		_lab_double_nat "$site" &&
			_lab_attach "$site-nat" "$site" ;;
	*)
		_lab_router_ensure "$router" "$kind" &&
			_lab_attach "$router" "$site" ;;
	esac || return 1
	LAB_SITE_ROUTER[$site]=$router
	_lab_site_lan "$site"
}

# --- the description ---------------------------------------------------------

# Checks one word SITE=KIND[@ROUTER] against the names planned so far
# (the associative array "planned": node name -> kind) and sets
# _lab_parsed to "SITE KIND ROUTER".
_lab_parse_word() {
	local re='^([a-z][a-z0-9]{0,10})=(public|masquerade|random|double)'
	re+='(@([a-z][a-z0-9-]{0,14}))?$'
	[[ $1 =~ $re ]] || _lab_error "invalid site '$1'; expected" \
		"NAME=public|masquerade|random|double[@ROUTER]" || return 1
	local site=${BASH_REMATCH[1]} kind=${BASH_REMATCH[2]}
	local router=${BASH_REMATCH[4]}
	case $kind:$router in
	public:?* | double:?*)
		_lab_error "'$1': a $kind site takes no @ROUTER"
		return 1 ;;
	public:) ;;
	*)
		router=${router:-$site-nat} ;;
	esac
	_lab_plan "$site" gateway && _lab_plan "$site-pc" pc || return 1
	case $kind in
	double) _lab_plan "$site-nat" router && _lab_plan "$site-cgn" router ;;
	public) ;;
	*) _lab_plan_router "$router" "$kind" ;;
	esac || return 1
	_lab_parsed="$site $kind $router"
}

_lab_plan() {
	[ -z "${planned[$1]:-}" ] || _lab_error "'$1' is used twice" ||
		return 1
	planned[$1]=$2
}

# A router may be shared, but only by sites of one kind.
_lab_plan_router() {
	case ${planned[$1]:-} in
	"") planned[$1]=router-$2 ;;
	router-"$2") ;;
	router-*) _lab_error "router '$1' cannot do both kinds" ;;
	*) _lab_error "'$1' is used twice" ;;
	esac
}

lab_build() {
	local words word plan= site kind router node _lab_parsed
	read -ra words <<<"${1-$LAB_SEED}"
	[ -n "${LAB_DIR:-}" ] || lab_init || return 1
	local -A planned=([internet]=x [registry]=x)
	for node in "${!LAB_KIND[@]}"; do
		planned[$node]=${LAB_KIND[$node]}
	done
	for word in "${words[@]}"; do
		_lab_parse_word "$word" || return 1
		plan+=$_lab_parsed$'\n'
	done
	_lab_core || return 1
	while read -r site kind router; do
		[ -n "$site" ] || continue
		_lab_site_build "$site" "$kind" "$router" || return 1
	done <<<"$plan"
}

# --- teardown ----------------------------------------------------------------

# Sends TERM to "PID START" if that process still runs, waits up to 2 s,
# then sends KILL, and reaps it if it is this shell's child.
_lab_kill_verified() {
	local pid=${1% *} start=${1#* } deadline=$((SECONDS + 2))
	[ "$start" != - ] || return 0
	if ! _lab_alive "$pid" "$start"; then
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	while _lab_alive "$pid" "$start" && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.05
	done
	_lab_alive "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

_lab_kill_recorded() {
	local line
	while read -r line; do
		_lab_kill_verified "$line"
	done <"$LAB_DIR/pids"
}

# Kills what still runs inside the lab's namespaces: children of spawned
# processes, or processes a test put in the background with lab_exec.
_lab_kill_in_namespaces() {
	local ns pid start
	while read -r ns; do
		[ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			start=$(_lab_start_time "$pid") &&
				_lab_kill_verified "$pid $start"
		done
	done <"$LAB_DIR/namespaces"
}

lab_teardown() {
	[ -n "${LAB_DIR:-}" ] && [ -d "$LAB_DIR" ] || return 0
	local ns
	_lab_kill_recorded
	_lab_kill_in_namespaces
	while read -r ns; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done <"$LAB_DIR/namespaces"
	rm -rf "$LAB_DIR"
	LAB_DIR=
	LAB_KIND=()
	return 0
}
