# pgsql.sh - a private PostgreSQL cluster for the test scripts (sourced
# after common.sh; needs root, runs the server as user postgres, since the
# server refuses to run as root; started with setpriv, which execs, so the
# pid the script holds is the postmaster's)
#
#	pg_start [DIR]		initdb and start a cluster listening on a unix
#				socket in DIR only (no TCP unless PG_PORT is
#				set), default $T_DIR/pg; sets PG_DIR, PG_SOCK
#				(the socket directory), PG_PID; registers the
#				pid with track_pid
#	pg_tcp PORT		before pg_start: also listen on 127.0.0.1:PORT
#				with TLS (certificate from make_tls in
#				$PG_DIR/tls, clients must use a password)
#	pg_postfixadmin		create database "postfix" from PostfixAdmin's
#				schema (tests/fixtures/postfixadmin-pgsql.sql)
#				and the login role mxsync (password in
#				$PG_PWFILE, SELECT on every table)
#	pg_iredmail		the same for iRedMail: database "vmail" from
#				tests/fixtures/iredmail-pgsql.sql
#	pg_sql "SQL"		run SQL as the superuser in database postfix
#				(or postgres before pg_postfixadmin); output
#				unaligned, tab-separated, no headers
#	pg_stop			stop the server by its pid and wait for it
#	pg_restart		start it again on the same data directory
#
# Everything lives in the test's temporary directory and is removed with it.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=
PG_SOCK=
PG_PID=
PG_DB=postgres
PG_USER=mxsync
PG_PASSWORD=
PG_PWFILE=
PG_TCP=

pg_as() { runuser -u postgres -- "$@"; }

pg_tcp() {
	PG_TCP=$1
}

# pg_run_server - start postgres on the existing cluster, wait until it
# answers
pg_run_server() {
	# every smtpd of a Postfix holds a connection per pgsql: table
	opts="-k $PG_SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB -c max_connections=300"
	if [ -n "$PG_TCP" ]; then
		opts="$opts -c listen_addresses=127.0.0.1 -p $PG_TCP -c ssl=on -c ssl_cert_file=$PG_DIR/tls/cert.pem -c ssl_key_file=$PG_DIR/tls/key.pem"
	else
		opts="$opts -c listen_addresses="
	fi
	# setpriv execs: the pid is the postmaster's own, to be stopped by it
	# shellcheck disable=SC2086
	setpriv --reuid=postgres --regid=postgres --init-groups -- \
		"$PG_BIN/postgres" -D "$PG_DIR/data" $opts \
		>>"$PG_DIR/server.log" 2>&1 &
	PG_PID=$!
	track_pid "$PG_PID"
	i=0
	while [ $i -lt 300 ]; do
		if pg_as "$PG_BIN/psql" -h "$PG_SOCK" ${PG_TCP:+-p "$PG_TCP"} -d postgres -Atc 'SELECT 1' \
			>/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$PG_PID" 2>/dev/null; then
			diag "postgres exited; see $PG_DIR/server.log"
			tail -n 20 "$PG_DIR/server.log" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	diag "postgres did not answer on $PG_SOCK within 30 s"
	return 1
}

pg_start() {
	PG_DIR=${1:-$T_DIR/pg}
	PG_SOCK=$PG_DIR/sock
	mkdir -p "$PG_DIR/data" "$PG_SOCK" || return 1
	if [ -n "$PG_TCP" ]; then
		make_tls "$PG_DIR/tls" || return 1
		chmod 600 "$PG_DIR/tls/key.pem"
	fi
	chown -R postgres "$PG_DIR" || return 1
	if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1; then
		diag "initdb failed:"
		tail -n 20 "$PG_DIR/initdb.log" | sed 's/^/#   /'
		return 1
	fi
	# Local connections of the superuser need no password; the agent's
	# role must give one, over the socket as over TCP (with TLS).
	cat >"$PG_DIR/data/pg_hba.conf" <<EOF
local all postgres trust
local all all scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
EOF
	pg_run_server
}

pg_restart() {
	pg_run_server
}

pg_stop() {
	[ -n "$PG_PID" ] || return 0
	# SIGINT: "fast" shutdown, the server ends its sessions and exits
	kill -INT "$PG_PID" 2>/dev/null
	i=0
	while kill -0 "$PG_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	stop_pid "$PG_PID"
	PG_PID=
}

pg_sql() {
	pg_as "$PG_BIN/psql" -h "$PG_SOCK" ${PG_TCP:+-p "$PG_TCP"} -U postgres -d "$PG_DB" \
		-X -q -v ON_ERROR_STOP=1 -At -F '	' -c "$1"
}

