#!/bin/sh
# t-syncd-limits - the push port's limits, each with its refusal: "allow"
# refuses other addresses; status and metrics only on status_listen (or
# behind "allow"); two Content-Length headers, or Content-Length with
# Transfer-Encoding, answered 400 before anything is installed; the
# per-address limit; header_timeout cuts a client that trickles its
# headers; refusal lines are rate-limited with a summary line; with a
# descriptor limit below max_connections the daemon lowers it at start,
# and when accept runs out of descriptors it backs off instead of
# spinning (CPU time bounded) and recovers.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
mkstate "$S/a" "example.com" "postmaster@example.com a@example.com"
snap a1 -k "$S/k1.key" -o $O1 -s 1 "$S/a"
mkstate "$S/a2" "example.com" "postmaster@example.com a@example.com b@example.com"
snap a2 -k "$S/k1.key" -o $O1 -s 2 "$S/a2"
mkstate "$S/a3" "example.com" "postmaster@example.com a@example.com b@example.com c@example.com"
snap a3 -k "$S/k1.key" -o $O1 -s 3 "$S/a3"
mkstate "$S/a4" "example.com" "postmaster@example.com a@example.com b@example.com c@example.com d@example.com"
snap a4 -k "$S/k1.key" -o $O1 -s 4 "$S/a4"
metric() { get /metrics; printf '%s\n' "$BODY" | sed -n "s/^$1 //p"; }
refused_n() { metric "mxsyncd_connections_refused_total{reason=\"$1\"}"; }
# from ADDR PATH - GET https://127.0.0.1:$PORT/PATH from source ADDR
from() {
	BODY=$(curl -sS --max-time 10 --interface "$1" --cacert "$S/tls/ca.pem" \
		"https://127.0.0.1:$PORT$2" 2>&1)
	RC=$?
}

