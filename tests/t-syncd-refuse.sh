#!/bin/sh
# t-syncd-refuse - every refusal of mxsyncd, over HTTPS and through
# "mxsyncd apply": the status code (or exit code) and message, and the maps
# and the stored state byte-for-byte unchanged afterwards.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
syncd_start

users=""
i=0; while [ $i -lt 20 ]; do users="$users u$i@example.com"; i=$((i + 1)); done
mkstate "$S/base" "example.com example.net" "postmaster@example.com$users @example.net"
snap b -k "$S/k1.key" -o $O1 -s 10 "$S/base"
push b
is "$CODE" 200 "baseline push of origin 1"
mkstate "$S/o2" "example.org shop.test" "info@example.org sales@shop.test"
snap o2 -k "$S/k2.key" -o $O2 -s 5 "$S/o2"
push o2
is "$CODE" 200 "baseline push of origin 2 (owns shop.test)"

# a new good state for origin 1, serial 11
mkstate "$S/next" "example.com example.net" "postmaster@example.com$users new@example.com @example.net"
K3=$(keyid "$S/k3.key")

snap r1 -k "$S/k1.key" -o $O1 -s 11 --tamper sig "$S/next"
refused r1 403 '"error":"bad signature (key id' "forged signature"
like "$BODY" '"serial":10' "refusal names the origin's current serial"
snap r2 -k "$S/k1.key" -o $O1 -s 11 --tamper manifest "$S/next"
refused r2 403 '"error":"bad signature' "manifest altered after signing"
snap r3 -k "$S/k3.key" -o $O1 -s 11 "$S/next"
refused r3 403 "\"error\":\"unknown key id $K3\"" "unknown key id"
snap r4 -k "$S/k1.key" -o $O2 -s 11 "$S/next"
refused r4 403 "\"error\":\"origin $O2 is not trusted for key id" "wrong origin for the key"
mkstate "$S/evil" "evil.test example.com" "postmaster@example.com$users x@evil.test"
snap r5 -k "$S/k1.key" -o $O1 -s 11 "$S/evil"
refused r5 403 '"error":"domain evil.test is outside the scope of key id' "domain out of the key's scope"
mkstate "$S/steal" "example.com example.net shop.test" "postmaster@example.com$users @example.net"
snap r6 -k "$S/k1.key" -o $O1 -s 11 "$S/steal"
refused r6 403 '"error":"domain shop.test is outside the scope of key id' "domain of another origin"
refused b 409 '"error":"serial 10 is not above the current serial 10"' "replayed snapshot"
snap r7 -k "$S/k1.key" -o $O1 -s 3 "$S/next"
refused r7 409 '"error":"serial 3 is not above the current serial 10"' "older serial"
snap r8 -k "$S/k1.key" -o $O1 -s 11 --created-offset -7200 --expires-in 3600 "$S/next"
refused r8 403 '"error":"manifest expired at ' "expired manifest"
snap r9 -k "$S/k1.key" -o $O1 -s 11 --created-offset 3600 "$S/next"
refused r9 403 'is in the future (clock_skew 300s)' "future-dated manifest"
snap r10 -k "$S/k1.key" -o $O1 -s 11 --body-size 20000000 "$S/next"
refused r10 413 '"error":"body of 20000000 bytes exceeds max_body 16777216"' "oversize body"
sz=$(wc -c <"$S/next")
snap r11 -k "$S/k1.key" -o $O1 -s 11 --body-size $((sz + 1)) "$S/next"
refused r11 400 "\"error\":\"Content-Length $sz is not the manifest's body_size $((sz + 1))\"" "Content-Length mismatch"
snap r12 -k "$S/k1.key" -o $O1 -s 11 --tamper body "$S/next"
refused r12 400 '"error":"body hash mismatch"' "body altered (hash mismatch)"
printf 'X-Mxsync-Manifest: %s\n' "$(printf '{"version":1,' | base64 -w0)" >"$S/r13.hdr"
grep Signature "$S/r12.hdr" >>"$S/r13.hdr"
cp "$S/r12.body" "$S/r13.body"
refused r13 400 '"error":"malformed manifest: ' "malformed manifest"
grep Manifest "$S/r12.hdr" >"$S/r14.hdr"
cp "$S/r12.body" "$S/r14.body"
refused r14 400 '"error":"missing header X-Mxsync-Signature"' "missing signature header"
printf 'X-Mxsync-Manifest: !!!notbase64\nX-Mxsync-Signature: AAAA\n' >"$S/r15.hdr"
cp "$S/r12.body" "$S/r15.body"
refused r15 400 '"error":"header X-Mxsync-Manifest: ' "manifest header not base64"

