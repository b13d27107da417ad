# fidelity.sh - does the backup decide every probe as the primary does?
# (sourced after common.sh and postfix.sh; verify_list, verify_vs_primary
# and check_vs_answers need agent.sh too)
#
# The caller sets PP and BP (the SMTP ports of the primary and the backup
# Postfix) and PROBES (the addresses, blank-separated).  The answers are
# kept in FID_DIR ($T_DIR unless the caller sets it).
#
#	compare STEP		probe both; 0 when every probe was answered and
#				the answers are the same: to the letter, or with
#				DECIDE=1 the decision only (accept, defer,
#				reject: the reply's first digit), with
#				DECIDE=class the reply's first digit and the
#				enhanced status code's class (see classes);
#				keeps FID_DIR/primary.STEP and backup.STEP
#				("ADDR CODE ENHANCED" a line) and their .err
#	same STEP SECONDS DESC	two TAP lines: within SECONDS the decisions are
#				equal, then (a backup's trivial-rewrite sees a
#				new relay_domains map within about 10 s) within
#				20 s more the reply codes too
#	same_codes STEP		the second of those lines alone
#	answer STEP ADDR	the primary's "CODE ENHANCED" for ADDR at STEP
#	classes FILE		"ADDR C.E" for each answer of FILE: 2.2
#				accepted, 5.5 rejected, 4.4 deferred
#	class_of STEP ADDR	the backup's class for ADDR at STEP
#	agree_after STEP DESC ADDR CLASS
#				one TAP line: after a change made at $CHANGED
#				(now_ms), compare DECIDE=class succeeds with
#				the backup deciding ADDR as CLASS within
#				change_limit seconds; says how long it took
#	change_limit		those seconds: POLL (the sources' poll_interval)
#				+ CHANGE_MARGIN (default 30)
#	now_ms			wall clock in milliseconds
#	pf_fresh DIR		one smtpd process per SMTP session
#	check_vs_answers FILE CONF
#				0 when "mxsyncd -c CONF check" decides every
#				probe as FILE's answers (compare's form) say:
#				exit 0 for 250, 1 for 5xx; CN probes, CBAD of
#				them differ (each one a diag line)
#	verify_list OUT PFDIR	"mxsync-agent verify --postfix PFDIR --list"
#				(RC and OUT as run_rc sets them) into the file
#				OUT, its candidate lines into OUT.cands
#	verify_vs_primary LIST	0 when verify's notion of the primary's
#				decision is the primary's own RCPT answer on
#				every candidate of LIST.cands; VN candidates,
#				VBAD of them differ (each one a diag line)

compare() {
	cmp_d=${FID_DIR:-$T_DIR}
	# shellcheck disable=SC2086
	smtp_codes "$PP" $PROBES >"$cmp_d/primary.$1" 2>"$cmp_d/primary.$1.err"
	# shellcheck disable=SC2086
	smtp_codes "$BP" $PROBES >"$cmp_d/backup.$1" 2>"$cmp_d/backup.$1.err"
	# every probe answered: no session error in place of the answers
	[ "$(wc -l <"$cmp_d/primary.$1")" = "$(echo $PROBES | wc -w)" ] || return 1
	case "${DECIDE:-0}" in
	1)
		[ "$(awk '{print $1, substr($2, 1, 1)}' "$cmp_d/primary.$1")" = \
			"$(awk '{print $1, substr($2, 1, 1)}' "$cmp_d/backup.$1")" ] ;;
	class)
		[ "$(classes "$cmp_d/primary.$1")" = "$(classes "$cmp_d/backup.$1")" ] ;;
	*)
		cmp -s "$cmp_d/primary.$1" "$cmp_d/backup.$1" ;;
	esac
}

# fid_show STEP - the differing answers and any session error, as diag lines
fid_show() {
	cmp_d=${FID_DIR:-$T_DIR}
	diff "$cmp_d/primary.$1" "$cmp_d/backup.$1" | sed 's/^/#   /'
	cat "$cmp_d/primary.$1.err" "$cmp_d/backup.$1.err" 2>/dev/null | sed 's/^/#   /'
}

same() {
	if DECIDE=1 wait_within "$2" compare "$1"; then ok "$3"; else
		not_ok "$3"
		fid_show "$1"
	fi
	same_codes "$1"
}

