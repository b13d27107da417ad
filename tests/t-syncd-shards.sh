#!/bin/sh
# t-syncd-shards - relay_recipients in shards: a delta rebuilds only the
# shards it touches, and "mxsyncd apply" killed between any two renames of
# one install (strace kills it on entry to its K-th rename, for every K)
# leaves every probe answering, through a real Postfix smtpd, as in the old
# or the new state; a restart then repairs the maps to the stored state.
# The state after a delta is a journal entry, replayed at start.
. "$(dirname "$0")/lib/common.sh"
# LeakSanitizer's check at exit stops the program's threads with ptrace:
# under strace it cannot, and a kill -9 during it leaves a report that it
# could not read a thread.  In a SAN=1 build the programs traced or killed
# here check no leaks; the same installs are checked where they end.
ASAN_NO_LEAKS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
. "$TOP/tests/lib/syncd.sh"
. "$TOP/tests/lib/postfix.sh"

syncd_setup || done_testing
"$BIN/mxsync-keys" generate -o "$S/k4.key" >/dev/null
"$BIN/mxsync-keys" trusted-line -o mx4.example.net "$S/k4.key" '*' >>"$S/trusted_keys"
CONF=$S/syncd.conf
N=24

# X: domains d01..d24.test with a@ and b@; Y: the same domains; b@, c@
# everywhere, a@ gone, a catch-all for d05.test.  The domains stay: smtpd
# reads a replaced relay_recipients shard at its next connection, while
# trivial-rewrite (relay_domains) takes up to 10 s, which would blur the
# probes (t-syncd-renames covers the order of the domain maps).
awk -v n=$N 'BEGIN {
	for (i = 1; i <= n; i++) printf "D d%02d.test smtp:[mx.d%02d.test]:25\n", i, i
	for (i = 1; i <= n; i++) printf "R a@d%02d.test\nR b@d%02d.test\n", i, i
}' | LC_ALL=C sort >"$S/X"
awk -v n=$N 'BEGIN {
	for (i = 1; i <= n; i++) printf "D d%02d.test smtp:[mx.d%02d.test]:25\n", i, i
	for (i = 1; i <= n; i++) printf "R b@d%02d.test\nR c@d%02d.test\n", i, i
	print "R @d05.test"
}' | LC_ALL=C sort >"$S/Y"
"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s 1 "$S/X" "$S/x.snap" &&
	"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s 2 --allow-shrink \
		--delta-from "$S/X" "$S/Y" "$S/y.snap" || { not_ok "mksnap"; done_testing; }
PROBES=$(awk -v n=$N 'BEGIN {
	for (i = 1; i <= n; i++) printf "a@d%02d.test b@d%02d.test c@d%02d.test ", i, i, i
	print "zz@d05.test zz@d04.test"
}')

# the first install: every shard, no journal
run_rc "$MXSYNCD" -c "$CONF" apply "$S/x.snap"
is "$RC" 0 "the full state installs"
is "$(ls "$MAPS" | grep -c '^relay_recipients-[0-9a-f][0-9a-f]\.cdb$')" 64 \
	"64 relay_recipients shards"
check "no single relay_recipients map" test ! -e "$MAPS/relay_recipients.cdb"
check "no journal after a full install" test ! -e "$STATE/origin-mx4.example.net.journal"
# each key in exactly one shard, the shard its domain names
total=0
for f in "$MAPS"/relay_recipients-*.cdb; do
	total=$((total + $(cdb -d "$f" | grep -c '^+')))
done
is "$total" $((2 * N)) "the shards together hold every recipient once"
is "$(pq a@d07.test relay_recipients)" OK "a@d07.test is found in exactly one shard"

# postconf lists the shards
run_rc "$MXSYNCD" -c "$CONF" postconf
like "$OUT" "relay_recipient_maps = cdb:$MAPS/relay_recipients-00, cdb:$MAPS/relay_recipients-01," \
	"postconf lists the shards"
like "$OUT" "cdb:$MAPS/relay_recipients-3f" "postconf lists shard 3f"
case $OUT in *relay_recipients-40*) not_ok "postconf lists no shard 40" ;; *) ok "postconf lists no shard 40" ;; esac
printf '%s\n' "$OUT" >"$S/postconf.out"

