# delta.sh - the delta figures of the benchmark (sourced by tests/bench/run)
#
# One agent daemon ("mxsync-agent run") over a copy of the big data set
# pushes to mxsyncd instances over HTTPS on loopback:
#
# 1. through countproxy to one mxsyncd: the octets on the wire for the first
#    (full) push and for the push after one recipient was added (delta);
# 2. straight to that mxsyncd: the time of "sync-now --wait" after adding
#    one recipient, RUNS times;
# 3. to three mxsyncd instances: the same;
# 4. the reference: the same one-line change of the text map
#    relay_recipients copied with rsync (its delta transfer, as over a
#    network) and rebuilt with "postmap lmdb:" on the copy, RUNS times;
# 5. with BENCH=large (LARGE_N set): 2. again over a data set of LARGE_N
#    recipients (10,000,000), beside the figure of 2., with one read of
#    the changed map by dd at either size beside it (the agent's floor).
#
# Every daemon is started here, tracked, and stopped by pid.

DL=$W/live
DELTA_N=0

# delta_add - add one new recipient to the live map, as a provisioning script
# would before calling sync-now
delta_add() {
	DELTA_N=$((DELTA_N + 1))
	printf 'bench-new%d@d00000.example\td00000.example/bench-new%d/\n' \
		"$DELTA_N" "$DELTA_N" >>"$DL/virtual_mailbox_maps"
}

# delta_syncd N - start mxsyncd number N; sets SD_PORT_N and SD_PID_N
delta_syncd() {
	dn=$1
	dp=$(free_port)
	syncd_conf "$W/syncd$dn" "$dp"
	"$SYNCD" -c "$W/syncd$dn/syncd.conf" run >"$W/syncd$dn/log" 2>&1 &
	dpid=$!
	track_pid "$dpid"
	eval "SD_PORT_$dn=$dp SD_PID_$dn=$dpid"
	if ! wait_port "$dp" 30; then
		DELTA_WHY="mxsyncd $dn did not listen: $(tail -n 1 "$W/syncd$dn/log" | cut -c1-80)"
		return 1
	fi
}

# delta_agent CONF - start the agent daemon on CONF; sets AG_PID
delta_agent() {
	"$AGENT" -c "$1" run >>"$W/agent-run.log" 2>&1 &
	AG_PID=$!
	track_pid "$AG_PID"
	i=0
	while [ $i -lt 100 ] && [ ! -S "$W/agent-run/agent.sock" ]; do
		if ! kill -0 "$AG_PID" 2>/dev/null; then
			DELTA_WHY="agent run exited: $(tail -n 1 "$W/agent-run.log" | cut -c1-80)"
			return 1
		fi
		sleep 0.1; i=$((i + 1))
	done
	if [ ! -S "$W/agent-run/agent.sock" ]; then
		DELTA_WHY="agent run made no control socket"
		return 1
	fi
}

# delta_sync CONF TIMEOUT - sync-now --wait, output in $W/sync.out
delta_sync() {
	"$AGENT" -c "$1" sync-now --wait --timeout "$2" >"$W/sync.out" 2>&1
}

# delta_count - "UP CONNECTIONS" so far from the counting proxy
delta_count() { awk '{ print $1, $3 }' "$W/proxy.count" 2>/dev/null || echo 0 0; }

delta_stop_agent() {
	stop_pid "$AG_PID"
	rm -f "$W/agent-run/agent.sock"
}

# delta_same NAME CONF - RUNS timed sync-now --wait when nothing changed, and
# as its reference the control socket's round trip (status); the files are
# left a second first, so that the daemon trusts them without reading
delta_same() {
	sleep 1.2
	repeat "$1" "$RUNS" "" "$AGENT" -c "$2" sync-now --wait --timeout 60
	repeat "$1_status" "$RUNS" "" "$AGENT" -c "$2" status
}

