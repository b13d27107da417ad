#!/bin/sh
# t-syncd-config - mxsyncd configuration: every error is "file:line:
# message" with exit 2, check-config and -n, usage errors, a listener that
# cannot bind (75), and SIGHUP reloads that swap in only a valid config.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

syncd_setup || done_testing
C=$S/syncd.conf

run_rc "$MXSYNCD" -c "$C" check-config
is "$RC" 0 "check-config: exit 0 on a good file"
like "$OUT" "$C: ok" "check-config: says ok"
run_rc "$MXSYNCD" -c "$C" -n
is "$RC" 0 "-n: exit 0 on a good file"

# bad LINE-TEXT WANT DESC - add a line to a good config, expect exit 2 and
# "file:line: WANT" where line is the added line
bad() {
	syncd_conf "$1"
	line=$(grep -n -F -x "$1" "$C" | head -n 1 | cut -d: -f1)
	run_rc "$MXSYNCD" -c "$C" check-config
	is "$RC" 2 "$3: exit 2"
	like "$OUT" "$C:$line: " "$3: reported at $C:$line"
	like "$OUT" "$2" "$3: message"
}
bad "colour = blue" "colour" "unknown key"
bad "max_connections = lots" "max_connections" "bad number"
bad "max_shrink = 150%" "max_shrink" "percentage over 100"
bad "timeout = 0s" "timeout" "timeout out of bounds"
bad "canaries = postmaster@example.com not-an-address" "canaries" "bad canary address"
bad "allow = 10.0.0.0/8 not-an-address" "allow: 'not-an-address': not an IP address" "allow: not an address"
bad "allow = 192.0.2.0/33" "allow: '192.0.2.0/33': bad prefix length" "allow: bad prefix length"
bad "sandbox = maybe" "sandbox must be landlock or none" "sandbox: unknown mode"
bad "header_timeout = 500ms" "header_timeout" "header_timeout out of bounds"
bad "max_per_address = 0" "max_per_address" "max_per_address out of bounds"
bad "max_expire = 10s" "max_expire" "max_expire below its minute"
bad "max_expire = soon" "max_expire" "max_expire that is no duration"
bad "max_serial_ahead = 400d" "max_serial_ahead" "max_serial_ahead beyond a year"
bad "shrink_window = -1h" "shrink_window" "negative shrink_window"
bad "recipient_delimiter = + x" "recipient_delimiter" "recipient_delimiter with a blank"

# replace KEY VALUE DESC WANT - change a key, expect exit 2 at its line
repl() {
	syncd_conf
	sed -i "s|^$1 .*|$1 = $2|" "$C"
	line=$(grep -n "^$1 = " "$C" | cut -d: -f1)
	run_rc "$MXSYNCD" -c "$C" check-config
	is "$RC" 2 "$3: exit 2"
	like "$OUT" "$C:$line: " "$3: reported at $C:$line"
	like "$OUT" "$4" "$3: message"
}
repl listen "nowhere" "listen without a port" "listen"
repl listen "127.0.0.1:99999" "listen with a bad port" "listen"
repl status_listen "127.0.0.1" "status_listen without a port" "status_listen '127.0.0.1': expected host:port"
repl state_dir "$S/nonexistent" "missing state_dir" "state_dir $S/nonexistent: No such file or directory"
repl maps_dir "$S/syncd.conf" "maps_dir not a directory" "not a directory"
repl trusted_keys "$S/nokeys" "missing trusted_keys" "trusted_keys $S/nokeys: No such file or directory"
repl tls_cert "$S/nocert.pem" "missing tls_cert" "tls_cert $S/nocert.pem"
repl max_body "12Q" "bad size" "max_body"

syncd_conf
printf '# keys\nmx1.example.com mxsync-ed25519 nothex AAAA example.com\n' >"$S/badkeys"
sed -i "s|^trusted_keys .*|trusted_keys = $S/badkeys|" "$C"
run_rc "$MXSYNCD" -c "$C" check-config
is "$RC" 2 "malformed trusted_keys: exit 2"
like "$OUT" "$S/badkeys:2: " "malformed trusted_keys: reported at its file:line"

