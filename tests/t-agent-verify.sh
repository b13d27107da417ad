#!/bin/sh
# t-agent-verify - "mxsync-agent verify" against a real primary Postfix on a
# real MariaDB with PostfixAdmin's tables and alias domains: a recipients
# query without the alias-domain branch loses every alias-domain address
# (exit 1, named under LOST), the right query agrees (exit 0); verify's
# notion of the primary's decision equals the primary's own RCPT answer on
# every candidate; a pcre: table that a file source does not read is named;
# the database stopped is exit 75 with Postfix's error and nothing written;
# the daemon's periodic run shows in status.
#
# The schema is PostfixAdmin's own (tests/fixtures/postfixadmin.sql, made by
# public/upgrade.php of postfixadmin/postfixadmin at commit 65b10f72, with
# the pseudo-domain ALL every install has); the primary's .cf queries are
# those of its DOCUMENTS/POSTFIX_CONF.txt, read through proxy: as that file
# advises.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/mariadb.sh"
. "$TOP/tests/lib/postfix.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/fidelity.sh"

mdb_start || { not_ok "mariadb starts"; done_testing; }
mdb_fixture postfix postfixadmin || { not_ok "PostfixAdmin schema"; done_testing; }
MDB_DB=postfix
mdb_sql "
INSERT INTO domain (domain, description, transport, active) VALUES
	('ALL', '', '', 1), ('example.com', '', 'virtual', 1),
	('catch.test', '', 'virtual', 1), ('alias.test', '', 'virtual', 1),
	('alias2.test', '', 'virtual', 1), ('offalias.test', '', 'virtual', 1);
INSERT INTO mailbox (username, password, name, maildir, local_part, domain, active) VALUES
	('user@example.com', '', '', 'example.com/user/', 'user', 'example.com', 1),
	('Alice@Example.COM', '', '', 'example.com/alice/', 'Alice', 'example.com', 1),
	('old@example.com', '', '', 'example.com/old/', 'old', 'example.com', 0),
	('nodir@example.com', '', '', '', 'nodir', 'example.com', 1);
INSERT INTO alias (address, goto, domain, active) VALUES
	('info@example.com', 'user@example.com', 'example.com', 1),
	('sales@example.com', 'alice@example.com,someone@elsewhere.net', 'example.com', 1),
	('empty@example.com', '', 'example.com', 1),
	('gone@example.com', 'user@example.com', 'example.com', 0),
	('@catch.test', 'user@example.com', 'catch.test', 1);
INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES
	('alias.test', 'example.com', 1),
	('alias2.test', 'catch.test', 1),
	('offalias.test', 'example.com', 0);
" || { not_ok "rows"; done_testing; }

# the primary: PostfixAdmin's documented tables
P=$T_DIR/primary
pf_init "$P" || { not_ok "primary config"; done_testing; }
pacf() {
	cat >"$P/conf/$1.cf" <<EOF
user = $MDB_USER
password = $MDB_PASSWORD
hosts = unix:$MDB_SOCK
dbname = postfix
query = $2
EOF
	chgrp postfix "$P/conf/$1.cf" && chmod 640 "$P/conf/$1.cf"
}
pacf mysql_virtual_domains_maps "SELECT domain FROM domain WHERE domain='%s' AND active = '1'"
pacf mysql_virtual_alias_maps "SELECT goto FROM alias WHERE address='%s' AND active = '1'"
pacf mysql_virtual_alias_domain_maps "SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = CONCAT('%u', '@', alias_domain.target_domain) AND alias.active='1' AND alias_domain.active='1'"
pacf mysql_virtual_alias_domain_catchall_maps "SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = CONCAT('@', alias_domain.target_domain) AND alias.active='1' AND alias_domain.active='1'"
pacf mysql_virtual_mailbox_maps "SELECT maildir FROM mailbox WHERE username='%s' AND active = '1'"
pacf mysql_virtual_alias_domain_mailbox_maps "SELECT maildir FROM mailbox,alias_domain WHERE alias_domain.alias_domain = '%d' and mailbox.username = CONCAT('%u', '@', alias_domain.target_domain) AND mailbox.active='1' AND alias_domain.active='1'"
S=proxy:mysql:$P/conf
pf_main "$P" <<EOF
virtual_mailbox_domains = $S/mysql_virtual_domains_maps.cf
virtual_alias_maps =
   $S/mysql_virtual_alias_maps.cf,
   $S/mysql_virtual_alias_domain_maps.cf,
   $S/mysql_virtual_alias_domain_catchall_maps.cf
virtual_mailbox_maps =
   $S/mysql_virtual_mailbox_maps.cf,
   $S/mysql_virtual_alias_domain_mailbox_maps.cf
virtual_mailbox_base = $P/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
EOF
pf_start "$P" || { not_ok "primary Postfix starts"; done_testing; }
PP=$(pf_port "$P")

