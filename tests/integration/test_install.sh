#!/usr/bin/env bash
# make install honours PREFIX and DESTDIR: everything lands under DESTDIR,
# the unit names the installed binary, and the installed daemon runs.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
dest=$(mktemp -d /tmp/outreach-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
make -s BUILD="$BUILD" install DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc >/dev/null
fail=0
for f in usr/sbin/outreachd usr/bin/outreachctl \
    etc/outreachd/outreachd.conf etc/outreachd/publishers.conf \
    usr/share/doc/outreachd/outreachd.conf.example \
    usr/share/man/man8/outreachd.8 usr/share/man/man1/outreachctl.1 \
    usr/share/man/man5/outreachd.conf.5 \
    usr/lib/systemd/system/outreachd.service \
    usr/lib/sysusers.d/outreachd.conf usr/lib/tmpfiles.d/outreachd.conf \
    etc/outreachd/templates/default/en.txt \
    etc/outreachd/templates/crisis/ar.html; do
	if [ ! -e "$dest/$f" ]; then
		echo "FAIL missing $f"
		fail=1
	fi
done
if grep -q "@SBINDIR@\|@SYSCONFDIR@" "$dest/usr/lib/systemd/system/outreachd.service"; then
	echo "FAIL placeholders left in the unit"
	fail=1
fi
grep -q "^ExecStart=/usr/sbin/outreachd -f /etc/outreachd/outreachd.conf" \
    "$dest/usr/lib/systemd/system/outreachd.service" ||
    { echo "FAIL ExecStart does not name the installed paths"; fail=1; }
"$dest/usr/sbin/outreachd" --version | grep -q "^outreachd " ||
    { echo "FAIL installed outreachd does not run"; fail=1; }
[ "$fail" -eq 0 ] && echo "install: ok"
exit "$fail"
