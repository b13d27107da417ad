# attack.sh - push latency under unauthenticated load (sourced by
# tests/bench/run)
#
# One mxsyncd (default connection limits) and "mxsync-agent push" over a
# data set of ATK_NDOM domains and ATK_NRCPT recipients; the median of
# ATK_RUNS full pushes (push --full) and of ATK_RUNS deltas (one recipient
# added each), idle and while tests/tools/attack.py holds, in turn:
#
#	1000 idle TCP connections		from 50 loopback addresses
#	200 half-finished TLS handshakes	from 50 addresses
#	200 slowloris clients (a header byte a second)	from 50 addresses
#	all 1400 at once			from one address
#	all 1400 at once			from 50 addresses (> max_connections)
#
# The target is at most twice the idle time (the larger median of the
# idle pushes before and after the attacks); the network process's RSS
# under the idle-connection and the full attack is shown beside.  The attacker runs at nice 10
# (it stands for another machine).  Everything is stopped by pid.

ATK_NDOM=${ATK_NDOM:-100}
ATK_NRCPT=${ATK_NRCPT:-50000}
ATK_RUNS=${ATK_RUNS:-5}
ATK=$W/atk

# push_add - a new recipient in the first generated domain
push_add() {
	printf 'atk-new%d@d00000.example\td00000.example/atk-new%d/\n' \
		"$PUSH_SEQ" "$PUSH_SEQ" >>"$ARCPT"
}

# attack_scenario NAME SOURCES IDLE HANDSHAKE SLOWLORIS MINCONN - pushes
# while the attack holds at least MINCONN connections (or 10 s passed)
attack_scenario() {
	an=$1 asrc=$2
	attack_start "$ATK_PORT" "$TLS/ca.pem" "$asrc" "$ATK/$an.st" "$3" "$4" "$5"
	ai=0
	while [ $ai -lt 50 ]; do
		h1=$(attack_stat "$ATK/$an.st" held_idle)
		h2=$(attack_stat "$ATK/$an.st" held_handshake)
		h3=$(attack_stat "$ATK/$an.st" held_slowloris)
		h=$((${h1:-0} + ${h2:-0} + ${h3:-0}))
		[ "$h" -ge "$6" ] 2>/dev/null && break
		sleep 0.2
		ai=$((ai + 1))
	done
	sleep 1
	# the network process's memory while the attack holds its connections
	anet=$(pgrep -P "$ATK_SD" | head -n 1)
	[ -n "$anet" ] && awk '/^VmRSS:/ { print $2 }' "/proc/$anet/status" >"$R/atk_$an.kb"
	push_round "$ATK_RUNS"
	attack_stop "$ATK/$an.st"
	if [ "$PUSH_FAILS" != 0 ]; then
		fail_reason "atk_$an" "$PUSH_FAILS pushes failed: $PUSH_WHY"
		return
	fi
	echo "$FULL_MS $DELTA_MS" >"$R/atk_$an.ms"
	say "attack $an: full $FULL_MS ms, delta $DELTA_MS ms ($PUSH_LIST)"
}

attack_figures() {
	ATK_WHY=""
	mkdir -p "$ATK"
	if [ "$KEYS_OK" != 1 ]; then
		ATK_WHY=$KEYS_WHY
	elif ! "$BENCH/gen" "$ATK/data" "$ATK_NDOM" "$ATK_NRCPT" >/dev/null 2>&1; then
		ATK_WHY="data generation failed"
	fi
	if [ -z "$ATK_WHY" ]; then
		ATK_PORT=$(free_port)
		syncd_conf "$ATK/syncd" "$ATK_PORT"
		"$SYNCD" -c "$ATK/syncd/syncd.conf" run >"$ATK/syncd.log" 2>&1 &
		ATK_SD=$!
		track_pid "$ATK_SD"
		wait_port "$ATK_PORT" 30 || ATK_WHY="mxsyncd did not listen"
	fi
	if [ -z "$ATK_WHY" ]; then
		ACONF=$ATK/agent.conf
		ARCPT=$ATK/data/virtual_mailbox_maps
		agent_conf "$ACONF" "$ATK/agent-state" "file $ATK/data" \
			"https://127.0.0.1:$ATK_PORT"
		"$AGENT" -c "$ACONF" push >"$ATK/first.out" 2>&1 ||
			ATK_WHY="first push failed: $(tail -n 1 "$ATK/first.out" | cut -c1-80)"
	fi
	if [ -n "$ATK_WHY" ]; then
		for f in idle idle_conns handshakes slowloris one_address spread; do
			fail_reason "atk_$f" "$ATK_WHY"
		done
	else
		say "attack: idle pushes ($ATK_RUNS full, $ATK_RUNS delta)"
		push_round "$ATK_RUNS"
		if [ "$PUSH_FAILS" = 0 ]; then
			echo "$FULL_MS $DELTA_MS" >"$R/atk_idle.ms"
		else
			fail_reason atk_idle "$PUSH_WHY"
		fi
		spread=$(loopbacks 2 51)
		attack_scenario idle_conns "$spread" 1000 0 0 1000
		attack_scenario handshakes "$spread" 0 200 0 200
		attack_scenario slowloris "$spread" 0 0 200 200
		attack_scenario one_address 127.0.0.2 1000 200 200 32
		attack_scenario spread "$spread" 1000 200 200 1000
		# idle again: the machine is shared, the reference is the
		# larger median of before and after
		push_round "$ATK_RUNS"
		if [ "$PUSH_FAILS" = 0 ] && [ -s "$R/atk_idle.ms" ]; then
			set -- $(cat "$R/atk_idle.ms")
			[ "$FULL_MS" -gt "$1" ] || FULL_MS=$1
			[ "$DELTA_MS" -gt "$2" ] || DELTA_MS=$2
			echo "$FULL_MS $DELTA_MS" >"$R/atk_idle.ms"
		fi
	fi
	[ -n "${ATK_SD:-}" ] && stop_pid "$ATK_SD"
	rm -rf "$ATK"
}

attack_rows() {
	set -- $(cat "$R/atk_idle.ms" 2>/dev/null)
	if [ $# != 2 ]; then
		row "push under attack: idle (full / delta)" "n/a ($(na atk_idle))" "reference" ""
		return
	fi
	fi_ms=$1 di_ms=$2
	row "push, $ATK_NRCPT recipients, idle (full / delta)" "$fi_ms / $di_ms ms" "reference" ""
	for an in idle_conns handshakes slowloris one_address spread; do
		case $an in
		idle_conns) al="  1000 idle connections, 50 addresses" ;;
		handshakes) al="  200 half TLS handshakes, 50 addresses" ;;
		slowloris) al="  200 slowloris clients, 50 addresses" ;;
		one_address) al="  all 1400, one address" ;;
		spread) al="  all 1400, 50 addresses" ;;
		esac
		set -- $(cat "$R/atk_$an.ms" 2>/dev/null)
		if [ $# != 2 ]; then
			row "$al" "n/a ($(na "atk_$an"))" "<= 2x idle" ""
			continue
		fi
		row "$al" "$1 / $2 ms" "<= 2x idle" \
			"$(verdict "$1 <= 2 * $fi_ms && $2 <= 2 * $di_ms")"
	done
	for an in idle_conns spread; do
		[ -s "$R/atk_$an.kb" ] || continue
		case $an in
		idle_conns) al="  network process RSS, 1000 idle connections" ;;
		spread) al="  network process RSS, all 1400 (1024 held)" ;;
		esac
		row "$al" "$(fmt_mb "$(cat "$R/atk_$an.kb")")" "reference" ""
	done
}