# delta_same_row NAME LABEL - the row of delta_same
delta_same_row() {
	v=$(med "$1" s)
	vs=$(med "$1_status" s)
	if [ -n "$v" ] && [ -n "$vs" ]; then
		row "sync-now --wait, nothing changed ($2)" "$(fmt_s "$v")" \
			"<= 2x status: $(fmt_s "$vs")" "$(verdict "$v <= 2 * $vs")"
	else
		row "sync-now --wait, nothing changed ($2)" "n/a ($(na "$1"))" "<= 2x status" ""
	fi
}

# delta_read NAME - RUNS timed reads of the changed map, once through and
# from the page cache: the least an agent that reads a changed file whole
# (O(changed file)) pays for the change before it sends anything
delta_read() {
	repeat "$1" "$RUNS" "" dd if="$DL/virtual_mailbox_maps" of=/dev/null bs=4M status=none
}

# delta_timed NAME CONF - RUNS timed sync-now --wait after one added recipient
delta_timed() {
	rm -f "$R/$1.s" "$R/$1.kb" "$R/$1.na"
	dk=0
	while [ $dk -lt "$RUNS" ]; do
		delta_add
		# let the change settle on disk as an editor's write would; the
		# daemon may see it by inotify first, which is the real flow
		if ! timed "$1" "$AGENT" -c "$2" sync-now --wait --timeout 60; then
			fail_reason "$1" "sync-now exit $trc: $(tail -n 1 "$R/$1.err" | cut -c1-80)"
			return 1
		fi
		dk=$((dk + 1))
		sleep 0.3
	done
	say "$1: $(tr '\n' ' ' <"$R/$1.s")s"
}

