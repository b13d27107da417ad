#!/bin/sh
# t-lookup-postfix - "mxsyncd check" decides every probe exactly as the
# backup's real Postfix answers RCPT TO on maps mxsyncd built (extensions,
# a delimiter of several characters, postmaster, mailer-daemon,
# double-bounce, owner-*, *-request, catch-alls, mixed case, UTF-8); the
# backup's one recipient_delimiter: a second origin with another one is
# refused (push 422, apply exit 1, clear message, maps unchanged), with
# syncd.conf's recipient_delimiter set and unset; postconf prints it and
# smtputf8_enable; the canary guard cuts extensions as that Postfix does.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/syncd.sh"
. "$TOP/tests/lib/postfix.sh"

syncd_setup || done_testing
syncd_conf "recipient_delimiter = +@"
run_rc "$MXSYNCD" -c "$S/syncd.conf" check-config
is "$RC" 2 "a recipient_delimiter with @: configuration error"
line=$(grep -n '^recipient_delimiter = +@$' "$S/syncd.conf" | cut -d: -f1)
like "$OUT" "syncd.conf:$line: recipient_delimiter '+@': at most 15 printable characters, no space or @" "the message names the line"
syncd_conf "recipient_delimiter = +-"
syncd_start || { not_ok "mxsyncd starts"; done_testing; }

# origin 1 with the backup's delimiter (the same set, another order)
mkstate "$S/s1" "example.com example.net" \
	"user@example.com postmaster@example.com mailer@example.com double@example.com owner@example.com owner-list@example.com list@example.com jörg@example.com strasse@example.com bob@example.com @example.net"
snap p1 -k "$S/k1.key" -o $O1 -s 1 --delimiter "-+" "$S/s1"
push p1
is "$CODE" 200 "origin 1 with delimiter '-+' on a backup set to '+-': 200"

# a second origin with another delimiter: refused, maps unchanged
mkstate "$S/t1" "example.org" "info@example.org"
sum=$(maps_sum "$MAPS")
snap q1 -k "$S/k2.key" -o $O2 -s 1 --delimiter "+" "$S/t1"
push q1
is "$CODE" 422 "origin 2 with delimiter '+': 422"
like "$BODY" "recipient_delimiter '+' of origin $O2 differs from this backup's '+-' (syncd.conf recipient_delimiter)" "push refusal names both delimiters"
is "$(maps_sum "$MAPS")" "$sum" "refused push: maps unchanged"
is "$(pq info@example.org relay_recipients)" "" "refused push: origin 2's recipient absent"
like "$(cat "$S/log")" "recipient_delimiter '+' of origin $O2 differs" "refusal logged"

syncd_stop
"$MKSNAP" -k "$S/k2.key" -o $O2 -s 1 --delimiter "+" "$S/t1" "$S/q1.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/q1.snap"
is "$RC" 1 "apply with another delimiter: exit 1"
like "$OUT" "differs from this backup's '+-'" "apply refusal message"
is "$(maps_sum "$MAPS")" "$sum" "refused apply: maps unchanged"

# recipient_delimiter unset: the backup follows the origins it serves
syncd_conf
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/q1.snap"
is "$RC" 1 "unset: apply of origin 2 with '+' while origin 1 sent '-+': exit 1"
like "$OUT" "recipient_delimiter '+' of origin $O2 differs from '-+' of origin $O1, which this backup serves" "unset: message names the other origin"
is "$(maps_sum "$MAPS")" "$sum" "unset: refused apply, maps unchanged"
run_rc "$MXSYNCD" -c "$S/syncd.conf" postconf
like "$OUT" "recipient_delimiter = -+" "unset: postconf prints the origins' delimiter"
syncd_conf "recipient_delimiter = +-"
"$MKSNAP" -k "$S/k2.key" -o $O2 -s 2 --delimiter "+-" "$S/t1" "$S/q2.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/q2.snap"
is "$RC" 0 "origin 2 with the backup's delimiter: applied"
is "$(pq info@example.org relay_recipients)" OK "origin 2's recipient installed"

run_rc "$MXSYNCD" -c "$S/syncd.conf" postconf
is "$RC" 0 "postconf exits 0"
printf '%s\n' "$OUT" >"$S/postconf.out"
like "$OUT" "recipient_delimiter = +-" "postconf prints syncd.conf's recipient_delimiter"
like "$OUT" "smtputf8_enable = yes" "postconf: smtputf8_enable for UTF-8 maps"

