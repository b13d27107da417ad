# attack.sh - unauthenticated load on a mxsyncd port, and push timings
# under it (sourced after common.sh and agent.sh; used by t-syncd-attack.sh
# and tests/bench/attack.sh)
#
#	attack_start PORT CA SOURCES STATS [IDLE HANDSHAKE SLOWLORIS]
#		tests/tools/attack.py in the background (default 1000 idle
#		connections, 200 half-finished TLS handshakes, 200 slowloris
#		clients) from the comma-separated loopback SOURCES; counters
#		in the file STATS; it runs at nice 10: its own CPU time
#		stands for an attacker's machine, not for the load it
#		puts on the daemon
#	attack_stop STATS	ask it to stop and wait for it
#	attack_stat STATS KEY	one counter
#	loopbacks FROM TO	127.0.0.FROM,...,127.0.0.TO
#	push_round N		N full pushes (push --full) and N deltas (one
#				recipient added first by push_add, which
#				callers may redefine) with
#				"mxsync-agent push": FULL_MS and DELTA_MS are
#				the medians, PUSH_FAILS the failed pushes, and
#				PUSH_WHY the output of the last failure

ATTACK_PY=$TOP/tests/tools/attack.py
ATTACK_PID=""
PUSH_SEQ=0

attack_start() {
	rm -f "$4" "$4.stop"
	nice -n 10 python3 "$ATTACK_PY" --port "$1" --ca "$2" --sources "$3" --stats "$4" \
		--idle "${5:-1000}" --handshake "${6:-200}" \
		--slowloris "${7:-200}" --duration 300 >"$4.log" 2>&1 &
	ATTACK_PID=$!
	track_pid $ATTACK_PID
}

attack_stop() {
	[ -n "$ATTACK_PID" ] || return 0
	touch "$1.stop"
	wait "$ATTACK_PID" 2>/dev/null
	ATTACK_PID=""
}

attack_stat() { sed -n "s/^$2=//p" "$1" 2>/dev/null; }

loopbacks() {
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++)
		printf "%s127.0.0.%d", (i > a ? "," : ""), i; print "" }'
}

# push_ms KIND [ARGS] - one agent push; PMS its wall time in ms
push_ms() {
	k=$1; shift
	t0=$(date +%s%N)
	"$AGENT" -c "$ACONF" push "$@" >"$T_DIR/.push.out" 2>&1
	prc=$?
	PMS=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ $prc != 0 ] || ! grep -q "($k," "$T_DIR/.push.out"; then
		PUSH_FAILS=$((PUSH_FAILS + 1))
		PUSH_WHY="exit $prc: $(tr '\n' ' ' <"$T_DIR/.push.out" | cut -c1-300)"
	fi
}

# median_of N... - the median of the numbers
median_of() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# push_add - one new recipient in the agent's source ($ARCPT)
push_add() { echo "new$PUSH_SEQ@example.com x" >>"$ARCPT"; }

push_round() {
	PUSH_FAILS=0 PUSH_WHY=""
	fl="" dl=""
	j=0
	while [ $j -lt "$1" ]; do
		push_ms full --full
		fl="$fl $PMS"
		PUSH_SEQ=$((PUSH_SEQ + 1))
		push_add
		push_ms delta
		dl="$dl $PMS"
		j=$((j + 1))
	done
	# shellcheck disable=SC2086
	FULL_MS=$(median_of $fl)
	# shellcheck disable=SC2086
	DELTA_MS=$(median_of $dl)
	PUSH_LIST="full:$fl; delta:$dl"
}
