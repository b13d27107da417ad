#!/bin/sh
# t-agent-pgsql - the agent's pgsql source with "schema = postfixadmin"
# against a private PostgreSQL cluster holding PostfixAdmin's own
# PostgreSQL schema (tests/fixtures/postfixadmin-pgsql.sql): a real primary
# Postfix reads it through PostfixAdmin's documented pgsql: tables, a real
# backup Postfix reads what mxsyncd installs from the agent's pushes, and
# the two must answer RCPT TO alike on every probe, before and after
# changes the daemon finds by itself (change_query poll, then LISTEN/NOTIFY
# with the trigger of mxsync.conf(5)); a poll whose change_query reports no
# change is one statement on a connection kept open (the server's statement
# log shows it).  Then the failures: server down,
# wrong password, TLS with the wrong CA, a query that returns nothing.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/postfix.sh"
. "$TOP/tests/lib/fidelity.sh"
. "$TOP/tests/lib/pgsql.sh"

if [ "$(id -u)" != 0 ] || [ ! -x "$PG_BIN/initdb" ]; then
	echo "1..0 # SKIP needs root and PostgreSQL's server binaries"
	exit 0
fi
T0=$(date +%s)
POLL=2

pg_tcp "$(free_port)"
if ! pg_start || ! pg_postfixadmin; then
	not_ok "PostgreSQL with PostfixAdmin's schema"
	done_testing
fi
ok "PostgreSQL runs with PostfixAdmin's schema"

# The rows: example.com with mailboxes and aliases (several targets, an
# external target, an empty goto, inactive, mixed case, a +ext local
# part, an empty maildir); example.net with a catch-all; alias domains
# onto example.com (active, inactive, of an inactive domain) and onto
# example.net's catch-all; an inactive domain with an active mailbox; a
# domain stored in mixed case; a backupmx domain; PostfixAdmin's ALL.
pg_sql "
INSERT INTO domain (domain, description, transport) VALUES ('ALL', '', 'virtual');
INSERT INTO domain (domain, transport, active, backupmx) VALUES
 ('example.com', 'virtual', 't', 'f'), ('example.net', 'virtual', 't', 'f'),
 ('alias.test', 'virtual', 't', 'f'), ('offalias.test', 'virtual', 't', 'f'),
 ('deadalias.test', 'virtual', 'f', 'f'), ('catchalias.test', 'virtual', 't', 'f'),
 ('off.test', 'virtual', 'f', 'f'), ('Mixed.test', 'virtual', 't', 'f'),
 ('relay.test', 'virtual', 't', 't'), ('later.test', 'virtual', 't', 'f');
INSERT INTO mailbox (username, maildir, local_part, domain, active) VALUES
 ('alice@example.com', 'example.com/alice/', 'alice', 'example.com', 't'),
 ('ina@example.com', 'example.com/ina/', 'ina', 'example.com', 'f'),
 ('Carol@example.com', 'example.com/Carol/', 'Carol', 'example.com', 't'),
 ('dave+list@example.com', 'example.com/dave+list/', 'dave+list', 'example.com', 't'),
 ('nodir@example.com', '', 'nodir', 'example.com', 't'),
 ('bob@example.net', 'example.net/bob/', 'bob', 'example.net', 't'),
 ('info@off.test', 'off.test/info/', 'info', 'off.test', 't'),
 ('bob@mixed.test', 'mixed.test/bob/', 'bob', 'Mixed.test', 't'),
 ('r@relay.test', 'relay.test/r/', 'r', 'relay.test', 't');
INSERT INTO alias (address, goto, domain, active) VALUES
 ('alice@example.com', 'alice@example.com', 'example.com', 't'),
 ('ina@example.com', 'ina@example.com', 'example.com', 'f'),
 ('info@example.com', 'alice@example.com,bob@example.net', 'example.com', 't'),
 ('ext@example.com', 'someone@elsewhere.example', 'example.com', 't'),
 ('empty@example.com', '', 'example.com', 't'),
 ('old@example.com', 'alice@example.com', 'example.com', 'f'),
 ('Sales@example.com', 'alice@example.com', 'example.com', 't'),
 ('bob@example.net', 'bob@example.net', 'example.net', 't'),
 ('@example.net', 'bob@example.net', 'example.net', 't');
INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES
 ('alias.test', 'example.com', 't'), ('offalias.test', 'example.com', 'f'),
 ('deadalias.test', 'example.com', 't'), ('catchalias.test', 'example.net', 't');
" >/dev/null || not_ok "PostfixAdmin rows inserted"

