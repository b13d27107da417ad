#!/bin/sh
# t-syncd-quarantine - what a removed key signed is no longer served: at
# start and on SIGHUP every stored state is checked against the trusted
# keys; the state of a removed key, a forged state file (never-trusted key,
# or a trusted key id with a bad signature), a damaged one, one whose key's
# scope no longer covers its domains and one whose key now speaks for
# another origin are moved aside, logged and listed by status, and the
# maps are rebuilt without them.  "mxsyncd forget ORIGIN" removes an origin on purpose.  Stored
# states are 0600, maps 0644.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
C=$S/syncd.conf
cp "$S/trusted_keys" "$S/trusted_keys.all"
syncd_start
mkstate "$S/s1" "example.com" "postmaster@example.com a@example.com"
snap s1 -k "$S/k1.key" -o $O1 -s 10 "$S/s1"
push s1
is "$CODE" 200 "origin 1 pushes"
mkstate "$S/s2" "example.org" "b@example.org"
snap s2 -k "$S/k2.key" -o $O2 -s 10 "$S/s2"
push s2
is "$CODE" 200 "origin 2 pushes"
is "$(stat -c %a "$STATE/origin-$O1.snap")" 600 "a stored state is 0600"
is "$(stat -c %a "$MAPS/relay_recipients.cdb")" 644 "a map is 0644"
syncd_stop

# k2's line removed; a state signed by a never-trusted key dropped in; a
# state claiming k1's key id with a forged signature
grep -v "^$O2 " "$S/trusted_keys.all" >"$S/trusted_keys"
mkstate "$S/s3" "evil.test" "x@evil.test"
"$MKSNAP" -k "$S/k3.key" -o mx3.example.com -s 5 "$S/s3" "$STATE/origin-mx3.example.com.snap"
mkstate "$S/s4" "forged.test" "x@forged.test"
"$MKSNAP" -k "$S/k3.key" -o mx4.example.com -s 5 --key-id "$(keyid "$S/k1.key")" "$S/s4" "$STATE/origin-mx4.example.com.snap"
printf 'mxsync-snapshot 1\n{"version":1}\nAAAA\n' >"$STATE/origin-mx5.example.com.snap"
syncd_start
log=$(cat "$S/log")
like "$log" "stored state of origin $O2 is not served (unknown_key: key id $(keyid "$S/k2.key") is not in the trusted keys); origin-$O2.snap moved aside as origin-$O2.snap.quarantined.unknown_key." "removed key: logged and moved aside"
like "$log" "stored state of origin mx3.example.com is not served (unknown_key: " "never-trusted key: logged"
like "$log" "stored state of origin mx4.example.com is not served (bad_signature: bad signature (key id $(keyid "$S/k1.key")))" "forged signature: logged"
like "$log" "stored state of origin mx5.example.com is not served (damaged: " "damaged file: logged"
ls "$STATE" >"$S/ls"
for o in $O2 mx3.example.com mx4.example.com mx5.example.com; do
	check "$o: its file is gone" sh -c "! test -e '$STATE/origin-$o.snap'"
	like "$(cat "$S/ls")" "origin-$o.snap.quarantined." "$o: a quarantined file is kept"
done
is "$(pq example.org relay_domains)" "" "the removed key's domain is not relayed"
is "$(pq evil.test relay_domains)" "" "the forged state's domain is not relayed"
is "$(pq forged.test relay_domains)" "" "the forged-signature state's domain is not relayed"
is "$(pq a@example.com relay_recipients)" OK "origin 1 is still served"
run_rc "$MXSYNCD" -c "$C" status
like "$OUT" "not served: origin $O2 (unknown_key), moved aside as origin-$O2.snap.quarantined.unknown_key." "status lists the quarantined state"
like "$OUT" "not served: origin mx4.example.com (bad_signature)" "status lists the forged one"
run_rc "$MXSYNCD" -c "$C" status --json
like "$OUT" "\"quarantined\":[" "status --json has quarantined"
like "$OUT" "\"origin\":\"$O2\",\"reason\":\"unknown_key\"" "status --json names origin and reason"
run_rc "$MXSYNCD" -c "$C" check b@example.org
is "$RC" 1 "check: an address of the removed key's domain is rejected"
get /v1/status
like "$BODY" "\"reason\":\"unknown_key\"" "GET /v1/status lists it too"

# a restart finds nothing more to move
syncd_stop
n0=$(ls "$STATE" | grep -c quarantined)
syncd_start
is "$(ls "$STATE" | grep -c quarantined)" "$n0" "a restart moves nothing more aside"

