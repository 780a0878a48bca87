# Shared set-up for the bats tests: the programs under test come first in
# PATH, every test gets its own temporary directory, and keys are made
# fresh per test.

AVPN_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
AVPN_BUILD=${AVPN_BUILD:-build}
case "$AVPN_BUILD" in
/*) ;;
*) AVPN_BUILD=$AVPN_ROOT/$AVPN_BUILD ;;
esac
PATH=$AVPN_BUILD/bin:$AVPN_BUILD/tools:$PATH
export PATH AVPN_ROOT AVPN_BUILD

setup_tmp() {
	TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/avpn-test.XXXXXX")
	chmod 0700 "$TMP"
}

teardown_tmp() {
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# Skips a test that needs root and network namespaces.  Under CI=true the
# test fails instead, because CI runs as root and must run every test.
require_netns() {
	if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
		if [ "${CI:-}" = true ]; then
			echo "this test needs root and iproute2, and CI must run it" >&2
			return 1
		fi
		skip "needs root and iproute2"
	fi
}

# Makes a key pair NAME.key (mode 0600) and NAME.pub in $TMP.
make_keypair() {
	avpn-keygen -o "$TMP/$1.key" || return 1
	avpn-keygen -p <"$TMP/$1.key" >"$TMP/$1.pub" || return 1
}

# Waits up to $2 seconds (default 5) until file $1 exists and is not empty.
wait_for_file() {
	local deadline=$((SECONDS + ${2:-5}))
	while [ ! -s "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}
