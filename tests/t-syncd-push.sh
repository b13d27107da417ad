#!/bin/sh
# t-syncd-push - mxsyncd over real HTTPS: a good full push installs maps
# that the real postmap reads, a delta push, a second origin merging in,
# status/metrics, check and postconf, apply FILE, restart keeps the state.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
K1=$(keyid "$S/k1.key")

check "check-config accepts the test config" "$MXSYNCD" -c "$S/syncd.conf" check-config
syncd_start
check "mxsyncd listens" kill -0 "$SYNCD_PID"
ls "$MAPS"/relay_domains.cdb "$MAPS"/relay_recipients-00.cdb "$MAPS"/relay_recipients-3f.cdb "$MAPS"/transport.cdb >/dev/null 2>&1
is "$?" 0 "empty maps exist before the first push"

# 1. a full push
mkstate "$S/s1" "example.com example.net" \
	"user@example.com postmaster@example.com alice@example.com @example.net strasse@example.com"
snap p1 -k "$S/k1.key" -o $O1 -s 10 "$S/s1"
push p1
is "$CODE" 200 "full push: 200"
like "$BODY" '"serial":10' "full push: answer names the serial"
like "$BODY" '"recipients":5' "full push: answer counts recipients"
like "$BODY" '"domains":2' "full push: answer counts domains"
like "$BODY" '"install_ms":' "full push: answer has install_ms"
is "$(pq user@example.com relay_recipients)" OK "postmap reads user@example.com from relay_recipients"
is "$(pq @example.net relay_recipients)" OK "postmap reads the catch-all @example.net"
is "$(pq nobody@example.com relay_recipients)" "" "postmap finds no unknown user"
is "$(pq example.com relay_domains)" OK "postmap reads example.com from relay_domains"
is "$(pq example.net transport)" "smtp:[mx.example.net]:25" "postmap reads the transport nexthop"
like "$(cat "$S/log")" "push accepted: origin $O1 serial 10 full" "log line for the accepted push"
if grep -q "alice@example.com" "$S/log"; then not_ok "log holds no recipient"; else ok "log holds no recipient"; fi

# 2. a delta push
mkstate "$S/s2" "example.com example.net" \
	"user@example.com postmaster@example.com alice@example.com bob@example.com @example.net strasse@example.com"
snap p2 -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/s1" "$S/s2"
like "$(head -c 3 "$S/p2.body")" "+R" "the delta body is a delta"
push p2
is "$CODE" 200 "delta push: 200"
like "$BODY" '"recipients":6' "delta push: the new state has 6 recipients"
is "$(pq bob@example.com relay_recipients)" OK "delta added bob@example.com"
is "$(pq alice@example.com relay_recipients)" OK "delta kept alice@example.com"

# 3. a second origin merges in
K2=$(keyid "$S/k2.key")
mkstate "$S/t1" "example.org" "info@example.org postmaster@example.org"
snap q1 -k "$S/k2.key" -o $O2 -s 1 "$S/t1"
push q1
is "$CODE" 200 "second origin push: 200"
is "$(pq info@example.org relay_recipients)" OK "second origin's recipient installed"
is "$(pq bob@example.com relay_recipients)" OK "first origin's recipients kept"
is "$(pq example.org relay_domains)" OK "second origin's domain installed"
is "$(cdb -d "$MAPS/relay_domains.cdb" | grep -c OK)" 3 "relay_domains holds the 3 domains of both origins"
ls "$STATE"/origin-$O1.snap "$STATE"/origin-$O2.snap >/dev/null 2>&1
is "$?" 0 "one state file per origin"

# 4. status and metrics
get /v1/status
like "$BODY" "\"origin\":\"$O1\",\"serial\":11" "status JSON: origin 1 at serial 11"
like "$BODY" "\"origin\":\"$O2\",\"serial\":1" "status JSON: origin 2 at serial 1"
like "$BODY" '"accepted":3' "status JSON: 3 pushes accepted"
like "$BODY" "\"key_id\":\"$K1\"" "status JSON: key id"
like "$BODY" '"expired":false' "status JSON: not expired"
get /metrics
like "$BODY" "mxsyncd_origin_serial{origin=\"$O1\"} 11" "metrics: serial"
like "$BODY" "mxsyncd_origin_recipients{origin=\"$O2\"} 2" "metrics: recipients"
like "$BODY" 'mxsyncd_pushes_total{result="accepted"} 3' "metrics: pushes accepted"
like "$BODY" "mxsyncd_snapshot_expires_timestamp_seconds{origin=\"$O1\"}" "metrics: expiry"
like "$BODY" "mxsyncd_last_install_seconds" "metrics: last install"
run_rc "$MXSYNCD" -c "$S/syncd.conf" status --json
is "$RC" 0 "status --json exits 0"
like "$OUT" "\"origin\":\"$O1\",\"serial\":11" "offline status --json shows origin 1"
run_rc "$MXSYNCD" -c "$S/syncd.conf" status
like "$OUT" "$O2" "status table lists origin 2"