# the backup's real Postfix on what postconf printed
pf_backup "$T_DIR/pb" "$MAPS" "$S/postconf.out" || { not_ok "backup Postfix config"; done_testing; }
pf_start "$T_DIR/pb" || { not_ok "backup Postfix starts"; done_testing; }
PB=$(pf_port "$T_DIR/pb")

PROBES="user@example.com User@Example.COM USER+Ext@EXAMPLE.com user-ext@example.com
user+a-b@example.com user-a+b@example.com +user@example.com user+@example.com
nobody@example.com nobody+x@example.com postmaster@example.com Postmaster@example.com
postmaster+x@example.com postmaster-x@example.com mailer-daemon@example.com
mailer-x@example.com double-bounce@example.com double-x@example.com
owner-list@example.com owner-x@example.com owner+x@example.com owner-@example.com
list-request@example.com list-x@example.com list+request@example.com
bob-request@example.com bob-requests@example.com anything@example.net
Any+Thing@Example.NET postmaster@example.net owner-x@example.net
Straße@example.com STRASSE+x@example.com jörg@example.com Jörg+tag@example.com
JÖRG-x@example.com jürgen@example.com info@example.org info+x@example.org
info-x@example.org x@unknown.test x@sub.example.com"

smtp_codes "$PB" $PROBES >"$S/smtp.out" || diag "smtp_codes failed"
n=0 bad=0
for a in $PROBES; do
	code=$(awk -v a="$a" '$1 == a { print $2; exit }' "$S/smtp.out")
	"$MXSYNCD" -c "$S/syncd.conf" check "$a" >"$S/check.out" 2>&1
	rc=$?
	case "$code" in
	250) want=0 ;;
	5*) want=1 ;;
	*) want="smtp:$code" ;;
	esac
	n=$((n + 1))
	if [ "$rc" != "$want" ]; then
		bad=$((bad + 1))
		diag "$a: Postfix $code, mxsyncd check exit $rc: $(cat "$S/check.out")"
	fi
done
is "$bad" 0 "mxsyncd check agrees with the backup's Postfix on all $n probes"
# the probes are no formality: both answers occur, and the tricky ones
is "$(awk '$2 == 250' "$S/smtp.out" | wc -l | tr -d ' ')" 30 "Postfix accepts 30 probes, rejects the rest"
like "$(grep '^owner-x@example.com ' "$S/smtp.out")" " 550 5.1.1" "Postfix: owner-x is not cut to owner"
like "$(grep '^list-request@example.com ' "$S/smtp.out")" " 550 5.1.1" "Postfix: list-request is not cut to list"
like "$(grep '^mailer-daemon@example.com ' "$S/smtp.out")" " 550 5.1.1" "Postfix: mailer-daemon is not cut to mailer"
like "$(grep '^user-a+b@example.com ' "$S/smtp.out")" " 250 " "Postfix: cut at the first of several delimiters"
run_rc "$MXSYNCD" -c "$S/syncd.conf" check JÖRG-x@example.com
like "$OUT" "(matched jörg@example.com;" "check names the key it matched"

pf_stop "$T_DIR/pb"

# the canary guard decides as the backup's Postfix: with "+" a delimiter,
# info+tag@example.org is info@example.org and disappears with it
sed -i 's/^canaries .*/canaries = info+tag@example.org/' "$S/syncd.conf"
many=""
i=0; while [ $i -lt 20 ]; do many="$many u$i@example.org"; i=$((i + 1)); done
mkstate "$S/t3" "example.org" "info@example.org$many"
mkstate "$S/t4" "example.org" "${many# }"
"$MKSNAP" -k "$S/k2.key" -o $O2 -s 3 --delimiter "+-" "$S/t3" "$S/q3.snap"
"$MKSNAP" -k "$S/k2.key" -o $O2 -s 4 --delimiter "+-" "$S/t4" "$S/q4.snap"
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/q3.snap"
is "$RC" 0 "origin 2 with 21 recipients applied"
sum=$(maps_sum "$MAPS")
run_rc "$MXSYNCD" -c "$S/syncd.conf" apply "$S/q4.snap"
is "$RC" 1 "dropping info@ while info+tag@ is a canary: exit 1"
like "$OUT" "canary info+tag@example.org would disappear" "the canary refusal names it"
is "$(maps_sum "$MAPS")" "$sum" "canary refusal: maps unchanged"
done_testing
