#!/bin/sh
# t-syncd-routes - a key chooses no route but a relay: every transport
# outside "transports" (discard, local, virtual, error, master.cf pipe
# services, lmtp unless listed), a malformed nexthop, "*" and other domains
# that are no host names, the backup's own names (deny_domains) and a
# domain another origin's key lists by name are refused with their HTTP
# status and message, maps and stored state unchanged; also a serial far
# ahead of the clock and an expiry beyond max_expire.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
O4=mx4.example.net
"$BIN/mxsync-keys" generate -o "$S/k4.key" >/dev/null
"$BIN/mxsync-keys" trusted-line -o $O4 "$S/k4.key" '*' >>"$S/trusted_keys"
# origin 1 also names an internationalized domain (a second key of its own)
"$BIN/mxsync-keys" generate -o "$S/k5.key" >/dev/null
"$BIN/mxsync-keys" trusted-line -o $O1 "$S/k5.key" 'bücher.example' >>"$S/trusted_keys"
syncd_start

mkstate "$S/base" "example.com" "postmaster@example.com a@example.com"
snap b -k "$S/k1.key" -o $O1 -s 10 "$S/base"
push b
is "$CODE" 200 "baseline push of origin 1"
mkstate "$S/b4" "wild.test" "a@wild.test"
snap b4 -k "$S/k4.key" -o $O4 -s 10 "$S/b4"
push b4
is "$CODE" 200 "baseline push of the \"*\" origin"

# route STATE NEXTHOP - a state of example.com routed to NEXTHOP
route() {
	printf 'D example.com %s\nR a@example.com\nR b@example.com\nR postmaster@example.com\n' "$2" >"$1"
}

j=0
for nh in 'discard:x' 'local:' 'virtual:' 'error:5.1.1 gone' 'maildrop:' \
	'uucp:evil' 'pipe:' 'lmtp:[mx.example.com]' 'retry:' 'x-evil:[mx.example.com]'; do
	j=$((j + 1))
	route "$S/t$j" "$nh"
	snap t$j -k "$S/k1.key" -o $O1 -s 11 "$S/t$j"
	t=${nh%%:*}
	refused t$j 403 "\"error\":\"domain example.com: transport \\\"$t\\\" of nexthop \\\"$nh\\\" is not allowed (transports = smtp relay)\"" "transport $t"
done
for nh in 'smtp:[mx.example.com' 'smtp:[mx.example.com]:0' 'smtp:mx.example.com:99999' \
	'smtp:a_b.example' 'smtp:[a], smtp:[b]' 'smtp:unix:/tmp/s'; do
	j=$((j + 1))
	route "$S/t$j" "$nh"
	snap t$j -k "$S/k1.key" -o $O1 -s 11 "$S/t$j"
	refused t$j 403 "\"error\":\"domain example.com: malformed nexthop \\\"$nh\\\"" "malformed nexthop $nh"
done
for nh in 'smtp:[mx.example.com]:25' 'relay:[192.0.2.1]:2525' 'smtp:mx.example.com'; do
	j=$((j + 1))
	route "$S/t$j" "$nh"
	snap t$j -k "$S/k1.key" -o $O1 -s $((10 + j)) "$S/t$j"
	push t$j
	is "$CODE" 200 "relay route $nh is accepted"
	is "$(pq example.com transport)" "$nh" "... and installed"
done
serial=$((10 + j))

# domains that are no host names ("*" is the transport(5) wildcard)
for d in '*' 'a:b' '[1.2.3.4]' '1.2.3.4' 'example.com,' 'a..example' '-x.example' 'x_y.example'; do
	j=$((j + 1))
	printf 'D %s smtp:[mx.example.com]\n' "$d" >"$S/t$j"
	snap t$j -k "$S/k4.key" -o $O4 -s 11 --raw-body "$S/t$j"
	refused t$j 400 "\"error\":\"malformed state: state line 1: " "domain $d"
	like "$BODY" "$d" "domain $d: named in the message"
done

# the backup's own names
me=$(postconf -h myhostname 2>/dev/null || hostname)
for d in localhost "$me"; do
	j=$((j + 1))
	mkstate "$S/t$j" "wild.test $d" "a@wild.test"
	snap t$j -k "$S/k4.key" -o $O4 -s 11 "$S/t$j"
	refused t$j 403 "\"error\":\"domain $d is in deny_domains of this backup\"" "deny_domains: $d"
done

# a "*" key gets no domain another origin's key lists by name
mkstate "$S/steal" "wild.test example.net" "a@wild.test"
snap steal -k "$S/k4.key" -o $O4 -s 11 "$S/steal"
refused steal 403 "\"error\":\"domain example.net is trusted to origin $O1\"" "\"*\" key and a named domain"
# ... nor its other IDNA spelling, the one most senders write
mkstate "$S/steal2" "wild.test xn--bcher-kva.example" "a@wild.test"
snap steal2 -k "$S/k4.key" -o $O4 -s 11 "$S/steal2"
refused steal2 403 "\"error\":\"domain xn--bcher-kva.example is trusted to origin $O1\"" "\"*\" key and the A-label of a named U-label domain"

