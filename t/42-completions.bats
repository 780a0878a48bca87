#!/usr/bin/env bats
# The bash and zsh completions: options come from each program's usage
# message, and arguments complete as files, interfaces or peer names by
# their name in that message.

bats_require_minimum_version 1.5.0

load helper

setup() {
	setup_tmp
	# shellcheck source=completions/bash/avpn
	source "$AVPN_ROOT/completions/bash/avpn"
	mkdir "$TMP/bin"
}

teardown() {
	teardown_tmp
}

# Completes the command line given as words, the last one being completed,
# and leaves the sorted candidates in $candidates, one per line.
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_avpn
	candidates=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort)
}

# Prints the name of every program, one per line.
tools() {
	local dir
	for dir in "$AVPN_ROOT"/cmd/*/; do
		dir=${dir%/}
		echo "${dir##*/}"
	done
}

# Prints its arguments sorted, one per line.
sorted() {
	printf '%s\n' "$@" | sort
}

# Writes a program $1 into $TMP/bin whose -h prints the usage in $2 on
# stderr and exits 2.
fake_program() {
	{
		echo '#!/bin/sh'
		echo "echo '$1: invalid option -- h' >&2"
		echo "cat >&2 <<'EOF'"
		printf '%s\n' "$2"
		echo EOF
		echo 'exit 2'
	} >"$TMP/bin/$1"
	chmod 0755 "$TMP/bin/$1"
}

@test "register options come from its usage" {
	complete_line avpn-register -
	[ "$candidates" = "$(sorted -k -r -R -s -p -b -e -o -t -v)" ]
}

@test "keygen options span both synopsis lines" {
	complete_line avpn-keygen -
	[ "$candidates" = "$(sorted -o -p)" ]
}

@test "option prefix narrows the candidates" {
	complete_line avpn-peers -o
	[ "$candidates" = "-o" ]
}

@test "key file option completes file names" {
	touch "$TMP/site.key" "$TMP/site.pub" "$TMP/other"
	complete_line avpn-register -k "$TMP/site."
	[ "$candidates" = "$(sorted "$TMP/site.key" "$TMP/site.pub")" ]
}

@test "numeric option completes nothing" {
	touch "$TMP/10"
	cd "$TMP"
	complete_line avpn-register -t 1
	[ -z "$candidates" ]
}

@test "SELF operand completes file names" {
	touch "$TMP/self" "$TMP/peers"
	complete_line avpn-peers -k "$TMP/site.key" -t 5 "$TMP/se"
	[ "$candidates" = "$TMP/self" ]
}

@test "operand after all operands completes nothing" {
	touch "$TMP/self"
	complete_line avpn-peers -k "$TMP/site.key" "$TMP/self" "$TMP/se"
	[ -z "$candidates" ]
}

@test "interface option completes interface names" {
	fake_program avpn-fake "usage: avpn-fake -k KEYFILE -i IFNAME SELF"
	PATH=$TMP/bin:$PATH
	complete_line avpn-fake -k "$TMP/site.key" -i l
	grep -qx lo <<<"$candidates"
	! grep -qv '^l' <<<"$candidates"
}

@test "program that is not installed completes nothing" {
	run complete_line avpn-nonexistent -
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "usage parser handles flags, groups and second lines" {
	fake_program avpn-fake "usage: avpn-fake -k KEYFILE [-sv] [-l ADDR[:PORT]]
                 [-i IFNAME] [-x] SELF [PEERS]
       avpn-fake -p
unrelated line -z"
	PATH=$TMP/bin:$PATH
	complete_line avpn-fake -
	[ "$candidates" = "$(sorted -k -s -v -l -i -x -p)" ]
	# -l takes ADDR[:PORT], which is not completed.
	touch "$TMP/self"
	complete_line avpn-fake -l "$TMP/s"
	[ -z "$candidates" ]
	# -x takes no argument, so the next word is the SELF operand.
	complete_line avpn-fake -x "$TMP/s"
	[ "$candidates" = "$TMP/self" ]
}

@test "peer argument completes names from the peers file" {
	local key=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq=
	fake_program avpn-fake "usage: avpn-fake [-n PEER] PEERS"
	PATH=$TMP/bin:$PATH
	printf 'hq\t%s\thub\n' "$key" >"$TMP/peers"
	printf 'hub2\t%s\thub\n' "$key" >>"$TMP/peers"
	printf '%s\thq\t198.51.100.1:38910\n' "$key" >"$TMP/paths"
	complete_line avpn-fake "$TMP/peers" -n h
	[ "$candidates" = "$(sorted hq hub2)" ]
	complete_line avpn-fake "$TMP/paths" -n h
	[ "$candidates" = hq ]
}

@test "bash completion is registered for every program" {
	local tool
	for tool in $(tools); do
		run complete -p "$tool"
		[ "$status" -eq 0 ] ||
			{ echo "no completion for $tool" >&2; return 1; }
		[ "$output" = "complete -F _avpn $tool" ]
	done
}

@test "zsh completion names every program" {
	local tool first
	first=$(head -n 1 "$AVPN_ROOT/completions/zsh/_avpn")
	for tool in $(tools); do
		grep -q " $tool\( \|$\)" <<<"$first" ||
			{ echo "#compdef lacks $tool" >&2; return 1; }
	done
}

@test "zsh completion parses as zsh" {
	run zsh -n "$AVPN_ROOT/completions/zsh/_avpn"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "zsh specs come from the usage message" {
	run --separate-stderr zsh -fc '
		autoload -U compinit && compinit -u -D -d "$1/zcompdump"
		source "$2" && _avpn_specs avpn-register' zsh "$TMP" \
		"$AVPN_ROOT/completions/zsh/_avpn"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "-k+[KEYFILE]:KEYFILE:_files" ]
	[ "${lines[1]}" = '-r+[HOST[:PORT\]]:HOST[\:PORT]:_hosts' ]
	[ "${lines[2]}" = "-R+[REGISTRY_PUBFILE]:REGISTRY_PUBFILE:_files" ]
	[ "${lines[9]}" = "-v" ]
	[ "${lines[10]}" = "::SELF:_files" ]
	[ "${#lines[@]}" -eq 11 ]
}

@test "bash and zsh parse usage messages alike" {
	local tool zsh_lines
	fake_program avpn-fake "usage: avpn-fake -k KEYFILE [-sv] [-l ADDR[:PORT]]
                 [-i IFNAME] [-x] SELF [PEERS]
       avpn-fake -p"
	PATH=$TMP/bin:$PATH
	for tool in avpn-fake $(tools); do
		zsh_lines=$(zsh -fc 'source "$1" 2>/dev/null
			timeout 2 "$2" -h </dev/null 2>&1 | _avpn_parse_usage' \
			zsh "$AVPN_ROOT/completions/zsh/_avpn" "$tool")
		[ -n "$zsh_lines" ] ||
			{ echo "zsh parsed nothing for $tool" >&2; return 1; }
		[ "$zsh_lines" = "$(_avpn_usage "$tool")" ] ||
			{ echo "bash and zsh differ for $tool" >&2; return 1; }
	done
}
