#!/bin/sh
# t-agent-settle - sources that change underfoot, with the agent daemon
# running against a real mxsyncd and no manual command unless said: a file
# rewritten in place and paused, a file cut inside a line, an empty file, a
# 20 % shrink, a Maildir root (a tmpfs) unmounted and mounted again, a root
# that is an empty mount point at start, and kill -9 during writes.  The
# backup's record count never drops below the old one unless --allow-shrink
# says so; the agent's state_dir holds only its own files afterwards.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

N=30000
agent_setup || done_testing
backup_setup mx2
backup_start mx2
SRC=$T_DIR/src
TM=$T_DIR/tmpfs
MNT=$T_DIR/vmail
mkdir -p "$SRC" "$TM" "$MNT"
# A list file as Postfix reads one: several per line, commas, comments.
printf '# the hosted domains\nexample.com, example.org\texample.net\n' >"$SRC/domains"
gen() { # FIRST COUNT - postmap lines userNNNNNN@example.com
	awk -v a="$1" -v n="$2" 'BEGIN { for (i = a; i < a + n; i++) printf "user%06d@example.com u%d\n", i, i }'
}
gen 0 $N >"$SRC/virtual"

# The Maildir root is a tmpfs, bind-mounted so that it can be unmounted
# and mounted again with its contents.
mount -t tmpfs -o size=8m mxsync-test "$TM" || { not_ok "mount tmpfs"; done_testing; }
on_exit "umount -l '$TM' 2>/dev/null"
mkmb() { mkdir -p "$TM/mnt.example/$1/cur" "$TM/mnt.example/$1/new" "$TM/mnt.example/$1/tmp"; }
mkmb ann; mkmb ben
mount --bind "$TM" "$MNT" || { not_ok "bind mount"; done_testing; }
on_exit "umount -l '$MNT' 2>/dev/null"

AGENT_EXTRA="settle_timeout = 60s"
agent_conf "[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual

[source mnt]
type = maildir
root = $MNT" mx2
sed -i 's/^max_shrink .*/max_shrink = 10%/' "$ACONF"

bcount() { map_dump "$T_DIR/b-mx2/maps" relay_recipients 2>/dev/null | grep -c '^+'; }
status() { "$AGENT" -c "$ACONF" status 2>&1; }
# min_state - the fewest recipients of any state the agent adopted
min_state() { sed -n 's/.*domains, \([0-9]*\) recipients$/\1/p' "$ALOG" | sort -n | head -n 1; }

check "the daemon starts" agent_start
check "the first export reaches the backup" wait_until 30 has mx2 user029999@example.com
check "the Maildir on the tmpfs reaches the backup" has mx2 ann@mnt.example
is "$(bq mx2 example.net relay_domains)" OK "a domains line with several domains yields each"
OLD=$(bcount)
is "$OLD" $((N + 2)) "the backup holds every recipient"
like "$(status)" "2 domains without any recipient (the backups reject all their addresses): example.net example.org" "status counts and names the domains without recipients"
check "the log names them once" test "$(grep -c 'domains without any recipient' "$ALOG")" = 1

# writer.py FILE N EXTRA PERCENT - rewrite FILE in place (truncate, write,
# no rename) with N + EXTRA lines; pause after PERCENT of them, the file
# open, until $T_DIR/go exists ($T_DIR/paused says it paused)
cat >"$T_DIR/writer.py" <<EOF
import os, sys, time
path, n, extra, pct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines = ["user%06d@example.com u%d\\n" % (i, i) for i in range(n + extra)]
cut = len(lines) * pct // 100
with open(path, "w") as f:
    f.write("".join(lines[:cut])); f.flush()
    open("$T_DIR/paused", "w").close()
    for _ in range(600):
        if os.path.exists("$T_DIR/go"): break
        time.sleep(0.1)
    f.write("".join(lines[cut:]))
EOF

# --- 1. a rewrite in place, paused at 97 % (the writer keeps the file open)
S=$(bsum mx2)
# 97 % of the new file is fewer recipients than the old one holds: a
# partial export would shrink the backup (by less than any max_shrink).
python3 "$T_DIR/writer.py" "$SRC/virtual" $N 200 97 &
WPID=$!
track_pid $WPID
check "the writer paused at 97 %" wait_until 20 test -e "$T_DIR/paused"
"$AGENT" -c "$ACONF" sync-now --wait --timeout 60 >"$T_DIR/sync1.out" 2>&1 &
SPID=$!
track_pid $SPID
low=$OLD
i=0
while [ $i -lt 15 ]; do
	c=$(bcount); [ "$c" -lt "$low" ] && low=$c
	sleep 0.2; i=$((i + 1))
