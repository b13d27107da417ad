#!/bin/sh
# t-e2e.sh - end to end: a real MariaDB feeds mxsync-agent, which pushes over
# HTTPS to two mxsyncd instances; a real Postfix backup MX uses one of them's
# maps and must decide every probed address exactly as a real Postfix
# primary MX reading the same MariaDB through mysql: tables does, before and
# after mailboxes are added and deleted, without any "postfix reload".
#
# Everything runs on loopback, in the test's temporary directory, and is
# stopped by process id on exit (also on failure).
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/mariadb.sh"
. "$TOP/tests/lib/postfix.sh"

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (private Postfix and MariaDB instances)"
	exit 0
fi
for p in mxsyncd mxsync-agent mxsync-keys; do
	if [ ! -x "$BIN/$p" ]; then
		not_ok "$BIN/$p is built"
		done_testing
	fi
done

T0=$(date +%s)
ORIGIN=mx1.e2e.test
# the domains the agent's key may publish
DOMAINS="example.com catchall.test upper.test"

# --- MariaDB with a PostfixAdmin-like schema --------------------------------
if ! mdb_start || ! mdb_schema; then
	not_ok "MariaDB starts"
	done_testing
fi
ok "MariaDB runs on $MDB_SOCK"
# example.com: mailboxes and aliases; catchall.test: a catch-all alias;
# upper.test: stored in upper case; backup.test is a backupmx domain and
# off.test an inactive one (neither is the primary's, so neither is
# exported); old@example.com and gone@example.com are inactive
mdb_sql "
INSERT INTO domain (domain, backupmx, active) VALUES
	('example.com', 0, 1), ('catchall.test', 0, 1), ('UPPER.test', 0, 1),
	('backup.test', 1, 1), ('off.test', 0, 0);
INSERT INTO mailbox (username, domain, active) VALUES
	('alice@example.com', 'example.com', 1),
	('bob@example.com', 'example.com', 1),
	('carol@example.com', 'example.com', 1),
	('dave@example.com', 'example.com', 1),
	('Erin@UPPER.test', 'UPPER.test', 1),
	('jörg@example.com', 'example.com', 1),
	('old@example.com', 'example.com', 0),
	('x@off.test', 'off.test', 1);
INSERT INTO alias (address, goto, domain, active) VALUES
	('info@example.com', 'alice@example.com', 'example.com', 1),
	('sales@example.com', 'alice@example.com,bob@example.com', 'example.com', 1),
	('gone@example.com', 'bob@example.com', 'example.com', 0),
	('@catchall.test', 'alice@example.com', 'catchall.test', 1);
" || not_ok "sample data inserted"

# --- the primary MX: Postfix reading MariaDB through mysql: tables -----------
pf_primary "$T_DIR/pf-primary"
if pf_start "$T_DIR/pf-primary"; then
	ok "primary Postfix (mysql: tables) listens"
else
	not_ok "primary Postfix (mysql: tables) listens"
	done_testing
fi
PP=$(pf_port "$T_DIR/pf-primary")
# the backup relays accepted mail to the primary's smtpd
NEXTHOP="smtp:[127.0.0.1]:$PP"

# --- keys, TLS, two backups -------------------------------------------------
check "mxsync-keys generate" "$BIN/mxsync-keys" generate -o "$T_DIR/agent.key"
# shellcheck disable=SC2086
"$BIN/mxsync-keys" trusted-line -o "$ORIGIN" "$T_DIR/agent.key" $DOMAINS \
	>"$T_DIR/trusted_keys" 2>"$T_DIR/trusted.err" ||
	{ not_ok "trusted-line"; cat "$T_DIR/trusted.err"; }
make_tls "$T_DIR/tls" || not_ok "make_tls"

# syncd_conf NAME PORT - write $T_DIR/NAME/syncd.conf
syncd_conf() {
	mkdir -p "$T_DIR/$1/state" "$T_DIR/$1/maps"
	cat >"$T_DIR/$1/syncd.conf" <<EOF
[syncd]
listen       = 127.0.0.1:$2
status_listen = none
tls_cert     = $T_DIR/tls/cert.pem
tls_key      = $T_DIR/tls/key.pem
trusted_keys = $T_DIR/trusted_keys
state_dir    = $T_DIR/$1/state
maps_dir     = $T_DIR/$1/maps
max_shrink   = 50%
canaries     = alice@example.com
EOF
}