agent_setup || done_testing
# recipients joined to active domains, without the alias-domain branch,
# and blind to the empty value Postfix takes for "not found"
WRONG="SELECT m.username FROM mailbox m JOIN domain d ON d.domain = m.domain
                   WHERE m.active = 1 AND d.active = 1
                   UNION ALL SELECT a.address FROM alias a JOIN domain d ON d.domain = a.domain
                   WHERE a.active = 1 AND d.active = 1"
RIGHT="SELECT m.username FROM mailbox m JOIN domain d ON d.domain = m.domain
                   WHERE m.active = 1 AND d.active = 1 AND m.maildir <> ''
                   UNION ALL SELECT a.address FROM alias a JOIN domain d ON d.domain = a.domain
                   WHERE a.active = 1 AND d.active = 1 AND a.goto <> ''
                   UNION ALL SELECT CONCAT(SUBSTRING_INDEX(m.username, '@', 1), '@', ad.alias_domain)
                   FROM mailbox m JOIN alias_domain ad ON ad.target_domain = m.domain
                   WHERE m.active = 1 AND ad.active = 1 AND m.maildir <> ''
                   UNION ALL SELECT CONCAT(SUBSTRING_INDEX(a.address, '@', 1), '@', ad.alias_domain)
                   FROM alias a JOIN alias_domain ad ON ad.target_domain = a.domain
                   WHERE a.active = 1 AND ad.active = 1 AND a.goto <> ''"
# presrc: the postfixadmin preset; presrc LINES: those keys instead;
# mysrc QUERY: the domains and that recipients query
presrc() {
	cat <<EOF
[source pfa]
type             = mysql
socket           = $MDB_SOCK
user             = $MDB_USER
password_file    = $MDB_PWFILE
dbname           = postfix
${1:-schema           = postfixadmin}
EOF
}
mysrc() {
	presrc "domains_query    = SELECT domain FROM domain WHERE active = 1 AND domain <> 'ALL'
recipients_query = $1"
}
V="$AGENT -c $ACONF verify --postfix $P/conf"

# 1. without the alias-domain branch: LOST, named
agent_conf "$(mysrc "$WRONG")"
run_rc $V
is "$RC" 1 "verify without the alias-domain branch: exit 1"
like "$OUT" "LOST " "the report has a LOST line"
like "$OUT" "@alias.test: the primary accepts (virtual_" "an alias-domain address is named under LOST"
like "$OUT" "mysql_virtual_alias_domain_mailbox_maps.cf" "the table that decided is named"
like "$OUT" "empty@example.com: a backup accepts (matched empty@example.com), the primary rejects" "an alias with an empty goto is named under BACKSCATTER"
like "$OUT" "nodir@example.com: a backup accepts" "a mailbox with an empty maildir is named under BACKSCATTER"
diag "$(printf '%s\n' "$OUT" | head -n 6)"

# every candidate: verify's idea of the primary equals the primary's RCPT
cmp_all() {
	verify_list "$T_DIR/list" "$P/conf"
	verify_vs_primary "$T_DIR/list"
}
cmp_all
is "$VBAD" 0 "verify's primary decision equals the primary's RCPT answer on all $VN candidates"
like "$(cat "$T_DIR/list.cands")" "user@alias.test primary=accept backup=reject" "user@alias.test: the primary accepts, the export lacks it"
like "$(cat "$T_DIR/list.cands")" "empty@example.com primary=reject" "an alias with an empty goto is not found"
like "$(cat "$T_DIR/list.cands")" "@alias2.test primary=accept" "the target's catch-all serves the alias domain"
if grep -q '@offalias.test primary=accept' "$T_DIR/list.cands"; then
	not_ok "an inactive alias domain accepts nothing"
else ok "an inactive alias domain accepts nothing"; fi
grep -q '+x[0-9a-f]*@example.com primary=accept' "$T_DIR/list.cands"
is "$?" 0 "+extension variants are candidates"
grep -q '^User@EXAMPLE.COM ' "$T_DIR/list.cands"
is "$?" 0 "case variants are candidates"

# 2. the right query agrees
agent_conf "$(mysrc "$RIGHT")"
"$AGENT" -c "$ACONF" export >/dev/null 2>&1
st0=$(find "$ASTATE" -type f | sort | xargs -r cat | sha256sum)
pc0=$(find "$P/conf" -type f | sort | xargs -r cat | sha256sum)
run_rc $V
is "$RC" 0 "verify with the alias-domain branch: exit 0"
is "$(find "$ASTATE" -type f | sort | xargs -r cat | sha256sum)" "$st0" \
	"verify mints no serial and writes nothing to state_dir"
is "$(find "$P/conf" -type f | sort | xargs -r cat | sha256sum)" "$pc0" \
	"verify leaves the primary's Postfix configuration as it was"
