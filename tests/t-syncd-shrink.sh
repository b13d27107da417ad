#!/bin/sh
# t-syncd-shrink - max_shrink is cumulative over shrink_window: repeated
# 9 % shrinks, each under max_shrink = 10 %, are refused once they add up
# beyond it within the window (422, message, maps and state unchanged),
# also after a restart and through "mxsyncd apply"; growth resets the
# window, allow_shrink starts it afresh, shrink_window = 0 turns it off.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
syncd_start
# users N - N recipients u0..u(N-1) of example.com, plus the canary
users() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf " u%03d@example.com", i }'
}
st() { mkstate "$S/$1" "example.com" "postmaster@example.com$(users "$2")"; }

st a 99
snap a -k "$S/k1.key" -o $O1 -s 10 "$S/a"
push a
is "$CODE" 200 "100 recipients"
st b 90
snap b -k "$S/k1.key" -o $O1 -s 11 "$S/b"
push b
is "$CODE" 200 "a 9% shrink (100 to 91) passes max_shrink 10%"
st c 82
snap c -k "$S/k1.key" -o $O1 -s 12 "$S/c"
refused c 422 '"error":"would leave 83 recipients, 17% fewer than the 100 within shrink_window (86400s; max_shrink 10%)"' "a second 9% shrink (91 to 83)"
is "$(pq u085@example.com relay_recipients)" OK "the maps still hold the 91"
syncd_stop
syncd_start
refused c 422 '"error":"would leave 83 recipients, 17% fewer than the 100' "after a restart, the window is remembered"
syncd_stop
m0=$(maps_sum "$MAPS")
"$MKSNAP" -k "$S/k1.key" -o $O1 -s 12 "$S/c" "$S/c.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/c.snap"
is "$RC" 1 "mxsyncd apply of the second shrink: exit 1"
like "$OUT" "refused (422 shrink_window): would leave 83 recipients" "... with the message"
is "$(maps_sum "$MAPS")" "$m0" "... and the maps unchanged"
syncd_start

# a saw-tooth (a little growth between the shrinks) does not reset it:
# the window keeps the highest count
st s 91
snap s -k "$S/k1.key" -o $O1 -s 13 "$S/s"
push s
is "$CODE" 200 "a little growth (91 to 92)"
snap c2 -k "$S/k1.key" -o $O1 -s 14 "$S/c"
refused c2 422 '"error":"would leave 83 recipients, 17% fewer than the 100 within shrink_window' "then a 10% shrink (92 to 83): measured against the 100"

# growth back to the old count clears the window
st d 99
snap d -k "$S/k1.key" -o $O1 -s 15 "$S/d"
push d
is "$CODE" 200 "growth back to 100"
check "the window file is gone once counts do not fall" sh -c "! test -e '$STATE/origin-$O1.window'"
snap b2 -k "$S/k1.key" -o $O1 -s 16 "$S/b"
push b2
is "$CODE" 200 "a 9% shrink passes again"

# allow_shrink: a deliberate mass removal starts the window afresh
st e 49
snap e -k "$S/k1.key" -o $O1 -s 17 --allow-shrink "$S/e"
push e
is "$CODE" 200 "allow_shrink to 50"
st f 45
snap f -k "$S/k1.key" -o $O1 -s 18 "$S/f"
push f
is "$CODE" 200 "8% below the allowed shrink passes (the window restarted)"

# shrink_window = 0: per push only
syncd_stop
syncd_conf "shrink_window = 0"
syncd_start
st g 41
snap g -k "$S/k1.key" -o $O1 -s 19 "$S/g"
push g
is "$CODE" 200 "shrink_window 0: a second 9% shrink passes"
st h 37
snap h -k "$S/k1.key" -o $O1 -s 20 "$S/h"
push h
is "$CODE" 200 "shrink_window 0: and a third"
done_testing