SYNCD_PIDS=""
# syncd_start NAME - start mxsyncd NAME in the background
syncd_start() {
	"$BIN/mxsyncd" -c "$T_DIR/$1/syncd.conf" run >"$T_DIR/$1/log" 2>&1 &
	track_pid $!
	SYNCD_PIDS="$SYNCD_PIDS $!"
}

P1=$(free_port)
P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
syncd_conf s1 "$P1"
syncd_conf s2 "$P2"
syncd_start s1
syncd_start s2
if wait_port "$P1" 15 && wait_port "$P2" 15; then
	ok "two mxsyncd listen on 127.0.0.1:$P1 and :$P2"
else
	not_ok "two mxsyncd listen"
	tail -n 20 "$T_DIR/s1/log" "$T_DIR/s2/log" | sed 's/^/#   /'
	done_testing
fi

# --- the agent: one mysql source, two backups -------------------------------
mkdir -p "$T_DIR/agent/state"
cat >"$T_DIR/agent/agent.conf" <<EOF
[agent]
origin              = $ORIGIN
key                 = $T_DIR/agent.key
state_dir           = $T_DIR/agent/state
control_socket      = $T_DIR/agent/agent.sock
control_group       = root
expire              = 1d
nexthop             = $NEXTHOP
recipient_delimiter = +
# the agent's own guard, as the backups' (small states, real deletions)
max_shrink          = 50%

[source postfixadmin]
type             = mysql
socket           = $MDB_SOCK
user             = $MDB_USER
password_file    = $MDB_PWFILE
dbname           = postfix
domains_query    = SELECT domain FROM domain WHERE active = 1 AND backupmx = 0
recipients_query = SELECT m.username FROM mailbox m
	JOIN domain d ON d.domain = m.domain
	WHERE m.active = 1 AND d.active = 1 AND d.backupmx = 0
	UNION SELECT a.address FROM alias a
	JOIN domain d ON d.domain = a.domain
	WHERE a.active = 1 AND d.active = 1 AND d.backupmx = 0
change_query     = SELECT MAX(modified), COUNT(*) FROM mailbox
poll_interval    = 1s

[backup s1]
url     = https://127.0.0.1:$P1/
ca_file = $T_DIR/tls/ca.pem

[backup s2]
url     = https://localhost:$P2/
ca_file = $T_DIR/tls/ca.pem
EOF
"$BIN/mxsync-agent" -c "$T_DIR/agent/agent.conf" run >"$T_DIR/agent/log" 2>&1 &
AGENT_PID=$!
track_pid "$AGENT_PID"
i=0
while [ ! -S "$T_DIR/agent/agent.sock" ] && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done

# sync_now DESC - sync-now --wait must succeed
sync_now() {
	run_rc "$BIN/mxsync-agent" -c "$T_DIR/agent/agent.conf" sync-now --wait --timeout 30
	if [ "$RC" = 0 ]; then ok "$1"; else
		not_ok "$1 (exit $RC)"
		printf '%s\n' "$OUT" | sed 's/^/#   /'
		tail -n 20 "$T_DIR/agent/log" | sed 's/^/#   /'
	fi
}
sync_now "sync-now --wait: both backups acknowledged the first export"

maps_ok=1
for s in s1 s2; do
	for m in relay_domains relay_recipients-00 transport; do
		[ -s "$T_DIR/$s/maps/$m.cdb" ] || maps_ok=0
	done
done
if [ $maps_ok = 1 ]; then ok "both backups installed the three maps"; else
	not_ok "both backups installed the three maps"
	ls -l "$T_DIR"/s1/maps "$T_DIR"/s2/maps | sed 's/^/#   /'
	tail -n 20 "$T_DIR/s1/log" "$T_DIR/s2/log" | sed 's/^/#   /'
	done_testing
fi
is "$(maps_sum "$T_DIR/s1/maps")" "$(maps_sum "$T_DIR/s2/maps")" \
	"the two backups' maps are byte for byte equal"

# --- Postfix: backup MX on s1's maps (as "mxsyncd postconf" says), primary
# MX on MariaDB -------------------------------------------------------------
run_rc "$BIN/mxsyncd" -c "$T_DIR/s1/syncd.conf" postconf
printf '%s\n' "$OUT" >"$T_DIR/postconf.out"
like "$OUT" "relay_recipient_maps = cdb:$T_DIR/s1/maps/relay_recipients" \
	"mxsyncd postconf names the relay_recipients map"