pg_postfixadmin() {
	pg_schema postfix postfixadmin-pgsql
}

pg_iredmail() {
	pg_schema vmail iredmail-pgsql
}

# pg_schema DB FIXTURE - database DB from tests/fixtures/FIXTURE.sql and
# the login role
pg_schema() {
	PG_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	PG_PWFILE=$PG_DIR/pg.pw
	printf '%s\n' "$PG_PASSWORD" >"$PG_PWFILE"
	chmod 600 "$PG_PWFILE"
	pg_sql "CREATE DATABASE $1 ENCODING 'UTF8'" || return 1
	PG_DB=$1
	pg_as "$PG_BIN/psql" -h "$PG_SOCK" ${PG_TCP:+-p "$PG_TCP"} -U postgres -d "$1" -X -q \
		-v ON_ERROR_STOP=1 -f - <"$TOP/tests/fixtures/$2.sql" \
		>"$PG_DIR/schema.log" 2>&1 || {
		diag "loading $2.sql failed:"
		tail -n 20 "$PG_DIR/schema.log" | sed 's/^/#   /'
		return 1
	}
	pg_sql "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $PG_USER;"
}

# pg_table_cf FILE DBNAME QUERY - a Postfix pgsql_table(5) file for the
# cluster, readable by Postfix only (it holds the password)
pg_table_cf() {
	cat >"$1" <<EOC
hosts = postgresql://$PG_USER:$PG_PASSWORD@/$2?host=$PG_SOCK${PG_TCP:+&port=$PG_TCP}
user = $PG_USER
password = $PG_PASSWORD
dbname = $2
query = $3
EOC
	chgrp postfix "$1" && chmod 640 "$1"
}


# pg_pfa_primary DIR [backupmx] - pf_init DIR + a primary MX reading the
# cluster through PostfixAdmin's documented Postfix tables
# (postfixadmin/postfixadmin DOCUMENTS/POSTFIX_CONF.txt, commit
# 65b10f7285524bc6753f604bd11ff3c3de5cbf97), with the document's own
# changes for PostgreSQL: active = 't' for active = '1', || for CONCAT.
# With "backupmx", virtual_mailbox_domains uses the document's "optional
# query to use when relaying for backup MX", and relay_domains the query of
# DOCUMENTS/BACKUP_MX.txt.  Needs postfix.sh.
pg_pfa_primary() {
	d=$1
	pf_init "$d" || return 1
	if [ "${2:-}" = backupmx ]; then
		dq="SELECT domain FROM domain WHERE domain='%s' AND backupmx = '0' AND active = 't'"
	else
		dq="SELECT domain FROM domain WHERE domain='%s' AND active = 't'"
	fi
	for m in virtual_domains_maps virtual_mailbox_maps \
		virtual_alias_domain_mailbox_maps virtual_alias_maps \
		virtual_alias_domain_maps virtual_alias_domain_catchall_maps; do
		case $m in
		virtual_domains_maps) q=$dq ;;
		virtual_mailbox_maps) q="SELECT maildir FROM mailbox WHERE username='%s' AND active = 't'" ;;
		virtual_alias_domain_mailbox_maps) q="SELECT maildir FROM mailbox,alias_domain WHERE alias_domain.alias_domain = '%d' and mailbox.username = '%u' || '@' || alias_domain.target_domain AND mailbox.active='t' AND alias_domain.active='t'" ;;
		virtual_alias_maps) q="SELECT goto FROM alias WHERE address='%s' AND active = 't'" ;;
		virtual_alias_domain_maps) q="SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = '%u' || '@' || alias_domain.target_domain AND alias.active='t' AND alias_domain.active='t'" ;;
		virtual_alias_domain_catchall_maps) q="SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = '@' || alias_domain.target_domain AND alias.active='t' AND alias_domain.active='t'" ;;
		esac
		pg_table_cf "$d/conf/pgsql_$m.cf" postfix "$q" || return 1
	done
	c=pgsql:$d/conf/pgsql_
	if [ "${2:-}" = backupmx ]; then
		# DOCUMENTS/BACKUP_MX.txt: relay_domains, '1' written 't'
		sed "s|^query = .*|query = SELECT domain FROM domain WHERE domain = '%s' AND backupmx = 't'|" \
			"$d/conf/pgsql_virtual_domains_maps.cf" >"$d/conf/pgsql_relay_domains.cf"
		chgrp postfix "$d/conf/pgsql_relay_domains.cf" && chmod 640 "$d/conf/pgsql_relay_domains.cf"
		echo "relay_domains = ${c}relay_domains.cf" | pf_main "$d"
	fi
	pf_main "$d" <<EOC
