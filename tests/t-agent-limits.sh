#!/bin/sh
# t-agent-limits - a backup's limits are said before they bite: a snapshot
# over a backup's max_body (agent.conf) is never sent to it, "push" exits 1
# naming the limit and the figures while the other backups get it; the
# daemon never retries it and "sync-now --wait" exits 1 at once; a backup
# whose own max_body answers 413 is not sent the same state again.  Real
# mxsyncd over HTTPS.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup mx2
backup_setup mx3
backup_setup mx4
# mx4's own limit is below the state: it answers 413
echo "max_body = 64" >>"$T_DIR/b-mx4/syncd.conf"
backup_start mx2
backup_start mx3
backup_start mx4
small_source
agent_conf "$FILE_SOURCE" mx2 mx3 mx4
cp "$ACONF" "$T_DIR/plain.conf"
# mx2 is told to the agent as accepting at most 64 octets
sed -i '/^\[backup mx2\]/a max_body = 64' "$ACONF"
check "check-config accepts max_body in a [backup] section" "$AGENT" -c "$ACONF" check-config
refuse '/^\[backup mx2\]/a max_body = 5G' "max_body" "max_body above mxsyncd's bound"

# --- the one-shot push: exit 1, mx2 never contacted, the others go on
l2=$(wc -l <"$T_DIR/b-mx2/log")
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 1 "push of a full snapshot over a backup's max_body: exit 1"
like "$OUT" "backup mx2: the full snapshot is " "the message names the backup and the snapshot"
like "$OUT" "octets, over this backup's max_body of 64 ([backup mx2] max_body in $ACONF" "... and the limit, with its figures"
like "$OUT" "mx3: serial" "mx3 still got it"
like "$OUT" "backup mx4 refused serial" "mx4's own limit answers"
like "$OUT" "exceeds max_body 64" "... 413 with the figures"
is "$(wc -l <"$T_DIR/b-mx2/log")" "$l2" "mx2 was never contacted (its log is unchanged)"
check "mx2's maps hold none of it" hasnt mx2 alice@example.com
like "$(cat "$ASTATE/ledger.json")" "refused: the full snapshot is" "the ledger records why for mx2"

# a delta over max_body is refused the same way (20 octets: one line)
run_rc "$AGENT" -c "$T_DIR/plain.conf" push
check "without the key mx2 gets the state" has mx2 carol@example.com
echo "dave@example.com d" >>"$SRC/virtual"
sed '/^\[backup mx2\]/a max_body = 10' "$T_DIR/plain.conf" >"$T_DIR/small.conf"
s2=$(bsum mx2)
run_rc "$AGENT" -c "$T_DIR/small.conf" push
is "$RC" 1 "push of a delta over a backup's max_body: exit 1"
like "$OUT" "backup mx2: the delta is 20 octets, over this backup's max_body of 10" "the message gives the delta's size and the limit"
is "$(bsum mx2)" "$s2" "mx2's maps are unchanged after the refused delta"

# --- the daemon: refused once, never retried, sync-now --wait exits 1 now
echo "erin@example.com e" >>"$SRC/virtual"
s2=$(bsum mx2) l2=$(wc -l <"$T_DIR/b-mx2/log")
check "the daemon starts" agent_start
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 1 "sync-now --wait with a state over a backup's max_body: exit 1"
case "$OUT" in
*"backup mx2: refused: the full snapshot is "*"octets, over this backup's max_body of 64 ([backup mx2] max_body in $ACONF"*) ok "... mx2's limit from agent.conf, with the figures" ;;
*"backup mx4: refused: body of "*"exceeds max_body 64"*) ok "... mx4's 413, with the figures" ;;
*) not_ok "the message gives the limit and the figures"; diag "$OUT" ;;
esac
check "mx3 got the state" wait_until 15 has mx3 erin@example.com
check "mx4 refused it (413) once" wait_until 15 grep -q "backup mx4: serial .* refused: body of" "$ALOG"
like "$(grep 'backup mx2:' "$ALOG")" "max_body of 64" "the agent's log says why mx2 gets nothing"
n2=$(grep -c "backup mx2: .*not sent" "$ALOG")
n4=$(grep -c "backup mx4: serial .* refused" "$ALOG")
is "$n2" 1 "the over-limit state was checked once for mx2"

# sync-now forgets backoffs ("now means now"): still nothing is sent again
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 1 "sync-now --wait again: exit 1 at once"
is "$(grep -c "backup mx2: .*not sent" "$ALOG")" "$n2" "mx2: the same state is not tried again"
is "$(grep -c "backup mx4: serial .* refused" "$ALOG")" "$n4" "mx4: the state it refused with 413 is not sent again"
like "$("$AGENT" -c "$ACONF" status 2>&1)" "max_body of 64" "status shows why mx2 lags"

# a new state is tried again, and refused again by the same check
echo "fay@example.com f" >>"$SRC/virtual"
check "the new state reaches mx3" wait_until 15 has mx3 fay@example.com
check "the new state is checked for mx2 again" wait_until 15 sh -c "[ \$(grep -c 'backup mx2: .*not sent' '$ALOG') -gt $n2 ]"
is "$(wc -l <"$T_DIR/b-mx2/log")" "$l2" "mx2 is never contacted by the daemon"
is "$(bsum mx2)" "$s2" "mx2's maps did not change"
agent_stop
done_testing