printf '[agent]\nx = 1\n' >"$S/other.conf"
run_rc "$MXSYNCD" -c "$S/other.conf" check-config
is "$RC" 2 "a config without [syncd]: exit 2"
like "$OUT" "$S/other.conf:1: unknown section [agent]" "a foreign section is named"
printf '# empty\n' >"$S/empty.conf"
run_rc "$MXSYNCD" -c "$S/empty.conf" check-config
like "$OUT" "$S/empty.conf:1: missing section [syncd]" "an empty config: missing section"
run_rc "$MXSYNCD" -c "$S/absent.conf" check-config
is "$RC" 2 "a missing config file: exit 2"
like "$OUT" "absent.conf" "a missing config file is named"
run_rc "$MXSYNCD" -c "$C" frobnicate
is "$RC" 2 "unknown command: exit 2"
like "$OUT" "usage: mxsyncd" "unknown command: usage"
run_rc "$MXSYNCD" -c "$C" apply
is "$RC" 2 "apply without a file: exit 2"
run_rc "$MXSYNCD" -c "$C" -x
is "$RC" 2 "unknown option: exit 2"

# commands that need no TLS files still run without them
syncd_conf
sed -i "s|^tls_cert .*|tls_cert = $S/nocert.pem|" "$C"
run_rc "$MXSYNCD" -c "$C" postconf
is "$RC" 0 "postconf needs no certificate"
run_rc "$MXSYNCD" -c "$C" run
is "$RC" 2 "run without its certificate: exit 2"

# a listener that cannot bind: exit 75
syncd_conf
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$PORT" &
blocker=$!
track_pid $blocker
wait_port "$PORT" 5
run_rc timeout 10 "$MXSYNCD" -c "$C" run
is "$RC" 75 "run on a port in use: exit 75"
like "$OUT" "cannot listen on 127.0.0.1:$PORT" "run on a port in use: message"
stop_pid $blocker
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$SPORT" &
blocker=$!
track_pid $blocker
wait_port "$SPORT" 5
run_rc timeout 10 "$MXSYNCD" -c "$C" run
is "$RC" 75 "run with status_listen in use: exit 75"
like "$OUT" "cannot listen on status_listen 127.0.0.1:$SPORT" "run with status_listen in use: message"
check "... and the state directory was not touched" test ! -e "$STATE/.lock"
stop_pid $blocker

# SIGHUP: a broken config is refused and the old one kept; a valid one with
# a new trusted key is swapped in
syncd_conf
syncd_start
mkstate "$S/s" "example.com" "postmaster@example.com a@example.com"
snap k3push -k "$S/k3.key" -o mx3.example.com -s 1 "$S/s"
push k3push
is "$CODE" 403 "key 3 is not trusted yet"
cp "$C" "$S/good.conf"
echo "bogus = 1" >>"$C"
kill -HUP "$SYNCD_PID"
sleep 0.5
like "$(cat "$S/log")" "reload refused: $C:" "SIGHUP with a broken config: refused with file:line"
check "the daemon survives a refused reload" kill -0 "$SYNCD_PID"
cp "$S/good.conf" "$C"
"$BIN/mxsync-keys" trusted-line -o mx3.example.com "$S/k3.key" example.com >>"$S/trusted_keys"
sed -i 's/^mx1.example.com .*//' "$S/trusted_keys"
kill -HUP "$SYNCD_PID"
sleep 0.5
like "$(cat "$S/log")" "reloaded $C: 2 trusted keys" "SIGHUP with a valid config: reloaded"
push k3push
is "$CODE" 200 "after the reload key 3 is trusted"
syncd_stop

# -u USER: binds, then drops root; pushes still install
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chown -R nobody "$STATE" "$MAPS"
	syncd_start -u nobody
	uid=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' /proc/$SYNCD_PID/status)
	nuid=$(id -u nobody)
	is "$uid" "$nuid$nuid$nuid$nuid" "-u nobody: real, effective, saved and fs uid dropped"
	like "$(cat "$S/log")" "running as nobody" "-u nobody: logged"
	mkstate "$S/s2" "example.com" "postmaster@example.com a@example.com b@example.com"
	snap k3push2 -k "$S/k3.key" -o mx3.example.com -s 2 "$S/s2"
	push k3push2
	is "$CODE" 200 "-u nobody: a push installs"
	syncd_stop
	run_rc "$MXSYNCD" -c "$C" -u no-such-user-here run
	is "$RC" 2 "-u with an unknown user: exit 2"
else
	ok "# SKIP -u needs root"
fi
done_testing