# primary MX: PostfixAdmin's tables in PostgreSQL
virtual_alias_domains =
virtual_mailbox_domains = ${c}virtual_domains_maps.cf
virtual_alias_maps = ${c}virtual_alias_maps.cf, ${c}virtual_alias_domain_maps.cf, ${c}virtual_alias_domain_catchall_maps.cf
virtual_mailbox_maps = ${c}virtual_mailbox_maps.cf, ${c}virtual_alias_domain_mailbox_maps.cf
virtual_mailbox_base = $d/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
# smtpd caches address resolutions (the domain class) for as long as the
# process lives; one connection per process, so each probe session sees
# the database as it is now
max_use = 1
EOC
}

# pg_irm_primary DIR - pf_init DIR + a primary MX reading database vmail
# through iRedMail's Postfix tables: the queries of samples/postfix/pgsql/*.cf
# and the maps of samples/postfix/main.cf.pgsql of iredmail/iRedMail at
# commit e0fe4fc277504aaa3e4915046cfe420524e42162 (1.8.1).  Needs postfix.sh.
pg_irm_primary() {
	d=$1
	pf_init "$d" || return 1
	for m in virtual_mailbox_domains relay_domains virtual_mailbox_maps \
		virtual_alias_maps domain_alias_maps catchall_maps \
		domain_alias_catchall_maps; do
		case $m in
		virtual_mailbox_domains) q="(SELECT domain FROM domain WHERE domain='%s' AND backupmx=0 AND active=1 LIMIT 1) UNION (SELECT alias_domain.alias_domain FROM alias_domain,domain WHERE alias_domain.alias_domain='%s' AND alias_domain.active=1 AND alias_domain.target_domain=domain.domain AND domain.active=1 AND domain.backupmx=0 LIMIT 1)" ;;
		relay_domains) q="SELECT domain FROM domain WHERE domain='%s' AND backupmx=1 AND active=1 LIMIT 1" ;;
		virtual_mailbox_maps) q="SELECT (mailbox.storagenode || '/' || mailbox.maildir || '/Maildir/') FROM mailbox,domain WHERE mailbox.username='%s' AND mailbox.active=1 AND mailbox.enabledeliver=1 AND domain.domain = mailbox.domain AND domain.active=1" ;;
		virtual_alias_maps) q="SELECT forwardings.forwarding FROM forwardings,domain WHERE forwardings.address='%s' AND forwardings.domain=domain.domain AND forwardings.active=1 AND domain.backupmx=0 AND domain.active=1" ;;
		domain_alias_maps) q="SELECT forwardings.forwarding FROM forwardings,alias_domain,domain WHERE alias_domain.alias_domain='%d' AND forwardings.address=('%u' || '@' || alias_domain.target_domain) AND alias_domain.target_domain=domain.domain AND forwardings.active=1 AND alias_domain.active=1 AND domain.backupmx=0" ;;
		catchall_maps) q="SELECT forwardings.forwarding FROM forwardings,domain WHERE forwardings.address='%d' AND '%u' NOT LIKE '%%+%%' AND forwardings.address=domain.domain AND forwardings.active=1 AND domain.active=1 AND domain.backupmx=0" ;;
		domain_alias_catchall_maps) q="SELECT forwardings.forwarding FROM forwardings,alias_domain,domain WHERE alias_domain.alias_domain='%d' AND forwardings.address=alias_domain.target_domain AND alias_domain.target_domain=domain.domain AND forwardings.active=1 AND alias_domain.active=1" ;;
		esac
		pg_table_cf "$d/conf/$m.cf" vmail "$q" || return 1
	done
	c=proxy:pgsql:$d/conf
	pf_main "$d" <<EOC
# primary MX: iRedMail's tables in PostgreSQL
virtual_mailbox_domains = $c/virtual_mailbox_domains.cf
relay_domains = \$mydestination $c/relay_domains.cf
virtual_mailbox_maps = $c/virtual_mailbox_maps.cf
virtual_alias_maps = $c/virtual_alias_maps.cf $c/domain_alias_maps.cf $c/catchall_maps.cf $c/domain_alias_catchall_maps.cf
virtual_mailbox_base = $d/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
# one connection per smtpd process, so each probe session sees the
# database as it is now
max_use = 1
EOC
}
