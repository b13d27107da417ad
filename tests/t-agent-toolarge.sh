#!/bin/sh
# t-agent-toolarge - a backup whose maps would exceed its max_map_size
# refuses the push 422 with "reason": "too_large" in its reply; the agent
# takes that as permanent for that state: "push" exits 1 with the backup's
# message, the daemon contacts the backup once for that state and
# "sync-now --wait" exits 1 at once, and the backup's maps do not change.
# A state that fits again is sent.  Real mxsyncd over HTTPS.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup mx2
# the smallest max_map_size: three recipients fit, 400 do not
echo "max_map_size = 4096" >>"$T_DIR/b-mx2/syncd.conf"
backup_start mx2
small_source
agent_conf "$FILE_SOURCE" mx2
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "a state that fits: push exit 0"
check "mx2 holds it" has mx2 carol@example.com

# grow the state past mx2's max_map_size
i=0
while [ $i -lt 400 ]; do echo "user$i@example.com u"; i=$((i + 1)); done >>"$SRC/virtual"
s2=$(bsum mx2)
n0=$(grep -c "push refused: 422 too_large" "$T_DIR/b-mx2/log")
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 1 "push of a state over the backup's max_map_size: exit 1"
like "$OUT" "backup mx2 refused serial" "the message names the backup"
like "$OUT" "maps not installed" "... and gives the backup's reason"
is "$(bsum mx2)" "$s2" "mx2's maps are unchanged"
check "mx2 answered with reason too_large" grep -q "push refused: 422 too_large" "$T_DIR/b-mx2/log"

# the daemon: one contact for this state, then sync-now --wait exits 1 at once
n1=$(grep -c "push refused: 422 too_large" "$T_DIR/b-mx2/log")
check "the daemon starts" agent_start
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 1 "sync-now --wait with a state mx2 calls too_large: exit 1"
like "$OUT" "backup mx2" "... naming the backup"
like "$OUT" "maps not installed" "... with its message"
check "mx2 refused the daemon's push" wait_until 15 sh -c "[ \$(grep -c 'push refused: 422 too_large' '$T_DIR/b-mx2/log') -gt $n1 ]"
n2=$(grep -c "push refused: 422 too_large" "$T_DIR/b-mx2/log")
is "$((n2 - n1))" 1 "the daemon contacted mx2 once for that state"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 1 "sync-now --wait again: exit 1"
like "$OUT" "maps not installed" "... with the same message"
is "$(grep -c "push refused: 422 too_large" "$T_DIR/b-mx2/log")" "$n2" "the same state is not sent to mx2 again"
like "$("$AGENT" -c "$ACONF" status 2>&1)" "maps not installed" "status shows why mx2 lags"
is "$(bsum mx2)" "$s2" "mx2's maps did not change"
check "mx2 still holds the old state" has mx2 carol@example.com
check "... and none of the refused one" hasnt mx2 user7@example.com

# a state that fits again is sent
printf 'alice@example.com a\ndave@example.com d\n' >"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --allow-shrink --timeout 60
is "$RC" 0 "a new state that fits: sync-now --wait exit 0"
check "mx2 got it" wait_until 15 has mx2 dave@example.com
agent_stop
done_testing