delta_run() {
	if [ "$KEYS_OK" != 1 ]; then DELTA_WHY=$KEYS_WHY; return 1; fi
	if ! have "$SYNCD"; then DELTA_WHY="build/mxsyncd missing"; return 1; fi
	if ! have "$AGENT"; then DELTA_WHY="build/mxsync-agent missing"; return 1; fi
	mkdir -p "$DL"
	cp "$DATA/domains" "$DATA/virtual_mailbox_maps" "$DL/"
	delta_syncd 1 || return 1

	# 1. bytes on the wire, through the counting proxy
	PX_PORT=$(free_port)
	python3 "$BENCH/countproxy" "$PX_PORT" "$SD_PORT_1" "$W/proxy.count" \
		>"$W/proxy.log" 2>&1 &
	PX_PID=$!
	track_pid "$PX_PID"
	if ! wait_port "$PX_PORT" 10; then DELTA_WHY="countproxy did not start"; return 1; fi
	agent_conf "$W/agent-run.conf" "$W/agent-run" "file $DL" "https://127.0.0.1:$PX_PORT/"
	# counted from before the agent starts: its first full push may be
	# under way before the sync-now below
	set -- $(delta_count); u0=$1 c0=$2
	delta_agent "$W/agent-run.conf" || return 1
	say "delta: first (full) push through the byte counter"
	if ! delta_sync "$W/agent-run.conf" 120; then
		DELTA_WHY="first sync-now --wait: $(tail -n 1 "$W/sync.out" | cut -c1-80)"
		return 1
	fi
	sleep 0.2
	set -- $(delta_count); u1=$1 c1=$2
	echo "$((u1 - u0)) $((c1 - c0))" >"$R/wire_full.b"
	delta_add
	lines=$(wc -l <"$W/agent-run.log")
	if ! delta_sync "$W/agent-run.conf" 60; then
		DELTA_WHY="delta sync-now --wait: $(tail -n 1 "$W/sync.out" | cut -c1-80)"
		return 1
	fi
	sleep 0.2
	set -- $(delta_count); u2=$1 c2=$2
	echo "$((u2 - u1)) $((c2 - c1))" >"$R/wire_delta.b"
	# the agent's own account of the push ("delta, N body bytes")
	tail -n +"$((lines + 1))" "$W/agent-run.log" |
		sed -n 's/.*acknowledged (\([a-z]*\), \([0-9]*\) body bytes.*/\1 \2/p' |
		tail -n 1 >"$R/body_delta.b"
	delta_stop_agent
	stop_pid "$PX_PID"
	say "delta: full push $(cut -d' ' -f1 "$R/wire_full.b") B, delta push $(cut -d' ' -f1 "$R/wire_delta.b") B (client to server, TLS included), agent says: $(cat "$R/body_delta.b")"

	# 2. one backup, direct
	agent_conf "$W/agent-run.conf" "$W/agent-run" "file $DL" "https://127.0.0.1:$SD_PORT_1/"
	delta_agent "$W/agent-run.conf" || return 1
	if ! delta_sync "$W/agent-run.conf" 120; then
		DELTA_WHY="sync-now --wait (1 backup): $(tail -n 1 "$W/sync.out" | cut -c1-80)"
		return 1
	fi
	say "delta: sync-now --wait, one backup ($RUNS runs)"
	dl0=$(wc -l <"$W/syncd1/log")
	delta_timed syncnow_1 "$W/agent-run.conf"
	# the backup's own account of each of those delta installs
	tail -n +"$((dl0 + 1))" "$W/syncd1/log" |
		sed -n 's/.*push accepted.* delta .*installed in \([0-9]*\) ms (checks \([0-9]*\), maps \([0-9]*\), state \([0-9]*\)).*/\1 \2 \3 \4/p' \
		>"$R/install_1.parts"
	awk '{ print $1 / 1000 }' "$R/install_1.parts" >"$R/install_1.s"
	delta_read read_1
	delta_same same_1 "$W/agent-run.conf"
	delta_stop_agent

	# 3. three backups
	delta_syncd 2 || return 1
	delta_syncd 3 || return 1
	agent_conf "$W/agent-run.conf" "$W/agent-run" "file $DL" \
		"https://127.0.0.1:$SD_PORT_1/" "https://127.0.0.1:$SD_PORT_2/" \
		"https://127.0.0.1:$SD_PORT_3/"
	delta_agent "$W/agent-run.conf" || return 1
	say "delta: full pushes to the two new backups"
	if ! delta_sync "$W/agent-run.conf" 180; then
		DELTA_WHY="sync-now --wait (3 backups): $(tail -n 1 "$W/sync.out" | cut -c1-80)"
		return 1
	fi
	say "delta: sync-now --wait, three backups ($RUNS runs)"
	delta_timed syncnow_3 "$W/agent-run.conf"
	delta_stop_agent
	return 0
}

# delta_rsync - the reference: rsync + postmap lmdb: of a one-line change
delta_rsync() {
	rm -f "$R/rsync_postmap.s" "$R/rsync_postmap.na"
	if ! command -v rsync >/dev/null 2>&1; then
		fail_reason rsync_postmap "rsync missing"
		return
	fi
	mkdir -p "$W/rs-src" "$W/rs-dst"
	cp "$DATA/relay_recipients" "$W/rs-src/relay_recipients"
	rsync -a "$W/rs-src/relay_recipients" "$W/rs-dst/" &&
		postmap -c "$PF" "lmdb:$W/rs-dst/relay_recipients" || {
		fail_reason rsync_postmap "first rsync + postmap failed"
		return
	}
	rk=0
	while [ $rk -lt "$RUNS" ]; do
		echo "rsync-new$rk@d00000.example OK" >>"$W/rs-src/relay_recipients"
		if ! timed rsync_postmap sh -c "rsync -a --no-whole-file '$W/rs-src/relay_recipients' '$W/rs-dst/' && postmap -c '$PF' 'lmdb:$W/rs-dst/relay_recipients'"; then
			fail_reason rsync_postmap "exit $trc: $(tail -n 1 "$R/rsync_postmap.err" | cut -c1-80)"
			break
		fi
		rk=$((rk + 1))
	done
	rm -rf "$W/rs-src" "$W/rs-dst"
}

