#!/bin/sh
# t-deb - the Debian packages, from "make deb" to "apt-get purge"
#
# Builds the packages with "make deb", runs lintian on them and on the
# source package (an E: or W: line fails), installs them with apt-get on this
# machine, and checks the mxsync user, the directories and their modes, the
# conffiles, the units (enabled, "systemd-analyze verify", exposure level at
# most 2.0, skipped by their conditions until the configuration exists), the
# man pages, the versions, and a key made by "mxsync-keys generate" as root.
# Then it builds a second version from the same tree with a new changelog
# entry, upgrades to it and checks that a conffile the administrator changed
# is kept, removes the packages (conffiles stay) and purges them: nothing of
# them is left.  The machine ends as it began: a user this test created is
# removed again.
#
# No systemd runs as PID 1 here, so the maintainer scripts' start, restart
# and stop (deb-systemd-invoke) are checked in the scripts, not live.
# Skipped, with the reason, where dpkg-buildpackage is missing (not Debian);
# the install part needs root.  One t-deb runs at a time per machine.
. "$(dirname "$0")/lib/common.sh"

PKGS="mxsync-common mxsyncd mxsync-agent"
MAX=2.0
export DEBIAN_FRONTEND=noninteractive
# a make that runs make check must not hand its jobserver to dpkg-buildpackage
unset MAKEFLAGS MFLAGS MAKELEVEL

# the packages are built by dpkg-buildpackage with Debian's own flags, not
# from the sanitizer build under test: the plain pass of .ci/run covers them
if [ -n "${SAN:-}" ]; then
	echo "ok 1 # SKIP the packages do not use the SAN=$SAN build; tested in the plain pass"
	echo "1..1"
	exit 0
fi
if ! command -v dpkg-buildpackage >/dev/null 2>&1; then
	echo "ok 1 # SKIP dpkg-buildpackage is not installed (Debian package dpkg-dev): no Debian packages to test"
	echo "1..1"
	exit 0
fi
for c in lintian dh apt-get systemd-analyze; do
	command -v "$c" >/dev/null 2>&1 && continue
	not_ok "$c is installed (tests/install-deps)"
	done_testing
done

# one t-deb per machine: it installs and purges system packages
# (a lock on the directory /run/lock itself, so that no lock file is left)
if [ -d /run/lock ]; then exec 9</run/lock; else exec 9<"$T_DIR"; fi
if ! flock -w 600 9; then
	not_ok "another t-deb.sh ended within 600 s (flock on /run/lock)"
	done_testing
fi

now() { date +%s; }
elapsed() { echo $(($(now) - $1)); }

# --- build -----------------------------------------------------------------
B=$T_DIR/build
t0=$(now)
run_rc make -C "$TOP" -s deb BUILD="$B"
BUILD_SECS=$(elapsed "$t0")
is "$RC" 0 "make deb exits 0 (${BUILD_SECS}s)"
[ "$RC" = 0 ] || { printf '%s\n' "$OUT" | tail -n 30 | sed 's/^/#   /'; done_testing; }
VERSION=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
for p in $PKGS; do
	check "$p ${VERSION} built into build/deb/" test -s "$B/deb/${p}_${VERSION}_$ARCH.deb"
	check "$p debug symbols in build/deb/dbgsym/" test -s "$B/deb/dbgsym/$p-dbgsym_${VERSION}_$ARCH.deb"