# deltas
snap r16 -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/base" --base-serial 9 "$S/next"
refused r16 409 '"error":"delta base serial 9 (hash ' "delta on the wrong base serial"
snap r17 -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/next" --base-serial 10 "$S/base"
refused r17 409 '"error":"delta base serial 10 (hash ' "delta on the wrong base hash"
snap r18 -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/base" --wrong-state-hash "$S/next"
refused r18 409 '"error":"delta refused: ' "delta whose result mismatches the signed hash"
snap r19 -k "$S/k2.key" -o $O2 -s 6 --delta-from "$S/base" --base-serial 5 --base-hash "$("$BIN/tests/tool-statehash" "$S/o2")" "$S/next"
refused r19 409 '"error":"delta refused: ' "delta that does not fit the base it claims"

# full states that do not match their manifest
snap r20 -k "$S/k1.key" -o $O1 -s 11 --wrong-state-hash "$S/next"
refused r20 400 '"error":"state hash mismatch"' "state hash mismatch"
snap r21 -k "$S/k1.key" -o $O1 -s 11 --wrong-counts "$S/next"
refused r21 400 '"error":"state has 2 domains and 23 recipients, the manifest says 2 and 24"' "record counts mismatch"
printf 'R b@example.com\nR a@example.com\nD example.com x\n' >"$S/bad"
snap r22 -k "$S/k1.key" -o $O1 -s 11 --raw-body "$S/bad"
refused r22 400 '"error":"malformed state: ' "malformed (unsorted) state"
# declared figures that can never fit a CDB map: refused from the headers,
# before the body is read, as permanent (4xx, not 503)
snap r22b -k "$S/k1.key" -o $O1 -s 11 --recipients 20000000000 "$S/next"
refused r22b 422 '"error":"maps would not fit: 20000000000 recipients (' "full push over the CDB limit"
snap r22c -k "$S/k1.key" -o $O1 -s 11 --delta-from "$S/base" --recipients 20000000000 "$S/next"
refused r22c 422 'need a relay_recipients map of at least' "delta push whose result is over the CDB limit"
get /metrics
like "$BODY" 'mxsyncd_pushes_total{result="refused",reason="too_large"} 3' "the CDB limit refusals are counted by reason (with the max_body one)"

# guards
mkstate "$S/shrink" "example.com example.net" "postmaster@example.com u3@example.com u4@example.com u5@example.com u6@example.com u7@example.com u8@example.com u9@example.com u10@example.com u11@example.com u12@example.com u13@example.com u14@example.com u15@example.com u16@example.com u17@example.com u18@example.com u19@example.com @example.net"
snap r23 -k "$S/k1.key" -o $O1 -s 11 "$S/shrink"
refused r23 422 '"error":"would remove 13.6% of recipients (3 of 22; max_shrink 10%)"' "shrink guard"
mkstate "$S/nocanary" "example.com example.net" "$users @example.net"
snap r24 -k "$S/k1.key" -o $O1 -s 11 "$S/nocanary"
refused r24 422 '"error":"canary postmaster@example.com would disappear"' "canary guard"
snap g1 -k "$S/k1.key" -o $O1 -s 11 --allow-shrink "$S/shrink"
push g1
is "$CODE" 200 "allow_shrink overrides the shrink guard"
is "$(pq u0@example.com relay_recipients)" "" "the allowed shrink removed u0"
mkstate "$S/nocanary2" "example.com example.net" "u3@example.com u4@example.com u5@example.com u6@example.com u7@example.com u8@example.com u9@example.com u10@example.com u11@example.com u12@example.com u13@example.com u14@example.com u15@example.com u16@example.com u17@example.com u18@example.com u19@example.com @example.net"
snap g2 -k "$S/k1.key" -o $O1 -s 12 --allow-shrink "$S/nocanary2"
push g2
is "$CODE" 200 "allow_shrink overrides the canary guard"

# a truncated body: the client hangs up; nothing changes
mkstate "$S/t" "example.com example.net" "$users @example.net"
snap t -k "$S/k1.key" -o $O1 -s 13 "$S/t"
m0=$(maps_sum "$MAPS"); s0=$(state_sum)
python3 - "$PORT" "$S/tls/ca.pem" "$S/t.hdr" "$S/t.body" <<'PY'
import socket, ssl, sys
port, ca, hdr, body = sys.argv[1:]
b = open(body, "rb").read()
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname="localhost")
req = b"POST /v1/push HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n" % len(b)
for line in open(hdr, "rb").read().splitlines():
    req += line + b"\r\n"