# delta_large N - 2. over a data set of N recipients of its own
delta_large() {
	rm -f "$R/syncnow_large.s" "$R/syncnow_large.na" "$R/install_large.s"
	if [ "$KEYS_OK" != 1 ]; then fail_reason syncnow_large "$KEYS_WHY"; return 1; fi
	say "delta: generating $NDOM domains, $1 recipients"
	if ! "$BENCH/gen" "$W/large" "$NDOM" "$1"; then
		fail_reason syncnow_large "data generation failed"
		return 1
	fi
	# only the agent's two files are needed
	rm -f "$W/large/relay_recipients" "$W/large/relay_recipients.in" \
		"$W/large"/*.tsv
	DL=$W/large
	DELTA_N=0
	if ! delta_syncd L; then fail_reason syncnow_large "$DELTA_WHY"; return 1; fi
	agent_conf "$W/agent-run.conf" "$W/agent-run" "file $DL" "https://127.0.0.1:$SD_PORT_L/"
	if ! delta_agent "$W/agent-run.conf"; then fail_reason syncnow_large "$DELTA_WHY"; return 1; fi
	say "delta: first (full) push of $1 recipients"
	if ! delta_sync "$W/agent-run.conf" 900; then
		fail_reason syncnow_large "first sync-now --wait: $(tail -n 1 "$W/sync.out" | cut -c1-80)"
		return 1
	fi
	say "delta: sync-now --wait at $1 recipients, one backup ($RUNS runs)"
	dl0=$(wc -l <"$W/syncdL/log")
	delta_timed syncnow_large "$W/agent-run.conf" || return 1
	tail -n +"$((dl0 + 1))" "$W/syncdL/log" |
		sed -n 's/.*push accepted.* delta .*installed in \([0-9]*\) ms (checks \([0-9]*\), maps \([0-9]*\), state \([0-9]*\)).*/\1 \2 \3 \4/p' \
		>"$R/install_large.parts"
	awk '{ print $1 / 1000 }' "$R/install_large.parts" >"$R/install_large.s"
	delta_read read_large
	delta_same same_large "$W/agent-run.conf"
	return 0
}

delta_figures() {
	DELTA_WHY=
	AG_PID= PX_PID= SD_PID_1= SD_PID_2= SD_PID_3=
	if ! delta_run; then
		[ -n "$DELTA_WHY" ] || DELTA_WHY="failed"
		for f in wire_full wire_delta syncnow_1 syncnow_3; do
			[ -s "$R/$f.s" ] || [ -s "$R/$f.b" ] || [ -s "$R/$f.na" ] ||
				fail_reason "$f" "$DELTA_WHY"
		done
	fi
	for p in $AG_PID $PX_PID $SD_PID_1 $SD_PID_2 $SD_PID_3; do stop_pid "$p"; done
	rm -rf "$DL" "$W/syncd1" "$W/syncd2" "$W/syncd3" "$W/agent-run"
	say "delta: the reference, rsync + postmap lmdb: of one added line ($RUNS runs)"
	delta_rsync
	[ -n "${LARGE_N:-}" ] || return 0
	AG_PID= SD_PID_L=
	delta_large "$LARGE_N"
	for p in $AG_PID $SD_PID_L; do stop_pid "$p"; done
	rm -rf "$W/large" "$W/syncdL" "$W/agent-run"
	DL=$W/live
}