done
n=$(ls "$B"/deb/*.deb | wc -l)
is "$n" 3 "build/deb/*.deb holds the three packages, nothing else"
is "$(ls "$B")" deb "make deb leaves nothing but build/deb/"
check "the source tree got no build files" test ! -e "$TOP/debian/build"

DEBS=""
for p in $PKGS; do DEBS="$DEBS $B/deb/${p}_${VERSION}_$ARCH.deb"; done

# control fields
f() { dpkg-deb -f "$B/deb/${1}_${VERSION}_$ARCH.deb" "$2"; }
like "$(f mxsyncd Depends)" "mxsync-common (= $VERSION)" "mxsyncd depends on mxsync-common of its version"
like "$(f mxsyncd Depends)" "libmicrohttpd" "mxsyncd: library Depends come from shlibs"
is "$(f mxsyncd Recommends)" "postfix-cdb" "mxsyncd recommends postfix-cdb"
like "$(f mxsync-agent Depends)" "libmariadb" "mxsync-agent: the MySQL client library from shlibs"
is "$(f mxsync-agent Suggests)" "postfix-mysql" "mxsync-agent suggests postfix-mysql"
like "$(f mxsync-common Depends)" "systemd | systemd-standalone-sysusers" "mxsync-common depends on a sysusers implementation"

# --- lintian ---------------------------------------------------------------
t0=$(now)
# shellcheck disable=SC2086
LOUT=$(lintian $DEBS 2>&1)
bad=$(printf '%s\n' "$LOUT" | grep '^[EW]: ')
if [ -z "$bad" ]; then ok "lintian on the packages: no error, no warning"; else
	not_ok "lintian on the packages: no error, no warning"
	printf '%s\n' "$bad" | sed 's/^/#   /'
fi
# the source package: debian/copyright, debian/control, debian/rules
S=$T_DIR/src
mkdir -p "$S/mxsync"
(cd "$TOP" && tar -cf - --exclude=./.git --exclude='./build*' --exclude="./$BUILD" .) |
	tar -xf - -C "$S/mxsync"
run_rc sh -c "cd '$S' && dpkg-source -b mxsync"
is "$RC" 0 "dpkg-source builds the source package"
LOUT=$(lintian "$S"/mxsync_"$VERSION".dsc 2>&1)
bad=$(printf '%s\n' "$LOUT" | grep '^[EW]: ')
if [ -z "$bad" ]; then ok "lintian on the source package: no error, no warning"; else
	not_ok "lintian on the source package: no error, no warning"
	printf '%s\n' "$bad" | sed 's/^/#   /'
fi
LINT_SECS=$(elapsed "$t0")
diag "lintian took ${LINT_SECS}s"
# every override says why
for o in "$TOP"/debian/*.lintian-overrides "$TOP"/debian/source/lintian-overrides; do
	[ -f "$o" ] || continue
	uncommented=$(awk '/^#/ { c = 1; next } /^[ \t]*$/ { next } { if (!c) print; c = 0 }' "$o")
	is "$uncommented" "" "$(basename "$o"): each override has a comment above it"
done

if [ "$(id -u)" != 0 ]; then
	diag "not root: install, upgrade and purge not tested"
	done_testing
fi

# --- the machine before ------------------------------------------------------
installed() { # PKG - installed, or removed with its conffiles left
	st=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != not-installed ]
}
clean_before=1
for p in $PKGS; do installed "$p" && clean_before=0; done
for d in /etc/mxsync /var/lib/mxsync /var/lib/mxsync-agent; do [ -e "$d" ] && clean_before=0; done
if [ "$clean_before" = 0 ]; then
	not_ok "this machine has no mxsync installation to lose (packages or /etc/mxsync, /var/lib/mxsync)"
	done_testing
fi
ok "this machine has no mxsync packages or configuration"
had_user=0; getent passwd mxsync >/dev/null && had_user=1
had_group=0; getent group mxsync >/dev/null && had_group=1
had_run=0; [ -e /run/mxsync ] && had_run=1

APT="apt-get -y -q -o DPkg::Lock::Timeout=300"
# whatever happens below, the machine ends as it began
SPID=""
t_deb_restore() {
	# on_exit runs before tracked pids are stopped: mxsyncd goes first
	[ -z "$SPID" ] || stop_pid "$SPID"
	for p in $PKGS; do
		installed "$p" && $APT purge $PKGS >/dev/null 2>&1 && break
	done
	[ "$had_run" = 1 ] || rm -rf /run/mxsync
	[ "$had_user" = 1 ] || ! getent passwd mxsync >/dev/null || userdel mxsync 2>/dev/null
	[ "$had_group" = 1 ] || ! getent group mxsync >/dev/null || groupdel mxsync 2>/dev/null
}
on_exit t_deb_restore

# --- install -----------------------------------------------------------------
t0=$(now)
# as the README says: apt install ./build/deb/*.deb
run_rc $APT install "$B"/deb/*.deb
INSTALL_SECS=$(elapsed "$t0")
is "$RC" 0 "apt-get install ./build/deb/*.deb exits 0 (${INSTALL_SECS}s)"
[ "$RC" = 0 ] || { printf '%s\n' "$OUT" | tail -n 30 | sed 's/^/#   /'; done_testing; }
for p in $PKGS; do
	is "$(dpkg-query -W -f='${Status} ${Version}' "$p")" "install ok installed $VERSION" "$p $VERSION is installed"
done

# user and directories
pw=$(getent passwd mxsync)
like "$pw" ":/var/lib/mxsync:/usr/sbin/nologin" "user mxsync, home /var/lib/mxsync, no login shell"
uid=$(echo "$pw" | cut -d: -f3)
[ -n "$uid" ] && [ "$uid" -lt 1000 ] && ok "mxsync is a system user (uid $uid)" || not_ok "mxsync is a system user (uid $uid)"
check "group mxsync" getent group mxsync
for d in "/var/lib/mxsync 755 mxsync:mxsync" "/var/lib/mxsync/state 750 mxsync:mxsync" \
	"/var/lib/mxsync/maps 755 mxsync:mxsync" "/var/lib/mxsync-agent 750 mxsync:mxsync" \
	"/run/mxsync 750 mxsync:mxsync" "/etc/mxsync 755 root:root" "/etc/mxsync/tls 755 root:root"; do
	set -- $d
	is "$(stat -c '%a %U:%G' "$1" 2>&1)" "$2 $3" "$1: mode $2, $3"
done

# conffiles
is "$(dpkg-query -W -f='${Conffiles}' mxsyncd | awk 'NF { print $1 }')" "/etc/mxsync/syncd.conf" \
	"mxsyncd's conffile is /etc/mxsync/syncd.conf"
is "$(dpkg-query -W -f='${Conffiles}' mxsync-agent | awk 'NF { print $1 }')" "/etc/mxsync/agent.conf" \
	"mxsync-agent's conffile is /etc/mxsync/agent.conf"
for c in syncd.conf agent.conf; do
	is "$(stat -c '%a %U:%G' /etc/mxsync/$c 2>&1)" "644 root:root" "/etc/mxsync/$c: mode 644, root"
	check "/etc/mxsync/$c is the example" cmp /etc/mxsync/$c "$TOP/examples/$c"
done

# programs and man pages
for p in /usr/sbin/mxsyncd /usr/sbin/mxsync-agent /usr/bin/mxsync-keys; do
	run_rc "$p" --version
	is "$RC $OUT" "0 $(basename "$p") ${VERSION%%[-+]*}" "$(basename "$p") --version matches the package version"
done
for m in "8 mxsyncd" "8 mxsync-agent" "1 mxsync-keys" "5 mxsync.conf"; do
	set -- $m
	is "$(man -w "$1" "$2" 2>&1)" "/usr/share/man/man$1/$2.$1.gz" "man $1 $2 is installed"
	run_rc sh -c "MANWIDTH=80 man $1 $2 2>&1 >/dev/null"
	is "$RC $OUT" "0 " "man $1 $2 renders without a message"
done

# units
for u in mxsyncd mxsync-agent; do
	f=/lib/systemd/system/$u.service
	check "$u.service installed" test -s "$f"
	is "$(readlink "/etc/systemd/system/multi-user.target.wants/$u.service")" "$f" "$u.service is enabled"
	is "$(systemctl is-enabled "$u.service" 2>&1)" enabled "systemctl is-enabled $u: enabled"
	run_rc systemd-analyze verify "$f"
	if [ "$RC" = 0 ] && ! printf '%s\n' "$OUT" | grep -q "$u.service"; then
		ok "$u: systemd-analyze verify of the installed unit (man pages too)"
	else
		not_ok "$u: systemd-analyze verify of the installed unit (exit $RC)"
		printf '%s\n' "$OUT" | tail -n 10 | sed 's/^/#   /'
	fi
	run_rc systemd-analyze security --offline=yes "$f"
	level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
	if [ -n "$level" ] && awk -v l="$level" -v m="$MAX" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
		ok "$u: exposure level $level <= $MAX"
	else
		not_ok "$u: exposure level '$level' <= $MAX"
	fi
done

# the maintainer scripts start on install, restart on upgrade, stop on remove
pi=/var/lib/dpkg/info
for u in mxsyncd mxsync-agent; do
	check "$u postinst: restart on upgrade, start on install" \
		grep -q "_dh_action=restart" "$pi/$u.postinst"
	check "$u postinst: through deb-systemd-invoke, only under systemd" \
		grep -q "if \[ -d /run/systemd/system \]" "$pi/$u.postinst"
	check "$u prerm: stop on remove" grep -q "deb-systemd-invoke stop '$u.service'" "$pi/$u.prerm"
done

# conditions: "systemctl status" reports what systemd-analyze condition says
conds() { sed -n 's/^\(Condition[A-Za-z]*=.*\)/\1/p' "/lib/systemd/system/$1.service"; }
unit_conds() { # UNIT - evaluate every Condition line of the installed unit
	set -- $(conds "$1")
	systemd-analyze condition "$@" 2>&1
}
is "$(conds mxsyncd | tr '\n' ' ')" "ConditionPathExists=/etc/mxsync/syncd.conf ConditionPathExists=/etc/mxsync/trusted_keys " \
	"mxsyncd waits for syncd.conf and trusted_keys"
is "$(conds mxsync-agent | tr '\n' ' ')" "ConditionPathExists=/etc/mxsync/agent.conf ConditionPathExists=/etc/mxsync/agent.key " \
	"mxsync-agent waits for agent.conf and agent.key"
OUT=$(unit_conds mxsyncd); RC=$?
is "$RC" 1 "mxsyncd: not configured yet, so its start is skipped"
like "$OUT" "ConditionPathExists=/etc/mxsync/trusted_keys failed" "... naming the missing trusted_keys"
OUT=$(unit_conds mxsync-agent); RC=$?
is "$RC" 1 "mxsync-agent: no key yet, so its start is skipped"
like "$OUT" "ConditionPathExists=/etc/mxsync/agent.key failed" "... naming the missing agent.key"

# a key made by root that the agent's user can read, and nobody else
run_rc mxsync-keys generate -o /etc/mxsync/agent.key -c mx1.example.com
is "$RC" 0 "mxsync-keys generate as root exits 0"
PUB=$OUT
is "$(stat -c '%a %U:%G' /etc/mxsync/agent.key)" "640 root:mxsync" "the key is mode 640, root, group mxsync"
AS_MXSYNC="setpriv --reuid=mxsync --regid=mxsync --init-groups"
as_mxsync() { $AS_MXSYNC "$@"; }
run_rc as_mxsync mxsync-keys public /etc/mxsync/agent.key
is "$RC $OUT" "0 $PUB" "user mxsync loads the key"
cp -p /etc/mxsync/agent.key "$T_DIR/k644"; chmod 644 "$T_DIR/k644"
run_rc mxsync-keys public "$T_DIR/k644"
is "$RC" 1 "a world-readable key (644, group mxsync) is refused: exit 1"
like "$OUT" "key file $T_DIR/k644 is readable by group or others (mode 0644); chmod 600 $T_DIR/k644" \
	"... with its message"
cp -p /etc/mxsync/agent.key "$T_DIR/k640"; chgrp root "$T_DIR/k640"; chmod 640 "$T_DIR/k640"
run_rc mxsync-keys public "$T_DIR/k640"
is "$RC" 1 "a key readable by group root (640) is refused: exit 1"
like "$OUT" "or chgrp mxsync $T_DIR/k640" "... naming the group it may have"
OUT=$(unit_conds mxsync-agent); RC=$?
is "$RC" 0 "mxsync-agent: with agent.conf and the key, its conditions hold"
printf '%s\n' "$PUB" | mxsync-keys trusted-line -o mx1.example.com - example.com \
	>/etc/mxsync/trusted_keys
OUT=$(unit_conds mxsyncd); RC=$?
is "$RC" 0 "mxsyncd: with syncd.conf and trusted_keys, its conditions hold"

# --- the README's quickstart on the installed packages ---------------------
# the key and trusted_keys are made above; TLS as the README makes it, with
# the name this test connects to; then one edit in each config
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout /etc/mxsync/tls/key.pem -out /etc/mxsync/tls/cert.pem >/dev/null 2>&1
chgrp mxsync /etc/mxsync/tls/key.pem && chmod 640 /etc/mxsync/tls/key.pem
PIN=sha256//$(openssl pkey -in /etc/mxsync/tls/key.pem -pubout -outform DER |
	openssl dgst -sha256 -binary | openssl base64)
PORT=$(free_port)
sed -i "s|^listen *=.*|listen       = 127.0.0.1:$PORT|" /etc/mxsync/syncd.conf
PF=$T_DIR/pf
mkdir -p "$PF"
printf 'example.com OK\n' >"$PF/virtual_mailbox_domains"
printf 'alice@example.com x\npostmaster@example.com x\nabuse@example.com x\n' \
	>"$PF/virtual_mailbox_maps"
printf 'info@example.com alice@example.com\n' >"$PF/virtual_alias_maps"
sed -i -e "s|/etc/postfix/|$PF/|g" \
	-e "s|^url .*|url     = https://127.0.0.1:$PORT/|" \
	-e "s|^ca_file .*|pinned_pubkey = $PIN|" /etc/mxsync/agent.conf

run_rc as_mxsync mxsyncd check-config
is "$RC" 0 "mxsyncd check-config as mxsync, on the edited example"
[ "$RC" = 0 ] || diag "$OUT"
run_rc as_mxsync mxsync-agent check-config
is "$RC" 0 "mxsync-agent check-config as mxsync, on the edited example"
[ "$RC" = 0 ] || diag "$OUT"
# what the unit runs, as the user it runs as (setpriv execs: $! is mxsyncd)
$AS_MXSYNC /usr/sbin/mxsyncd run >"$T_DIR/mxsyncd.log" 2>&1 &
SPID=$!
track_pid $SPID
if wait_port "$PORT" 20; then ok "mxsyncd listens on 127.0.0.1:$PORT"; else
	not_ok "mxsyncd listens on 127.0.0.1:$PORT"; sed 's/^/#   /' "$T_DIR/mxsyncd.log"; fi
run_rc as_mxsync mxsync-agent push
is "$RC" 0 "mxsync-agent push to the backup exits 0"
[ "$RC" = 0 ] || diag "$OUT"
for a in alice@example.com info@example.com; do
	run_rc mxsyncd check "$a"
	is "$RC" 0 "the backup accepts $a"
done
run_rc mxsyncd check nobody@example.com
is "$RC" 1 "the backup rejects nobody@example.com"
cp /usr/share/postfix/main.cf.debian "$PF/main.cf"
is "$(postmap -c "$PF" -q alice@example.com "unionmap:{$(rr_maps /var/lib/mxsync/maps)}" 2>&1)" OK \
	"Postfix reads alice@example.com from the installed maps"
is "$(stat -c '%a %U' /var/lib/mxsync/maps/relay_recipients-00.cdb 2>&1)" "644 mxsync" \
	"the maps are mode 644, made by mxsync"
stop_pid $SPID
MAPS_SUM=$(maps_sum /var/lib/mxsync/maps)
# the agent's config goes back to the shipped one, to see an upgrade replace it
cp "$TOP/examples/agent.conf" /etc/mxsync/agent.conf

# --- upgrade -----------------------------------------------------------------
SYNCD_SUM=$(sha /etc/mxsync/syncd.conf)
KEY_SUM=$(sha /etc/mxsync/agent.key)
V2=${VERSION}+t1
# the next version: the same tree with a new changelog entry and one more
# line in the example agent.conf, built by make deb as well
C=$S/mxsync
{
	printf 'mxsync (%s) unstable; urgency=medium\n\n' "$V2"
	printf '  * A later build, to test upgrades.\n\n'
	printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$C/debian/changelog" -S Maintainer)" "$(date -R)"
	cat "$C/debian/changelog"
} >"$T_DIR/changelog" && mv "$T_DIR/changelog" "$C/debian/changelog"
echo "# a line the next version adds" >>"$C/examples/agent.conf"
t0=$(now)
run_rc make -C "$C" -s deb BUILD="$T_DIR/build2"
REBUILD_SECS=$(elapsed "$t0")
is "$RC" 0 "version $V2 builds (${REBUILD_SECS}s)"
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'
DEBS2=""
for p in $PKGS; do DEBS2="$DEBS2 $T_DIR/build2/deb/${p}_${V2}_$ARCH.deb"; done
run_rc $APT install "$T_DIR"/build2/deb/*.deb
is "$RC" 0 "apt-get install of $V2 (an upgrade) exits 0"
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'
for p in $PKGS; do
	is "$(dpkg-query -W -f='${Status} ${Version}' "$p")" "install ok installed $V2" "$p upgraded to $V2"
done
is "$(sha /etc/mxsync/syncd.conf)" "$SYNCD_SUM" "the administrator's syncd.conf is kept"
is "$(tail -n 1 /etc/mxsync/agent.conf)" "# a line the next version adds" \
	"the unchanged agent.conf is replaced by the new version's"
is "$(sha /etc/mxsync/agent.key)" "$KEY_SUM" "the agent's key is kept"
is "$(ls /etc/mxsync | grep -c 'dpkg-')" 0 "no .dpkg-dist or .dpkg-old files: nothing asked"
is "$(getent passwd mxsync | cut -d: -f3)" "$uid" "user mxsync keeps its uid"
is "$(maps_sum /var/lib/mxsync/maps)" "$MAPS_SUM" "the maps survive the upgrade"
run_rc mxsyncd check alice@example.com
is "$RC" 0 "after the upgrade the backup still accepts alice@example.com"
for u in mxsyncd mxsync-agent; do
	is "$(systemctl is-enabled "$u.service" 2>&1)" enabled "$u.service still enabled"
done

# --- remove, then purge ----------------------------------------------------
# shellcheck disable=SC2086
run_rc $APT remove $PKGS
is "$RC" 0 "apt-get remove exits 0"
for p in $PKGS; do
	is "$(dpkg-query -W -f='${db:Status-Status}' "$p")" config-files "$p removed, its configuration kept"
done
check "remove keeps /etc/mxsync/syncd.conf" test -f /etc/mxsync/syncd.conf
check "remove takes the programs away" test ! -e /usr/sbin/mxsyncd
# shellcheck disable=SC2086
run_rc $APT purge $PKGS
is "$RC" 0 "apt-get purge exits 0"
for p in $PKGS; do
	installed "$p" && not_ok "$p purged" || ok "$p purged"
done
for d in /etc/mxsync /var/lib/mxsync /var/lib/mxsync-agent /run/mxsync \
	/etc/systemd/system/multi-user.target.wants/mxsyncd.service \
	/etc/systemd/system/multi-user.target.wants/mxsync-agent.service \
	/var/lib/systemd/deb-systemd-helper-enabled/mxsyncd.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-enabled/mxsync-agent.service.dsh-also; do
	check "purge leaves no $d" test ! -e "$d"
done
left=""
for deb in $DEBS2; do
	for p in $(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|'); do
		case "$p" in */) continue ;; esac
		[ -e "$p" ] && left="$left $p"
	done
done
is "$left" "" "no file of the packages is left"

t_deb_restore
if [ "$had_user" = 0 ]; then
	check "the mxsync user this test made is gone" sh -c '! getent passwd mxsync'
	check "the mxsync group this test made is gone" sh -c '! getent group mxsync'
fi
diag "make deb ${BUILD_SECS}s, lintian ${LINT_SECS}s, install ${INSTALL_SECS}s, make deb of $V2 ${REBUILD_SECS}s"
done_testing
