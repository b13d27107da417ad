# sources.sh - the PostgreSQL and LDAP export figures of the benchmark
# (sourced by tests/bench/run, beside the MariaDB figure)
#
# PostgreSQL: a private cluster (tests/lib/pgsql.sh) with PostfixAdmin's
# schema, the benchmark's mailboxes loaded with COPY; "mxsync-agent export"
# with the same plain query as the MariaDB figure, and with
# "schema = postfixadmin" (the preset's joins over mailbox, alias,
# alias_domain and domain); the query alone through psql as the floor.
#
# LDAP: a private slapd (tests/lib/slapd.sh) loaded with slapadd, one
# inetOrgPerson entry per recipient and one domainRelatedObject per domain;
# "mxsync-agent export" over ldapi with paged searches.  The directory holds
# BENCH_LDAP_N recipients (default: all of them); slapadd of a million
# entries takes a minute or more, so a smaller figure can be asked for, and
# the table says how many were read.

. "$MXSYNC_TOP/tests/lib/pgsql.sh"
. "$MXSYNC_TOP/tests/lib/slapd.sh"

# sources_conf FILE STATEDIR SECTION - an agent.conf with one source section
sources_conf() {
	mkdir -p "$2"
	cat >"$1" <<EOF
[agent]
origin         = $ORIGIN
key            = $KEYFILE
state_dir      = $2
control_socket = $2/agent.sock
control_group  = root
expire         = 7d
nexthop        = smtp:[mx1.$ORIGIN]:25
recipient_delimiter = +

$3

[backup mx1]
url     = https://127.0.0.1:9/
ca_file = $TLS/ca.pem
EOF
}

sources_pgsql() {
	if [ ! -x "$PG_BIN/initdb" ]; then
		fail_reason export_pgsql "PostgreSQL server binaries missing"
		return
	fi
	say "PostgreSQL: start and load $NRCPT mailboxes"
	if ! pg_start "$W/pg" >"$W/pg.log" 2>&1 || ! pg_postfixadmin >>"$W/pg.log" 2>&1; then
		fail_reason export_pgsql "PostgreSQL did not start: $(tail -n 1 "$W/pg.log")"
		return
	fi
	t0=$(now_ns)
	cut -f1 "$DATA/domain.tsv" | pg_as "$PG_BIN/psql" -h "$PG_SOCK" -U postgres \
		-d postfix -X -q -c "COPY domain (domain) FROM STDIN" >>"$W/pg.log" 2>&1
	awk -F'\t' '{ print $1 "\t" $2 "\t" $3 "\t" $3 "/" $2 "/" }' "$DATA/mailbox.tsv" |
		pg_as "$PG_BIN/psql" -h "$PG_SOCK" -U postgres -d postfix -X -q -c \
			"COPY mailbox (username, local_part, domain, maildir) FROM STDIN" \
			>>"$W/pg.log" 2>&1
	pg_sql "VACUUM ANALYZE" >/dev/null 2>&1
	n=$(pg_sql "SELECT COUNT(*) FROM mailbox WHERE active")
	if [ "$n" != "$NRCPT" ]; then
		fail_reason export_pgsql "PostgreSQL holds ${n:-no} mailboxes, want $NRCPT"
		pg_stop
		return
	fi
	say "PostgreSQL loaded in $(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
	q="SELECT username FROM mailbox WHERE active UNION ALL SELECT address FROM alias WHERE active"
	say "floor: the recipients query alone, psql ($SLOW runs)"
	PGPASSWORD=$PG_PASSWORD repeat pgsql_query "$SLOW" : "$PG_BIN/psql" -h "$PG_SOCK" \
		-U "$PG_USER" -d postfix -X -At -c "$q"
	src="[source pg]
type             = pgsql
socket           = $PG_SOCK
user             = $PG_USER
password_file    = $PG_PWFILE
dbname           = postfix
domains_query    = SELECT domain FROM domain WHERE active
recipients_query = $q"
	sources_conf "$W/agent-pg.conf" "$W/agent-pg" "$src"
	say "export from PostgreSQL ($SLOW runs)"
	repeat export_pgsql "$SLOW" : "$AGENT" -c "$W/agent-pg.conf" export
	src="[source pg]
type          = pgsql
socket        = $PG_SOCK
user          = $PG_USER
password_file = $PG_PWFILE
dbname        = postfix
schema        = postfixadmin"
	sources_conf "$W/agent-pgp.conf" "$W/agent-pgp" "$src"
	say "export from PostgreSQL, schema = postfixadmin ($SLOW runs)"
	repeat export_pgsql_preset "$SLOW" : "$AGENT" -c "$W/agent-pgp.conf" export
	pg_stop
	rm -rf "$W/pg"
}