delta_rows() {
	if [ -s "$R/wire_delta.b" ]; then
		set -- $(cat "$R/wire_delta.b")
		row "delta push, 1 added: bytes on the wire" \
			"$1 B ($2 new TLS conn.)" "< 1024 B" "$(verdict "$1 < 1024")"
	else
		row "delta push, 1 added: bytes on the wire" "n/a ($(na wire_delta))" "< 1024 B" ""
	fi
	if [ -s "$R/body_delta.b" ]; then
		set -- $(cat "$R/body_delta.b")
		row "  of which HTTP body (agent log)" "$2 B ($1)" "reference" ""
	fi
	if [ -s "$R/wire_full.b" ]; then
		set -- $(cat "$R/wire_full.b")
		row "  full push: bytes on the wire" "$1 B ($2 new TLS conn.)" "reference" ""
	fi
	v=$(med syncnow_1 s)
	if [ -n "$v" ]; then
		row "sync-now --wait, 1 added ($rcpt_label), 1 backup" "$(fmt_s "$v")" "<= 0.150 s" "$(verdict "$v <= 0.15")"
	else
		row "sync-now --wait, 1 added ($rcpt_label), 1 backup" "n/a ($(na syncnow_1))" "<= 0.150 s" ""
	fi
	v=$(med install_1 s)
	if [ -n "$v" ]; then
		row "  of which the backup's delta install (its log)" \
			"$(awk -v v="$v" 'BEGIN { printf "%.0f ms", v * 1000 }') ($(sort -n "$R/install_1.parts" |
				awk -v m="$v" '$1 >= m * 1000 { printf "checks %s, maps %s, state %s", $2, $3, $4; exit }'))" \
			"<= 20 ms" "$(verdict "$v <= 0.020")"
	fi
	delta_same_row same_1 "$rcpt_label"
	v=$(med syncnow_3 s)
	if [ -n "$v" ]; then
		row "sync-now --wait, 1 added ($rcpt_label), 3 backups" "$(fmt_s "$v")" "<= 0.300 s" "$(verdict "$v <= 0.3")"
	else
		row "sync-now --wait, 1 added ($rcpt_label), 3 backups" "n/a ($(na syncnow_3))" "<= 0.300 s" ""
	fi
	v1=$(med syncnow_1 s)
	v=$(med syncnow_large s)
	ll=$(awk -v n="${LARGE_N:-0}" 'BEGIN { printf "%gM", n / 1e6 }')
	if [ -n "$v" ] && [ -n "$v1" ]; then
		row "sync-now --wait, 1 added ($ll), 1 backup" \
			"$(fmt_s "$v") ($(awk -v a="$v" -v b="$v1" 'BEGIN { printf "%.1fx", a / b }') the $rcpt_label figure)" \
			"<= 2x $rcpt_label" "$(verdict "$v <= 2 * $v1")"
		v=$(med install_large s)
		[ -z "$v" ] || row "  of which the backup's delta install (its log)" \
			"$(awk -v v="$v" 'BEGIN { printf "%.0f ms", v * 1000 }') ($(sort -n "$R/install_large.parts" |
				awk -v m="$v" '$1 >= m * 1000 { printf "checks %s, maps %s, state %s", $2, $3, $4; exit }'))" \
			"reference" ""
		r1=$(med read_1 s) rl=$(med read_large s)
		[ -z "$r1" ] || [ -z "$rl" ] ||
			row "  one read of the changed map (dd from the page cache, its start included), $rcpt_label / $ll" \
				"$(awk -v a="$r1" -v b="$rl" 'BEGIN { printf "%.0f ms / %.0f ms", a * 1000, b * 1000 }')" \
				"floor" ""
	elif [ -n "${LARGE_N:-}" ]; then
		row "sync-now --wait, 1 added ($ll), 1 backup" "n/a ($(na syncnow_large))" "<= 2x $rcpt_label" ""
	fi
	[ -z "${LARGE_N:-}" ] || delta_same_row same_large "$ll"
	v=$(med rsync_postmap s)
	if [ -n "$v" ]; then
		row "  rsync + postmap lmdb: of the same change, 1 backup" "$(fmt_t rsync_postmap)" "reference" ""
	else
		row "  rsync + postmap lmdb: of the same change, 1 backup" "n/a ($(na rsync_postmap))" "reference" ""
	fi
}