pg_pfa_primary "$T_DIR/pf-primary"
check "primary Postfix (PostfixAdmin's pgsql: tables) listens" pf_start "$T_DIR/pf-primary"
PP=$(pf_port "$T_DIR/pf-primary")

agent_setup || done_testing
backup_setup b1
backup_start b1
SRC="[source pfa]
type          = pgsql
socket        = $PG_SOCK
port          = $PG_TCP
user          = $PG_USER
password_file = $PG_PWFILE
dbname        = postfix
schema        = postfixadmin
poll_interval = ${POLL}s"
agent_conf "$SRC" b1
check "check-config accepts schema = postfixadmin on pgsql" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export: exit 0"
like "$OUT" "R @catchalias.test" "the alias domain gets the target's catch-all"
case "$OUT" in *" all "*|*"D all"*) not_ok "ALL is never a domain" ;; *) ok "ALL is never a domain" ;; esac
case "$OUT" in *carol@*) not_ok "a mixed-case mailbox is not exported" ;; *) ok "a mixed-case mailbox is not exported" ;; esac
like "$OUT" "mxsync-agent: source pfa: 5 rows not in lower case left out" "export says how many rows it left out"
sed "s|^schema .*|schema = postfixadmin\\
mixed_case = fold|" "$ACONF" >"$T_DIR/fold.conf"
run_rc "$AGENT" -c "$T_DIR/fold.conf" export
like "$OUT" "R carol@example.com" "mixed_case = fold exports the mixed-case mailbox folded"

check "the daemon starts" agent_start
check "the first export reaches the backup" wait_until 20 has b1 alice@example.com
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "note: 5 rows not in lower case left out (the primary never matches them; mixed_case = drop), first: Mixed.test" \
	"status counts the mixed-case rows left out, with the first"
like "$(cat "$ALOG")" "source pfa: 5 rows not in lower case left out" "... and the log says so"
run_rc "$MXSYNCD" -c "$T_DIR/b-b1/syncd.conf" postconf
printf '%s\n' "$OUT" >"$T_DIR/postconf.out"
pf_backup "$T_DIR/pf-backup" "$T_DIR/b-b1/maps" "$T_DIR/postconf.out"
# as on the primary: no smtpd keeps its resolve cache across probe sessions
echo "max_use = 1" | pf_main "$T_DIR/pf-backup"
check "backup Postfix (mxsyncd postconf) listens" pf_start "$T_DIR/pf-backup"
BP=$(pf_port "$T_DIR/pf-backup")

PROBES="alice@example.com ALICE@Example.COM alice+tag@example.com ina@example.com
info@example.com ext@example.com empty@example.com old@example.com
nobody@example.com carol@example.com Carol@example.com sales@example.com
dave+list@example.com dave@example.com nodir@example.com
bob@example.net anyone@example.net any+x@example.net
alice@alias.test info@alias.test alice+x@alias.test nobody@alias.test
ext@alias.test empty@alias.test alice@offalias.test alice@deadalias.test
whoever@catchalias.test bob@catchalias.test info@off.test bob@mixed.test
r@relay.test anyone@relay.test x@all x@ALL new@example.com new@later.test x@later.test
alice@later.test info@later.test"

# The server logs every statement with its backend's pid and application
# from here on (a reload: the agent's open connections too); while the
# probes below run nothing changes, so the agent only polls.
pg_sql "ALTER SYSTEM SET log_statement = 'all'" &&
	pg_sql "ALTER SYSTEM SET log_line_prefix = '[%p] %a '" &&
	pg_sql "SELECT pg_reload_conf()" >/dev/null || not_ok "statement log on"
PG_MARK=$(wc -l <"$PG_DIR/server.log")
# agent_statements - what the agent sent since PG_MARK, as "[PID] SQL"
agent_statements() {
	tail -n +"$((PG_MARK + 1))" "$PG_DIR/server.log" |
		sed -n 's/^\(\[[0-9]*\]\) mxsync-agent LOG:  \(statement\|execute [^:]*\): /\1 /p'
}
agent_polled() { [ "$(agent_statements | wc -l)" -ge "$1" ]; }

same start 15 "backup and primary answer every probe alike"
check "the daemon polls the change_query (statement log)" wait_until $((3 * POLL + 10)) agent_polled 2
stmts=$(agent_statements)
is "$(printf '%s\n' "$stmts" | sed 's/^\[[0-9]*\] //' | sort -u | wc -l)" 1 \
	"a poll that finds no change sends one statement and nothing else"
