#!/bin/sh
# t-syncd-renames - the three maps are renamed transport, relay_recipients,
# relay_domains: "mxsyncd apply" is killed (SIGKILL) at a random moment of
# its install 120 times, each time with a snapshot that adds one new
# domain, and after every kill the maps on disk are read as Postfix reads
# them: every domain relay_domains relays has its route in transport and its
# recipient in relay_recipients.  Then strace kills it before each of its
# renames in turn, and a real backup Postfix on those maps accepts the new
# domain only with its route.  A restart then makes the maps match the
# stored state.
. "$(dirname "$0")/lib/common.sh"
# LeakSanitizer's check at exit stops the program's threads with ptrace:
# under strace it cannot, and a kill -9 during it leaves a report that it
# could not read a thread.  In a SAN=1 build the programs traced or killed
# here check no leaks; the same installs are checked where they end.
ASAN_NO_LEAKS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
. "$TOP/tests/lib/syncd.sh"

KILLS=${KILLS:-120}
syncd_setup || done_testing
"$BIN/mxsync-keys" generate -o "$S/k4.key" >/dev/null
"$BIN/mxsync-keys" trusted-line -o mx4.example.net "$S/k4.key" '*' >>"$S/trusted_keys"

# gen I - a snapshot of domains g1.test .. gI.test, each with its own route
# and one recipient, serial I
gen() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n; i++) printf "D g%d.test smtp:[mx.g%d.test]:25\n", i, i
		for (i = 1; i <= n; i++) printf "R a@g%d.test\n", i
	}' | LC_ALL=C sort >"$S/gen.txt"
	"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s "$1" "$S/gen.txt" "$S/gen$1.snap"
}

# consistent - every relayed domain has its route and its recipient
consistent() {
	cdb -d "$MAPS/relay_domains.cdb" >"$S/d.dump" &&
		cdb -d "$MAPS/transport.cdb" >"$S/t.dump" &&
		map_dump "$MAPS" relay_recipients >"$S/r.dump" || return 1
	awk -F'[:,>]' '
		FILENAME ~ /t.dump/ { sub(/^\+[0-9]+,[0-9]+:/, ""); split($0, kv, "->"); route[kv[1]] = kv[2]; next }
		FILENAME ~ /r.dump/ { sub(/^\+[0-9]+,[0-9]+:/, ""); split($0, kv, "->"); rcpt[kv[1]] = 1; next }
		/^\+/ { sub(/^\+[0-9]+,[0-9]+:/, ""); split($0, kv, "->"); d = kv[1]
			if (route[d] != "smtp:[mx." d "]:25") { print "no route for " d; bad = 1 }
			if (!rcpt["a@" d]) { print "no recipient for " d; bad = 1 } }
		END { exit bad }' "$S/t.dump" "$S/r.dump" "$S/d.dump"
}
# count MAP - records in a map
count() { cdb -d "$MAPS/$1.cdb" | grep -c '^+'; }

gen 1
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/gen1.snap"
is "$RC" 0 "the first generation installs"
# how long an install takes here, to spread the kills over it
t0=$(date +%s%N)
gen 2
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/gen2.snap"
is "$RC" 0 "the second generation installs"
span=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "one apply takes about $span ms; kills are spread over 0..$span ms"

i=2; bad=0; mixed=0; killed=0
while [ $i -lt $((KILLS + 2)) ]; do
	i=$((i + 1))
	gen $i
	ms=$(awk -v s="$span" -v seed="$i$$" 'BEGIN { srand(seed); printf "%d", rand() * s }')
	ASAN_OPTIONS=$ASAN_NO_LEAKS "$MXSYNCD" -c "$S/syncd.conf" \
		apply "$S/gen$i.snap" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
	kill -9 $pid 2>/dev/null && killed=$((killed + 1))
	wait $pid 2>/dev/null
	if ! consistent >"$S/why" 2>&1; then
		bad=$((bad + 1))
		diag "after kill $i at $ms ms: $(head -n 3 "$S/why")"
	fi
	[ "$(count transport)" != "$(count relay_domains)" ] && mixed=$((mixed + 1))
done
is "$bad" 0 "after $KILLS kills during installs, no relayed domain lacked its route or recipient"
diag "$killed of $KILLS processes were still running when killed; $mixed kills left transport ahead of relay_domains"

# Deterministic kill points, read by a real Postfix: strace kills "apply"
# on entering its Nth rename (transport, each relay_recipients shard,
# relay_domains, the stored state; strace counts per thread, and apply
# renames in one),
# so the kill lands before each rename in turn (exit 137 each time); then a
# backup Postfix on the maps on disk is asked RCPT TO for the new domain.
# It refuses until relay_domains is renamed, and by then transport_maps
# already has the domain's route: before rename 1 no route, before the
# first shard, the last shard and relay_domains the route but no relaying,
# before the last (the state) relaying with its route.
if [ "$(id -u)" = 0 ] && command -v strace >/dev/null; then
	g=$i # the last generation (lib/postfix.sh uses i)
	. "$TOP/tests/lib/postfix.sh"
	pf_backup "$T_DIR/pf" "$MAPS"
	# a fresh smtpd and trivial-rewrite for every session: the maps change
	# under them between probes
	echo "max_use = 1" | pf_main "$T_DIR/pf"
	if pf_start "$T_DIR/pf"; then
		BP=$(pf_port "$T_DIR/pf")
		# renames: transport, the SHARDS relay_recipients shards,
		# relay_domains, the stored state
		last=$((SHARDS + 3))
		for n in 1 2 $((SHARDS + 1)) $((SHARDS + 2)) $last; do
			g=$((g + 1))
			gen $g
			ASAN_OPTIONS=$ASAN_NO_LEAKS strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
				-e inject=rename,renameat,renameat2:signal=KILL:when=$n \
				"$MXSYNCD" -c "$S/syncd.conf" apply "$S/gen$g.snap" \
				>"$S/strace.out" 2>&1
			rc=$?
			[ "$rc" = 137 ] || sed 's/^/#   /' "$S/strace.out"
			code=$(smtp_codes "$BP" "a@g$g.test" | awk '{ print $2 }')
			route=$(postmap -c "$T_DIR/pf/conf" -q "g$g.test" "cdb:$MAPS/transport" 2>&1)
			# the order transport, relay_recipients, relay_domains:
			# the route is there before the domain is relayed
			if [ $n = 1 ]; then
				want="554 " what="nothing renamed: refused, no route yet"
			elif [ $n = $last ]; then
				want="250 smtp:[mx.g$g.test]:25" what="the maps are in place: accepted, with its route"
			else
				want="554 smtp:[mx.g$g.test]:25" what="the route is there, the domain not yet relayed"
			fi
			is "$rc $code $route" "137 $want" \
				"killed before rename $n: RCPT TO a@g$g.test: $what"
		done
		pf_stop "$T_DIR/pf"
	else
		not_ok "a backup Postfix on the maps starts"
	fi
else
	diag "not root or no strace: the kill points are not asked of a real Postfix"
fi

# a start makes the maps match the stored state again
syncd_start
check "after the kills the daemon starts" kill -0 "$SYNCD_PID"
check "the maps are consistent" consistent
n=$(count relay_domains)
is "$(count transport)" "$n" "transport and relay_domains hold the same generation"
run_rc "$MXSYNCD" -c "$S/syncd.conf" status
like "$OUT" "mx4.example.net" "status shows the origin"
done_testing
