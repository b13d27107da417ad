#!/bin/sh
# t-systemd - the systemd units, sysusers and tmpfiles files
#
# "systemd-analyze security --offline=yes" must rate each unit 2.0 or lower
# (the number after "Overall exposure level"); "systemd-analyze verify" must
# accept each unit once ExecStart points at the built program (verify insists
# that the binary exists); systemd-sysusers and systemd-tmpfiles must create
# the user and the directories with the right modes inside a scratch root.
# A missing systemd-analyze is a failure, not a skip.
. "$(dirname "$0")/lib/common.sh"

S=$TOP/systemd
MAX=2.0

for f in mxsyncd.service mxsync-agent.service mxsync.sysusers mxsync.tmpfiles; do
	[ -f "$S/$f" ] && ok "systemd/$f exists" || not_ok "systemd/$f exists"
done

if ! command -v systemd-analyze >/dev/null 2>&1; then
	not_ok "systemd-analyze is installed (Debian package systemd)"
	done_testing
fi

for u in mxsyncd mxsync-agent; do
	f=$S/$u.service
	run_rc systemd-analyze security --offline=yes "$f"
	level=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
	if [ -z "$level" ]; then
		not_ok "$u: systemd-analyze security printed an exposure level"
		printf '%s\n' "$OUT" | tail -n 5 | sed 's/^/#   /'
		continue
	fi
	if awk -v l="$level" -v m="$MAX" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
		ok "$u: exposure level $level <= $MAX"
	else
		not_ok "$u: exposure level $level <= $MAX"
		printf '%s\n' "$OUT" | grep '✗' | sed 's/^/#   /'
	fi

	if printf '%s\n' "$OUT" | grep -q 'ignoring'; then
		not_ok "$u: systemd parses every line"
		printf '%s\n' "$OUT" | grep 'ignoring' | sed 's/^/#   /'
	else
		ok "$u: systemd parses every line"
	fi

	# the settings the daemons rely on
	for want in "Type=notify" "WatchdogSec=60" "User=mxsync" \
		"ExecStart=/usr/sbin/$u run" 'ExecReload=/bin/kill -HUP $MAINPID' \
		"NoNewPrivileges=yes" "ProtectSystem=strict" "CapabilityBoundingSet=" \
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
		"SystemCallFilter=@system-service" "UMask=0027"; do
		if grep -qxF "$want" "$f"; then ok "$u: $want"; else not_ok "$u: $want"; fi
	done

	# verify: a copy whose ExecStart is the built program (or /bin/true)
	exe=$BIN/$u
	if [ ! -x "$exe" ]; then
		diag "$exe is not built; verifying with ExecStart=/bin/true"
		exe=/bin/true
	fi
	mkdir -p "$T_DIR/units"
	sed "s|^ExecStart=/usr/sbin/$u|ExecStart=$exe|" "$f" >"$T_DIR/units/$u.service"
	# --man=no: the pages named in Documentation= are not installed here
	run_rc systemd-analyze verify --man=no "$T_DIR/units/$u.service"
	if [ "$RC" = 0 ] && ! printf '%s\n' "$OUT" | grep -q "$u.service"; then
		ok "$u: systemd-analyze verify"
	else
		not_ok "$u: systemd-analyze verify (exit $RC)"
		printf '%s\n' "$OUT" | tail -n 10 | sed 's/^/#   /'
	fi
done

grep -q '^ReadWritePaths=/var/lib/mxsync$' "$S/mxsyncd.service" &&
	ok "mxsyncd writes only /var/lib/mxsync" || not_ok "mxsyncd writes only /var/lib/mxsync"
grep -q '^ReadWritePaths=/var/lib/mxsync-agent /run/mxsync$' "$S/mxsync-agent.service" &&
	ok "mxsync-agent writes only its state and /run/mxsync" ||
	not_ok "mxsync-agent writes only its state and /run/mxsync"

# an installed but unconfigured daemon is skipped, not failed
for c in "mxsyncd /etc/mxsync/syncd.conf" "mxsyncd /etc/mxsync/trusted_keys" \
	"mxsync-agent /etc/mxsync/agent.conf" "mxsync-agent /etc/mxsync/agent.key"; do
	set -- $c
	grep -qxF "ConditionPathExists=$2" "$S/$1.service" &&
		ok "$1 starts only once $2 exists" || not_ok "$1 starts only once $2 exists"
done

# sysusers and tmpfiles, applied to a scratch root
R=$T_DIR/root
mkdir -p "$R/etc" "$R/usr/lib/sysusers.d" "$R/usr/lib/tmpfiles.d"
cp "$S/mxsync.sysusers" "$R/usr/lib/sysusers.d/mxsync.conf"
cp "$S/mxsync.tmpfiles" "$R/usr/lib/tmpfiles.d/mxsync.conf"
if command -v systemd-sysusers >/dev/null 2>&1; then
	run_rc systemd-sysusers --root="$R"
	is "$RC" 0 "systemd-sysusers accepts mxsync.sysusers"
	pw=$(grep '^mxsync:' "$R/etc/passwd" 2>/dev/null)
	like "$pw" ":mxsync Postfix map sync:/var/lib/mxsync:" "sysusers: user mxsync, home /var/lib/mxsync"
	grep -q '^mxsync:' "$R/etc/group" && ok "sysusers: group mxsync" || not_ok "sysusers: group mxsync"
	uid=$(echo "$pw" | cut -d: -f3)
	run_rc systemd-tmpfiles --root="$R" --create
	is "$RC" 0 "systemd-tmpfiles accepts mxsync.tmpfiles"
	for d in "var/lib/mxsync 755" "var/lib/mxsync/state 750" "var/lib/mxsync/maps 755" \
		"var/lib/mxsync-agent 750" "run/mxsync 750"; do
		set -- $d
		is "$(stat -c '%a %u' "$R/$1" 2>/dev/null)" "$2 $uid" "tmpfiles: /$1 mode $2, owner mxsync"
	done
else
	not_ok "systemd-sysusers is installed"
fi

done_testing