s.sendall(req + b"\r\n" + b[: len(b) // 2])
s.close()
PY
sleep 0.5
is "$(maps_sum "$MAPS")" "$m0" "truncated body: maps unchanged"
is "$(state_sum)" "$s0" "truncated body: state unchanged"
like "$(cat "$S/log")" "push aborted: origin $O1 serial 13" "truncated body: logged as aborted"
ls "$STATE" | grep -q 'tmp' && not_ok "truncated body: no temporary file left" || ok "truncated body: no temporary file left"
push t
is "$CODE" 200 "the same snapshot sent whole afterwards is accepted"

# the state file cannot be stored (its name is taken by a directory): the
# maps, built meanwhile, are put back as the store says, and nothing is left
mkstate "$S/u" "example.com example.net" "postmaster@example.com$users @example.net"
snap u -k "$S/k1.key" -o $O1 -s 14 "$S/u"
c0=$(cat "$MAPS"/*.cdb | sha256sum); s0=$(state_sum)
mv "$STATE/origin-$O1.snap" "$S/o1.saved" && mkdir "$STATE/origin-$O1.snap"
push u
rmdir "$STATE/origin-$O1.snap" && mv "$S/o1.saved" "$STATE/origin-$O1.snap"
is "$CODE" 503 "state not storable: HTTP 503"
like "$BODY" '"error":"state not stored: rename(' "state not storable: message"
is "$(cat "$MAPS"/*.cdb | sha256sum)" "$c0" "state not storable: maps byte-for-byte as before"
is "$(state_sum)" "$s0" "state not storable: state unchanged"
ls "$STATE" | grep -q 'tmp' && not_ok "state not storable: no temporary file left" || ok "state not storable: no temporary file left"
push u
is "$CODE" 200 "the same push is accepted once the state can be stored"

# counters
get /v1/status
like "$BODY" '"bad_signature":2' "status counts bad signatures"
like "$BODY" '"shrink":1' "status counts shrink refusals"
get /metrics
like "$BODY" 'mxsyncd_pushes_total{result="refused",reason="unknown_key"} 1' "metrics count refusals by reason"
like "$(cat "$S/log")" "push refused: 403 bad_signature: origin $O1 serial 11" "refusals are logged"

# the same refusals through "mxsyncd apply FILE": exit 1 and the message
syncd_stop
ap() {
	m0=$(maps_sum "$MAPS"); s0=$(state_sum)
	"$MKSNAP" "$@" "$S/ap.snap"
	run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/ap.snap"
	is "$RC" 1 "apply $DESC: exit 1"
	like "$OUT" "$WANT" "apply $DESC: message"
	is "$(maps_sum "$MAPS")" "$m0" "apply $DESC: maps unchanged"
	is "$(state_sum)" "$s0" "apply $DESC: state unchanged"
}
DESC="forged signature" WANT="refused (403 bad_signature): bad signature" ap -k "$S/k1.key" -o $O1 -s 20 --tamper sig "$S/next"
DESC="unknown key" WANT="unknown key id $K3" ap -k "$S/k3.key" -o $O1 -s 20 "$S/next"
DESC="old serial" WANT="serial 2 is not above the current serial 14" ap -k "$S/k1.key" -o $O1 -s 2 "$S/next"
DESC="expired" WANT="manifest expired at" ap -k "$S/k1.key" -o $O1 -s 20 --created-offset -100 --expires-in 50 "$S/next"
DESC="body hash" WANT="body hash mismatch" ap -k "$S/k1.key" -o $O1 -s 20 --tamper body "$S/next"
DESC="scope" WANT="domain evil.test is outside the scope" ap -k "$S/k1.key" -o $O1 -s 20 "$S/evil"
DESC="shrink" WANT="refused (422 shrink): would remove" ap -k "$S/k1.key" -o $O1 -s 20 "$S/shrink"
DESC="CDB limit" WANT="refused (422 too_large): maps would not fit: 20000000000 recipients" ap -k "$S/k1.key" -o $O1 -s 20 --recipients 20000000000 "$S/next"
printf 'not a snapshot\n' >"$S/junk.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/junk.snap"
is "$RC" 1 "apply of a file that is not a snapshot: exit 1"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/missing.snap"
is "$RC" 1 "apply of a missing file: exit 1"
done_testing