# pasted into the backup's main.cf as printed, comments and all
pf_backup "$T_DIR/pf-backup" "$T_DIR/s1/maps" "$T_DIR/postconf.out"
if pf_start "$T_DIR/pf-backup"; then
	ok "backup Postfix (mxsyncd's cdb: maps) listens"
else
	not_ok "backup Postfix (mxsyncd's cdb: maps) listens"
	done_testing
fi
BACKUP_MASTER=$PF_PID
BP=$(pf_port "$T_DIR/pf-backup")

# Not probed: addresses where the primary's answer comes from MariaDB's
# collation rather than from Postfix (utf8mb4_general_ci matches
# jorg@example.com to the mailbox jörg@example.com, and does not match
# "strasse", which Postfix's case folding makes of "straße", to "straße");
# the backup answers those as Postfix's own tables would.
PROBES="alice@example.com ALICE@Example.COM alice+tag@example.com
Bob+Some.Tag@EXAMPLE.COM info@example.com info+x@example.com sales@example.com
nobody@example.com nobody+alice@example.com old@example.com gone@example.com
new@example.com new+ext@example.com
any@catchall.test Whoever+x@CATCHALL.TEST
erin@upper.test ERIN@Upper.Test other@upper.test
jörg@example.com JÖRG@Example.COM Jörg+x@example.com
x@sub.example.com alice@sub.example.com x@backup.test x@off.test
stranger@other.test alice@example.com.other.test"

# decisions PORT FILE - probe every address, "ADDR CODE ENHANCED" per line
decisions() {
	# shellcheck disable=SC2086
	smtp_codes "$1" $PROBES >"$2" 2>"$2.err"
}

# expect FILE ADDR CODE ENHANCED DESC
expect() {
	is "$(awk -v a="$2" '$1 == a { print $2, $3 }' "$1")" "$3 $4" "$5"
}

# compare STEP - the backup decides every address as the primary does
compare() {
	decisions "$BP" "$T_DIR/backup.$1"
	decisions "$PP" "$T_DIR/primary.$1"
	n=$(wc -l <"$T_DIR/primary.$1")
	if [ "$n" -gt 0 ] && [ -s "$T_DIR/backup.$1" ] &&
		cmp -s "$T_DIR/backup.$1" "$T_DIR/primary.$1"; then
		ok "$1: backup and primary give the same answer to all $n probes"
	else
		not_ok "$1: backup and primary give the same answers"
		diff "$T_DIR/primary.$1" "$T_DIR/backup.$1" | sed 's/^/#   /'
		cat "$T_DIR/primary.$1.err" "$T_DIR/backup.$1.err" | sed 's/^/#   /'
	fi
}

compare before
B=$T_DIR/backup.before
expect "$B" alice@example.com 250 2.1.5 "backup accepts a mailbox"
expect "$B" ALICE@Example.COM 250 2.1.5 "backup accepts it in another case"
expect "$B" alice+tag@example.com 250 2.1.5 "backup accepts user+ext"
expect "$B" info@example.com 250 2.1.5 "backup accepts an alias"
expect "$B" nobody@example.com 550 5.1.1 "backup rejects an unknown user: 550 5.1.1"
expect "$B" old@example.com 550 5.1.1 "backup rejects an inactive mailbox"
expect "$B" gone@example.com 550 5.1.1 "backup rejects an inactive alias"
expect "$B" JÖRG@Example.COM 250 2.1.5 "backup accepts a UTF-8 mailbox in another case"
expect "$B" any@catchall.test 250 2.1.5 "backup accepts anything at a catch-all domain"
expect "$B" ERIN@Upper.Test 250 2.1.5 "backup accepts a mailbox stored in upper case"
expect "$B" stranger@other.test 554 5.7.1 "backup denies relay for an unknown domain: 554"
expect "$B" x@sub.example.com 554 5.7.1 "backup denies relay for a subdomain"
expect "$B" x@backup.test 554 5.7.1 "backup denies a backupmx domain of the primary"
expect "$B" x@off.test 554 5.7.1 "backup denies an inactive domain"
expect "$B" new@example.com 550 5.1.1 "the mailbox to be added is rejected yet"

