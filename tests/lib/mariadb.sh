# mariadb.sh - a private MariaDB server for the test scripts (sourced after
# common.sh)
#
#	mdb_start [DIR]		install and start a server on a unix socket only
#				(no TCP), as root, in DIR (default $T_DIR/mdb);
#				sets MDB_DIR, MDB_SOCK, MDB_PID; registers the
#				pid with track_pid
#	mdb_schema		create database "postfix" with a
#				PostfixAdmin-like schema (domain, mailbox, alias)
#				and the user mxsync (password in $MDB_PWFILE,
#				SELECT on postfix.*)
#	mdb_fixture DB FIXTURE [OPTIONS]
#				create database DB (CREATE DATABASE DB
#				OPTIONS, as the upstream's installer does),
#				load the schema dump tests/fixtures/FIXTURE.sql
#				into it and grant the user mxsync SELECT on it
#				(the user and $MDB_PWFILE are made once)
#	mdb_sql "SQL"		run SQL as root in database postfix (or none
#				before mdb_schema); output tab-separated, no
#				column names
#	mdb_sql_in DB "SQL"	the same in database DB
#	mdb_stop		stop the server by its pid and wait for it
#	mdb_restart		start it again on the same data directory
#
# Everything lives in the test's temporary directory and is removed with it.

MDB_DIR=
MDB_SOCK=
MDB_PID=
MDB_DB=
MDB_USER=mxsync
MDB_PASSWORD=
MDB_PWFILE=

# mdb_run_server - start mariadbd on the existing data directory, wait for
# the socket to answer
mdb_run_server() {
	rm -f "$MDB_SOCK"
	# temporary tables in the test's own directory, not the shared /tmp
	mkdir -p "$MDB_DIR/tmp" || return 1
	mariadbd --no-defaults --datadir="$MDB_DIR/data" --socket="$MDB_SOCK" \
		--tmpdir="$MDB_DIR/tmp" \
		--skip-networking --pid-file="$MDB_DIR/mariadbd.pid" \
		--user=root --log-error="$MDB_DIR/error.log" \
		--innodb-buffer-pool-size=16M --innodb-log-file-size=8M \
		--skip-log-bin --skip-name-resolve \
		>/dev/null 2>&1 &
	MDB_PID=$!
	track_pid "$MDB_PID"
	i=0
	while [ $i -lt 300 ]; do
		if [ -S "$MDB_SOCK" ] &&
			mariadb --no-defaults -S "$MDB_SOCK" -uroot -e 'SELECT 1' \
				>/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$MDB_PID" 2>/dev/null; then
			diag "mariadbd exited; see $MDB_DIR/error.log"
			tail -n 20 "$MDB_DIR/error.log" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	diag "mariadbd did not answer on $MDB_SOCK within 30 s"
	return 1
}

mdb_start() {
	MDB_DIR=${1:-$T_DIR/mdb}
	MDB_SOCK=$MDB_DIR/mysqld.sock
	mkdir -p "$MDB_DIR/data" || return 1
	if ! mariadb-install-db --no-defaults --datadir="$MDB_DIR/data" \
		--user=root --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve \
		>"$MDB_DIR/install.log" 2>&1; then
		diag "mariadb-install-db failed:"
		tail -n 20 "$MDB_DIR/install.log" | sed 's/^/#   /'
		return 1
	fi
	mdb_run_server
}

mdb_restart() {
	mdb_run_server
}

mdb_stop() {
	[ -n "$MDB_PID" ] || return 0
	stop_pid "$MDB_PID"
	MDB_PID=
}

mdb_sql() {
	if [ -n "$MDB_DB" ]; then
		mariadb --no-defaults -S "$MDB_SOCK" -uroot -N -B "$MDB_DB" -e "$1"
	else
		mariadb --no-defaults -S "$MDB_SOCK" -uroot -N -B -e "$1"
	fi
}

mdb_schema() {
	MDB_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	MDB_PWFILE=$MDB_DIR/mysql.pw
	printf '%s\n' "$MDB_PASSWORD" >"$MDB_PWFILE"
	chmod 600 "$MDB_PWFILE"
	mdb_sql "
CREATE DATABASE postfix CHARACTER SET utf8mb4;
USE postfix;
CREATE TABLE domain (
	domain VARCHAR(255) NOT NULL PRIMARY KEY,
	description VARCHAR(255) NOT NULL DEFAULT '',
	transport VARCHAR(255) DEFAULT NULL,
	backupmx TINYINT(1) NOT NULL DEFAULT 0,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
	modified DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		ON UPDATE CURRENT_TIMESTAMP(6)
);
CREATE TABLE mailbox (
	username VARCHAR(255) NOT NULL PRIMARY KEY,
	password VARCHAR(255) NOT NULL DEFAULT '',
	maildir VARCHAR(255) NOT NULL DEFAULT '',
	local_part VARCHAR(255) NOT NULL DEFAULT '',
	domain VARCHAR(255) NOT NULL,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
	modified DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		ON UPDATE CURRENT_TIMESTAMP(6),
	KEY domain (domain)
);
CREATE TABLE alias (
	address VARCHAR(255) NOT NULL PRIMARY KEY,
	goto TEXT NOT NULL,
	domain VARCHAR(255) NOT NULL,
	active TINYINT(1) NOT NULL DEFAULT 1,
	created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
	modified DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		ON UPDATE CURRENT_TIMESTAMP(6),
	KEY domain (domain)
);
CREATE USER '$MDB_USER'@'localhost' IDENTIFIED BY '$MDB_PASSWORD';
GRANT SELECT ON postfix.* TO '$MDB_USER'@'localhost';
FLUSH PRIVILEGES;
" || return 1
	MDB_DB=postfix
}

# mdb_user - the user mxsync with a random password in $MDB_PWFILE (once)
mdb_user() {
	[ -n "$MDB_PASSWORD" ] && return 0
	MDB_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	MDB_PWFILE=$MDB_DIR/mysql.pw
	printf '%s\n' "$MDB_PASSWORD" >"$MDB_PWFILE"
	chmod 600 "$MDB_PWFILE"
	mariadb --no-defaults -S "$MDB_SOCK" -uroot -e "
CREATE USER '$MDB_USER'@'localhost' IDENTIFIED BY '$MDB_PASSWORD';"
}

mdb_fixture() {
	db=$1 fx=$TOP/tests/fixtures/$2.sql opts=${3:-}
	[ -r "$fx" ] || { diag "no fixture $fx"; return 1; }
	mdb_user || return 1
	mariadb --no-defaults -S "$MDB_SOCK" -uroot \
		-e "CREATE DATABASE \`$db\` $opts" || return 1
	mariadb --no-defaults -S "$MDB_SOCK" -uroot "$db" <"$fx" || return 1
	mariadb --no-defaults -S "$MDB_SOCK" -uroot -e "
GRANT SELECT ON \`$db\`.* TO '$MDB_USER'@'localhost'; FLUSH PRIVILEGES;"
}

# mdb_sql_in DB "SQL" - run SQL as root in database DB
mdb_sql_in() {
	mariadb --no-defaults -S "$MDB_SOCK" -uroot -N -B "$1" -e "$2"
}
