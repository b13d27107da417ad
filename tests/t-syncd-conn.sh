#!/bin/sh
# t-syncd-conn - 40 idle TCP connections, 5 idle TLS connections and one
# slow client trickling its body do not stop a good push from being
# installed promptly; idle connections are closed after the timeout; the
# slow client's own push completes; a connection storm beyond
# max_connections is refused without harm.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

TIMEOUT=3s
syncd_setup || done_testing
syncd_conf "max_connections = 64
max_per_address = 64"
syncd_start

mkstate "$S/a" "example.com" "postmaster@example.com a@example.com b@example.com"
mkstate "$S/o" "example.org" "info@example.org"
snap slow -k "$S/k2.key" -o $O2 -s 1 "$S/o"
snap good -k "$S/k1.key" -o $O1 -s 1 "$S/a"

python3 - "$PORT" "$S/tls/ca.pem" "$S/slow.hdr" "$S/slow.body" "$S/ready" >"$S/py.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
port, ca, hdr, body, ready = sys.argv[1:]
port = int(port)
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
ctx = ssl.create_default_context(cafile=ca)
def tls():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
idle_tls = [tls() for _ in range(5)]
b = open(body, "rb").read()
slow = tls()
req = b"POST /v1/push HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(b)
for line in open(hdr, "rb").read().splitlines():
    req += line + b"\r\n"
slow.sendall(req + b"\r\n")
open(ready, "w").write("ready\n")
# trickle one byte every 0.5 s for 5 s: never idle long enough to time out
sent = 0
end = time.time() + 5
while time.time() < end and sent < len(b) - 1:
    slow.sendall(b[sent:sent + 1]); sent += 1
    time.sleep(0.5)
slow.sendall(b[sent:])
slow.settimeout(10)
resp = slow.recv(4096).decode(errors="replace")
print("slow:", resp.split("\r\n")[0], resp[resp.find("{"):])
closed = 0
for s in idle + idle_tls:
    s.settimeout(0.5)
    try:
        # a closed connection reads EOF, perhaps after a TLS alert
        while True:
            if s.recv(4096) == b"":
                closed += 1
                break
    except socket.timeout:
        pass
    except Exception:
        closed += 1
print("idle closed:", closed)
PY
py=$!
track_pid $py
n=0; while [ ! -e "$S/ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
check "46 connections are open and the slow client has sent its headers" test -e "$S/ready"

t0=$(date +%s%N)
push good
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
is "$CODE" 200 "a good push while 45 connections idle and one trickles: 200"
[ $ms -lt 2000 ] && ok "the good push took ${ms} ms (< 2 s)" || not_ok "the good push took ${ms} ms (< 2 s)"
is "$(pq a@example.com relay_recipients)" OK "the good push is installed"
get /v1/status
like "$BODY" "\"origin\":\"$O1\",\"serial\":1" "status answers meanwhile"

wait $py
out=$(cat "$S/py.out")
like "$out" "slow: HTTP/1.1 200" "the slow client's own push completes"
like "$out" "idle closed: 45" "idle connections are closed after the 3 s timeout"
is "$(pq info@example.org relay_recipients)" OK "the slow client's push is installed"

# a storm of 100 connections: the limit refuses the excess, nothing breaks
python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(100):
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except Exception:
        pass
time.sleep(0.5)
for s in socks:
    s.close()
PY
sleep 0.5
mkstate "$S/a2" "example.com" "postmaster@example.com a@example.com b@example.com c@example.com"
snap good2 -k "$S/k1.key" -o $O1 -s 2 "$S/a2"
push good2
is "$CODE" 200 "after a connection storm a push is installed"
check "the daemon is still running" kill -0 "$SYNCD_PID"

# busy: with install_wait = 0s, a push that arrives while another install
# holds the lock is answered 503 with Retry-After (here either the large
# push or one of the small ones that race it), and changes nothing
syncd_stop
INSTALL_WAIT=0s syncd_conf
syncd_start
mkbig "$S/big" example.net 200000
snap big -k "$S/k1.key" -o $O1 -s 3 --allow-shrink "$S/big"
j=1
while [ $j -le 40 ]; do
	mkstate "$S/o$j" "example.org" "info@example.org u$j@example.org"
	snap small$j -k "$S/k2.key" -o $O2 -s $((j + 1)) "$S/o$j"
	j=$((j + 1))
done
curl -s --max-time 30 --cacert "$S/tls/ca.pem" -H @"$S/big.hdr" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$S/big.body" \
	-D "$S/big.h" -o "$S/big.resp" "https://127.0.0.1:$PORT/v1/push" &
bigpid=$!
track_pid $bigpid
busy=0 j=1
while [ $j -le 40 ] && kill -0 $bigpid 2>/dev/null; do
	push small$j -D "$S/small.h"
	if [ "$CODE" = 503 ]; then busy=1; break; fi
	j=$((j + 1))
done
wait $bigpid
if [ $busy = 0 ] && grep -q "another install" "$S/big.resp"; then
	busy=1
	BODY=$(cat "$S/big.resp")
	cp "$S/big.h" "$S/small.h"
fi
if [ $busy = 1 ]; then
	ok "a push during another install: 503"
	like "$BODY" '"error":"another install is in progress"' "busy: message"
	like "$(tr -d '\r' <"$S/small.h")" "Retry-After: 5" "busy: Retry-After header"
else
	not_ok "a push during another install: 503"
fi
if ! grep -q '"recipients":200000' "$S/big.resp"; then
	sleep 0.2
	push big
	BODY=$(cat "$S/resp")
else
	BODY=$(cat "$S/big.resp")
fi
like "$BODY" '"recipients":200000' "the large install completes (retried if it was the busy one)"
is "$(pq user199999@example.net relay_recipients)" OK "the maps hold the large state"
is "$(pq info@example.org relay_recipients)" OK "and the other origin's"
syncd_stop
done_testing
