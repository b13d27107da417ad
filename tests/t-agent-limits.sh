#!/bin/sh
# t-agent-limits - the daemon says a backup's limit before it bites: a state
# over a backup's max_body (agent.conf) is never sent to it and never
# retried, "sync-now --wait" exits 1 at once naming the limit and the
# figures, the other backup still gets it; a backup whose own max_body
# answers 413 is not sent the same state again.  Real mxsyncd over HTTPS.
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
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\n' >"$SRC/domains"
printf 'alice@example.com a\nbob@example.com b\ncarol@example.com c\n' >"$SRC/virtual"
agent_conf "[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual" mx2 mx3 mx4
# mx2 is told to the agent as accepting at most 64 octets
sed -i '/^\[backup mx2\]/a max_body = 64' "$ACONF"
check "check-config accepts max_body in a [backup] section" "$AGENT" -c "$ACONF" check-config
l2=$(wc -l <"$T_DIR/b-mx2/log")
check "the daemon starts" agent_start

run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 1 "sync-now --wait with a state over a backup's max_body: exit 1"
like "$OUT" "backup mx" "the message names a backup"
case "$OUT" in
*"backup mx2: refused: the full snapshot is "*"octets, over this backup's max_body of 64 ([backup mx2] max_body in $ACONF"*) ok "... mx2's limit from agent.conf, with the figures" ;;
*"backup mx4: refused: body of "*"exceeds max_body 64"*) ok "... mx4's 413, with the figures" ;;
*) not_ok "the message gives the limit and the figures"; diag "$OUT" ;;
esac
check "mx3 got the state" wait_until 15 has mx3 carol@example.com
check "mx4 refused it (413) once" wait_until 15 grep -q "backup mx4: serial .* refused: body of" "$ALOG"
like "$(grep 'backup mx2:' "$ALOG")" "max_body of 64" "the agent's log says why mx2 gets nothing"
is "$(wc -l <"$T_DIR/b-mx2/log")" "$l2" "mx2 was never contacted (its log is unchanged)"
check "mx2's maps hold none of it" hasnt mx2 alice@example.com
s2=$(bsum mx2)
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
echo "dave@example.com d" >>"$SRC/virtual"
check "the new state reaches mx3" wait_until 15 has mx3 dave@example.com
check "the new state is checked for mx2 again" wait_until 15 sh -c "[ \$(grep -c 'backup mx2: .*not sent' '$ALOG') -gt $n2 ]"
is "$(wc -l <"$T_DIR/b-mx2/log")" "$l2" "mx2 is still never contacted"
is "$(bsum mx2)" "$s2" "mx2's maps did not change"
agent_stop
done_testing
