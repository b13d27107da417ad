#!/bin/sh
# t-syncd-crash - kill -9 of mxsyncd at random moments of a push and
# install, 55 times: after each kill every map is a valid CDB (cdb -d reads
# it) equal to the old or the new state's map, and the daemon restarts
# cleanly with maps equal to the stored state and no temporary files left.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"

ROUNDS=${CRASH_ROUNDS:-55}
syncd_setup || done_testing
syncd_start

# Two states that differ in all three maps: ~20k recipients, so an install
# takes tens of milliseconds; Y adds 2000 recipients, a domain and changes
# a nexthop (X -> Y adds, Y -> X removes 9% of recipients: under max_shrink).
mkbig "$S/X" example.com 20000
{
	echo "D example.com smtp:[mx2.example.com]:25"
	echo "D example.net smtp:[mx.example.net]:25"
	{ grep '^R' "$S/X"; awk 'BEGIN { for (i = 0; i < 2000; i++) printf "R extra%06d@example.com\n", i }'
	  echo "R @example.net"; } | LC_ALL=C sort
} >"$S/Y"

# dumps NAME - checksums of the sorted records of the three maps
# MAPLIST - every map file by name, each relay_recipients shard on its own:
# a shard, like any map, is replaced whole, old or new
MAPLIST="relay_domains $(rr_maps "$MAPS" | tr -d ',' | sed "s|cdb:$MAPS/||g") transport"
dumps() {
	for m in $MAPLIST; do
		cdb -d "$MAPS/$m.cdb" >"$S/dump" 2>/dev/null || { echo "$m:invalid"; continue; }
		echo "$m:$(LC_ALL=C sort "$S/dump" | sha256sum | cut -c1-16)"
	done
}

snap x -k "$S/k1.key" -o $O1 -s 1 "$S/X"
push x
is "$CODE" 200 "state X installed"
HX=$(printf '%s' "$BODY" | sed 's/.*"state_hash":"\([0-9a-f]*\)".*/\1/')
DX=$(dumps)
snap y -k "$S/k1.key" -o $O1 -s 2 "$S/Y"
push y
is "$CODE" 200 "state Y installed"
HY=$(printf '%s' "$BODY" | sed 's/.*"state_hash":"\([0-9a-f]*\)".*/\1/')
DY=$(dumps)
[ "$DX" != "$DY" ] && ok "X and Y differ in the maps" || not_ok "X and Y differ in the maps"

cur=Y
seed=${CRASH_SEED:-$$}
diag "random seed $seed"
n_old=0 n_new=0 n_mixed=0
round=1
while [ $round -le $ROUNDS ]; do
	if [ $cur = X ]; then next=Y; else next=X; fi
	serial=$((round + 2))
	snap k -k "$S/k1.key" -o $O1 -s $serial "$S/$next"
	delay=$(awk -v s="$seed" -v i="$round" 'BEGIN { srand(s * 1000 + i); printf "%.3f", rand() * 0.25 }')
	curl -s --max-time 10 --cacert "$S/tls/ca.pem" -H @"$S/k.hdr" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$S/k.body" \
		-o /dev/null "https://127.0.0.1:$PORT/v1/push" 2>/dev/null &
	cpid=$!
	track_pid $cpid
	sleep "$delay"
	syncd_kill9 || not_ok "kill $round: the network process ends and frees the ports"
	wait "$cpid" 2>/dev/null
	if [ $cur = X ]; then old=$DX; new=$DY; else old=$DY; new=$DX; fi
	got=$(dumps)
	bad=""
	gen=""
	for m in $MAPLIST; do
		g=$(printf '%s\n' "$got" | grep "^$m:")
		o=$(printf '%s\n' "$old" | grep "^$m:")
		w=$(printf '%s\n' "$new" | grep "^$m:")
		if [ "$g" = "$o" ]; then gen="${gen}o"; elif [ "$g" = "$w" ]; then gen="${gen}n"; else bad="$bad $g"; fi
	done
	case $gen in *n*o* | *o*n*) n_mixed=$((n_mixed + 1)) ;; *n*) n_new=$((n_new + 1)) ;; *) n_old=$((n_old + 1)) ;; esac
	if [ -z "$bad" ]; then ok "kill $round after ${delay}s: every map valid, old or new ($gen)"; else
		not_ok "kill $round after ${delay}s: every map valid, old or new"; diag "bad:$bad"; fi

	syncd_start || { not_ok "restart $round: mxsyncd starts"; tail -n 5 "$S/log" | sed 's/^/#   /'; break; }
	get /v1/status
	h=$(printf '%s' "$BODY" | sed -n 's/.*"state_hash":"\([0-9a-f]*\)".*/\1/p')
	if [ "$h" = "$HX" ]; then cur=X; want=$DX; elif [ "$h" = "$HY" ]; then cur=Y; want=$DY; else cur=?; want=none; fi
	tmps=$(ls "$MAPS" "$STATE" | grep -c '\.tmp\.')
	if [ "$(dumps)" = "$want" ] && [ "$tmps" = 0 ]; then
		ok "restart $round: stored state $cur, maps equal to it, no temporary files"
	else
		not_ok "restart $round: stored state $cur, maps equal to it, no temporary files"
		diag "status: $BODY"; diag "tmp files: $tmps"; tail -n 5 "$S/log" | sed 's/^/#   /'
		break
	fi
	round=$((round + 1))
done
diag "after the kills: $n_old old, $n_new new, $n_mixed mixed (per-file) generations"
snap last -k "$S/k1.key" -o $O1 -s $((ROUNDS + 10)) "$S/Y"
push last
is "$CODE" 200 "after all the kills a push still installs"
syncd_stop
done_testing
