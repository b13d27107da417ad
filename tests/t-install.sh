# t-install.sh - make install with PREFIX and DESTDIR: programs, man pages,
# units pointing at the installed programs, sysusers/tmpfiles snippets, and
# example configs that never overwrite an administrator's files.
. "$(dirname "$0")/lib/common.sh"

D=$T_DIR/root
run_rc make -C "$TOP" -s install BUILD="$BUILD" DESTDIR="$D" PREFIX=/opt/mx SYSCONFDIR=/etc
is "$RC" 0 "make install exits 0"
for f in /opt/mx/bin/mxsync-keys /opt/mx/sbin/mxsyncd /opt/mx/sbin/mxsync-agent; do
	check "$f installed and executable" test -x "$D$f"
done
for f in man1/mxsync-keys.1 man5/mxsync.conf.5 man8/mxsyncd.8 man8/mxsync-agent.8; do
	check "man page $f installed" test -s "$D/opt/mx/share/man/$f"
done
for u in mxsyncd mxsync-agent; do
	got=$(sed -n 's/^ExecStart=//p' "$D/opt/mx/lib/systemd/system/$u.service")
	like "$got" "/opt/mx/sbin/$u run" "$u.service starts the installed program"
done
check "sysusers.d snippet" test -s "$D/opt/mx/lib/sysusers.d/mxsync.conf"
check "tmpfiles.d snippet" test -s "$D/opt/mx/lib/tmpfiles.d/mxsync.conf"
check "example syncd.conf installed" test -s "$D/etc/mxsync/syncd.conf"
check "example agent.conf installed" test -s "$D/etc/mxsync/agent.conf"

# an administrator's config survives a second install
echo "# mine" >"$D/etc/mxsync/syncd.conf"
run_rc make -C "$TOP" -s install BUILD="$BUILD" DESTDIR="$D" PREFIX=/opt/mx SYSCONFDIR=/etc
is "$RC" 0 "second make install exits 0"
is "$(cat "$D/etc/mxsync/syncd.conf")" "# mine" "existing syncd.conf is not overwritten"

# the installed programs run
run_rc "$D/opt/mx/bin/mxsync-keys" --version
is "$RC" 0 "installed mxsync-keys --version exits 0"
done_testing