# --- a message the backup accepts goes to the primary, per the transport map --
run_rc smtp_send "$BP" alice+e2e@example.com
is "$RC" 0 "the backup takes a message for alice+e2e@example.com"
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | sed 's/^/#   /'
i=0
while ! grep -q "to=<alice+e2e@example.com>, relay=127.0.0.1\[127.0.0.1\]:$PP,.*status=sent" \
	"$T_DIR/pf-backup/maillog" && [ $i -lt 150 ]; do
	sleep 0.1; i=$((i + 1))
done
if grep -q "to=<alice+e2e@example.com>, relay=127.0.0.1\[127.0.0.1\]:$PP,.*status=sent" \
	"$T_DIR/pf-backup/maillog"; then
	ok "the backup relayed it to the primary's nexthop [127.0.0.1]:$PP"
else
	not_ok "the backup relayed it to the primary's nexthop [127.0.0.1]:$PP"
	grep 'alice+e2e' "$T_DIR/pf-backup/maillog" | tail -n 5 | sed 's/^/#   /'
fi

# --- add a mailbox: the next connection to the backup accepts it ------------
mdb_sql "INSERT INTO mailbox (username, domain) VALUES ('new@example.com', 'example.com')"
sync_now "sync-now --wait after adding a mailbox"
smtp_codes "$BP" new@example.com >"$T_DIR/new.1"
is "$(cat "$T_DIR/new.1")" "new@example.com 250 2.1.5" \
	"the next SMTP connection to the backup accepts the new mailbox"
run_rc "$BIN/mxsyncd" -c "$T_DIR/s2/syncd.conf" check new@example.com
is "$RC" 0 "the second backup accepts it too (mxsyncd check)"
compare added

# --- delete it: the backup rejects it -----------------------------------------
mdb_sql "DELETE FROM mailbox WHERE username = 'new@example.com'"
sync_now "sync-now --wait after deleting the mailbox"
smtp_codes "$BP" new@example.com >"$T_DIR/new.2"
is "$(cat "$T_DIR/new.2")" "new@example.com 550 5.1.1" \
	"the next SMTP connection to the backup rejects the deleted mailbox"
run_rc "$BIN/mxsyncd" -c "$T_DIR/s2/syncd.conf" check new@example.com
is "$RC" 1 "the second backup rejects it too (mxsyncd check)"
compare deleted

# --- deactivate an alias and turn the catch-all into a single alias ----------
mdb_sql "UPDATE alias SET active = 0 WHERE address = 'info@example.com';
DELETE FROM alias WHERE address = '@catchall.test';
INSERT INTO alias (address, goto, domain) VALUES
	('only@catchall.test', 'alice@example.com', 'catchall.test')"
sync_now "sync-now --wait after alias changes"
compare "aliases changed"
expect "$T_DIR/backup.aliases changed" info@example.com 550 5.1.1 \
	"a deactivated alias is rejected"
expect "$T_DIR/backup.aliases changed" any@catchall.test 550 5.1.1 \
	"a removed catch-all no longer accepts anything"
is "$(maps_sum "$T_DIR/s1/maps")" "$(maps_sum "$T_DIR/s2/maps")" \
	"the two backups' maps are still equal"

# --- no reload: the same master ran all along; smtpd noticed the change -------
if kill -0 "$BACKUP_MASTER" 2>/dev/null; then
	ok "the backup's Postfix master ran throughout (no restart, no reload)"
else
	not_ok "the backup's Postfix master ran throughout"
fi
if grep -q 'reload' "$T_DIR/pf-backup/maillog"; then
	not_ok "no reload in the backup's log"
else
	ok "no reload in the backup's log"
fi
if grep -Eq "smtpd.*maps/(relay_domains|relay_recipients[-0-9a-f]*|transport)\(.*has changed -- restarting" \
	"$T_DIR/pf-backup/maillog"; then
	ok "backup smtpd noticed the replaced table by itself"
else
	not_ok "backup smtpd noticed the replaced table by itself"
fi
if grep -Eq 'fatal|panic|warning: .*(unavailable|cdb)' "$T_DIR/pf-backup/maillog"; then
	not_ok "no Postfix errors about the maps"
	grep -E 'fatal|panic|warning' "$T_DIR/pf-backup/maillog" | head | sed 's/^/#   /'
else
	ok "no Postfix errors about the maps"
fi

pf_stop "$T_DIR/pf-backup"
pf_stop "$T_DIR/pf-primary"
stop_pid "$AGENT_PID"
for p in $SYNCD_PIDS; do stop_pid "$p"; done
mdb_stop
diag "t-e2e took $(( $(date +%s) - T0 ))s"
done_testing
