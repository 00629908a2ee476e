#!/bin/bash
# test_systemd.sh - offline checks of the systemd files in systemd/: the
# unit's hardening score (systemd-analyze security --offline, limit 1.5),
# its required settings, `systemd-analyze verify`, and the sysusers.d and
# tmpfiles.d files applied to a scratch root.  Needs no running systemd and
# changes nothing outside a temporary directory, which it removes.
# Exit 0 pass, 1 fail, 77 skip (systemd-analyze missing).
set -eu

limit=1.5

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd: systemd-analyze not installed, skipped"
	exit 77
fi

top=$(cd "$(dirname "$0")/../.." && pwd)
unit_src=$top/systemd/outreachd.service
sysusers_src=$top/systemd/outreachd.sysusers
tmpfiles_src=$top/systemd/outreachd.tmpfiles

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "systemd unit: FAIL: $*" >&2
	exit 1
}

# Like `make install`: the unit with its placeholders replaced.  The file
# name must stay outreachd.service, the unit's name.
install_unit() {	# SBINDIR DIR
	mkdir -p "$2"
	sed "s|@SBINDIR@|$1|g; s|@SYSCONFDIR@|/etc|g" "$unit_src" \
	    > "$2/outreachd.service"
	if grep -q '@[A-Z]*@' "$2/outreachd.service"; then
		fail "placeholder left after substitution"
	fi
}

for f in "$unit_src" "$sysusers_src" "$tmpfiles_src"; do
	[ -r "$f" ] || fail "$f missing"
done

# 1. Required settings (DESIGN.md 8), on the source with its placeholders.
need() {	# REGEX WHAT
	grep -Eq "$1" "$unit_src" || fail "unit lacks $2"
}
need '^Type=notify$' 'Type=notify'
need '^NotifyAccess=main$' 'NotifyAccess=main'
need '^ExecStart=@SBINDIR@/outreachd -f @SYSCONFDIR@/outreachd/outreachd\.conf$' \
    'ExecStart= with the placeholders'
need '^ExecStartPre=@SBINDIR@/outreachd -n -f @SYSCONFDIR@/outreachd/outreachd\.conf$' \
    'the config check in ExecStartPre='
# shellcheck disable=SC2016 # a literal $MAINPID
need '^ExecReload=/bin/kill -HUP \$MAINPID$' 'ExecReload= with kill -HUP'
need '^WatchdogSec=[1-9]' 'WatchdogSec='
need '^TimeoutStopSec=[1-9]' 'TimeoutStopSec='
need '^Restart=on-failure$' 'Restart=on-failure'
need '^User=outreachd$' 'User=outreachd'
need '^Group=outreachd$' 'Group=outreachd'
need '^LoadCredential=curve\.key:/etc/outreachd/credentials/curve\.key$' \
    'LoadCredential= for curve.key'
need '^StateDirectory=outreachd$' 'StateDirectory='
need '^StateDirectoryMode=0700$' 'StateDirectoryMode=0700'
need '^RuntimeDirectory=outreachd$' 'RuntimeDirectory='

# 2. systemd-analyze verify, with a stand-in executable so that only the
# unit is judged and man pages (not installed here) are not looked up.
# verify exits 0 even on unknown keys or bad values, so any output fails.
mkdir -p "$tmp/sbin"
printf '#!/bin/sh\nexit 0\n' > "$tmp/sbin/outreachd"
chmod 0755 "$tmp/sbin/outreachd"
install_unit "$tmp/sbin" "$tmp/verify"
rc=0
out=$(systemd-analyze verify --man=no "$tmp/verify/outreachd.service" 2>&1) ||
    rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	fail "systemd-analyze verify (exit $rc)"
fi

# 3. Exposure score.  --threshold takes tenths: 15 is 1.5.
install_unit /usr/local/sbin "$tmp/unit"
rc=0
out=$(systemd-analyze security --offline=yes --threshold=15 \
    "$tmp/unit/outreachd.service" 2>&1) || rc=$?
score=$(printf '%s\n' "$out" |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
if [ -z "$score" ]; then
	printf '%s\n' "$out" >&2
	fail "no exposure level in systemd-analyze output (exit $rc)"
fi
if grep -Eq 'Unknown key|Failed to parse|ignoring' <<<"$out"; then
	printf '%s\n' "$out" >&2
	fail "systemd-analyze security warned about the unit"
fi
tenths=${score/./}
tenths=$((10#$tenths))
limit_tenths=${limit/./}
if [ "$tenths" -gt "$limit_tenths" ] || [ "$rc" -ne 0 ]; then
	printf '%s\n' "$out" | grep '✗' >&2 || true
	fail "exposure $score above limit $limit (exit $rc)"
fi

# 4. sysusers.d: a dry run against an empty root writes nothing and must
# create the user outreachd and the group outreach-operators.
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/sysroot"
	rc=0
	out=$(systemd-sysusers --root="$tmp/sysroot" --dry-run - \
	    < "$sysusers_src" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || grep -Eq '^-:[0-9]+:' <<<"$out"; then
		printf '%s\n' "$out" >&2
		fail "systemd-sysusers rejects outreachd.sysusers (exit $rc)"
	fi
	grep -q "Creating user 'outreachd'" <<<"$out" ||
	    fail "sysusers does not create the user outreachd"
	grep -q "Creating group 'outreach-operators'" <<<"$out" ||
	    fail "sysusers does not create the group outreach-operators"
	if [ -n "$(ls -A "$tmp/sysroot")" ]; then
		fail "systemd-sysusers --dry-run wrote into its root"
	fi
else
	echo "systemd: systemd-sysusers not installed, sysusers check skipped" >&2
fi

# 5. tmpfiles.d: create into a scratch root; the credentials folder must
# come out 0700 root:root.  Without root, a user namespace stands in
# (unshare -r); without that either, this part is skipped.
tmpfiles_run() {	# ROOT; prints "MODE UID GID" of the folder
	systemd-tmpfiles --root="$1" --create - < "$tmpfiles_src" &&
	    stat -c '%a %u %g' "$1/etc/outreachd/credentials"
}
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	mkdir -p "$tmp/tmpfroot"
	rc=0
	if [ "$(id -u)" -eq 0 ]; then
		out=$(tmpfiles_run "$tmp/tmpfroot" 2>&1) || rc=$?
	elif unshare -r true 2>/dev/null; then
		export -f tmpfiles_run
		export tmpfiles_src
		# shellcheck disable=SC2016 # $1 is for the inner shell
		out=$(unshare -r bash -c 'tmpfiles_run "$1"' _ \
		    "$tmp/tmpfroot" 2>&1) || rc=$?
	else
		rc=-1
		echo "systemd: not root and no user namespace," \
		    "tmpfiles check skipped" >&2
	fi
	if [ "$rc" -ne -1 ]; then
		if [ "$rc" -ne 0 ] || [ "$out" != "700 0 0" ]; then
			printf '%s\n' "$out" >&2
			fail "systemd-tmpfiles: want '700 0 0' (exit $rc)"
		fi
	fi
else
	echo "systemd: systemd-tmpfiles not installed, tmpfiles check skipped" >&2
fi

echo "systemd unit: exposure $score (limit $limit) ok"
exit 0
