# fanout.sh - the fan-out figures of the benchmark (sourced by tests/bench/run)
#
# One agent, many backups: FANOUT_MAX mxsyncd instances (default 100) on
# loopback, one binary with a state and maps directory and a port each.
#
# 1. At 100,000 recipients (the small data set, or the quick run's only
#    one), one agent daemon pushes to the first 1, 30 and FANOUT_MAX of
#    them: after one added recipient, the time of "sync-now --wait" (from
#    the change to every backup's acknowledgement) and the agent's CPU time
#    for it, read from /proc before and after, RUNS times each.  The table
#    shows them beside the one-backup figures, with the agent's CPU per
#    backup (the part above the one-backup figure, divided by the backups
#    added): it should stay flat as backups are added.
# 2. "mxsync-agent push --full" (the one-shot command) of the big data set
#    to 1 and to FANOUT_MEM backups (default 10): its peak RSS, so that the
#    memory each further backup adds shows (one shared body: close to 0).
#
# Every daemon is started here, tracked, and stopped by pid; the instances
# are bounded by FANOUT_MAX and every wait by a timeout.

FO=$W/fanout
FANOUT_MAX=${FANOUT_MAX:-100}
FANOUT_MEM=${FANOUT_MEM:-10}
FANOUT_SIZES=${FANOUT_SIZES-"1 30 $FANOUT_MAX"}
FO_PIDS=
FO_N=0

# fanout_start N - start mxsyncd instances 1..N; their ports in $FO/ports
fanout_start() {
	: >"$FO/ports"
	fi=1
	while [ $fi -le "$1" ]; do
		fp=$(free_port)
		syncd_conf "$FO/b$fi" "$fp"
		"$SYNCD" -c "$FO/b$fi/syncd.conf" run >"$FO/b$fi/log" 2>&1 &
		track_pid $!
		FO_PIDS="$FO_PIDS $!"
		echo "$fp" >>"$FO/ports"
		fi=$((fi + 1))
	done
	# one check of all ports at once: a process per port costs seconds
	python3 - "$FO/ports" <<'EOF' || { FANOUT_WHY="not every mxsyncd listened within 60 s"; return 1; }
import socket, sys, time
ports = [int(p) for p in open(sys.argv[1]).read().split()]
end = time.time() + 60
while ports and time.time() < end:
    left = []
    for p in ports:
        s = socket.socket()
        s.settimeout(0.2)
        if s.connect_ex(("127.0.0.1", p)) != 0:
            left.append(p)
        s.close()
    ports = left
    if ports:
        time.sleep(0.1)
sys.exit(1 if ports else 0)
EOF
}

# fanout_urls N - the URLs of the first N instances
fanout_urls() {
	head -n "$1" "$FO/ports" | sed 's|.*|https://127.0.0.1:&/|'
}

# fanout_cpu PID - CPU seconds a running process has used so far, all its
# threads, in nanoseconds of run time (schedstat; /proc/PID/stat counts
# 10 ms ticks, too coarse for a few ms per backup)
fanout_cpu() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null |
		awk '{ t += $1 } END { printf "%.4f\n", t / 1e9 }'
}

# fanout_add - one new recipient in the live map
fanout_add() {
	FO_N=$((FO_N + 1))
	printf 'fanout-new%d@d00000.example\td00000.example/fanout-new%d/\n' \
		"$FO_N" "$FO_N" >>"$FO/live/virtual_mailbox_maps"
}

# fanout_agent N - the agent daemon pushing to the first N instances
fanout_agent() {
	agent_conf "$FO/agent.conf" "$FO/agent" "file $FO/live" $(fanout_urls "$1")
	"$AGENT" -c "$FO/agent.conf" run >>"$FO/agent.log" 2>&1 &
	FO_AG=$!
	track_pid "$FO_AG"
	fw=0
	while [ $fw -lt 100 ] && [ ! -S "$FO/agent/agent.sock" ]; do
		if ! kill -0 "$FO_AG" 2>/dev/null; then
			FANOUT_WHY="agent run exited: $(tail -n 1 "$FO/agent.log" | cut -c1-80)"
			return 1
		fi
		sleep 0.1; fw=$((fw + 1))
	done
	[ -S "$FO/agent/agent.sock" ] || { FANOUT_WHY="agent run made no control socket"; return 1; }
}

fanout_stop_agent() {
	stop_pid "$FO_AG"
	rm -f "$FO/agent/agent.sock"
}

# fanout_timed N - RUNS changes, each timed to all N acknowledged
fanout_timed() {
	fn=fanout_$1
	rm -f "$R/$fn.s" "$R/$fn.cpu" "$R/$fn.na"
	fk=0
	while [ $fk -lt "$RUNS" ]; do
		fanout_add
		c0=$(fanout_cpu "$FO_AG")
		t0=$(now_ns)
		if ! "$AGENT" -c "$FO/agent.conf" sync-now --wait --timeout 120 \
			>"$FO/sync.out" 2>&1; then
			fail_reason "$fn" "sync-now --wait: $(tail -n 1 "$FO/sync.out" | cut -c1-80)"
			return 1
		fi
		t1=$(now_ns)
		c1=$(fanout_cpu "$FO_AG")
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >>"$R/$fn.s"
		awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.4f\n", b - a }' >>"$R/$fn.cpu"
		fk=$((fk + 1))
		sleep 0.3
	done
	say "$fn: $(tr '\n' ' ' <"$R/$fn.s")s, agent cpu $(tr '\n' ' ' <"$R/$fn.cpu")s"
}