# --- 1. allow
syncd_conf "allow = 127.0.0.1/32, ::1"
syncd_start
push a1
is "$CODE" 200 "allow: a push from 127.0.0.1 (listed) is installed"
m0=$(maps_sum "$MAPS"); s0=$(state_sum)
CODE=$(curl -sS --max-time 10 --interface 127.0.0.2 --cacert "$S/tls/ca.pem" \
	-H @"$S/a2.hdr" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$S/a2.body" -o /dev/null -w '%{http_code}' \
	"https://127.0.0.1:$PORT/v1/push" 2>"$S/curl.err")
RC=$?
[ $RC != 0 ] && ok "allow: a push from 127.0.0.2 fails (curl exit $RC)" ||
	not_ok "allow: a push from 127.0.0.2 fails (curl exit $RC, HTTP $CODE)"
is "$(maps_sum "$MAPS")" "$m0" "allow: maps unchanged"
is "$(state_sum)" "$s0" "allow: state unchanged"
like "$(cat "$S/log")" "connection from 127.0.0.2 refused: not in allow" "allow: the refusal is logged with the address"
is "$(refused_n allow)" 1 "allow: counted in mxsyncd_connections_refused_total"
from 127.0.0.1 /v1/status
like "$BODY" "\"origin\":\"$O1\"" "allow: status on the push port behind allow"

# refusal log rate limit: 300 refused connections in a burst
n0=$(grep -c 'not in allow' "$S/log")
python3 - "$PORT" <<'PY'
import socket, sys
for _ in range(300):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    s.close()
PY
check "allow: the 300 refusals are counted" wait_until 20 sh -c "[ \"\$(curl -s --cacert '$S/tls/ca.pem' https://127.0.0.1:$SPORT/metrics | sed -n 's/^mxsyncd_connections_refused_total{reason=\"allow\"} //p')\" = 301 ]"
check "a summary line for the refusals not logged" \
	wait_until 25 grep -q 'refusals: [0-9]* more in the last 10 s not logged (allow [0-9]*)' "$S/log"
lines=$(( $(grep -c 'not in allow' "$S/log") - n0 ))
skipped=$(sed -n 's/.*refusals: \([0-9]*\) more in the last 10 s not logged (allow [0-9]*).*/\1/p' "$S/log" | awk '{ s += $1 } END { print s + 0 }')
[ "$lines" -le 20 ] && ok "rate limit: $lines of 300 refusals logged one by one (<= 10 a window)" ||
	not_ok "rate limit: $lines of 300 refusals logged one by one (<= 10 a window)"
is "$((lines + skipped))" 300 "rate limit: logged + summarised = 300"
syncd_stop

# --- 2. status_listen, framing, per-address limit, header_timeout
syncd_conf "max_per_address = 4
header_timeout = 2s"
syncd_start
from 127.0.0.1 /v1/status
like "$BODY" '"error":"status and metrics are served on status_listen"' "status: not on the push port without allow"
from 127.0.0.1 /metrics
like "$BODY" "served on status_listen" "metrics: not on the push port without allow"
get /v1/status
like "$BODY" "\"origin\":\"$O1\",\"serial\":1" "status: served on status_listen"
BODY=$(curl -sS --max-time 10 --cacert "$S/tls/ca.pem" -H @"$S/a2.hdr" \
	--data-binary @"$S/a2.body" "https://127.0.0.1:$SPORT/v1/push" 2>&1)
like "$BODY" '"error":"not found"' "status_listen takes no pushes"

# raw HDRFILE BODYFILE EXTRA-HEADERS - one request over TLS, the answer in BODY
raw() {
	BODY=$(python3 - "$PORT" "$S/tls/ca.pem" "$1" "$2" "$3" <<'PY' 2>&1
import socket, ssl, sys
port, ca, hdr, body, extra = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10), server_hostname="localhost")
b = open(body, "rb").read()
req = b"POST /v1/push HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
for line in open(hdr, "rb").read().splitlines():
    req += line + b"\r\n"
req += extra.replace("LEN", str(len(b))).replace("|", "\r\n").encode() + b"\r\n\r\n"
s.sendall(req + b)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except (socket.timeout, ssl.SSLError, OSError):
    pass
print(out.decode(errors="replace").split("\r\n")[0], out.decode(errors="replace")[out.find(b"{"):])
PY
)
}
m0=$(maps_sum "$MAPS"); s0=$(state_sum)
raw "$S/a2.hdr" "$S/a2.body" "Content-Length: LEN|Content-Length: LEN"
like "$BODY" "HTTP/1.1 400" "framing: two Content-Length headers: 400"
like "$BODY" '"error":"conflicting framing: more than one Content-Length"' "framing: two Content-Length headers: message"
raw "$S/a2.hdr" "$S/a2.body" "Content-Length: LEN|Transfer-Encoding: chunked"
like "$BODY" "HTTP/1.1 400" "framing: Content-Length with chunked: 400"
like "$BODY" '"error":"conflicting framing: Content-Length with Transfer-Encoding"' "framing: Content-Length with chunked: message"
is "$(maps_sum "$MAPS")" "$m0" "framing: maps unchanged"
is "$(state_sum)" "$s0" "framing: state unchanged"
like "$(cat "$S/log")" "request refused: 400 framing from 127.0.0.1" "framing: logged"
raw "$S/a2.hdr" "$S/a2.body" "Content-Length: LEN"
like "$BODY" "HTTP/1.1 200" "the same request with one Content-Length is installed"

# per-address limit: 10 idle connections from 127.0.0.3, limit 4
python3 - "$PORT" "$S/held" <<'PY' &
import socket, sys, time
socks = []
for _ in range(10):
    s = socket.socket(); s.bind(("127.0.0.3", 0))
    s.connect(("127.0.0.1", int(sys.argv[1]))); socks.append(s)
open(sys.argv[2], "w").write("ok\n")
time.sleep(1.5)
PY
hp=$!
track_pid $hp
check "per-address: 10 connections from 127.0.0.3 made" wait_until 10 test -e "$S/held"
check "per-address: 6 of them refused" wait_until 10 sh -c "[ \"\$(curl -s --cacert '$S/tls/ca.pem' https://127.0.0.1:$SPORT/metrics | sed -n 's/^mxsyncd_connections_refused_total{reason=\"per_address\"} //p')\" = 6 ]"
like "$(cat "$S/log")" "connection from 127.0.0.3 refused: it has 4 connections (max_per_address)" "per-address: logged"
push a3
is "$CODE" 200 "per-address: a push from 127.0.0.1 meanwhile is installed"
wait $hp