sources_ldap() {
	if ! command -v slapadd >/dev/null 2>&1; then
		fail_reason export_ldap "slapd missing"
		return
	fi
	LDAP_N=${BENCH_LDAP_N:-$NRCPT}
	mkdir -p "$W/ldap"
	head -n "$LDAP_N" "$DATA/mailbox.tsv" | awk -F'\t' -v b="$LDAP_BASE" -v dl="$DATA/domains" '
	BEGIN {
		print "dn: ou=domains," b "\nobjectClass: organizationalUnit\nou: domains\n"
		print "dn: ou=people," b "\nobjectClass: organizationalUnit\nou: people\n"
		while ((getline d < dl) > 0)
			printf "dn: ou=%s,ou=domains,%s\nobjectClass: organizationalUnit\nobjectClass: domainRelatedObject\nou: %s\nassociatedDomain: %s\n\n", d, b, d, d
	}
	{ printf "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\n\n", $1, b, $1, $2, $2, $1 }
	' >"$W/ldap/data.ldif"
	say "LDAP: slapadd $LDAP_N entries"
	t0=$(now_ns)
	if ! ldap_start "$W/ldap" >"$W/ldap.log" 2>&1; then
		fail_reason export_ldap "slapd did not start: $(tail -n 1 "$W/ldap.log")"
		return
	fi
	rm -f "$W/ldap/data.ldif" "$W/ldap/all.ldif"
	say "LDAP loaded in $(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
	src="[source ldap]
type              = ldap
uri               = $LDAPI_URI
bind_dn           = cn=mxsync,ou=system,$LDAP_BASE
password_file     = $LDAP_PWFILE
base              = $LDAP_BASE
domains_filter    = (objectClass=domainRelatedObject)
recipients_filter = (&(objectClass=inetOrgPerson)(mail=*))
page_size         = 1000"
	sources_conf "$W/agent-ldap.conf" "$W/agent-ldap" "$src"
	say "export from LDAP ($SLOW runs)"
	repeat export_ldap "$SLOW" : "$AGENT" -c "$W/agent-ldap.conf" export
	ldap_stop
	rm -rf "$W/ldap"
}

sources_figures() {
	if [ "$KEYS_OK" != 1 ] || ! have "$AGENT"; then
		fail_reason export_pgsql "${KEYS_WHY:-build/mxsync-agent missing}"
		fail_reason export_ldap "${KEYS_WHY:-build/mxsync-agent missing}"
		return
	fi
	sources_pgsql
	sources_ldap
}

# sources_row NAME LABEL SECONDS - one export row, target "< SECONDS s"
sources_row() {
	v=$(med "$1" s)
	if [ -n "$v" ]; then
		row "$2" "$(fmt_t "$1")" "< $3 s" "$(verdict "$v < $3")"
	else
		row "$2" "n/a ($(na "$1"))" "< $3 s" ""
	fi
}

sources_rows() {
	sources_row export_pgsql "export from PostgreSQL ($rcpt_label)" 3
	if [ -n "$(med export_pgsql_preset s)" ]; then
		row "  schema = postfixadmin (joins for alias domains)" "$(fmt_t export_pgsql_preset)" "reference" ""
	else
		row "  schema = postfixadmin" "n/a ($(na export_pgsql_preset))" "reference" ""
	fi
	if [ -n "$(med pgsql_query s)" ]; then
		row "  the query alone (psql -c)" "$(fmt_t pgsql_query)" "reference" ""
	fi
	ln=$(awk -v n="${LDAP_N:-$NRCPT}" 'BEGIN { if (n >= 1000000) printf "%gM", n / 1e6; else printf "%gk", n / 1e3 }')
	if [ -n "$(med export_ldap s)" ]; then
		row "export from LDAP ($ln entries, pages of 1000)" "$(fmt_t export_ldap)" "reference" ""
	else
		row "export from LDAP ($ln entries)" "n/a ($(na export_ldap))" "reference" ""
	fi
	v=$(med export_ldap kb)
	[ -n "$v" ] && row "  peak RSS agent" "$(fmt_mb "$v")" "reference" ""
	return 0
}
