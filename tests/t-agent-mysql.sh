#!/bin/sh
# t-agent-mysql - the agent's mysql source against a real MariaDB server
# (private, unix socket only) with a PostfixAdmin-like schema: the daemon
# follows inserts, deactivations and deletions of mailboxes and aliases to
# a real mxsyncd; a poll whose change_query reports no change costs the
# server one statement and no connection (counted by the server); a stopped
# database pushes nothing; a query of the wrong shape is bad data naming
# the source and query.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/mariadb.sh"

agent_setup || done_testing
backup_setup mx2
backup_start mx2
mdb_start || done_testing
mdb_schema || done_testing
mdb_sql "INSERT INTO domain (domain) VALUES ('example.com'), ('Example.NET');
INSERT INTO domain (domain, backupmx) VALUES ('relayed.example', 1);
INSERT INTO mailbox (username, domain) VALUES ('alice@example.com', 'example.com'), ('bob@example.net', 'example.net');
INSERT INTO alias (address, goto, domain) VALUES ('info@example.com', 'alice@example.com', 'example.com'), ('postmaster@example.com', 'alice@example.com', 'example.com');"
SOURCES="[source postfixadmin]
type = mysql
socket = $MDB_SOCK
user = mxsync
password_file = $MDB_PWFILE
dbname = postfix
domains_query = SELECT domain FROM domain WHERE active = 1 AND backupmx = 0
recipients_query = SELECT username FROM mailbox WHERE active = 1 UNION SELECT address FROM alias WHERE active = 1
change_query = SELECT MAX(modified), COUNT(*) FROM mailbox UNION ALL SELECT MAX(modified), COUNT(*) FROM alias UNION ALL SELECT MAX(modified), COUNT(*) FROM domain
poll_interval = 500ms"
agent_conf "$SOURCES" mx2
check "check-config accepts the mysql source" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
like "$OUT" "D example.net smtp:[mx1.example.com]:25" "export folds the domain from the database"
like "$OUT" "R info@example.com" "export includes active aliases"
# PAD SPACE: the primary's lookup of pad@example.com finds this row
mdb_sql "INSERT INTO mailbox (username, domain) VALUES ('pad@example.com  ', 'example.com')"
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export with a key stored with trailing blanks: exit 0"
like "$OUT" "R pad@example.com
" "... the key without its trailing blanks, as the database compares it"
mdb_sql "DELETE FROM mailbox WHERE username = 'pad@example.com'"
case "$OUT" in *relayed.example*) not_ok "backup-MX domains are not exported" ;; *) ok "backup-MX domains are not exported" ;; esac

# counts PREFIX - the server's counters: PREFIX_q statements, PREFIX_s
# SELECTs, PREFIX_c connections, PREFIX_a admin commands (ping and the like)
counts() {
	eval "$(mdb_sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_select', 'Connections', 'Com_admin_commands')" |
		awk -v p="$1" '$1 == "Questions" { print p "_q=" $2 } $1 == "Com_select" { print p "_s=" $2 }
			$1 == "Connections" { print p "_c=" $2 } $1 == "Com_admin_commands" { print p "_a=" $2 }')"
}
# What one look at the counters adds to them by itself (nothing else runs).
counts k0
counts k1
KQ=$((k1_q - k0_q)) KS=$((k1_s - k0_s)) KC=$((k1_c - k0_c)) KA=$((k1_a - k0_a))
# polls N - look at the counters until the agent sent N more SELECTs; sets
# DQ DS DC DA, what the agent alone sent meanwhile
polls() {
	counts w0
	n=0
	while [ $n -lt 150 ]; do
		sleep 0.2
		n=$((n + 1))
		counts w1
		DQ=$((w1_q - w0_q - n * KQ)) DS=$((w1_s - w0_s - n * KS))
		DC=$((w1_c - w0_c - n * KC)) DA=$((w1_a - w0_a - n * KA))
		[ "$DS" -ge "$1" ] && return 0
	done
	return 1
}

check "the daemon starts" agent_start
check "the first export reaches the backup" wait_until 15 has mx2 alice@example.com
check "aliases reach the backup" has mx2 info@example.com

# Nothing changes: each poll is the change_query, on a connection kept open.
check "the daemon polls the change_query" polls 1
check "... four more polls" polls 4
is "$DQ" "$DS" "a poll that finds no change sends the server its SELECT and nothing else"
is "$DC" 0 "... on the connection it keeps: no reconnect"
is "$DA" 0 "... and no ping"

