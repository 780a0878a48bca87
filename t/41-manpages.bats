#!/usr/bin/env bats
# The manual pages: mandoc finds nothing to warn about, man renders them,
# each program's SYNOPSIS is its usage message and its OPTIONS list every
# option, and avpn(7) keeps up with the exit codes, message types and
# record formats in common/.

bats_require_minimum_version 1.5.0

load helper

# Exit status of "PROGRAM -h": 0 where -h prints help on stdout, 2 where
# -h is an unknown option and getopt's error comes with the usage message
# on stderr.
declare -gA HELP_STATUS=(
	[avpn-keygen]=0
	[avpn-registry]=2
	[avpn-register]=2
	[avpn-peers]=2
	[avpn-punch]=2
	[avpn-tunnel]=2
)

setup() {
	setup_tmp
	cd "$AVPN_ROOT"
}

teardown() {
	teardown_tmp
}

# Prints the name of every program, one per line.
tools() {
	local dir
	for dir in cmd/*/; do
		dir=${dir%/}
		echo "${dir##*/}"
	done
}

# Prints the page of program $1.
page_of() {
	local page
	for page in man/"$1".1 man/"$1".8; do
		[ -f "$page" ] && echo "$page" && return 0
	done
	return 1
}

# Prints the usage message on stdin one word per line: from the line that
# starts with "usage:" through the lines that start with white space.
usage_words() {
	awk '/^usage:/ { on = 1; sub(/^usage:[ \t]*/, ""); print; next }
	     on && /^[ \t]/ { print; next }
	     on { exit }' | tr -s ' \t' '\n' | sed '/^$/d'
}

# Prints the rendered SYNOPSIS of page $1 one word per line.
synopsis_words() {
	mandoc -Tascii "$1" | sed 's/.\x08//g' |
		awk '/^SYNOPSIS/ { on = 1; next }
		     on && /^[^ \t]/ { exit }
		     on { print }' | tr -s ' \t' '\n' | sed '/^$/d'
}

# Prints the body of section $2 (".Sh $2") of page $1, source lines.
section_source() {
	awk -v name="$2" '$0 == ".Sh " name { on = 1; next }
			  on && /^\.Sh / { exit }
			  on { print }' "$1"
}

# Prints the body of subsection $2 (".Ss $2") of page $1, source lines.
subsection_source() {
	awk -v name="$2" '$0 == ".Ss " name { on = 1; next }
			  on && /^\.S[sh] / { exit }
			  on { print }' "$1"
}

# Runs "PROGRAM -h" and leaves its usage message in $usage_text.
program_usage() {
	local program=$1
	run --separate-stderr "$program" -h
	if [ "$status" -ne "${HELP_STATUS[$program]}" ]; then
		echo "$program -h exited $status, expected" \
			"${HELP_STATUS[$program]}" >&2
		return 1
	fi
	if [ "$status" -eq 0 ]; then
		usage_text=$output
	else
		usage_text=$stderr
	fi
	if ! grep -q '^usage:' <<<"$usage_text"; then
		echo "$program -h printed no usage line" >&2
		return 1
	fi
}

@test "every program has a page and a help status" {
	local tool
	for tool in $(tools); do
		page_of "$tool" >/dev/null ||
			{ echo "no page for $tool" >&2; return 1; }
		[ -n "${HELP_STATUS[$tool]:-}" ] ||
			{ echo "no HELP_STATUS for $tool" >&2; return 1; }
	done
}

@test "mandoc lint finds no warning" {
	local page
	for page in man/*.[1-8]; do
		run --separate-stderr mandoc -Tlint -Wwarning "$page"
		[ "$status" -eq 0 ] ||
			{ echo "$page: mandoc status $status" >&2; return 1; }
		[ -z "$output$stderr" ] ||
			{ echo "$page: $output$stderr" >&2; return 1; }
	done
}

@test "mandoc lint finds no style issue" {
	# A page that is not installed yet cannot be found by mandoc; the
	# references between avpn pages are checked in the next test.
	local page
	for page in man/*.[1-8]; do
		run --separate-stderr mandoc -Tlint -Wstyle "$page"
		output=$(printf '%s\n%s\n' "$output" "$stderr" |
			grep -v -e 'referenced manual not found' \
				-e 'outdated mandoc.db' | sed '/^$/d')
		[ -z "$output" ] || { echo "$output" >&2; return 1; }
	done
}

@test "SEE ALSO links every other page and wg" {
	local page other name section see
	for page in man/*.[1-8]; do
		see=$(section_source "$page" "SEE ALSO")
		for other in man/*.[1-8] wg.8 wireguard-go.8; do
			[ "$other" = "$page" ] && continue
			name=${other##*/}
			section=${name##*.}
			name=${name%.*}
			grep -q "^\.Xr $name $section" <<<"$see" || {
				echo "$page: SEE ALSO lacks $name($section)" >&2
				return 1
			}
		done
	done
}