done
is "$low" "$OLD" "during the pause the backup's record count never dropped"
is "$(bsum mx2)" "$S" "during the pause the backup's maps did not change"
like "$(status)" "error (settling): source files: $SRC/virtual is being written (modified, not closed by its writer yet)" "status says the file is being written"
check "sync-now waits for the writer" kill -0 $SPID
touch "$T_DIR/go"
wait $WPID
wait $SPID
is "$?" 0 "sync-now --wait exits 0 once the file is complete"
like "$(cat "$T_DIR/sync1.out")" "acknowledged by every backup" "sync-now says every backup acknowledged"
is "$(bcount)" $((N + 200 + 2)) "the whole new file reached the backup"
is "$(min_state)" $((N + 2)) "no partial state was ever adopted"
NOW=$((N + 200 + 2))

# --- 2. a writer that never finishes: down after settle_timeout
sed -i 's/^settle_timeout .*/settle_timeout = 2s/' "$ACONF"
kill -HUP "$AGENT_PID"
check "the reload is applied" wait_until 10 grep -q "configuration reloaded" "$ALOG"
rm -f "$T_DIR/paused" "$T_DIR/go"
S=$(bsum mx2)
python3 "$T_DIR/writer.py" "$SRC/virtual" $N 1200 50 &
WPID=$!
track_pid $WPID
check "the second writer paused half way" wait_until 20 test -e "$T_DIR/paused"
sleep 0.5
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 75 "sync-now exits 75 when the file does not settle"
like "$OUT" "$SRC/virtual is being written (modified, not closed by its writer yet); not settled after 2 s" "sync-now says the file did not settle"
like "$(status)" "error (down): source files: $SRC/virtual is being written" "status reports the source down"
is "$(bcount)" "$NOW" "nothing of the unsettled file reached the backup"
is "$(bsum mx2)" "$S" "the unsettled file left the maps unchanged"
touch "$T_DIR/go"
wait $WPID
check "once closed, the file is pushed by itself" wait_until 30 has mx2 user031199@example.com
NOW=$((N + 1200 + 2))
is "$(bcount)" "$NOW" "the backup holds the whole file"

# --- 3. a writer that crashed inside a line: the cut line is an error
S=$(bsum mx2)
python3 - "$SRC/virtual" $N 1500 <<'EOF'
import sys
path, n, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = "".join("user%06d@example.com u%d\n" % (i, i) for i in range(n + extra))
cut = text.index("user031300@example.com") + len("user031300@exa")
with open(path, "w") as f:
    f.write(text[:cut])
EOF
check "the cut file is refused, naming file:line" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF '$SRC/virtual:31301: key without a value'"
like "$(status)" "error (bad data)" "status calls it bad data"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 10
is "$RC" 1 "sync-now exits 1 for the cut file"
like "$OUT" "$SRC/virtual:31301: key without a value" "sync-now names file:line"
is "$(bcount)" "$NOW" "the cut file never reached the backup"
is "$(bsum mx2)" "$S" "the cut file left the maps unchanged"
gen 0 $((N + 1500)) >"$SRC/virtual.new"
printf 'last@example.com l' >>"$SRC/virtual.new"	# no final newline: fine
mv "$SRC/virtual.new" "$SRC/virtual"
check "the complete file is pushed by itself" wait_until 20 has mx2 last@example.com
NOW=$((N + 1500 + 1 + 2))
is "$(bcount)" "$NOW" "the backup holds the complete file"

# --- 4. an empty file: refused at the agent, out only with --allow-shrink
S=$(bsum mx2)
: >"$SRC/virtual"
check "the empty file is refused by the agent's guard" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF 'source files yields no recipients at all'"
like "$(status)" "error (guard): source files yields no recipients at all" "status names the empty source"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 10
is "$RC" 1 "sync-now exits 1 for an empty source"
like "$OUT" "set allow_empty = yes if that is meant" "the message says how to allow it"
sleep 1
is "$(bcount)" "$NOW" "the empty file did not reach the backup"
is "$(bsum mx2)" "$S" "the empty file left the maps unchanged"
run_rc "$AGENT" -c "$ACONF" sync-now --allow-shrink --wait --timeout 30
is "$RC" 0 "sync-now --allow-shrink sends it"
is "$(bcount)" 2 "with --allow-shrink the backup holds only the Maildir recipients"
gen 0 $N >"$SRC/virtual.new" && mv "$SRC/virtual.new" "$SRC/virtual"
check "the restored file is pushed by itself" wait_until 20 has mx2 user029999@example.com
NOW=$((N + 2))