# a real Postfix backup reading the maps as postconf says
pf_backup "$S/pfb" "$MAPS" "$S/postconf.out" || { not_ok "pf_backup"; done_testing; }
pf_main "$S/pfb" <<EOF
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
EOF
pf_start "$S/pfb" || { not_ok "postfix starts"; done_testing; }
PFPORT=$(pf_port "$S/pfb")
# probe FILE - the answer to every probe, "ADDR CODE", one a line
probe() {
	# shellcheck disable=SC2086
	smtp_codes "$PFPORT" $PROBES | awk '{ print $1, $2 }' >"$1"
}
probe "$S/ans.X"
is "$(grep -c ' 250$' "$S/ans.X")" $((2 * N)) "X: Postfix accepts the 48 recipients of X"

# what Y answers, and the inode of each shard, after an uninterrupted delta
cp -a "$MAPS" "$S/maps.X" && cp -a "$STATE" "$S/state.X"
ls -i "$MAPS" | sort -k2 >"$S/ino.before"
ASAN_OPTIONS=$ASAN_NO_LEAKS strace -f -qq -o "$S/trace" -e trace=rename,renameat,renameat2 \
	"$MXSYNCD" -c "$CONF" apply "$S/y.snap" >/dev/null 2>&1
is "$?" 0 "the delta installs (under strace)"
ls -i "$MAPS" | sort -k2 >"$S/ino.after"
RENAMES=$(grep -c 'rename.*= 0' "$S/trace")
changed=$(join -j2 "$S/ino.before" "$S/ino.after" | awk '$2 != $3' | wc -l)
is "$RENAMES" "$changed" "every rename replaced a map (no state file renamed: the journal)"
check "the delta rebuilt fewer maps than exist" test "$changed" -lt 64
check "transport and relay_domains stay (no domain changed)" \
	sh -c "! join -j2 '$S/ino.before' '$S/ino.after' | awk '\$2 != \$3 { print \$1 }' | grep -q -e transport.cdb -e relay_domains.cdb"
check "a journal entry holds the delta" test -s "$STATE/origin-mx4.example.net.journal"
diag "maps replaced by the delta: $changed of 66"
probe "$S/ans.Y"
check "X and Y answer differently" sh -c "! cmp -s '$S/ans.X' '$S/ans.Y'"
is "$(awk '$1 == "zz@d05.test" { print $2 }' "$S/ans.Y")" 250 "Y: the new catch-all accepts zz@d05.test"

# restore - the old generation (new inodes: Postfix sees each file replaced)
restore() {
	rm -rf "$MAPS" "$STATE"
	cp -a "$S/maps.X" "$MAPS" && cp -a "$S/state.X" "$STATE"
}

# restart - start the daemon (which checks and repairs the maps before it
# listens), wait for it with a generous limit, stop it
restart() {
	syncd_start
	wait_port "$PORT" 90 || diag "mxsyncd did not listen within 90 s"
	syncd_stop
}

K=1 bad=0 mixed=0 repaired=0
while [ $K -le "$RENAMES" ]; do
	restore
	ASAN_OPTIONS=$ASAN_NO_LEAKS strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:signal=SIGKILL:when=$K \
		"$MXSYNCD" -c "$CONF" apply "$S/y.snap" >/dev/null 2>&1
	probe "$S/ans"
	# each probe answers as X or as Y did
	r=$(paste -d' ' "$S/ans" "$S/ans.X" "$S/ans.Y" | awk '
		$1 != $3 || $1 != $5 { print "probe order"; exit }
		$2 != $4 && $2 != $6 { print $1 " answered " $2 " (X " $4 ", Y " $6 ")"; bad = 1 }
		$4 != $6 { if ($2 == $4) o++; else n++ }
		END { if (!bad) print (o && n) ? "mixed" : "whole" }')
	case $r in
	mixed) mixed=$((mixed + 1)) ;;
	whole) ;;
	*) bad=$((bad + 1)); diag "killed at rename $K: $r" ;;
	esac
	# a start repairs the maps to the stored state (X: the journal was
	# not written, as the maps were not all in place)
	restart
	probe "$S/ans"
	if cmp -s "$S/ans" "$S/ans.X"; then repaired=$((repaired + 1)); else
		diag "after the kill at rename $K a restart did not give X"
		tail -n 3 "$S/log" | sed 's/^/#   /'; fi
	K=$((K + 1))
done
is "$bad" 0 "killed at each of the $RENAMES renames, every probe answered as in X or in Y"
check "some kills left shards of both generations ($mixed)" test "$mixed" -gt 0
is "$repaired" "$RENAMES" "after each kill a restart repaired the maps to the stored state"

