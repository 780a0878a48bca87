#!/usr/bin/env bats
# "make install" into a staging directory puts the programs, manual pages,
# completions and systemd units where a packager expects them, and
# "make uninstall" takes them all away again.

bats_require_minimum_version 1.5.0

load helper

setup() {
	setup_tmp
	STAGE=$TMP/stage
}

teardown() {
	teardown_tmp
}

# Runs make in the source tree with the test's build directory, staging
# into $STAGE with PREFIX=/usr.
make_stage() {
	make -C "$AVPN_ROOT" --no-print-directory BUILD="$AVPN_BUILD" \
		DESTDIR="$STAGE" PREFIX=/usr "$@"
}

# Prints the name of every program, one per line.
tools() {
	local dir
	for dir in "$AVPN_ROOT"/cmd/*/; do
		dir=${dir%/}
		echo "${dir##*/}"
	done
}

# Fails unless path $1 is a regular file of mode $2.
assert_file_mode() {
	[ -f "$1" ] || { echo "missing $1" >&2; return 1; }
	[ ! -L "$1" ] || { echo "$1 is a link" >&2; return 1; }
	[ "$(stat -c %a "$1")" = "$2" ] ||
		{ echo "$1: mode $(stat -c %a "$1"), expected $2" >&2; return 1; }
}

@test "install puts the programs in bin" {
	local tool
	run make_stage install
	[ "$status" -eq 0 ]
	for tool in $(tools); do
		assert_file_mode "$STAGE/usr/bin/$tool" 755
	done
}

@test "install puts each page in its section" {
	local page name
	run make_stage install
	[ "$status" -eq 0 ]
	for page in "$AVPN_ROOT"/man/*.[1-8]; do
		name=${page##*/}
		assert_file_mode "$STAGE/usr/share/man/man${name##*.}/$name" 644
		cmp "$page" "$STAGE/usr/share/man/man${name##*.}/$name"
	done
	[ -f "$STAGE/usr/share/man/man7/avpn.7" ]
	[ -f "$STAGE/usr/share/man/man1/avpn-keygen.1" ]
}

@test "install links the bash completion for every program" {
	local dir=$STAGE/usr/share/bash-completion/completions tool
	run make_stage install
	[ "$status" -eq 0 ]
	assert_file_mode "$dir/avpn" 644
	cmp "$AVPN_ROOT/completions/bash/avpn" "$dir/avpn"
	for tool in $(tools); do
		[ -L "$dir/$tool" ] || { echo "no link $dir/$tool" >&2; return 1; }
		[ "$(readlink "$dir/$tool")" = avpn ]
	done
}

@test "install puts the zsh completion in ZSHCOMPDIR" {
	run make_stage install
	[ "$status" -eq 0 ]
	assert_file_mode "$STAGE/usr/share/zsh/vendor-completions/_avpn" 644
	cmp "$AVPN_ROOT/completions/zsh/_avpn" \
		"$STAGE/usr/share/zsh/vendor-completions/_avpn"
}

@test "install writes units that name the installed programs" {
	local units=$STAGE/usr/lib/systemd/system
	run make_stage install
	[ "$status" -eq 0 ]
	assert_file_mode "$units/avpn-registry.service" 644
	assert_file_mode "$units/avpn-tunnel@.service" 644
	run grep -h '^ExecStart=' "$units/avpn-registry.service" \
		"$units/avpn-tunnel@.service"
	[ "${lines[0]}" = "ExecStart=/usr/bin/avpn-registry -k /etc/avpn/registry.key -a /etc/avpn/authorized-nodes -S /var/lib/avpn/registry.state" ]
	[ "${lines[1]}" = "ExecStart=/usr/bin/avpn-tunnel -k /etc/avpn/%i/key -i %i \$TUNNEL_OPTIONS /etc/avpn/%i/self /etc/avpn/%i/peers" ]
	run grep -l '@BINDIR@' "$units"/*
	[ "$status" -eq 1 ]
}

@test "installed units pass systemd-analyze verify" {
	local units=$STAGE/usr/lib/systemd/system unit
	run make_stage install
	[ "$status" -eq 0 ]
	# verify checks that ExecStart names an executable, so the copies
	# point at the staged programs.
	mkdir "$TMP/units"
	for unit in avpn-registry.service avpn-tunnel@.service; do
		sed "s|=/usr/bin/|=$STAGE/usr/bin/|" "$units/$unit" \
			>"$TMP/units/$unit"
	done
	ln -s avpn-tunnel@.service "$TMP/units/avpn-tunnel@avpn0.service"
	run --separate-stderr systemd-analyze verify --man=no \
		"$TMP/units/avpn-registry.service" \
		"$TMP/units/avpn-tunnel@avpn0.service"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "install honours BINDIR in the units" {
	run make_stage BINDIR=/opt/avpn/bin install
	[ "$status" -eq 0 ]
	[ -x "$STAGE/opt/avpn/bin/avpn-keygen" ]
	grep -q '^ExecStart=/opt/avpn/bin/avpn-registry ' \
		"$STAGE/usr/lib/systemd/system/avpn-registry.service"
}

@test "install twice succeeds" {
	run make_stage install
	[ "$status" -eq 0 ]
	run make_stage install
	[ "$status" -eq 0 ]
}

@test "uninstall removes every installed file" {
	run make_stage install
	[ "$status" -eq 0 ]
	[ -n "$(find "$STAGE" ! -type d)" ]
	run make_stage uninstall
	[ "$status" -eq 0 ]
	run find "$STAGE" ! -type d
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "uninstall of nothing succeeds" {
	run make_stage uninstall
	[ "$status" -eq 0 ]
}
