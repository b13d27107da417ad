#!/bin/sh
# t-man - every manual page in man/ (*.1, *.5, *.8) renders without a
# warning: "mandoc -T lint -W warning", "groff -ww" and "man -l" must print
# nothing, and the page's .Dt/.TH must name the file's page and section.
. "$(dirname "$0")/lib/common.sh"

n=0
for p in "$TOP"/man/*.1 "$TOP"/man/*.5 "$TOP"/man/*.8; do
	[ -f "$p" ] || continue
	n=$((n + 1))
	name=$(basename "$p")
	page=${name%.*}
	sect=${name##*.}

	if command -v mandoc >/dev/null 2>&1; then
		run_rc mandoc -T lint -W warning "$p"
		if [ "$RC" = 0 ] && [ -z "$OUT" ]; then ok "$name: mandoc lint, no warnings"; else
			not_ok "$name: mandoc lint, no warnings (exit $RC)"
			printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
		fi
	else
		not_ok "mandoc is installed (Debian package mandoc)"
	fi

	run_rc groff -ww -mandoc -z -Tutf8 "$p"
	if [ "$RC" = 0 ] && [ -z "$OUT" ]; then ok "$name: groff -ww, no warnings"; else
		not_ok "$name: groff -ww, no warnings (exit $RC)"
		printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	fi

	err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$p" 2>&1 >"$T_DIR/$name.txt")
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$err" ] && [ -s "$T_DIR/$name.txt" ]; then
		ok "$name: man -l renders it silently"
	else
		not_ok "$name: man -l renders it silently (exit $rc)"
		printf '%s\n' "$err" | head -n 20 | sed 's/^/#   /'
	fi

	head=$(sed -n 's/^\.\(Dt\|TH\) \([^ ]*\) \([^ ]*\).*/\2 \3/p' "$p" | head -n 1 | tr 'A-Z' 'a-z' | tr -d '"')
	is "$head" "$page $sect" "$name: .Dt/.TH names $page($sect)"
done

[ "$n" -gt 0 ] && ok "$n manual pages checked" || not_ok "there are manual pages in man/"

done_testing