# an IPv6 /64 is one address for max_per_address: in a network namespace
# of its own with fd00::1-3 on its loopback, 2 connections from fd00::2
# and one from fd00::3 (the same /64), max_per_address 2
mkdir -p "$S/v6state" "$S/v6maps"
cp "$S/syncd.conf" "$S/v6.conf"
sed -i -e "s/^listen .*/listen = [fd00::1]:$PORT/" -e "s/^status_listen .*/status_listen = none/" \
	-e "s/^max_per_address .*/max_per_address = 2/" \
	-e "s|^state_dir .*|state_dir = $S/v6state|" -e "s|^maps_dir .*|maps_dir = $S/v6maps|" "$S/v6.conf"
cat >"$S/v6.py" <<'EOPY'
import socket, sys, time
port = int(sys.argv[1])
for i in range(100):
    try:
        socket.create_connection(("fd00::1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
time.sleep(0.5)
socks = []
for src in ("fd00::2", "fd00::2", "fd00::3"):
    s = socket.socket(socket.AF_INET6)
    s.bind((src, 0))
    s.connect(("fd00::1", port))
    socks.append(s)
time.sleep(1)
EOPY
timeout 60 unshare -n sh -c '
	ip link set lo up || exit 1
	for a in 1 2 3; do ip -6 addr add fd00::$a/64 dev lo nodad || exit 1; done
	"$1" -c "$2" run >"$3" 2>&1 &
	pid=$!
	python3 "$4" "$5" >"$3.out" 2>&1
	kill $pid
	wait $pid
' sh "$MXSYNCD" "$S/v6.conf" "$S/v6.log" "$S/v6.py" "$PORT"
like "$(cat "$S/v6.log")" "connection from fd00::3 refused: it has 2 connections (max_per_address)" \
	"per-address: an IPv6 /64 counts as one address"

# header_timeout: a client that trickles its headers is cut after 2 s
out=$(python3 - "$PORT" "$S/tls/ca.pem" <<'PY' 2>&1
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20), server_hostname="localhost")
t0 = time.time()
s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Pad: ")
try:
    for i in range(40):
        s.sendall(b"a")
        time.sleep(0.5)
    print("never cut")
except OSError:
    print("cut after %.0f s" % (time.time() - t0))
PY
)
case "$out" in "cut after "[2-9]" s") ok "header_timeout: a trickling client is cut ($out)" ;;
*) not_ok "header_timeout: a trickling client is cut ($out)" ;; esac
like "$(cat "$S/log")" "closed: no complete request within 2000 ms" "header_timeout: logged"
syncd_stop

# --- 3. descriptors: a limit below max_connections, and EMFILE at accept
syncd_conf "max_connections = 1000
max_per_address = 1000"
(ulimit -n 64; exec "$MXSYNCD" -c "$S/syncd.conf" run) >>"$S/log" 2>&1 &
SYNCD_PID=$!
track_pid $SYNCD_PID
check "ulimit -n 64: the daemon starts" wait_port "$PORT" 10
like "$(cat "$S/log")" "open file limit 64 (hard 64): max_connections lowered from 1000 to 32" "ulimit -n 64: max_connections lowered, said at start"
NET=$(pgrep -P "$SYNCD_PID" | head -n 1)
# the network process loses its descriptors under a flood of 200
prlimit --pid "$NET" --nofile=16:64
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
python3 "$TOP/tests/tools/attack.py" --port "$PORT" --ca "$S/tls/ca.pem" \
	--idle 200 --sources 127.0.0.4,127.0.0.5 --duration 8 --reconnect 0.2 \
	--stats "$S/emfile" >/dev/null 2>&1 &
ap=$!
track_pid $ap
sleep 1
c0=$(cpu "$NET")
sleep 5
c1=$(cpu "$NET")
ticks=$((c1 - c0))
[ $ticks -lt 150 ] && ok "EMFILE: the network process used $ticks of 500 CPU ticks in 5 s (no spin)" ||
	not_ok "EMFILE: the network process used $ticks of 500 CPU ticks in 5 s (no spin)"
like "$(cat "$S/log")" "accept: Too many open files: not accepting for 250 ms" "EMFILE: logged (rate-limited)"
wait $ap
prlimit --pid "$NET" --nofile=64:64
push a4
is "$CODE" 200 "EMFILE: after the flood a push is installed"
check "EMFILE: the daemon is still running" kill -0 "$SYNCD_PID"
syncd_stop
done_testing