like "$OUT" "LOST 0" "LOST 0"
like "$OUT" "BACKSCATTER 0" "BACKSCATTER 0"
run_rc $V --json
is "$RC" 0 "verify --json: exit 0"
like "$OUT" '"lost": 0' "--json: lost"
like "$OUT" '"agree": ' "--json: agree"
cmp_all
is "$VBAD" 0 "right query: the primary's RCPT answers equal verify's on all $VN candidates"
# the postfixadmin preset agrees too
agent_conf "$(presrc)"
run_rc $V
is "$RC" 0 "verify with schema = postfixadmin: exit 0"
like "$OUT" "LOST 0" "postfixadmin preset: LOST 0"
like "$OUT" "BACKSCATTER 0" "postfixadmin preset: BACKSCATTER 0"
agent_conf "$(mysrc "$RIGHT")"
run_rc $V --sample 2
is "$RC" 0 "--sample 2: exit 0"
run_rc $V --sample nonsense
is "$RC" 2 "--sample nonsense: usage error"
run_rc $V --postfix "$T_DIR/nonexistent"
is "$RC" 2 "a Postfix config directory that does not exist: exit 2"
like "$OUT" "postconf" "the message names postconf"

# 3. the database stopped: exit 75 with Postfix's error, nothing written
before=$(find "$ASTATE" -type f | sort | xargs -r cat | sha256sum)
mdb_stop
run_rc $V
is "$RC" 75 "database down, mysql source: exit 75"
like "$OUT" "export failed" "the export's error is reported"
mkdir -p "$T_DIR/files"
printf 'example.com\n' >"$T_DIR/files/domains"
printf 'user@example.com OK\n' >"$T_DIR/files/rcpt"
agent_conf "[source files]
type = file
domains = $T_DIR/files/domains
recipients = $T_DIR/files/rcpt"
run_rc $V
is "$RC" 75 "database down under the primary's tables: exit 75"
like "$OUT" "proxy:mysql:$P/conf/mysql_virtual" "the message names the table"
like "$OUT" "fatal" "the message carries postmap's error"
is "$(find "$ASTATE" -type f | sort | xargs -r cat | sha256sum)" "$before" "nothing written to state_dir"
mdb_restart || { not_ok "mariadb restarts"; done_testing; }

# 4. a file source and a pcre: table it does not read
F=$T_DIR/fileprimary
mkdir -p "$F"
cp /usr/share/postfix/main.cf.debian "$F/main.cf"
cat >>"$F/main.cf" <<EOF
compatibility_level = 3.6
mydestination =
alias_maps =
virtual_mailbox_domains = $F/vdomains
virtual_mailbox_maps = hash:$F/vmailbox
virtual_alias_maps = hash:$F/valias, pcre:$F/valias.pcre
recipient_delimiter = +
EOF
printf 'example.com\nexample.net\n' >"$F/vdomains"
printf 'user@example.com x\nabuse@example.com x\nbob@example.net x\n' >"$F/vmailbox"
printf 'info@example.com user@example.com\n' >"$F/valias"
printf '/^abuse@/ abuse@example.com\n' >"$F/valias.pcre"
postmap -c "$F" hash:"$F/vmailbox" && postmap -c "$F" hash:"$F/valias"
agent_conf "[source files]
type = file
domains = $F/vdomains
recipients = $F/vmailbox $F/valias"
run_rc "$AGENT" -c "$ACONF" verify --postfix "$F"
is "$RC" 1 "file source missing a pcre: table: exit 1"
like "$OUT" "abuse@example.net: the primary accepts (virtual_alias_maps pcre:$F/valias.pcre" "the pcre: table is named"

# 5. the daemon's periodic run
agent_conf "$(mysrc "$WRONG")"
sed -i "s|^debounce .*|&\nverify_interval = 2s\nverify_postfix = $P/conf|" "$ACONF"
agent_start || { not_ok "agent daemon starts"; done_testing; }
vstat() { "$AGENT" -c "$ACONF" status | grep -q "^verify .*LOST [1-9]"; }
if wait_until 60 vstat; then ok "status shows the periodic verify with its counts"; else
	not_ok "status shows the periodic verify with its counts"; diag "$("$AGENT" -c "$ACONF" status)"; tail -n 5 "$ALOG" | sed 's/^/#   /'; fi
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "  LOST " "status lists a first example"
run_rc "$AGENT" -c "$ACONF" status --json
like "$OUT" '"lost_examples"' "status --json carries the verify result"
# a later run with the same result logs nothing new
t1=$("$AGENT" -c "$ACONF" status --json | sed -n 's/.*"time": \([0-9]*\).*/\1/p' | tail -n 1)
later() { t=$("$AGENT" -c "$ACONF" status --json | sed -n 's/.*"time": \([0-9]*\).*/\1/p' | tail -n 1); [ -n "$t" ] && [ "$t" -gt "$t1" ]; }
wait_until 30 later
is "$(grep -c 'verify: the backups disagree' "$ALOG")" 1 "a disagreement is logged once while it stays the same"
agent_stop
pf_stop "$P"
done_testing
