#!/bin/sh
# t-syncd-privsep - privileges and the process split of mxsyncd: started
# as root with -u, it binds and reads its key as root, then runs as the
# user and leaves nothing root-owned in state_dir or maps_dir; as root
# without -u, "run" and "apply" refuse another user's state_dir, and
# "apply -u" names its owner or is refused; the network process is
# sandboxed: an open() for writing (or reading) in state_dir, made inside
# it with gdb, fails, while the same call in the installer succeeds, and
# with "sandbox = none" succeeds in the network process too; when either
# process is killed the other ends (the installer with exit 75).
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

[ "$(id -u)" = 0 ] || { ok "# SKIP needs root"; done_testing; }
U=nobody
UID_U=$(id -u $U)
syncd_setup || done_testing
chown -R $U "$STATE" "$MAPS"
chmod 0755 "$S"
mkstate "$S/a" "example.com" "postmaster@example.com a@example.com"
snap a1 -k "$S/k1.key" -o $O1 -s 1 "$S/a"
mkstate "$S/a2" "example.com" "postmaster@example.com a@example.com b@example.com"
snap a2 -k "$S/k1.key" -o $O1 -s 2 "$S/a2"
"$MKSNAP" -k "$S/k1.key" -o $O1 -s 3 "$S/a2" "$S/a3.snap" >/dev/null
"$MKSNAP" -k "$S/k1.key" -o $O1 -s 4 "$S/a2" "$S/a4.snap" >/dev/null
chmod 0644 "$S/a3.snap" "$S/a4.snap"
rootowned() { find "$STATE" "$MAPS" -user root | sed "s|^$S/||" | tr '\n' ' '; }

# --- run as root without -u: refused, nothing created
run_rc "$MXSYNCD" -c "$S/syncd.conf" run
is "$RC" 2 "run as root, state_dir of $U, no -u: exit 2"
like "$OUT" "run as root: state_dir $STATE belongs to $U; run as that user or with -u $U" "... message"
is "$(rootowned)" "" "... nothing root-owned left"
check "... and no lock file" test ! -e "$STATE/.lock"

# --- run -u: as the user after binding; nothing root-owned
syncd_start -u $U
push a1
is "$CODE" 200 "run -u $U: a push is installed"
NET=$(pgrep -P "$SYNCD_PID" | head -n 1)
is "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$SYNCD_PID/status")" "$UID_U$UID_U$UID_U$UID_U" "run -u: the installer runs as $U"
is "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$NET/status")" "$UID_U$UID_U$UID_U$UID_U" "run -u: the network process runs as $U"
is "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$NET/status")" 1 "the network process has no_new_privs"
is "$(rootowned)" "" "run -u: nothing root-owned in state_dir or maps_dir"
is "$(stat -c %U "$STATE/.lock")" "$U" "run -u: state/.lock belongs to $U"

# gcall PID CALL - evaluate a C call inside process PID with gdb
gcall() {
	timeout 120 gdb -q -batch -p "$1" -ex "call (int)$2" \
		-ex 'call (int)*(int *)__errno_location()' 2>/dev/null |
		sed -n 's/^\$[0-9]* = //p' | tr '\n' ' '
}
if command -v gdb >/dev/null; then
	r=$(gcall "$NET" "open(\"$STATE/probe-net\", 65, 384)")
	like "$r" "-1 13" "network process: open(state_dir/probe, O_WRONLY|O_CREAT) fails with EACCES"
	check "... and nothing was created" test ! -e "$STATE/probe-net"
	r=$(gcall "$NET" "open(\"$MAPS/relay_recipients.cdb\", 1, 0)")
	like "$r" "-1 13" "network process: open(maps_dir/relay_recipients.cdb, O_WRONLY) fails with EACCES"
	r=$(gcall "$NET" "open(\"$STATE/.lock\", 0, 0)")
	like "$r" "-1 13" "network process: reading state_dir fails too"
	r=$(gcall "$SYNCD_PID" "open(\"$STATE/probe-inst\", 65, 384)")
	case "$r" in -1*) not_ok "installer: the same open succeeds ($r)" ;;
	*) ok "installer: the same open succeeds ($r)" ;; esac
	check "... creating the file" test -e "$STATE/probe-inst"
	rm -f "$STATE/probe-inst"