same_codes() {
	if wait_within 20 compare "$1"; then ok "... and gives the same reply codes"; else
		not_ok "... and gives the same reply codes"
		fid_show "$1"
	fi
}

answer() { awk -v a="$2" '$1 == a { print $2, $3 }' "${FID_DIR:-$T_DIR}/primary.$1"; }

classes() {
	awk '{ e = $3; sub(/\..*/, "", e); print $1, substr($2, 1, 1) "." e }' "$1"
}

class_of() { classes "${FID_DIR:-$T_DIR}/backup.$1" | awk -v a="$2" '$1 == a { print $2 }'; }

now_ms() { date +%s%3N; }

# The time a change takes to show on the backup's Postfix is bounded by
# the agent's next poll (POLL), then its debounce, the export, signing, the
# push, mxsyncd's check and install, and the backup's Postfix opening the
# new maps (trivial-rewrite restarts when it sees a changed relay_domains).
# All but the poll take well under a second on an idle machine, and many
# seconds when other builds and tests share its two cores: CHANGE_MARGIN
# is that allowance, not a measure (the latency is printed).
change_limit() { echo $((POLL + ${CHANGE_MARGIN:-30})); }

agree_after() {
	aa_lim=$((CHANGED + $(change_limit) * 1000))
	aa_what="${SCHEMA:+$SCHEMA: }$2: backup and primary agree"
	until DECIDE=class compare "$1" && [ "$(class_of "$1" "$3")" = "$4" ]; do
		if [ "$(now_ms)" -gt "$aa_lim" ]; then
			not_ok "$aa_what within poll_interval + ${CHANGE_MARGIN:-30} s, no sync-now"
			diag "$3: primary $(awk -v a="$3" '$1 == a' "${FID_DIR:-$T_DIR}/primary.$1"), backup $(awk -v a="$3" '$1 == a' "${FID_DIR:-$T_DIR}/backup.$1"), want class $4"
			fid_show "$1"
			[ -z "${ALOG:-}" ] || tail -n 5 "$ALOG" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
	done
	aa_ms=$(($(now_ms) - CHANGED))
	ok "$aa_what within $aa_ms ms, no sync-now ($3 is $4)"
	[ "$aa_ms" -le $(((POLL + 2) * 1000)) ] ||
		diag "$2: slower than poll_interval + 2 s (a loaded machine?)"
}

pf_fresh() {
	# smtpd keeps the address classes it resolved (relay or virtual
	# domain) for its lifetime, so a long-lived one would answer a domain
	# change late on either side
	pf_main "$1" <<EOF
# test: a fresh smtpd (and resolver cache) for every probe session
max_use = 1
EOF
}

check_vs_answers() {
	CN=0 CBAD=0
	for a in $PROBES; do
		code=$(awk -v a="$a" '$1 == a { print $2; exit }' "$1")
		"$MXSYNCD" -c "$2" check "$a" >"$1.check" 2>&1
		rc=$?
		case "$code" in 250) want=0 ;; 5*) want=1 ;; *) want="smtp:$code" ;; esac
		CN=$((CN + 1))
		if [ "$rc" != "$want" ]; then
			CBAD=$((CBAD + 1))
			diag "$a: Postfix $code, mxsyncd check exit $rc: $(cat "$1.check")"
		fi
	done
	[ "$CBAD" -eq 0 ]
}

verify_list() {
	run_rc timeout 120 "$AGENT" -c "$ACONF" verify --postfix "$2" --list
	printf '%s\n' "$OUT" >"$1"
	grep ' primary=' "$1" >"$1.cands"
}

verify_vs_primary() {
	cut -d' ' -f1 "$1.cands" >"$1.addrs"
	# shellcheck disable=SC2046
	smtp_codes "$PP" $(cat "$1.addrs") >"$1.smtp" 2>&1
	VN=0 VBAD=0
	while read -r a p rest; do
		case "$p" in primary=accept) want=250 ;; *) want=5 ;; esac
		code=$(awk -v a="$a" '$1 == a { print $2; exit }' "$1.smtp")
		VN=$((VN + 1))
		case "$code" in
		"$want"*) ;;
		*) VBAD=$((VBAD + 1))
		   diag "$a: verify says $p, the primary answers ${code:-nothing}" ;;
		esac
	done <"$1.cands"
	[ "$VN" -gt 0 ] && [ "$VBAD" -eq 0 ]
}