@test "cross references name existing avpn pages" {
	local ref
	while read -r ref; do
		[ -f "man/$ref" ] || { echo "no page man/$ref" >&2; return 1; }
	done < <(grep -ho '\.Xr avpn[a-z-]* [1-8]' man/*.[1-8] |
		awk '{ print $2 "." $3 }' | sort -u)
}

@test "man renders every page" {
	local page name
	for page in man/*.[1-8]; do
		name=${page##*/}
		name=${name%.*}
		run --separate-stderr env MANWIDTH=80 man -P cat -l "$page"
		[ "$status" -eq 0 ] ||
			{ echo "$page: man status $status" >&2; return 1; }
		grep -q "^NAME" <<<"$output" ||
			{ echo "$page: no NAME section" >&2; return 1; }
		grep -q "^ *$name " <<<"$output" ||
			{ echo "$page: NAME lacks $name" >&2; return 1; }
	done
}

@test "program pages have the standard sections" {
	local page section
	for page in man/avpn-*.[1-8]; do
		for section in NAME SYNOPSIS DESCRIPTION FILES "EXIT STATUS" \
		    EXAMPLES "SEE ALSO" CAVEATS; do
			grep -qx "\.Sh $section" "$page" || {
				echo "$page: no $section section" >&2
				return 1
			}
		done
	done
}

@test "SYNOPSIS of each page is the usage message" {
	local tool page
	for tool in $(tools); do
		page=$(page_of "$tool")
		program_usage "$tool" || return 1
		diff -u <(usage_words <<<"$usage_text") \
			<(synopsis_words "$page") >&2 ||
			{ echo "$page: SYNOPSIS differs from usage" >&2; return 1; }
	done
}

@test "OPTIONS describe every option of the usage message" {
	local tool page option
	for tool in $(tools); do
		page=$(page_of "$tool")
		program_usage "$tool" || return 1
		for option in $(usage_words <<<"$usage_text" |
		    grep -o '^\[*-[A-Za-z0-9]' | tr -d '[' | sort -u); do
			grep -q "^\.It Fl ${option#-}\( \|$\)" "$page" || {
				echo "$page: no .It Fl ${option#-}" >&2
				return 1
			}
		done
	done
}

@test "avpn.7 lists every exit code of avpn.h" {
	local code exits
	exits=$(section_source man/avpn.7 "EXIT STATUS")
	for code in $(sed -n 's/^\tAVPN_EXIT_[A-Z_]* = \([0-9]*\),.*/\1/p' \
	    common/avpn.h); do
		grep -qx "\.It $code" <<<"$exits" ||
			{ echo "avpn.7: no exit code $code" >&2; return 1; }
	done
	[ -n "$code" ]
}

@test "avpn.7 lists every message type of proto.h" {
	local name value table count=0
	table=$(section_source man/avpn.7 "CONTROL PROTOCOL")
	while read -r name value; do
		grep -qx "\.It $value Cm $name" <<<"$table" || {
			echo "avpn.7: no row for $value $name" >&2
			return 1
		}
		count=$((count + 1))
	done < <(sed -n 's/^\tMSG_\([A-Z_]*\) = \(0x[0-9a-f]*\),.*/\1 \2/p' \
		common/proto.h)
	[ "$count" -ge 12 ]
}

@test "avpn.7 lists every error code of proto.h" {
	local value list count=0
	list=$(subsection_source man/avpn.7 "Error codes")
	while read -r value; do
		grep -qx "\.It $value" <<<"$list" || {
			echo "avpn.7: no error code $value" >&2
			return 1
		}
		count=$((count + 1))
	done < <(sed -n 's/^\tPERR_[A-Z_]* = \([0-9]*\),.*/\1/p' \
		common/proto.h)
	[ "$count" -ge 9 ]
}

@test "avpn.7 describes each field of the records" {
	local fields
	fields=$(subsection_source man/avpn.7 "Self record" |
		grep -c '^\.It [0-9]*\. ')
	[ "$fields" -eq "$(sed -n 's/^#define SELF_FIELDS //p' \
		common/state.h)" ]
	fields=$(subsection_source man/avpn.7 "Peer lines" |
		grep -c '^\.It [0-9]*\. ')
	[ "$fields" -eq "$(sed -n 's/^#define PEER_FIELDS //p' \
		common/state.h)" ]
	fields=$(subsection_source man/avpn.7 "Path lines" |
		grep -c '^\.It [0-9]*\. ')
	[ "$fields" -eq "$(sed -n 's/^#define PUNCH_PATH_FIELDS //p' \
		common/punch.h)" ]
}