# 5. check, as Postfix would decide
ck() { run_rc "$MXSYNCD" -c "$S/syncd.conf" check "$1"; }
ck user@example.com
is "$RC" 0 "check user@example.com: exit 0"
is "$OUT" "accept user@example.com (matched user@example.com; origin $O1, serial 11, key $K1)" "check: accept line"
ck User+Tag@EXAMPLE.com
is "$RC" 0 "check User+Tag@EXAMPLE.com: accept"
like "$OUT" "(matched user@example.com;" "check: +ext stripped with the origin's delimiter"
ck info+x@example.org
like "$OUT" "accept info+x@example.org (matched info@example.org; origin $O2, serial 1, key $K2)" "check: second origin, the backup's one delimiter"
ck info-x@example.org
is "$RC" 1 "check: '-' is not the backup's delimiter"
ck anything@example.net
like "$OUT" "accept anything@example.net (matched @example.net;" "check: catch-all"
ck Straße@example.com
is "$RC" 0 "check: Straße folds to strasse"
ck nobody@example.com
is "$RC" 1 "check nobody@example.com: exit 1"
is "$OUT" "reject nobody@example.com: user unknown in relay recipient table (domain example.com from origin $O1, serial 11)" "check: user unknown line"
ck x@unknown.test
is "$RC" 1 "check x@unknown.test: exit 1"
is "$OUT" "reject x@unknown.test: relay access denied (domain not served)" "check: domain not served"
ck x@sub.example.com
is "$RC" 1 "check: a subdomain is not served"
ck "not an address"
is "$RC" 2 "check: a malformed address is a usage error"

# 6. postconf
run_rc "$MXSYNCD" -c "$S/syncd.conf" postconf
like "$OUT" "relay_domains = cdb:$MAPS/relay_domains" "postconf: relay_domains"
like "$OUT" "relay_recipient_maps = cdb:$MAPS/relay_recipients" "postconf: relay_recipient_maps"
like "$OUT" "transport_maps = cdb:$MAPS/transport" "postconf: transport_maps"
like "$OUT" "recipient_delimiter = " "postconf: recipient_delimiter"
case "$OUT" in *smtputf8_enable*) not_ok "postconf: no smtputf8_enable for ASCII maps" ;; *) ok "postconf: no smtputf8_enable for ASCII maps" ;; esac
like "$OUT" "parent_domain_matches_subdomains = debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,smtpd_access_maps" "postconf: parent_domain_matches_subdomains without relay_domains"

# 7. a restart keeps the state and the maps
sum=$(maps_sum "$MAPS")
syncd_stop
like "$(tail -n 3 "$S/log")" "stopping on signal" "SIGTERM stops the daemon cleanly"
syncd_start
is "$(maps_sum "$MAPS")" "$sum" "restart: maps unchanged"
get /v1/status
like "$BODY" "\"origin\":\"$O1\",\"serial\":11" "restart: origin 1 still at serial 11"
snap p3 -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/s1" "$S/s2"
push p3
is "$CODE" 409 "restart: serial 11 is now stale (409)"

# 8. a lost map is rebuilt at start
syncd_stop
rm -f "$MAPS/transport.cdb"
for f in "$MAPS"/relay_recipients-*.cdb; do echo junk >"$f"; done
syncd_start
is "$(pq info@example.org relay_recipients)" OK "start rebuilt a damaged relay_recipients"
is "$(pq example.net transport)" "smtp:[mx.example.net]:25" "start rebuilt a missing transport"
like "$(cat "$S/log")" "maps rebuilt" "the rebuild is logged"

# 9. apply FILE, the offline path (the daemon holds the lock: stop it)
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/none.snap"
is "$RC" 75 "apply while the daemon runs: exit 75"
syncd_stop
mkstate "$S/s3" "example.com example.net" \
	"user@example.com postmaster@example.com alice@example.com bob@example.com carol@example.com @example.net strasse@example.com"
