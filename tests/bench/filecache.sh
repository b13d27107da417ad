# filecache.sh - the agent's export after a small change (sourced by
# tests/bench/run, after sources.sh)
#
# One agent daemon ("mxsync-agent run") over one file source: the big data
# set's domains and virtual_mailbox_maps (NRCPT lines) and a 100-line alias
# file.  The daemon keeps each file's records and reads again only the files
# that changed; status --json says per export how many files it read
# (files_read) and how long the export took (export_us, measured by the
# agent with CLOCK_MONOTONIC around the source's export).
#
#	filecache_full	the domains file touched: every file is read again,
#			the reference (the same work as the first export)
#	filecache_one	one line of the alias file changed: one file read;
#			a run counts only when files_read says 1
#	filecache_sync	the wall time of that "sync-now" (export, state
#			hash, the agent's guard, the answer), for orientation
#
# The backup URL is unreachable on purpose: no push competes with the
# export.  The daemon is tracked and stopped by pid.

FC=$W/filecache
FC_PID=

# filecache_st KEY - a field of the source in status --json
filecache_st() {
	"$AGENT" -c "$FC/agent.conf" status --json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["sources"][0].get(sys.argv[1]))' "$1"
}

# filecache_settled - a sync-now that read no file
filecache_settled() {
	"$AGENT" -c "$FC/agent.conf" sync-now >/dev/null 2>&1 &&
		[ "$(filecache_st files_read)" = 0 ]
}

# filecache_aliases N - the alias file with line 50 in version N
filecache_aliases() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= 100; i++)
			printf "alias%03d%s@d%05d.example\tsomeone@else.example\n",
				i, i == 50 ? "v" n : "", i % 10
	}' >"$FC/aliases.new" && cat "$FC/aliases.new" >"$FC/aliases"
}

# filecache_us NAME - record the last export's time (seconds) in NAME.s
filecache_us() {
	filecache_st export_us | awk '{ printf "%.6f\n", $1 / 1e6 }' >>"$R/$1.s"
}

filecache_run() {
	if [ "$KEYS_OK" != 1 ]; then FC_WHY=$KEYS_WHY; return 1; fi
	if ! have "$AGENT"; then FC_WHY="build/mxsync-agent missing"; return 1; fi
	mkdir -p "$FC"
	cp "$DATA/domains" "$FC/domains"
	filecache_aliases 0
	sources_conf "$FC/agent.conf" "$FC/state" "[source files]
type       = file
domains    = $FC/domains
recipients = $DATA/virtual_mailbox_maps $FC/aliases"
	"$AGENT" -c "$FC/agent.conf" run >"$FC/log" 2>&1 &
	FC_PID=$!
	track_pid "$FC_PID"
	if ! wait_until 30 test -S "$FC/state/agent.sock"; then
		FC_WHY="agent run made no control socket: $(tail -n 1 "$FC/log" | cut -c1-80)"
		return 1
	fi
	rm -f "$R/filecache_full.s" "$R/filecache_one.s" "$R/filecache_sync.s"
	fk=0
	while [ $fk -lt "$RUNS" ]; do
		wait_until 60 filecache_settled || { FC_WHY="the files never settled"; return 1; }
		touch "$FC/domains"
		"$AGENT" -c "$FC/agent.conf" sync-now >/dev/null 2>&1 || { FC_WHY="sync-now failed"; return 1; }
		[ "$(filecache_st files_read)" = 3 ] && filecache_us filecache_full
		wait_until 60 filecache_settled || { FC_WHY="the files never settled"; return 1; }
		filecache_aliases "$((fk + 1))"
		t0=$(now_ns)
		"$AGENT" -c "$FC/agent.conf" sync-now >/dev/null 2>&1 || { FC_WHY="sync-now failed"; return 1; }
		t1=$(now_ns)
		if [ "$(filecache_st files_read)" = 1 ]; then
			filecache_us filecache_one
			awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >>"$R/filecache_sync.s"
		fi
		fk=$((fk + 1))
	done
	[ -s "$R/filecache_one.s" ] || { FC_WHY="no export read exactly one file"; return 1; }
	say "filecache: one file $(tr '\n' ' ' <"$R/filecache_one.s")s, all files $(tr '\n' ' ' <"$R/filecache_full.s" 2>/dev/null)s"
	return 0
}

filecache_figures() {
	FC_WHY=
	say "agent export after a 1-line change beside $NRCPT lines ($RUNS runs)"
	if ! filecache_run; then
		for f in filecache_one filecache_full filecache_sync; do
			[ -s "$R/$f.s" ] || fail_reason "$f" "$FC_WHY"
		done
	fi
	stop_pid "$FC_PID"
	rm -rf "$FC"
}

# filecache_ms NAME - the median of NAME in milliseconds
filecache_ms() { awk -v v="$(med "$1" s)" 'BEGIN { printf "%.1f ms", v * 1000 }'; }

filecache_rows() {
	v=$(med filecache_one s)
	if [ -n "$v" ]; then
		b=$(sort -g "$R/filecache_one.s" | head -n 1)
		row "agent export, 1 line changed in a 100-line file beside $rcpt_label lines" \
			"$(filecache_ms filecache_one) (best $(awk -v v="$b" 'BEGIN { printf "%.1f", v * 1000 }'); 1 file read)" \
			"< 30 ms" "$(verdict "$v < 0.030")"
	else
		row "agent export, 1 line changed in a 100-line file beside $rcpt_label lines" \
			"n/a ($(na filecache_one))" "< 30 ms" ""
	fi
	if [ -n "$(med filecache_full s)" ]; then
		row "  full export of the same files (daemon, all read)" "$(filecache_ms filecache_full)" "reference" ""
	else
		row "  full export of the same files" "n/a ($(na filecache_full))" "reference" ""
	fi
	if [ -n "$v" ] && [ -n "$(med filecache_full s)" ]; then
		row "  one file / all files (the machine's load cancels out)" \
			"$(awk -v a="$v" -v b="$(med filecache_full s)" 'BEGIN { printf "%.1f %%", 100 * a / b }')" "reference" ""
	fi
	if [ -n "$(med filecache_sync s)" ]; then
		row "  sync-now after the change (export, hash, guard)" "$(filecache_ms filecache_sync)" "reference" ""
	fi
	return 0
}