# how far ahead a manifest may reach
mkstate "$S/h" "example.com" "postmaster@example.com a@example.com b@example.com"
snap h1 -k "$S/k1.key" -o $O1 -s 9007199254740990 "$S/h"
refused h1 403 '"error":"serial 9007199254740990 is more than max_serial_ahead (86400s) ahead of this backup' "serial at the end of the space"
snap h2 -k "$S/k1.key" -o $O1 -s $(( $(date +%s) + 90000 )) "$S/h"
refused h2 403 'is more than max_serial_ahead (86400s) ahead' "serial 25 h ahead of the clock"
snap h3 -k "$S/k1.key" -o $O1 -s $((serial + 1)) --expires-in $((32 * 86400)) "$S/h"
refused h3 403 '"error":"manifest expires at ' "expiry 32 days ahead"
like "$BODY" 'beyond max_expire (2678400s from now)' "expiry 32 days ahead: max_expire named"
snap h4 -k "$S/k1.key" -o $O1 -s $((serial + 1)) --expires-in $((30 * 86400)) "$S/h"
push h4
is "$CODE" 200 "expiry 30 days ahead is accepted"

# lmtp once listed; other settings checked
syncd_stop
syncd_conf "transports = smtp relay lmtp
deny_domains = localhost example.org
max_expire = 7d
max_serial_ahead = 1h"
syncd_start
j=$((j + 1))
route "$S/t$j" 'lmtp:unix:/var/run/dovecot/lmtp'
snap t$j -k "$S/k1.key" -o $O1 -s $((serial + 2)) "$S/t$j"
push t$j
is "$CODE" 200 "lmtp is accepted once transports lists it"
mkstate "$S/den" "wild.test example.org" "a@wild.test"
snap den -k "$S/k4.key" -o $O4 -s 12 "$S/den"
refused den 403 '"error":"domain example.org is in deny_domains of this backup"' "deny_domains as configured"
# max_expire and max_serial_ahead as configured
snap h5 -k "$S/k1.key" -o $O1 -s $((serial + 3)) --expires-in $((8 * 86400)) "$S/h"
refused h5 403 'beyond max_expire (604800s from now)' "max_expire = 7d: an expiry 8 days ahead"
snap h6 -k "$S/k1.key" -o $O1 -s $(( $(date +%s) + 7200 )) "$S/h"
refused h6 403 'is more than max_serial_ahead (3600s) ahead' "max_serial_ahead = 1h: a serial 2 h ahead"
snap h7 -k "$S/k1.key" -o $O1 -s $((serial + 3)) --expires-in $((6 * 86400)) "$S/h"
push h7
is "$CODE" 200 "max_expire = 7d: an expiry 6 days ahead is accepted"
syncd_stop
syncd_conf "transports = smtp discard:x"
run_rc "$MXSYNCD" -c "$S/syncd.conf" check-config
is "$RC" 2 "check-config: a transports value that is no service list: exit 2"
like "$OUT" "transports: \"smtp discard:x\" is not a list of master.cf service names" "... with file:line"
syncd_conf "deny_domains = a:b"
run_rc "$MXSYNCD" -c "$S/syncd.conf" check-config
is "$RC" 2 "check-config: a deny_domains entry that is no host name: exit 2"
like "$OUT" "deny_domains: domain \"a:b\" is not a host name" "... with the value"

# one origin per domain in the trusted keys
syncd_conf
cp "$S/trusted_keys" "$S/trusted_keys.ok"
"$BIN/mxsync-keys" trusted-line -o mx5.example.net "$S/k3.key" example.org >>"$S/trusted_keys"
line=$(wc -l <"$S/trusted_keys")
run_rc "$MXSYNCD" -c "$S/syncd.conf" check-config
is "$RC" 2 "check-config: a domain trusted to two origins: exit 2"
like "$OUT" "$S/trusted_keys:$line: domain example.org is already trusted to origin $O2 (line 2); one origin per domain" "... as file:line"
cp "$S/trusted_keys.ok" "$S/trusted_keys"
"$BIN/mxsync-keys" trusted-line -o mx5.example.net "$S/k3.key" '*' >>"$S/trusted_keys"
run_rc "$MXSYNCD" -c "$S/syncd.conf" check-config
is "$RC" 2 "check-config: \"*\" trusted to two origins: exit 2"
like "$OUT" "domain * is already trusted to origin $O4" "... naming the first origin"
# the daemon: it does not start on such a file, and a reload to one is
# refused, the old keys kept
m0=$(maps_sum "$MAPS")
run_rc "$MXSYNCD" -c "$S/syncd.conf" run
is "$RC" 2 "mxsyncd run with \"*\" trusted to two origins: exit 2"
like "$OUT" "domain * is already trusted to origin $O4" "... with the message"
is "$(maps_sum "$MAPS")" "$m0" "... and the maps unchanged"
cp "$S/trusted_keys.ok" "$S/trusted_keys"
syncd_start
"$BIN/mxsync-keys" trusted-line -o mx5.example.net "$S/k3.key" example.org >>"$S/trusted_keys"
kill -HUP "$SYNCD_PID"
check "SIGHUP to a domain trusted to two origins: the reload is refused" \
	wait_until 10 grep -q "reload refused: .*domain example.org is already trusted to origin $O2" "$S/log"
is "$(maps_sum "$MAPS")" "$m0" "... the maps unchanged"
mkstate "$S/r1" "example.com" "postmaster@example.com a@example.com b@example.com c@example.com"
snap r1 -k "$S/k1.key" -o $O1 -s $((serial + 10)) "$S/r1"
push r1
is "$CODE" 200 "... and the old keys still serve pushes"
syncd_stop
done_testing