mdb_sql "INSERT INTO mailbox (username, domain) VALUES ('carol@example.com', 'example.com')"
check "an inserted mailbox is pushed" wait_until 10 has mx2 carol@example.com
mdb_sql "UPDATE mailbox SET active = 0 WHERE username = 'bob@example.net'"
check "a deactivated mailbox disappears" wait_until 10 hasnt mx2 bob@example.net
mdb_sql "INSERT INTO alias (address, goto, domain) VALUES ('sales@example.net', 'alice@example.com', 'example.net')"
check "an inserted alias is pushed" wait_until 10 has mx2 sales@example.net
mdb_sql "UPDATE alias SET active = 0 WHERE address = 'info@example.com'"
check "a deactivated alias disappears" wait_until 10 hasnt mx2 info@example.com
mdb_sql "DELETE FROM alias WHERE address = 'sales@example.net'"
check "a deleted alias disappears" wait_until 10 hasnt mx2 sales@example.net
mdb_sql "DELETE FROM mailbox WHERE username = 'carol@example.com'"
check "a deleted mailbox disappears" wait_until 10 hasnt mx2 carol@example.com
check "other recipients stay" has mx2 alice@example.com

# sync-now --wait for a provisioning script
mdb_sql "INSERT INTO mailbox (username, domain) VALUES ('dave@example.com', 'example.com')"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 0 "sync-now --wait after an insert: exit 0"
check "the new mailbox is on the backup when sync-now returns" has mx2 dave@example.com

# The database stops: nothing is pushed, the backup keeps its maps.
sleep 1
s=$(bsum mx2)
mdb_stop
sleep 2
run_rc "$AGENT" -c "$ACONF" sync-now --wait
is "$RC" 75 "sync-now with the database down: exit 75"
like "$OUT" "source postfixadmin: connect to database postfix" "the message names the source"
is "$(bsum mx2)" "$s" "the backup's maps are unchanged while the database is down"
like "$(cat "$ALOG")" "export failed, nothing pushed (down): source postfixadmin" "the daemon logs the failing source"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 75 "push with the database down: exit 75"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "error (down): source postfixadmin" "status shows the source error"
if grep -q "$MDB_PASSWORD" "$ALOG"; then not_ok "the log holds no password"; else ok "the log holds no password"; fi

mdb_restart || done_testing
mdb_sql "INSERT INTO mailbox (username, domain) VALUES ('erin@example.com', 'example.com')"
check "after the database is back, changes flow again" wait_until 20 has mx2 erin@example.com

# A query of the wrong shape is bad data, naming the source and the query.
agent_stop
sed 's/^recipients_query = .*/recipients_query = SELECT username, domain FROM mailbox/' "$ACONF" >"$T_DIR/shape.conf"
s=$(bsum mx2)
run_rc "$AGENT" -c "$T_DIR/shape.conf" push
is "$RC" 1 "a two-column recipients_query: exit 1"
like "$OUT" "source postfixadmin: recipients_query returns 2 columns" "the message names source and query"
is "$(bsum mx2)" "$s" "nothing was pushed"
sed 's/^password_file = .*/password_file = \/nonexistent\/pw/' "$ACONF" >"$T_DIR/pw.conf"
run_rc "$AGENT" -c "$T_DIR/pw.conf" check-config
is "$RC" 2 "check-config with a missing password file: exit 2"
like "$OUT" "/nonexistent/pw" "... naming the file"

# A two-column domains_query on PostfixAdmin's domain.transport: "virtual"
# (local delivery on the primary) is no route for a backup, so the [agent]
# nexthop is used; a relay route in the column replaces it.
mdb_sql "UPDATE domain SET transport = 'virtual' WHERE domain = 'example.com';
UPDATE domain SET transport = 'smtp:[mx9.example.net]:2525' WHERE domain = 'Example.NET'"
sed 's/^domains_query = .*/domains_query = SELECT domain, transport FROM domain WHERE active = 1 AND backupmx = 0/' "$ACONF" >"$T_DIR/tr.conf"
run_rc "$AGENT" -c "$T_DIR/tr.conf" export
is "$RC" 0 "a domains_query with the transport column: export exits 0"
like "$OUT" "D example.com smtp:[mx1.example.com]:25" "transport 'virtual': the agent's nexthop"
like "$OUT" "D example.net smtp:[mx9.example.net]:2525" "a relay route in the column is used"
mdb_sql "UPDATE domain SET transport = 'discard:' WHERE domain = 'Example.NET'"
run_rc "$AGENT" -c "$T_DIR/tr.conf" export
like "$OUT" "D example.net smtp:[mx1.example.com]:25" "transport 'discard:': the agent's nexthop"
# A non-relay [agent] nexthop is refused at export, naming the source.
sed 's/^nexthop .*/nexthop = local:/' "$T_DIR/tr.conf" >"$T_DIR/local.conf"
s=$(bsum mx2)
run_rc "$AGENT" -c "$T_DIR/local.conf" push
is "$RC" 1 "[agent] nexthop local: push exits 1"
like "$OUT" "source postfixadmin: domains_query row 1: domain example.com: [agent] nexthop: transport \"local\" of nexthop \"local:\" is not allowed (transports = smtp relay)" "the message names the source and the transport"
is "$(bsum mx2)" "$s" "nothing was pushed"
done_testing