"$MKSNAP" -k "$S/k1.key" -o $O1 -s 12 "$S/s3" "$S/f12.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/f12.snap"
is "$RC" 0 "apply FILE: exit 0"
like "$OUT" "installed origin $O1 serial 12" "apply FILE: message"
is "$(pq carol@example.com relay_recipients)" OK "apply FILE installed carol"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/f12.snap"
is "$RC" 1 "apply FILE again: exit 1 (replay)"
like "$OUT" "serial 12 is not above the current serial 12" "apply FILE replay: message"
mkstate "$S/s4" "example.com example.net" \
	"user@example.com postmaster@example.com alice@example.com bob@example.com carol@example.com dave@example.com @example.net strasse@example.com"
"$MKSNAP" -k "$S/k1.key" -o $O1 -s 13 --delta-from "$S/s3" "$S/s4" "$S/d13.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/d13.snap"
is "$RC" 0 "apply FILE with a delta: exit 0"
is "$(pq dave@example.com relay_recipients)" OK "apply delta added dave"

# an expired stored snapshot is flagged (and still served)
"$MKSNAP" -k "$S/k2.key" -o $O2 -s 2 --expires-in 2 "$S/t1" "$S/e2.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/e2.snap"
is "$RC" 0 "apply a snapshot that expires in 2 s"
sleep 2.2
run_rc "$MXSYNCD" -c "$S/syncd.conf" status
like "$(printf '%s\n' "$OUT" | grep "$O2")" "EXPIRED" "status table flags the expired origin"
like "$(printf '%s\n' "$OUT" | grep "$O1")" "$O1" "status table lists origin 1"
case "$(printf '%s\n' "$OUT" | grep "$O1")" in *EXPIRED*) not_ok "origin 1 is not flagged" ;; *) ok "origin 1 is not flagged" ;; esac
# EXPIRES is a readable UTC time with how far away it is, not an epoch
if printf '%s\n' "$OUT" | grep "$O2" |
	grep -Eq ' [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}Z \([0-9]+s ago\) EXPIRED$'; then
	ok "status table: an expiry as a UTC time and how long ago"
else
	not_ok "status table: an expiry as a UTC time and how long ago"; diag "$OUT"
fi
if printf '%s\n' "$OUT" | grep "$O1" |
	grep -Eq ' [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}Z \(in [0-9]+(s|m|h[0-9]{2}m|d[0-9]{2}h)\)$'; then
	ok "status table: a future expiry as a UTC time and how far ahead"
else
	not_ok "status table: a future expiry as a UTC time and how far ahead"; diag "$OUT"
fi
like "$(printf '%s\n' "$OUT" | head -n 1)" "EXPIRES (UTC)" "status table: the EXPIRES column says UTC"
printf '%s\n' "$OUT" | grep -Eq ' 1[0-9]{9}( |$)' && not_ok "status table: no raw epoch number" || ok "status table: no raw epoch number"
run_rc "$MXSYNCD" -c "$S/syncd.conf" status --json
like "$OUT" '"expired":true' "status JSON: expired true"
is "$(pq info@example.org relay_recipients)" OK "the expired origin's recipients are still served"

# 10. IPv6 listener
PORT6=$(free_port)
syncd_conf
SPORT6=$(free_port)
sed -i -e "s/^listen .*/listen = [::1]:$PORT6/" \
	-e "s/^status_listen .*/status_listen = [::1]:$SPORT6/" "$S/syncd.conf"
"$MXSYNCD" -c "$S/syncd.conf" run >>"$S/log" 2>&1 &
p6=$!
track_pid $p6
i=0; while [ $i -lt 50 ] && ! curl -s -o /dev/null --cacert "$S/tls/ca.pem" "https://[::1]:$SPORT6/v1/status"; do sleep 0.1; i=$((i + 1)); done
BODY=$(curl -sS --cacert "$S/tls/ca.pem" "https://[::1]:$SPORT6/v1/status" 2>&1)
like "$BODY" "\"serial\":13" "listens on [::1] and serves status"
BODY=$(curl -sS --cacert "$S/tls/ca.pem" "https://[::1]:$PORT6/v1/status" 2>&1)
like "$BODY" "served on status_listen" "the push port on [::1] answers, status only on status_listen"
stop_pid $p6
done_testing