# --- 5. a 20 % shrink: refused at the agent (max_shrink 10 %) although the
# backup (max_shrink 50 %) would take it
S=$(bsum mx2)
gen 0 $((N * 8 / 10)) >"$SRC/virtual.new" && mv "$SRC/virtual.new" "$SRC/virtual"
check "the shrink is refused by the agent's guard" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF 'would remove 20% of the recipients'"
OUT=$(status)
like "$OUT" "error (guard): would remove 20% of the recipients the backups acknowledged (6000 of 30002; max_shrink 10%)" "status gives the share and the count"
like "$OUT" "e.g. user024000@example.com, user024001@example.com, user024002@example.com" "status names a few that would disappear"
like "$OUT" "guard: refused:" "status has the guard line"
if grep "refused by the agent's guard" "$ALOG" | grep -q "user0"; then not_ok "the log names no recipient"; else ok "the log names no recipient"; fi
is "$(bcount)" "$NOW" "the shrink did not reach the backup"
is "$(bsum mx2)" "$S" "the refused shrink left the maps unchanged"
run_rc "$AGENT" -c "$ACONF" sync-now --allow-shrink --wait --timeout 30
is "$RC" 0 "sync-now --allow-shrink sends the shrink"
is "$(bcount)" $((N * 8 / 10 + 2)) "the backup holds the smaller file"
gen 0 $N >"$SRC/virtual.new" && mv "$SRC/virtual.new" "$SRC/virtual"
check "growth again is pushed by itself" wait_until 20 has mx2 user029999@example.com
NOW=$((N + 2))

# --- 6. the Maildir root unmounted, then mounted again
S=$(bsum mx2)
umount "$MNT" || { sleep 1; umount "$MNT"; }
check "the unmounted root makes the source down" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF 'nothing is mounted on $MNT any more'"
like "$(status)" "source mnt (maildir)" "status names the Maildir source"
is "$(bcount)" "$NOW" "the empty mount point did not reach the backup"
is "$(bsum mx2)" "$S" "the unmounted root left the maps unchanged"
check "ann is still accepted by the backup" has mx2 ann@mnt.example
mkmb carl
mount --bind "$TM" "$MNT"
check "the remounted root is exported again by itself" wait_until 20 has mx2 carl@mnt.example
check "... with its earlier mailboxes" has mx2 ann@mnt.example
mkmb dora
check "watches were re-armed on the new mount" wait_until 15 has mx2 dora@mnt.example
NOW=$((N + 4))

# --- 7. an empty mount point at start: the source yields nothing
agent_stop
S=$(bsum mx2)
umount "$MNT"
check "the daemon starts on an empty mount point" agent_start
check "the empty Maildir source is refused by the agent's guard" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF 'source mnt yields no recipients at all'"
is "$(bcount)" "$NOW" "the empty mount point did not reach the backup"
is "$(bsum mx2)" "$S" "the empty mount point left the maps unchanged"
mount --bind "$TM" "$MNT"
check "the file system mounted after the start is exported by itself" wait_until 20 sh -c "'$AGENT' -c '$ACONF' status | grep -q 'source mnt (maildir): last export.*4 recipients'"
is "$(bcount)" "$NOW" "the backup kept its maps (the state did not change)"
umount "$MNT"
agent_stop
mkdir -p "$T_DIR/empty"
sed "s|^root = .*|root = $T_DIR/empty|" "$ACONF" >"$T_DIR/empty.conf"
run_rc "$AGENT" -c "$T_DIR/empty.conf" push
is "$RC" 1 "push with an empty Maildir root: exit 1"
like "$OUT" "source mnt yields no recipients at all" "push names the empty source"
is "$(bcount)" "$NOW" "the refused push left the backup alone"
is "$(bsum mx2)" "$S" "the refused push left the maps unchanged"
run_rc "$AGENT" -c "$T_DIR/empty.conf" push --allow-shrink
is "$RC" 0 "push --allow-shrink sends it"
is "$(bcount)" "$N" "the backup holds the file's recipients only"
sed -i "s|^root = .*|root = $T_DIR/empty\nallow_empty = yes|" "$T_DIR/empty.conf"
run_rc "$AGENT" -c "$T_DIR/empty.conf" push
is "$RC" 0 "with allow_empty = yes the empty source is fine"
case "$OUT" in *"no recipients"*) not_ok "... and not refused" ;; *) ok "... and not refused" ;; esac
mount --bind "$TM" "$MNT"

# --- 8. kill -9 during writes: only the agent's own files remain
# (wait_until and agent_start use $i: this loop counts in $kk)
kk=0
started=y
while [ $kk -lt 12 ]; do
	agent_start || started=n
	gen $((N + kk * 100)) 100 >>"$SRC/virtual"
	sleep "0.$((kk % 5 + 1))"
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	rm -f "$ASOCK"
	AGENT_PID=""
	kk=$((kk + 1))
done
is "$started" y "the daemon started each time"
# What a crash at the worst moment leaves, planted so the sweep is shown.
: >"$ASTATE/ledger.json.tmp.Ab12Cd"
head -c 100000 /dev/zero >"$ASTATE/base-7.state.tmp.Zx98Yw"
check "the daemon starts after the kills" agent_start
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 0 "sync-now --wait after the kills exits 0"
check "every appended recipient reached the backup" has mx2 user031199@example.com
agent_stop
left=$(cd "$ASTATE" && ls -A | grep -Ev '^(ledger\.json|lock|base-[0-9]+\.state)$' | tr '\n' ' ')
is "$left" "" "state_dir holds only the ledger, the lock and base files"
is "$(cd "$ASTATE" && ls base-*.state | wc -l)" 1 "one base file"

done_testing
