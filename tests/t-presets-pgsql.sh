#!/bin/sh
# t-presets-pgsql - "schema = iredmail" on type = pgsql: a private
# PostgreSQL cluster holding iRedMail's own PostgreSQL schema
# (tests/fixtures/iredmail-pgsql.sql) and rows as iRedAdmin writes them, a
# real primary Postfix on iRedMail's pgsql: tables (pg_irm_primary), a real
# backup Postfix on what mxsyncd installs and prints with postconf; both
# must answer RCPT TO alike on every probe, and again after a change the
# daemon finds by itself (within poll_interval and a margin for a loaded
# machine: tests/lib/fidelity.sh, change_limit); and "verify" on that
# primary reports only the two exceptions mxsync.conf(5) documents.
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

if ! pg_start || ! pg_iredmail; then
	not_ok "PostgreSQL with iRedMail's schema"
	done_testing
fi
ok "PostgreSQL runs with iRedMail's schema"

# iRedMail's way: a mailbox has a forwardings row to itself; an alias is
# forwardings rows, one per target; a catch-all is a forwardings row whose
# address is the bare domain; alias domains have no domain row.  Mixed
# case (a mailbox, a domain row) is stored as is: PostgreSQL compares it
# exactly, so the primary never finds it.
pg_sql "
INSERT INTO domain (domain, transport, backupmx, active) VALUES
 ('example.com', 'dovecot', 0, 1), ('catch.test', 'dovecot', 0, 1),
 ('off.test', 'dovecot', 0, 0), ('UPPER.Test', 'dovecot', 0, 1),
 ('bmx.test', 'relay:[mx.bmx.test]', 1, 1),
 ('bmxoff.test', 'relay:[mx.bmxoff.test]', 1, 0);
INSERT INTO mailbox (username, password, name, maildir, domain, active, enabledeliver) VALUES
 ('alice@example.com', 'x', 'Alice', 'example.com/a/l/i/alice', 'example.com', 1, 1),
 ('old@example.com', 'x', 'Old', 'example.com/o/l/d/old', 'example.com', 0, 1),
 ('half@example.com', 'x', 'Half', 'example.com/h/a/l/half', 'example.com', 0, 1),
 ('nodeliver@example.com', 'x', 'No', 'example.com/n/o/d/nodeliver', 'example.com', 1, 0),
 ('Mixed.Case@Example.com', 'x', 'Mixed', 'example.com/m/i/x/mixed', 'example.com', 1, 1),
 ('carl@catch.test', 'x', 'Carl', 'catch.test/c/a/r/carl', 'catch.test', 1, 1),
 ('bob@off.test', 'x', 'Bob', 'off.test/b/o/b/bob', 'off.test', 1, 1),
 ('erin@upper.test', 'x', 'Erin', 'upper.test/e/r/i/erin', 'UPPER.Test', 1, 1);
INSERT INTO forwardings (address, forwarding, domain, dest_domain, is_forwarding, is_alias, active) VALUES
 ('alice@example.com', 'alice@example.com', 'example.com', 'example.com', 1, 0, 1),
 ('old@example.com', 'old@example.com', 'example.com', 'example.com', 1, 0, 0),
 ('half@example.com', 'half@example.com', 'example.com', 'example.com', 1, 0, 1),
 ('nodeliver@example.com', 'nodeliver@example.com', 'example.com', 'example.com', 1, 0, 0),
 ('Mixed.Case@Example.com', 'Mixed.Case@Example.com', 'example.com', 'example.com', 1, 0, 1),
 ('carl@catch.test', 'carl@catch.test', 'catch.test', 'catch.test', 1, 0, 1),
 ('bob@off.test', 'bob@off.test', 'off.test', 'off.test', 1, 0, 1),
 ('erin@upper.test', 'erin@upper.test', 'UPPER.Test', 'UPPER.Test', 1, 0, 1),
 ('info@example.com', 'alice@example.com', 'example.com', 'example.com', 0, 1, 1),
 ('team@example.com', 'alice@example.com', 'example.com', 'example.com', 0, 1, 1),
 ('team@example.com', 'carl@catch.test', 'example.com', 'catch.test', 0, 1, 1),
 ('team@example.com', 'friend@elsewhere.test', 'example.com', 'elsewhere.test', 0, 1, 1),
 ('ext@example.com', 'someone@elsewhere.test', 'example.com', 'elsewhere.test', 0, 1, 1),
 ('empty@example.com', '', 'example.com', '', 0, 1, 1),
 ('gone@example.com', 'alice@example.com', 'example.com', 'example.com', 0, 1, 0),
 ('plus+tag@example.com', 'alice@example.com', 'example.com', 'example.com', 0, 1, 1),
 ('Sales@example.com', 'alice@example.com', 'example.com', 'example.com', 0, 1, 1),
 ('catch.test', 'alice@example.com', 'catch.test', 'example.com', 0, 0, 1),
 ('staff@off.test', 'bob@off.test', 'off.test', 'off.test', 0, 1, 1);
