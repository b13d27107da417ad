#!/bin/sh
# t-syncd-attack - unauthenticated clients cannot lock pushes out: while
# 1000 idle connections, 200 half-finished TLS handshakes and 200 slowloris
# clients (a header byte a second) are held, first from one address, then
# spread over 50 loopback addresses (more than max_connections in all), full
# and delta "mxsync-agent push"es succeed and their medians (of 5) stay
# under header_timeout, the least a push would wait if it had to wait for
# the attacker's connections to be cut; the per-address limit,
# the header deadline and the eviction of clients without a request show in
# the metrics, and the daemon's log stays rate-limited.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/attack.sh"

agent_setup || done_testing
backup_setup mx2
BD=$T_DIR/b-mx2
SPORT=$(free_port)
sed -i "s/^status_listen .*/status_listen = 127.0.0.1:$SPORT/" "$BD/syncd.conf"
# the deadline the attack's connections are cut at, and the bound on a push
echo "header_timeout = 5s" >>"$BD/syncd.conf"
HEADER_TIMEOUT_MS=5000
backup_start mx2 || not_ok "mxsyncd listens"
SRC=$T_DIR/src
ARCPT=$SRC/virtual
mkdir -p "$SRC"
printf 'example.com\n' >"$SRC/domains"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "user%05d@example.com x\n", i }' >"$ARCPT"
agent_conf "[source files]
type = file
domains = $SRC/domains
recipients = $ARCPT" mx2
metric() {
	curl -s --max-time 10 --cacert "$TLS/ca.pem" "https://127.0.0.1:$SPORT/metrics" |
		sed -n "s/^$1 //p"
}
conns() { metric mxsyncd_connections; }
refused() { metric "mxsyncd_connections_refused_total{reason=\"$1\"}"; }

run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "the first push: exit 0"

# idle LABEL - the pushes without an attack, just before one
idle() {
	push_round 5
	is "$PUSH_FAILS" 0 "idle before $1: 5 full and 5 delta pushes succeed"
	IDLE_FULL=$FULL_MS IDLE_DELTA=$DELTA_MS
	diag "idle before $1: full $IDLE_FULL ms, delta $IDLE_DELTA ms ($PUSH_LIST)"
}

# under_attack LABEL - the pushes while the attack runs; the verdict waits
# for idle_after
under_attack() {
	push_round 5
	is "$PUSH_FAILS" 0 "$1: 5 full and 5 delta pushes succeed"
	[ -n "$PUSH_WHY" ] && diag "$PUSH_WHY"
	[ "$PUSH_FAILS" = 0 ] || { FULL_MS=999999 DELTA_MS=999999; }
	ATK_FULL=$FULL_MS ATK_DELTA=$DELTA_MS ATK_LIST=$PUSH_LIST
}

# idle_after LABEL - idle pushes again once the attack stopped, and the
# verdict on the pushes under attack.  A ratio of wall times on a shared
# machine says more about the other jobs than about the daemon, so the
# bound is header_timeout (5 s): a push locked out until the
# daemon cuts the attacker's connections at that deadline would take at
# least that long, and longer still as the attacker refills the slots,
# while a push that gets in at once takes a fraction of it even on a
# loaded machine.  The idle medians are printed beside it for comparison
# (make bench measures them on a quiet machine).
idle_after() {
	push_round 5
	is "$PUSH_FAILS" 0 "idle after $1: 5 full and 5 delta pushes succeed"
	diag "idle after $1: full $FULL_MS ms, delta $DELTA_MS ms ($PUSH_LIST)"
	diag "$1: full $ATK_FULL ms (idle $IDLE_FULL, $FULL_MS), delta $ATK_DELTA ms (idle $IDLE_DELTA, $DELTA_MS) ($ATK_LIST)"
	[ "$ATK_FULL" -lt $HEADER_TIMEOUT_MS ] &&
		ok "$1: full push median $ATK_FULL ms < header_timeout $HEADER_TIMEOUT_MS ms" ||
		not_ok "$1: full push median $ATK_FULL ms < header_timeout $HEADER_TIMEOUT_MS ms"
	[ "$ATK_DELTA" -lt $HEADER_TIMEOUT_MS ] &&
		ok "$1: delta push median $ATK_DELTA ms < header_timeout $HEADER_TIMEOUT_MS ms" ||
		not_ok "$1: delta push median $ATK_DELTA ms < header_timeout $HEADER_TIMEOUT_MS ms"
}

# 1. one address (the agent pushes from 127.0.0.1, the attacker is .2)
idle "one address"
ST=$T_DIR/attack1
attack_start "$PORT_mx2" "$TLS/ca.pem" 127.0.0.2 "$ST"
check "one address: the attacker fills its 32 connections" \
	wait_until 30 sh -c "[ \"\$(curl -s --cacert '$TLS/ca.pem' https://127.0.0.1:$SPORT/metrics | sed -n 's/^mxsyncd_connections //p')\" -ge 32 ]"
# past header_timeout (5 s): the held ones have been cut at least once
check "one address: connections without a request are cut after header_timeout" \
	wait_until 30 sh -c "[ \"\$(curl -s --cacert '$TLS/ca.pem' https://127.0.0.1:$SPORT/metrics | sed -n 's/^mxsyncd_connections_refused_total{reason=\"deadline\"} //p')\" -gt 0 ]"
under_attack "one address"
n=$(conns)
[ "$n" -le 33 ] && ok "one address: at most 32 connections (+ status) held ($n)" ||
	not_ok "one address: at most 32 connections (+ status) held ($n)"
n=$(refused per_address)
[ "${n:-0}" -gt 100 ] && ok "one address: the per-address limit refused $n connections" ||
	not_ok "one address: the per-address limit refused ${n:-0} connections"
check "one address: the attacker's clients were cut (TLS half-way and slowloris)" \
	wait_until 30 sh -c "[ \"\$(sed -n 's/^closed_handshake=//p' '$ST')\" -gt 0 ] && [ \"\$(sed -n 's/^closed_slowloris=//p' '$ST')\" -gt 0 ]"
attack_stop "$ST"
diag "one address: $(tr '\n' ' ' <"$ST")"
idle_after "one address"

# 2. spread over 50 addresses: 1400 connections, max_connections 1024
idle "50 addresses"
ST=$T_DIR/attack2
attack_start "$PORT_mx2" "$TLS/ca.pem" "$(loopbacks 2 51)" "$ST"
check "50 addresses: the attacker fills max_connections (1024)" \
	wait_until 60 sh -c "[ \"\$(curl -s --cacert '$TLS/ca.pem' https://127.0.0.1:$SPORT/metrics | sed -n 's/^mxsyncd_connections //p')\" -ge 1000 ]"
under_attack "50 addresses"
n=$(refused evicted)
[ "${n:-0}" -gt 0 ] && ok "50 addresses: $n clients without a request made room" ||
	not_ok "50 addresses: clients without a request made room (${n:-0})"
attack_stop "$ST"
diag "50 addresses: $(tr '\n' ' ' <"$ST")"
idle_after "50 addresses"
check "the daemon is still running" kill -0 "$BPID_mx2"
is "$(bq mx2 "new$PUSH_SEQ@example.com" relay_recipients)" OK "the last delta is installed"
lines=$(wc -l <"$BD/log")
[ "$lines" -lt 400 ] && ok "the log stays small under attack ($lines lines)" ||
	not_ok "the log stays small under attack ($lines lines)"
backup_stop mx2
done_testing