is "$(printf '%s\n' "$stmts" | sed 's/ .*//' | sort -u | wc -l)" 1 "... on the connection it keeps"
pg_sql "ALTER SYSTEM RESET log_statement" && pg_sql "ALTER SYSTEM RESET log_line_prefix" &&
	pg_sql "SELECT pg_reload_conf()" >/dev/null || not_ok "statement log off"
is "$(answer start alice@alias.test)" "250 2.1.5" "the primary accepts a mailbox through an alias domain"
is "$(answer start whoever@catchalias.test)" "250 2.1.5" "... and the target's catch-all through an alias domain"
is "$(answer start empty@example.com)" "550 5.1.1" "... and rejects an alias with an empty goto"
is "$(answer start carol@example.com)" "550 5.1.1" "... and a mailbox stored in mixed case"
is "$(answer start alice@deadalias.test)" "554 5.7.1" "... and denies an inactive domain's alias domain"

# Changes as the panel makes them, found by the daemon alone.
pg_sql "INSERT INTO mailbox (username, maildir, local_part, domain) VALUES ('new@example.com', 'example.com/new/', 'new', 'example.com')"
same mailbox $((POLL + 2)) "an added mailbox: equal again within poll_interval + 2 s"
is "$(answer mailbox new@example.com)" "250 2.1.5" "... the new mailbox is accepted"
pg_sql "UPDATE domain SET active = 'f', modified = now() WHERE domain = 'example.net'"
same domain $((POLL + 2)) "a deactivated domain: equal again"
is "$(answer domain bob@example.net)" "554 5.7.1" "... its mailboxes are no longer relayed"
pg_sql "INSERT INTO alias_domain (alias_domain, target_domain) VALUES ('later.test', 'example.com')"
same aliasdomain $((POLL + 2)) "an added alias domain: equal again"
is "$(answer aliasdomain info@later.test)" "250 2.1.5" "... its target's aliases are accepted"
# Two edits within one second: both rows get the same "modified" (as a
# panel writing whole seconds would), so a MAX(modified), COUNT(*) marker
# cannot tell them apart; the second comes after the poll saw the first.
pg_sql "UPDATE mailbox SET active = 'f', modified = '2030-01-01 00:00:00+00' WHERE username = 'new@example.com'"
check "the first edit arrives" wait_within $((POLL + 2)) hasnt b1 new@example.com
pg_sql "UPDATE mailbox SET active = 't', modified = '2030-01-01 00:00:00+00' WHERE username = 'ina@example.com'"
same twoedits $((POLL + 2)) "a second edit in the same second: equal again"
is "$(answer twoedits new@example.com) $(answer twoedits ina@example.com)" "550 5.1.1 250 2.1.5" \
	"... both edits arrived"

# LISTEN/NOTIFY: the trigger of mxsync.conf(5); a change_query that never
# changes, so only the notification can tell the daemon.
pg_sql "$(sed -n '/^\.\\" BEGIN NOTIFY TRIGGER/,/^\.\\" END NOTIFY TRIGGER/p' "$TOP/man/mxsync.conf.5" | grep -v '^\.')" >/dev/null 2>&1
is "$(pg_sql "SELECT count(*) FROM pg_trigger WHERE tgname = 'mxsync_notify'")" 4 \
	"the man page's NOTIFY trigger installs on the four tables"
agent_stop
agent_conf "$SRC
listen        = mxsync
change_query  = SELECT 1" b1
check "the daemon starts with listen = mxsync" agent_start
sleep 1
pg_sql "UPDATE alias SET active = 'f' WHERE address = 'info@example.com'"
same notify $((POLL + 2)) "a change announced by NOTIFY: equal again"
is "$(answer notify info@example.com)" "550 5.1.1" "... the deactivated alias is rejected"

# The server stops: nothing is pushed, the backup keeps its maps.
s=$(bsum b1)
pg_stop
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 75 "sync-now with the server down: exit 75"
like "$OUT" "source pfa:" "the message names the source"
is "$(bsum b1)" "$s" "the backup's maps are unchanged while the server is down"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "error (down): source pfa" "status shows the source down"
if grep -q "$PG_PASSWORD" "$ALOG"; then not_ok "the log holds no password"; else ok "the log holds no password"; fi
pg_restart || done_testing
pg_sql "UPDATE alias SET active = 't' WHERE address = 'info@example.com'"
check "after the server is back, the daemon recovers by itself" wait_until 30 has b1 info@example.com
agent_stop