INSERT INTO alias (address, name, domain, active) VALUES
 ('info@example.com', 'Info', 'example.com', 1), ('team@example.com', 'Team', 'example.com', 1),
 ('ext@example.com', 'Ext', 'example.com', 1), ('empty@example.com', 'Empty', 'example.com', 1),
 ('gone@example.com', 'Gone', 'example.com', 0), ('plus+tag@example.com', 'Plus', 'example.com', 1),
 ('staff@off.test', 'Staff', 'off.test', 1);
INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES
 ('alias.test', 'example.com', 1), ('acatch.test', 'catch.test', 1),
 ('aoffline.test', 'example.com', 0), ('aoff.test', 'off.test', 1);
" >/dev/null || not_ok "iRedMail rows inserted"

pg_irm_primary "$T_DIR/pf-primary"
# (pf_start sets d: not through check, whose description is in d)
if pf_start "$T_DIR/pf-primary"; then ok "primary Postfix (iRedMail's pgsql: tables) listens"; else
	not_ok "primary Postfix (iRedMail's pgsql: tables) listens"; fi
PP=$(pf_port "$T_DIR/pf-primary")

agent_setup || done_testing
backup_setup b1
backup_start b1
agent_conf "[source irm]
type          = pgsql
socket        = $PG_SOCK
user          = $PG_USER
password_file = $PG_PWFILE
dbname        = vmail
schema        = iredmail
poll_interval = ${POLL}s" b1
sed -i "s|^nexthop .*|nexthop = smtp:[127.0.0.1]:$PP|" "$ACONF"
check "check-config accepts schema = iredmail on pgsql" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export: exit 0"
like "$OUT" "R @acatch.test" "the alias domain gets its target's catch-all"
like "$OUT" "R @bmx.test" "an active backupmx domain is relayed whole"
case "$OUT" in *mixed.case@*|*Mixed.Case@*) not_ok "a mixed-case mailbox is not exported" ;;
*) ok "a mixed-case mailbox is not exported" ;; esac
case "$OUT" in *erin@upper.test*) not_ok "a mailbox of a mixed-case domain row is not exported" ;;
*) ok "a mailbox of a mixed-case domain row is not exported" ;; esac
like "$OUT" "mxsync-agent: source irm: 3 rows not in lower case left out" "export says how many rows it left out"

check "the daemon starts" agent_start
check "the first export reaches the backup" wait_until 30 has b1 alice@example.com
run_rc "$MXSYNCD" -c "$T_DIR/b-b1/syncd.conf" postconf
printf '%s\n' "$OUT" >"$T_DIR/postconf.out"
pf_backup "$T_DIR/pf-backup" "$T_DIR/b-b1/maps" "$T_DIR/postconf.out"
pf_fresh "$T_DIR/pf-backup"
if pf_start "$T_DIR/pf-backup"; then ok "backup Postfix (mxsyncd postconf) listens"; else
	not_ok "backup Postfix (mxsyncd postconf) listens"; fi
BP=$(pf_port "$T_DIR/pf-backup")