else
	not_ok "gdb is installed (tests/install-deps)"
fi
push a2
is "$CODE" 200 "after the probes a push is still installed"
syncd_stop
is "$(rootowned)" "" "after the stop: nothing root-owned"

# --- sandbox = none: the same probe in the network process succeeds
syncd_conf "sandbox = none"
syncd_start -u $U
NET=$(pgrep -P "$SYNCD_PID" | head -n 1)
if command -v gdb >/dev/null; then
	r=$(gcall "$NET" "open(\"$STATE/probe-net\", 65, 384)")
	case "$r" in -1*) not_ok "sandbox = none: the network process can write ($r)" ;;
	*) ok "sandbox = none: the network process can write ($r)" ;; esac
	rm -f "$STATE/probe-net"
fi
syncd_stop
syncd_conf

# --- when one process dies, the other follows
syncd_start -u $U
NET=$(pgrep -P "$SYNCD_PID" | head -n 1)
kill -9 "$NET"
check "the network process killed: the installer exits" wait_until 10 sh -c "! kill -0 $SYNCD_PID"
wait "$SYNCD_PID"
is "$?" 75 "... with exit 75 (systemd restarts it)"
like "$(tail -n 3 "$S/log")" "the network process ended" "... and says why"
syncd_start -u $U
NET=$(pgrep -P "$SYNCD_PID" | head -n 1)
kill -9 "$SYNCD_PID"
check "the installer killed: the network process exits" wait_until 10 sh -c "! kill -0 $NET"
check "... and the port is free again" wait_until 10 sh -c "! python3 -c \"import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1',$PORT)) != 0)\""
SYNCD_PID=""
is "$(rootowned)" "" "after the kills: nothing root-owned"

# --- apply as root
m0=$(maps_sum "$MAPS"); s0=$(state_sum)
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/a3.snap"
is "$RC" 2 "apply as root without -u: exit 2"
like "$OUT" "apply as root: state_dir $STATE belongs to $U; run as that user or with -u $U" "... message"
run_rc "$MXSYNCD" -c "$S/syncd.conf" -u daemon apply "$S/a3.snap"
is "$RC" 2 "apply -u daemon (not the owner): exit 2"
like "$OUT" "apply: -u daemon: state_dir $STATE belongs to uid $UID_U, not to daemon" "... message"
is "$(maps_sum "$MAPS")" "$m0" "refused applies: maps unchanged"
is "$(state_sum)" "$s0" "refused applies: state unchanged"
is "$(rootowned)" "" "refused applies: nothing root-owned"
run_rc "$MXSYNCD" -c "$S/syncd.conf" -u $U apply "$S/a3.snap"
is "$RC" 0 "apply -u $U: exit 0"
like "$OUT" "installed origin $O1 serial 3" "... installed"
is "$(rootowned)" "" "apply -u: nothing root-owned"
run_rc setpriv --reuid=$U --regid="$(id -g $U)" --clear-groups "$MXSYNCD" -c "$S/syncd.conf" -u root apply "$S/a4.snap"
is "$RC" 2 "apply -u root by $U: exit 2"
like "$OUT" "apply: -u root needs root" "... message"

# --- forget writes as apply does
m0=$(maps_sum "$MAPS")
run_rc "$MXSYNCD" -c "$S/syncd.conf" forget $O1
is "$RC" 2 "forget as root without -u: exit 2"
like "$OUT" "forget as root: state_dir $STATE belongs to $U" "... message"
is "$(maps_sum "$MAPS")" "$m0" "... maps unchanged"
run_rc "$MXSYNCD" -c "$S/syncd.conf" -u $U forget $O1
is "$RC" 0 "forget -u $U: exit 0"
is "$(rootowned)" "" "forget -u: nothing root-owned"

# --- root-owned state_dir: root may run and apply as before
chown -R root "$STATE" "$MAPS"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/a4.snap"
is "$RC" 0 "apply as root in root's own state_dir: exit 0"
done_testing
