#!/bin/bash
# test_manpages.sh - the man pages in docs/: `mandoc -T lint -W warning`
# finds nothing in any of them, every verb `outreachctl --help` lists is an
# item (.It Cm VERB) of outreachctl.1, every option of the --help texts of
# outreachctl and of each verb (VERB --help) appears in outreachctl.1,
# and every option of `outreachd --help` appears in outreachd.8.  Binaries
# come from $BUILD (default build); a part whose binary is missing is
# skipped with a message.  Writes nothing.
# Exit 0 pass, 1 fail, 77 skip (mandoc missing).
set -u

if ! command -v mandoc >/dev/null 2>&1; then
	echo "man pages: mandoc not installed, skipped"
	exit 77
fi

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in
/*) ;;
*) build=$top/$build ;;
esac
docs=$top/docs
pages="outreachd.8 outreachctl.1 outreachd.conf.5"
failed=0

fail() {
	echo "FAIL $*"
	failed=1
}

for p in $pages; do
	if [ ! -f "$docs/$p" ]; then
		fail "$p: missing from docs/"
		continue
	fi
	out=$(mandoc -T lint -W warning "$docs/$p" 2>&1)
	rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		fail "lint $p (mandoc exit $rc):"
		printf '%s\n' "$out" | sed 's/^/    /'
	else
		echo "ok lint $p"
	fi
done

# The page as plain text on very long lines, so that no option is split
# at a line break or a hyphen; overstrikes (bold, underline) removed.
render() {
	mandoc -T ascii -O width=1000 "$docs/$1" 2>/dev/null | sed 's/.\x08//g'
}

# Options in a --help text: words starting with - or -- and a letter,
# at the start of a line or after a blank, '[', '|', ',' or '('.
options_of() {
	grep -oE '(^|[][ |,(])--?[A-Za-z][A-Za-z0-9-]*' |
	    sed -E 's/^[][ |,(]//' | sort -u
}

# Each option (stdin) must stand as a word of its own in the page text.
# Fed by redirection, not a pipe, so that fail() sets $failed here.
check_options() {	# PAGE WHAT
	local text opt n=0 miss=0
	text=$(render "$1")
	while read -r opt; do
		[ -n "$opt" ] || continue
		n=$((n + 1))
		if ! printf '%s\n' "$text" |
		    grep -qE -- "(^|[^[:alnum:]-])${opt}([^[:alnum:]-]|$)"; then
			fail "$1: option $opt of $2 is not documented"
			miss=1
		fi
	done
	if [ "$miss" -eq 0 ]; then
		echo "ok $1: the $n options of $2"
	fi
}

ctl=$build/outreachctl
if [ -x "$ctl" ]; then
	help=$("$ctl" --help 2>&1)
	verbs=$(printf '%s\n' "$help" |
	    awk '/^Verbs:/ {v = 1; next} v && /^$/ {exit} v {print $1}')
	if [ -z "$verbs" ]; then
		fail "no verbs found in outreachctl --help"
	fi
	miss=0
	for v in $verbs; do
		if ! grep -qE "^\.It Cm $v([[:space:]]|$)" "$docs/outreachctl.1"; then
			fail "outreachctl.1: verb $v has no item (.It Cm $v)"
			miss=1
		fi
	done
	if [ "$miss" -eq 0 ] && [ -n "$verbs" ]; then
		echo "ok outreachctl.1: verbs" $verbs
	fi
	check_options outreachctl.1 "outreachctl --help" \
	    < <(printf '%s\n' "$help" | options_of)
	for v in $verbs; do
		check_options outreachctl.1 "outreachctl $v --help" \
		    < <("$ctl" "$v" --help 2>&1 | options_of)
	done
else
	echo "skip outreachctl.1 against $ctl: not built (make $build/outreachctl)"
fi

d=$build/outreachd
if [ -x "$d" ]; then
	check_options outreachd.8 "outreachd --help" \
	    < <("$d" --help 2>&1 | options_of)
else
	echo "skip outreachd.8 against $d: not built (make $build/outreachd)"
fi

if [ "$failed" -ne 0 ]; then
	echo "man pages: FAILED"
	exit 1
fi
echo "man pages: ok"
exit 0