# SIGHUP after a key's line is removed: its origin stops being served
cp "$S/trusted_keys.all" "$S/trusted_keys"
kill -HUP "$SYNCD_PID"
check "reload with k2 trusted again" wait_until 10 grep -q "reloaded $C: 2 trusted keys" "$S/log"
push s2
is "$CODE" 200 "origin 2 pushes again once trusted"
is "$(pq b@example.org relay_recipients)" OK "... and is served"
grep -v "^$O2 " "$S/trusted_keys.all" >"$S/trusted_keys"
kill -HUP "$SYNCD_PID"
check "SIGHUP: the revoked origin's domain leaves the maps" wait_until 10 sh -c "[ -z \"\$(postmap -c '$S/pf' -q example.org cdb:'$MAPS/relay_domains')\" ]"
like "$(cat "$S/log")" "1 stored states no longer served; maps rebuilt" "SIGHUP: logged"
is "$(pq a@example.com relay_recipients)" OK "SIGHUP: origin 1 is still served"
check "SIGHUP: its file is moved aside" sh -c "! test -e '$STATE/origin-$O2.snap'"

# forget: refused while the daemon runs, then removes the origin
run_rc "$MXSYNCD" -c "$C" forget $O1
is "$RC" 75 "forget while the daemon runs: exit 75"
like "$OUT" "is locked by a running mxsyncd" "... the message says why"
is "$(pq a@example.com relay_recipients)" OK "... and origin 1 is still served"
syncd_stop
m0=$(maps_sum "$MAPS")
run_rc "$MXSYNCD" -c "$C" forget no-such.example.com
is "$RC" 1 "forget of an unknown origin: exit 1"
like "$OUT" "forget: no stored state of origin no-such.example.com" "... with a message"
is "$(maps_sum "$MAPS")" "$m0" "... and the maps unchanged"
run_rc "$MXSYNCD" -c "$C" forget $O1
is "$RC" 0 "forget origin 1: exit 0"
like "$OUT" "forgot origin $O1 (1 files); maps rebuilt without it" "forget: message"
is "$(pq example.com relay_domains)" "" "forget: the origin's domain is gone from the maps"
check "forget: its file is gone" sh -c "! test -e '$STATE/origin-$O1.snap'"
run_rc "$MXSYNCD" -c "$C" forget $O2
is "$RC" 0 "forget of a quarantined origin removes its files"
case "$(ls "$STATE")" in *"$O2"*) not_ok "no file of origin 2 is left" ;; *) ok "no file of origin 2 is left" ;; esac
syncd_start
is "$(pq example.com relay_domains)" "" "after a restart the forgotten origin stays gone"
push s1
is "$CODE" 200 "a forgotten origin may push again (any serial)"

# a key's scope narrowed: the stored state holding a domain outside it is
# moved aside at start, and mxsyncd starts
syncd_stop
{
	grep -v "^$O1 " "$S/trusted_keys.all"
	"$BIN/mxsync-keys" trusted-line -o $O1 "$S/k1.key" example.net
} >"$S/trusted_keys"
syncd_start
check "scope narrowed: mxsyncd starts" kill -0 "$SYNCD_PID"
like "$(cat "$S/log")" "stored state of origin $O1 is not served (scope: domain example.com is outside the scope of key id $(keyid "$S/k1.key")); origin-$O1.snap moved aside as origin-$O1.snap.quarantined.scope." \
	"scope narrowed: logged and moved aside"
is "$(pq example.com relay_domains)" "" "scope narrowed: the domain is no longer relayed"
run_rc "$MXSYNCD" -c "$C" status
like "$OUT" "not served: origin $O1 (scope)" "scope narrowed: status lists it"
check "scope narrowed: its file is gone" sh -c "! test -e '$STATE/origin-$O1.snap'"

# a key's line given to another origin name: what it signed as origin 1 is
# no longer origin 1's
cp "$S/trusted_keys.all" "$S/trusted_keys"
kill -HUP "$SYNCD_PID"
check "reload with k1 trusted for example.com again" wait_until 10 sh -c "grep -c 'reloaded $C' '$S/log' | grep -q '^[1-9]'"
snap s1b -k "$S/k1.key" -o $O1 -s 20 "$S/s1"
push s1b
is "$CODE" 200 "origin 1 pushes again once its scope is back"
syncd_stop
sed "s/^$O1 /mx9.example.com /" "$S/trusted_keys.all" >"$S/trusted_keys"
syncd_start
like "$(cat "$S/log")" "stored state of origin $O1 is not served (origin: key id $(keyid "$S/k1.key") is trusted for origin mx9.example.com, not $O1)" \
	"key renamed to another origin: its stored state is moved aside"
is "$(pq a@example.com relay_recipients)" "" "key renamed: origin 1's recipients are gone from the maps"
syncd_stop
done_testing
