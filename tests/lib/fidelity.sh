# fidelity.sh - does the backup decide every probe as the primary does?
# (sourced after common.sh and postfix.sh)
#
# The caller sets PP and BP (the SMTP ports of the primary and the backup
# Postfix) and PROBES (the addresses, blank-separated).
#
#	compare STEP		probe both; 0 when the answers are the same
#				(with DECIDE=1 only the decision: accept,
#				defer, reject); keeps $T_DIR/primary.STEP and
#				$T_DIR/backup.STEP
#	same STEP SECONDS DESC	two TAP lines: within SECONDS the decisions are
#				equal, then (a backup's trivial-rewrite sees a
#				new relay_domains map within about 10 s) within
#				20 s more the reply codes too
#	answer STEP ADDR	the primary's "CODE ENHANCED" for ADDR at STEP

compare() {
	# shellcheck disable=SC2086
	smtp_codes "$PP" $PROBES >"$T_DIR/primary.$1" 2>&1
	# shellcheck disable=SC2086
	smtp_codes "$BP" $PROBES >"$T_DIR/backup.$1" 2>&1
	# every probe answered: no session error in place of the answers
	[ "$(wc -l <"$T_DIR/primary.$1")" = "$(echo $PROBES | wc -w)" ] || return 1
	if [ "${DECIDE:-0}" = 1 ]; then
		[ "$(awk '{print $1, substr($2, 1, 1)}' "$T_DIR/primary.$1")" = \
			"$(awk '{print $1, substr($2, 1, 1)}' "$T_DIR/backup.$1")" ]
	else
		cmp -s "$T_DIR/primary.$1" "$T_DIR/backup.$1"
	fi
}

same() {
	if DECIDE=1 wait_within "$2" compare "$1"; then ok "$3"; else
		not_ok "$3"
		diff "$T_DIR/primary.$1" "$T_DIR/backup.$1" | sed 's/^/#   /'
	fi
	if wait_within 20 compare "$1"; then ok "... and gives the same reply codes"; else
		not_ok "... and gives the same reply codes"
		diff "$T_DIR/primary.$1" "$T_DIR/backup.$1" | sed 's/^/#   /'
	fi
}

answer() { awk -v a="$2" '$1 == a { print $2, $3 }' "$T_DIR/primary.$1"; }