# fanout_mem N - peak RSS of the one-shot full push of the big data set to
# the first N instances
fanout_mem() {
	agent_conf "$FO/push.conf" "$FO/push" "file $DATA" $(fanout_urls "$1")
	rm -f "$R/fanout_mem_$1.kb"
	if ! timed "fanout_mem_$1" "$AGENT" -c "$FO/push.conf" push --full; then
		fail_reason "fanout_mem_$1" "push --full: exit $trc: $(tail -n 1 "$R/fanout_mem_$1.err" | cut -c1-80)"
		return 1
	fi
	say "fanout_mem_$1: $(cat "$R/fanout_mem_$1.kb") KiB"
}

fanout_run() {
	if [ "$KEYS_OK" != 1 ]; then FANOUT_WHY=$KEYS_WHY; return 1; fi
	if ! have "$SYNCD"; then FANOUT_WHY="build/mxsyncd missing"; return 1; fi
	if ! have "$AGENT"; then FANOUT_WHY="build/mxsync-agent missing"; return 1; fi
	fsrc=$DATA
	[ "$MODE" = full ] && fsrc=$SMALL
	mkdir -p "$FO/live"
	cp "$fsrc/domains" "$fsrc/virtual_mailbox_maps" "$FO/live/"
	say "fan-out: starting $FANOUT_MAX mxsyncd instances"
	fanout_start "$FANOUT_MAX" || return 1
	for fs in $FANOUT_SIZES; do
		fanout_agent "$fs" || return 1
		say "fan-out: full pushes to $fs backups"
		if ! "$AGENT" -c "$FO/agent.conf" sync-now --wait --timeout 600 \
			>"$FO/sync.out" 2>&1; then
			fail_reason "fanout_$fs" "first sync-now --wait: $(tail -n 1 "$FO/sync.out" | cut -c1-80)"
			fanout_stop_agent
			continue
		fi
		say "fan-out: one added recipient, $fs backups ($RUNS runs)"
		fanout_timed "$fs"
		fanout_stop_agent
	done
	# the one-shot push of the big data set, for its memory
	for fs in 1 "$FANOUT_MEM"; do
		say "fan-out: push --full of $NRCPT recipients to $fs backups"
		fanout_mem "$fs"
	done
	return 0
}

fanout_figures() {
	FANOUT_WHY= FO_AG=
	mkdir -p "$FO"
	if ! fanout_run; then
		[ -n "$FANOUT_WHY" ] || FANOUT_WHY="failed"
		for fs in $FANOUT_SIZES mem_1 "mem_$FANOUT_MEM"; do
			[ -s "$R/fanout_$fs.s" ] || [ -s "$R/fanout_$fs.na" ] ||
				fail_reason "fanout_$fs" "$FANOUT_WHY"
		done
	fi
	[ -n "$FO_AG" ] && stop_pid "$FO_AG"
	for p in $FO_PIDS; do stop_pid "$p"; done
	rm -rf "$FO"
}

# fanout_ms SECONDS - "12.3 ms"
fanout_ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v * 1000 }'; }

fanout_rows() {
	f1=$(med fanout_1 s) c1=$(med fanout_1 cpu)
	for fs in $FANOUT_SIZES; do
		v=$(med "fanout_$fs" s) c=$(med "fanout_$fs" cpu)
		if [ -z "$v" ]; then
			row "fan-out 100k, 1 added, $fs backups: all acknowledged" \
				"n/a ($(na "fanout_$fs"))" "reference" ""
			continue
		fi
		if [ "$fs" = 1 ]; then
			row "fan-out 100k, 1 added, 1 backup: all acknowledged" \
				"$(fmt_s "$v"), agent cpu $(fanout_ms "$c")" "reference" ""
			continue
		fi
		row "fan-out 100k, 1 added, $fs backups: all acknowledged" \
			"$(fmt_s "$v"), agent cpu $(fanout_ms "$c")" \
			"1 backup: $(fmt_s "$f1"), cpu $(fanout_ms "$c1")" ""
		per=$(awk -v a="$c" -v b="$c1" -v n="$fs" 'BEGIN { printf "%.2f", 1000 * (a - b) / (n - 1) }')
		eval "FO_PER_$fs=$per"
		if [ "$fs" = "$FANOUT_MAX" ] && [ -n "${FO_PER_30:-}" ]; then
			row "  agent cpu per backup above 1 backup" "$per ms" \
				"flat: <= 1.5x the 30-backup ${FO_PER_30} ms" \
				"$(verdict "$per <= 1.5 * $FO_PER_30 + 0.5")"
		else
			row "  agent cpu per backup above 1 backup" "$per ms" "reference" ""
		fi
	done
	m1=$(med fanout_mem_1 kb) mn=$(med "fanout_mem_$FANOUT_MEM" kb)
	if [ -n "$m1" ] && [ -n "$mn" ]; then
		per=$(awk -v a="$mn" -v b="$m1" -v n="$FANOUT_MEM" 'BEGIN { printf "%.1f", (a - b) / 1024 / (n - 1) }')
		row "peak RSS agent push --full ($rcpt_label), 1 / $FANOUT_MEM backups" \
			"$(fmt_mb "$m1") / $(fmt_mb "$mn"): $per MB per backup" \
			"one shared body: < 2 MB per backup" "$(verdict "$per < 2")"
	else
		row "peak RSS agent push --full ($rcpt_label), 1 / $FANOUT_MEM backups" \
			"n/a ($(na fanout_mem_1); $(na "fanout_mem_$FANOUT_MEM"))" \
			"one shared body: < 2 MB per backup" ""
	fi
}
