#!/bin/sh
# t-agent-liar - the agent trusts no backup: a backup (tests/tools/
# liar-backup.py, real HTTPS) that answers 409 with a huge serial (bare,
# with a manifest not signed by the agent's key, or with one the agent's
# key did sign but far ahead of the clock or for another origin), or 200
# with a stale serial
# or a wrong state hash, fails alone: the real backups get every state, the
# ledger's serial stays near the clock, the daemon backs off instead of
# re-pushing in a loop (requests counted), and removing the liar from
# agent.conf leaves nothing behind.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

LIAR=$TOP/tests/tools/liar-backup.py
LIAR_PID=""
agent_setup || done_testing
backup_setup mx2
backup_setup mx3
backup_start mx2
backup_start mx3
PORT_liar=$(free_port)
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\n' >"$SRC/domains"
printf 'alice@example.com a\npostmaster@example.com p\n' >"$SRC/virtual"
SOURCES="[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual"

# liar_start MODE [ARG] - (re)start the liar on PORT_liar; counts in
# $T_DIR/count
liar_start() {
	[ -n "$LIAR_PID" ] && stop_pid "$LIAR_PID"
	python3 "$LIAR" "$PORT_liar" "$TLS/cert.pem" "$TLS/key.pem" "$1" \
		"$T_DIR/count" ${2:+"$2"} >>"$T_DIR/liar.log" 2>&1 &
	LIAR_PID=$!
	track_pid $LIAR_PID
	wait_port "$PORT_liar" 10
}
count() { cat "$T_DIR/count" 2>/dev/null || echo 0; }
# ledger_serial - the serial the agent last minted
ledger_serial() { sed -n 's/^ "serial": \([0-9]*\).*/\1/p' "$ASTATE/ledger.json"; }
# sane_serial DESC - the ledger's serial is within a day of the clock
sane_serial() {
	s=$(ledger_serial)
	lim=$(( $(date +%s) + 86400 ))
	if [ -n "$s" ] && [ "$s" -le "$lim" ]; then ok "$1 (serial $s)"; else
		not_ok "$1 (serial '$s', limit $lim)"; fi
}

# --- one-shot pushes: each lie is that backup's refusal, nothing else's
agent_conf "$SOURCES" mx2 liar mx3
n=0
# manifests that really are signed by the agent's own key: one far ahead of
# the clock (as a key once used with a clock years ahead could have made),
# one for another origin
MKSNAP=$BIN/tests/tool-mksnap
printf 'D example.com smtp:[mx1.example.com]:25\nR alice@example.com\n' >"$T_DIR/held.state"
"$MKSNAP" -k "$T_DIR/agent.key" -o "$ORIGIN" -s 9007199254740990 --headers \
	"$T_DIR/held.state" "$T_DIR/held.body" >"$T_DIR/409far.hdr"
"$MKSNAP" -k "$T_DIR/agent.key" -o other.example.net -s $(( $(date +%s) + 600 )) \
	--headers "$T_DIR/held.state" "$T_DIR/held.body" >"$T_DIR/409other.hdr"
for mode in 409 409sig 409far 409other 200stale 200hash; do
	case $mode in
	409far | 409other) liar_start 409held "$T_DIR/$mode.hdr" ;;
	*) liar_start $mode ;;
	esac
	n=$((n + 1))
	echo "user$n@example.com u" >>"$SRC/virtual"
	run_rc "$AGENT" -c "$ACONF" push
	is "$RC" 1 "$mode: push exits 1 (the liar refused)"
	case $mode in
	409) want="claims serial 9007199254740990 without its signed manifest; not believed" ;;
	409sig) want="is not signed by our key" ;;
	409far) want="the backup holds serial 9007199254740990, more than 86400 s ahead of the clock; not followed" ;;
	409other) want="the manifest the backup holds is for origin other.example.net" ;;
	200stale) want="answered 200 with serial 1 and state hash" ;;
	200hash) want="and state hash 0000000000000000, not serial" ;;
	esac
	like "$OUT" "backup liar refused serial $(ledger_serial): " "$mode: the message names the liar"
	like "$OUT" "$want" "$mode: ... and the lie"
	like "$OUT" "mx2: serial" "$mode: mx2 acknowledged"
	like "$OUT" "mx3: serial" "$mode: mx3 acknowledged"
	check "$mode: mx2 has the new recipient" has mx2 "user$n@example.com"
	check "$mode: mx3 has the new recipient" has mx3 "user$n@example.com"
	sane_serial "$mode: the ledger's serial is not lifted"
	liar_ack=$(sed -n '/"liar"/,/}/s/.*"serial": \([0-9]*\).*/\1/p' "$ASTATE/ledger.json")
	is "$liar_ack" 0 "$mode: nothing is recorded as acknowledged by the liar"
done
before=$(ledger_serial)
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export still works"

# --- the daemon: no re-push loop against a liar (bounded backoff)
for mode in 200stale 409; do
	liar_start $mode
	echo "d$mode@example.com d" >>"$SRC/virtual"
	check "$mode: the daemon starts" agent_start
	check "$mode (daemon): mx2 gets the new recipient" wait_until 20 has mx2 "d$mode@example.com"
	check "$mode (daemon): mx3 gets the new recipient" wait_until 20 has mx3 "d$mode@example.com"
	check "$mode (daemon): the liar was asked" wait_until 20 test "$(count)" -ge 1
	c0=$(count)
	# Over 8 s, a backoff doubling from 1 s allows at most 4 more pushes;
	# the re-push loop this guards against made about 18 per second.
	t0=$(date +%s)
	while [ $(( $(date +%s) - t0 )) -lt 8 ]; do sleep 1; done
	c1=$(count)
	if [ $((c1 - c0)) -le 4 ]; then ok "$mode (daemon): $((c1 - c0)) pushes to the liar in 8 s (backoff)"; else
		not_ok "$mode (daemon): $((c1 - c0)) pushes to the liar in 8 s"; fi
	sane_serial "$mode (daemon): the ledger's serial is not lifted"
	run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 5
	is "$RC" 75 "$mode (daemon): sync-now --wait times out on the liar alone"
	like "$OUT" "liar" "$mode (daemon): and names it"
	agent_stop
done

# --- the liar removed from agent.conf: no trace of it in what is sent
stop_pid "$LIAR_PID"; LIAR_PID=""
agent_conf "$SOURCES" mx2 mx3
echo "after@example.com a" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "without the liar, push exits 0"
check "mx2 has the state pushed after the liar left" has mx2 after@example.com
check "mx3 has the state pushed after the liar left" has mx3 after@example.com
after=$(ledger_serial)
if [ -n "$after" ] && [ "$after" -gt "$before" ] && [ "$after" -le $(( $(date +%s) + 86400 )) ]; then
	ok "serials go on from the clock ($before, then $after)"; else
	not_ok "serials go on from the clock ($before, then '$after')"; fi
done_testing