# Not among the probes: +foo@catch.test, which iRedMail's catchall_maps.cf
# refuses while the exported @catch.test accepts it (mxsync.conf(5),
# PRESETS); it is checked on its own below.
PROBES="alice@example.com ALICE@Example.COM alice+x@example.com
old@example.com half@example.com nodeliver@example.com
mixed.case@example.com Mixed.Case@Example.com info@example.com
team@example.com ext@example.com empty@example.com gone@example.com
plus+tag@example.com plus+other@example.com plus@example.com
sales@example.com nobody@example.com any@catch.test carl@catch.test
x+y@catch.test a+b+c@catch.test alice@alias.test Alice+z@Alias.Test
info@alias.test team@alias.test empty@alias.test gone@alias.test
half@alias.test nobody@alias.test any@acatch.test carl@acatch.test
x+y@acatch.test +foo@acatch.test alice@aoffline.test bob@off.test
staff@off.test x@off.test bob@aoff.test staff@aoff.test
erin@upper.test ERIN@UPPER.TEST x@upper.test x@bmx.test x@bmxoff.test
stranger@other.test new@example.com new@alias.test"

same start 15 "backup and primary answer every probe alike"
is "$(answer start alice@alias.test)" "250 2.1.5" "the primary accepts a mailbox through an alias domain"
is "$(answer start any@acatch.test)" "250 2.1.5" "... and the target's catch-all through an alias domain"
is "$(answer start x@bmx.test)" "250 2.1.5" "... and any address of an active backupmx domain"
is "$(answer start empty@example.com)" "550 5.1.1" "... and rejects a forwarding with an empty target"
is "$(answer start mixed.case@example.com)" "550 5.1.1" "... and a mailbox stored in mixed case"
is "$(answer start erin@upper.test)" "554 5.7.1" "... and denies a domain stored in mixed case"
PROBES_ALL=$PROBES
PROBES="+foo@catch.test"
compare known
is "$(awk '{print $2}' "$T_DIR/primary.known") $(awk '{print $2}' "$T_DIR/backup.known")" "550 250" \
	"+foo@catch.test: the primary's catch-all refuses it, the exported @catch.test accepts it (documented)"
PROBES=$PROBES_ALL

# verify on this primary: the catch-all's leading-delimiter refusal is
# reported as BACKSCATTER and the subdomains of the relayed backupmx domain
# as LOST (mxsync.conf(5), PRESETS), nothing else
verify_list "$T_DIR/verify.out" "$T_DIR/pf-primary/conf"
is "$RC" 1 "verify on iRedMail's pgsql primary: exit 1 (the documented exceptions)"
# the addresses under each heading (LOST, BACKSCATTER, ...), one per line
awk '/^[A-Z]+ [0-9]+$/ { sec = $1; next } /^  / { a = $1; sub(/:$/, "", a); print sec, a }' \
	"$T_DIR/verify.out" >"$T_DIR/verify.found"
is "$(grep -cvE '^(LOST [^ ]+@nx[0-9a-f]+\.bmx\.test|BACKSCATTER \+nx[0-9a-f]+@catch\.test)$' "$T_DIR/verify.found")" 0 \
	"verify reports nothing but the two documented exceptions"
grep -qE '^BACKSCATTER \+nx[0-9a-f]+@catch\.test$' "$T_DIR/verify.found" &&
	ok "verify: BACKSCATTER for a leading delimiter at the catch-all domain" ||
	not_ok "verify: BACKSCATTER for a leading delimiter at the catch-all domain"
[ "$(grep -c '^LOST ' "$T_DIR/verify.found")" -gt 0 ] &&
	ok "verify: the backupmx domain's subdomains are reported LOST" ||
	not_ok "verify: the backupmx domain's subdomains are reported LOST"

# A change as iRedAdmin makes it (a mailbox and its own forwardings row),
# found by the daemon alone.
CHANGED=$(now_ms)
pg_sql "INSERT INTO mailbox (username, password, maildir, domain) VALUES ('new@example.com', 'x', 'example.com/n/e/w/new', 'example.com');
INSERT INTO forwardings (address, forwarding, domain, dest_domain, is_forwarding) VALUES ('new@example.com', 'new@example.com', 'example.com', 'example.com', 1)"
agree_after mailbox "an added mailbox" new@example.com 2.2
same_codes mailbox
is "$(answer mailbox new@example.com) $(answer mailbox new@alias.test)" "250 2.1.5 250 2.1.5" \
	"... the new mailbox is accepted, also through the alias domain"

agent_stop
pf_stop "$T_DIR/pf-backup"
pf_stop "$T_DIR/pf-primary"
backup_stop b1
pg_stop
diag "t-presets-pgsql took $(($(date +%s) - T0))s"
done_testing