# One-shot failures: each exit code and message, and no push.
s=$(bsum b1)
printf 'wrong\n' >"$T_DIR/wrong.pw"
sed "s|^password_file .*|password_file = $T_DIR/wrong.pw|" "$ACONF" >"$T_DIR/pw.conf"
run_rc "$AGENT" -c "$T_DIR/pw.conf" push
is "$RC" 75 "a wrong password: exit 75"
like "$OUT" "password authentication failed" "... with the server's reason"
sed "s|^schema .*|recipients_query = SELECT username FROM mailbox WHERE false\\
domains_query = SELECT domain FROM domain WHERE domain = 'example.com'|" "$ACONF" >"$T_DIR/empty.conf"
run_rc "$AGENT" -c "$T_DIR/empty.conf" push
is "$RC" 1 "a query that returns nothing: exit 1"
like "$OUT" "source pfa: recipients_query returned no recipients" "... named as such"
sed "s|^schema .*|recipients_query = SELECT username, domain FROM mailbox\\
domains_query = SELECT domain FROM domain WHERE domain = 'example.com'|" "$ACONF" >"$T_DIR/shape.conf"
run_rc "$AGENT" -c "$T_DIR/shape.conf" push
is "$RC" 1 "a two-column recipients_query: exit 1"
like "$OUT" "recipients_query returns 2 columns" "... named as such"
sed "s|^schema .*|schema = nosuch|" "$ACONF" >"$T_DIR/schema.conf"
run_rc "$AGENT" -c "$T_DIR/schema.conf" check-config
is "$RC" 2 "an unknown schema: exit 2"
like "$OUT" "unknown schema 'nosuch' (known for type pgsql: postfixadmin postfixadmin-backupmx iredmail)" "... listing the presets"

# TLS over TCP: verify-full against the test CA works, another CA fails.
make_tls "$T_DIR/other" >/dev/null
sed "s|^socket .*|host = localhost\\
sslmode = verify-full\\
sslrootcert = $PG_DIR/tls/ca.pem|" "$ACONF" >"$T_DIR/tls.conf"
run_rc "$AGENT" -c "$T_DIR/tls.conf" export
is "$RC" 0 "sslmode = verify-full with the server's CA: exit 0"
sed "s|^sslrootcert .*|sslrootcert = $T_DIR/other/ca.pem|" "$T_DIR/tls.conf" >"$T_DIR/badca.conf"
run_rc "$AGENT" -c "$T_DIR/badca.conf" push
is "$RC" 75 "sslmode = verify-full with another CA: exit 75"
like "$OUT" "certificate verify failed" "... the certificate is refused"
is "$(bsum b1)" "$s" "none of the failures pushed anything"

# Configuration refusals: exit 2 and the file:line of the key.
refuse "s|^sslmode .*||; s|^listen .*|sslmode = verify-full|" "[source pfa]: sslmode verify-full needs sslrootcert" "verify-full without a CA"
refuse "s|^listen .*|sslmode = insecure|" "[source pfa]: sslmode must be disable" "an unknown sslmode"
refuse "s|^listen .*|listen = Bad-Name|" "[source pfa]: listen must be a channel name" "a channel name that needs quoting"
refuse "s|^listen .*|mixed_case = maybe|" "[source pfa]: mixed_case must be drop or fold" "an unknown mixed_case"
refuse "s|^listen .*|host = localhost|" "[source pfa]: set host or socket, not both" "host and socket"

# postfixadmin-backupmx against a primary with the backup-MX queries: the
# backupmx domain is relayed whole; pushed once to the same backup.
sed "s|^schema .*|schema = postfixadmin-backupmx|; /^listen /d; /^change_query /d" "$ACONF" >"$T_DIR/bmx.conf"
pg_pfa_primary "$T_DIR/pf-bmx" backupmx
check "a primary with PostfixAdmin's backup-MX queries listens" pf_start "$T_DIR/pf-bmx"
run_rc "$AGENT" -c "$T_DIR/bmx.conf" push
is "$RC" 0 "push with schema = postfixadmin-backupmx: exit 0"
PP=$(pf_port "$T_DIR/pf-bmx")
same bmx 15 "postfixadmin-backupmx: backup and primary answer every probe alike"
is "$(answer bmx anyone@relay.test)" "250 2.1.5" "... the backupmx domain is relayed for any address"
pf_stop "$T_DIR/pf-bmx"
pf_stop "$T_DIR/pf-backup"
pf_stop "$T_DIR/pf-primary"
backup_stop b1
pg_stop
diag "t-agent-pgsql took $(($(date +%s) - T0))s"
done_testing