# the journal is replayed at start: the delta's state survives a restart
restore
run_rc "$MXSYNCD" -c "$CONF" apply "$S/y.snap"
is "$RC" 0 "the delta installs"
restart
probe "$S/ans"
check "after a restart the maps answer as Y (journal replayed)" cmp -s "$S/ans" "$S/ans.Y"
run_rc "$MXSYNCD" -c "$CONF" status
is "$(printf '%s\n' "$OUT" | awk '$1 == "mx4.example.net" { print $2 }')" 2 "status shows serial 2 from the journal"

# a torn journal tail (a crash during an append) is ignored
printf 'mxsync-journal 400 12\n{"trunc' >>"$STATE/origin-mx4.example.net.journal"
run_rc "$MXSYNCD" -c "$CONF" status
is "$(printf '%s\n' "$OUT" | awk '$1 == "mx4.example.net" { print $2 }')" 2 "a torn last journal entry is ignored"
pf_stop "$S/pfb"

# compaction: after 32 journal entries the next delta writes the .snap whole
# and removes the journal; a restart still gives the last state
restore
prev=$S/X i=2 n_max=0
while [ $i -le 35 ]; do
	{ cat "$prev"; echo "R k$i@d01.test"; } | LC_ALL=C sort >"$S/c$i"
	"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s $i --delta-from "$prev" "$S/c$i" "$S/c$i.snap" &&
		"$MXSYNCD" -c "$CONF" apply "$S/c$i.snap" >/dev/null 2>&1 || break
	n=$(grep -c '^mxsync-journal ' "$STATE/origin-mx4.example.net.journal" 2>/dev/null || echo 0)
	[ "$n" -gt "$n_max" ] && n_max=$n
	prev=$S/c$i
	i=$((i + 1))
done
is "$i" 36 "34 deltas install one after the other"
is "$n_max" 32 "the journal grew to 32 entries"
is "$(grep -c '^mxsync-journal ' "$STATE/origin-mx4.example.net.journal")" 1 \
	"the 33rd delta wrote the state whole, the 34th is the journal's one entry"
is "$(sed -n 's/.*"serial":\([0-9]*\).*/\1/p' "$STATE/origin-mx4.example.net.snap" | head -n 1)" 34 \
	"the .snap holds serial 34"
restart
run_rc "$MXSYNCD" -c "$CONF" status
is "$(printf '%s\n' "$OUT" | awk '$1 == "mx4.example.net" { print $2 }')" 35 "after a restart: serial 35"
is "$(pq k35@d01.test relay_recipients)" OK "the last delta's recipient is served"

# a map over max_map_size is refused for good (422), before anything changes
syncd_conf "max_map_size = 8K"
awk 'BEGIN { print "D big.test smtp:[mx.big.test]:25"
	for (i = 0; i < 400; i++) printf "R user%04d@big.test\n", i }' | LC_ALL=C sort >"$S/Z"
"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s 40 --allow-shrink "$S/Z" "$S/z.snap"
sum=$(maps_sum "$MAPS")
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/z.snap"
is "$RC" 1 "an over-limit state: exit 1"
like "$OUT" "refused (422 too_large)" "answered 422 too_large, not 503"
like "$OUT" "relay_recipients-" "the message names the shard"
like "$OUT" "would be" "the message gives the size"
is "$(maps_sum "$MAPS")" "$sum" "the maps did not change"
# another recipient_shards: the next delta, though partial, rebuilds every
# map in the new layout (the marker relay_recipients.shards says which)
is "$(cat "$MAPS/relay_recipients.shards")" 64 "the layout marker says 64"
syncd_conf "recipient_shards = 16"
{ cat "$S/c35"; echo "R k36@d02.test"; } | LC_ALL=C sort >"$S/c36"
"$MKSNAP" -k "$S/k4.key" -o mx4.example.net -s 36 --delta-from "$S/c35" "$S/c36" "$S/c36.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/c36.snap"
is "$RC" 0 "a delta after the change installs"
is "$(cat "$MAPS/relay_recipients.shards")" 16 "the marker says 16"
SHARDS=16
total=0
for f in $(rr_maps "$MAPS" | tr -d ',' | sed 's/cdb://g'); do
	total=$((total + $(cdb -d "$f.cdb" | grep -c '^+')))
done
is "$total" "$(grep -c '^R' "$S/c36")" "the 16 shards hold every recipient once"
is "$(pq k36@d02.test relay_recipients)" OK "the new recipient is in its shard"
is "$(pq b@d17.test relay_recipients)" OK "an old one is in its (new) shard"
SHARDS=64
done_testing
