#!/bin/sh
# t-agent-ldap - the agent's ldap source against a private slapd: domains,
# users with alternate addresses, aliases with a catch-all (plain OpenLDAP
# schemas, read with StartTLS and a simple bind), and Active Directory
# style users and groups with proxyAddresses and a disabled account
# (schema = ad, read over ldapi with SASL EXTERNAL).  A real primary
# Postfix reads the directory through ldap: tables as Postfix's
# LDAP_README describes them, a real backup Postfix reads what mxsyncd
# installs from the agent's pushes; both must answer RCPT TO alike, before
# and after changes the daemon finds by itself (contextCSN); the polls keep
# one connection open (slapd's cn=Monitor counts its operations), and open
# a new one after slapd restarts.  Then the
# failures: slapd down, wrong password, StartTLS with the wrong CA, a
# filter that finds nothing.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/postfix.sh"
. "$TOP/tests/lib/fidelity.sh"
. "$TOP/tests/lib/slapd.sh"

if [ "$(id -u)" != 0 ] || ! command -v slapd >/dev/null 2>&1; then
	echo "1..0 # SKIP needs root and slapd"
	exit 0
fi
T0=$(date +%s)
POLL=2
B=$LDAP_BASE

mkdir -p "$T_DIR/ldap"
cat >"$T_DIR/ldap/data.ldif" <<EOF
dn: ou=domains,$B
objectClass: organizationalUnit
ou: domains

dn: ou=example.org,ou=domains,$B
objectClass: organizationalUnit
objectClass: domainRelatedObject
ou: example.org
associatedDomain: example.org

dn: ou=lists.test,ou=domains,$B
objectClass: organizationalUnit
objectClass: domainRelatedObject
ou: lists.test
associatedDomain: lists.test

dn: ou=ad.test,ou=domains,$B
objectClass: organizationalUnit
objectClass: domainRelatedObject
ou: ad.test
associatedDomain: ad.test

dn: ou=people,$B
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,$B
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: alice
cn: Alice Smith
sn: Smith
mail: alice@example.org
mailLocalAddress: a.smith@example.org
mailLocalAddress: Alice.Alt@Example.ORG

dn: uid=bob,ou=people,$B
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Bob
mail: Bob@Example.ORG

dn: uid=carol,ou=people,$B
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Carol
mail: carol@lists.test

dn: ou=aliases,$B
objectClass: organizationalUnit
ou: aliases

dn: cn=info,ou=aliases,$B
objectClass: organizationalRole
objectClass: inetLocalMailRecipient
cn: info
mailLocalAddress: info@example.org
mailRoutingAddress: alice@example.org

dn: cn=lists,ou=aliases,$B
objectClass: organizationalRole
objectClass: inetLocalMailRecipient
cn: lists
mailLocalAddress: @lists.test
mailRoutingAddress: carol@lists.test

dn: cn=noroute,ou=aliases,$B
objectClass: organizationalRole
objectClass: inetLocalMailRecipient
cn: noroute
mailLocalAddress: noroute@example.org

dn: ou=ad,$B
objectClass: organizationalUnit
ou: ad

dn: cn=Dan,ou=ad,$B
objectClass: user
cn: Dan
sn: Dan
sAMAccountName: dan
userAccountControl: 512
proxyAddresses: SMTP:dan@ad.test
proxyAddresses: smtp:daniel@ad.test
proxyAddresses: X500:/o=Example/ou=Exchange/cn=Recipients/cn=dan
proxyAddresses: SIP:dan@ad.test

dn: cn=Eve,ou=ad,$B
objectClass: user
cn: Eve
sn: Eve
sAMAccountName: eve
userAccountControl: 514
proxyAddresses: SMTP:eve@ad.test

dn: cn=Staff,ou=ad,$B
objectClass: group
cn: Staff
proxyAddresses: SMTP:staff@ad.test
EOF
if ldap_start "$T_DIR/ldap"; then ok "slapd runs with the test directory"; else
	not_ok "slapd runs with the test directory"
	done_testing
fi

# --- the primary: ldap: tables as in Postfix's LDAP_README -----------------
pf_init "$T_DIR/pf-primary"
P=$T_DIR/pf-primary/conf
for m in domains mailboxes aliases ad; do
	case $m in
	domains) f="(associatedDomain=%s)" r=associatedDomain base=ou=domains,$B ;;
	mailboxes) f="(&(objectClass=inetOrgPerson)(mail=%s))" r=mail base=ou=people,$B ;;
	aliases) f="(mailLocalAddress=%s)" r="mail, mailRoutingAddress" base=$B ;;
	ad) f="(&(proxyAddresses=smtp:%s)(|(objectClass=user)(objectClass=group))(!(userAccountControl:1.2.840.113556.1.4.803:=2)))" r=cn base=ou=ad,$B ;;
	esac
	cat >"$P/ldap-$m.cf" <<EOF
server_host = $LDAP_URI
version = 3
start_tls = yes
tls_ca_cert_file = $T_DIR/ldap/tls/ca.pem
tls_require_cert = yes
bind = yes
bind_dn = cn=mxsync,ou=system,$B
bind_pw = $(cat "$LDAP_PWFILE")
search_base = $base
query_filter = $f
result_attribute = $r
EOF
	chgrp postfix "$P/ldap-$m.cf" && chmod 640 "$P/ldap-$m.cf"
done
pf_main "$T_DIR/pf-primary" <<EOF
virtual_alias_domains =
virtual_mailbox_domains = ldap:$P/ldap-domains.cf
virtual_mailbox_maps = ldap:$P/ldap-mailboxes.cf
virtual_alias_maps = ldap:$P/ldap-aliases.cf, ldap:$P/ldap-ad.cf
virtual_mailbox_base = $T_DIR/pf-primary/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
# smtpd caches address resolutions for as long as the process lives
max_use = 1
EOF
check "primary Postfix (ldap: tables) listens" pf_start "$T_DIR/pf-primary"
PP=$(pf_port "$T_DIR/pf-primary")

# --- the agent: two ldap sources, one backup --------------------------------
agent_setup || done_testing
backup_setup b1
backup_start b1
SRC="[source people]
type                  = ldap
uri                   = $LDAP_URI
start_tls             = yes
ca_file               = $T_DIR/ldap/tls/ca.pem
bind_dn               = cn=mxsync,ou=system,$B
password_file         = $LDAP_PWFILE
base                  = $B
domains_filter        = (objectClass=domainRelatedObject)
domains_attribute     = associatedDomain
recipients_filter     = (|(&(objectClass=inetOrgPerson)(mail=*))(&(mailLocalAddress=*)(|(mail=*)(mailRoutingAddress=*))))
recipients_attributes = mail mailLocalAddress
page_size             = 2
poll_interval         = ${POLL}s

[source ad]
type              = ldap
uri               = $LDAPI_URI
sasl_mech         = EXTERNAL
base              = ou=ad,$B
schema            = ad
change_dn         = $B
change_attributes = contextCSN
poll_interval     = ${POLL}s"
agent_conf "$SRC" b1
check "check-config accepts the ldap sources" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export: exit 0"
like "$OUT" "R alice.alt@example.org" "an alternate address, folded"
like "$OUT" "R daniel@ad.test" "an smtp: proxy address"
case "$OUT" in *eve@*) not_ok "a disabled AD account is left out" ;; *) ok "a disabled AD account is left out" ;; esac
case "$OUT" in *X500*|*x500*|*/o=*) not_ok "X500: proxy addresses are no addresses" ;; *) ok "X500: proxy addresses are no addresses" ;; esac
# page_size = 2: the people search took several pages
is "$(printf '%s\n' "$OUT" | grep -c "^R .*@example.org")" 5 "all example.org recipients, read in pages of two"

check "the daemon starts" agent_start
check "the first export reaches the backup" wait_until 20 has b1 alice@example.org

# The ad source's polls (contextCSN over ldapi) keep their connection:
# slapd's cn=Monitor shows the same ldapi connection again two poll
# intervals later, with more operations done on it.
# ldapi_conns - "NUMBER OPS" of each ldapi connection but the asking one
ldapi_conns() {
	ldapsearch -LLL -Q -Y EXTERNAL -H "$LDAPI_URI" -b cn=Connections,cn=Monitor \
		-s one '(objectClass=monitorConnection)' monitorConnectionNumber \
		monitorConnectionOpsCompleted monitorConnectionOpsExecuting \
		monitorConnectionListener | awk '
		/^monitorConnectionNumber:/ { n = $2 }
		/^monitorConnectionOpsCompleted:/ { c = $2 }
		/^monitorConnectionOpsExecuting:/ { x = $2 }
		/^monitorConnectionListener: ldapi:/ { l = 1 }
		/^$/ { if (l && x == 0) print n, c; n = c = x = l = 0 }
		END { if (l && x == 0) print n, c }'
}
# conns_first - the first look, with its time
conns_first() {
	ldapi_conns >"$T_DIR/conns.first" && [ -s "$T_DIR/conns.first" ] &&
		CONNS_T0=$(date +%s)
}
# conn_kept - a connection of the first look, 2 poll intervals later, with
# 2 operations more
conn_kept() {
	[ $(($(date +%s) - CONNS_T0)) -ge $((2 * POLL)) ] || return 1
	ldapi_conns >"$T_DIR/conns.now"
	awk 'NR == FNR { first[$1] = $2; next }
		($1 in first) && $2 >= first[$1] + 2 { found = 1 }
		END { exit !found }' "$T_DIR/conns.first" "$T_DIR/conns.now"
}
check "the polls' connection is open between polls" wait_until 15 conns_first
check "... and the polls keep it: more operations on it, no new connection" \
	wait_until 20 conn_kept
run_rc "$MXSYNCD" -c "$T_DIR/b-b1/syncd.conf" postconf
printf '%s\n' "$OUT" >"$T_DIR/postconf.out"
pf_backup "$T_DIR/pf-backup" "$T_DIR/b-b1/maps" "$T_DIR/postconf.out"
echo "max_use = 1" | pf_main "$T_DIR/pf-backup"
check "backup Postfix (mxsyncd postconf) listens" pf_start "$T_DIR/pf-backup"
BP=$(pf_port "$T_DIR/pf-backup")

PROBES="alice@example.org ALICE@example.org alice+x@example.org a.smith@example.org
alice.alt@example.org bob@example.org BOB@example.org info@example.org
noroute@example.org nobody@example.org anything@lists.test carol@lists.test
dan@ad.test daniel@ad.test eve@ad.test staff@ad.test sip@ad.test nobody@ad.test
new@example.org newalt@example.org x@other.test alice@lists.test"


same start 15 "backup and primary answer every probe alike"
is "$(answer start bob@example.org)" "250 2.1.5" "the primary accepts a mail value stored in mixed case"
is "$(answer start eve@ad.test) $(answer start daniel@ad.test)" "550 5.1.1 250 2.1.5" \
	"... rejects the disabled account and accepts an smtp: alias"
is "$(answer start anything@lists.test)" "250 2.1.5" "... and accepts through the catch-all"

# Changes made with ldapmodify, found by the daemon alone (contextCSN).
ldap_modify <<EOF
dn: uid=new,ou=people,$B
changetype: add
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: new
cn: New
sn: New
mail: new@example.org
mailLocalAddress: newalt@example.org
EOF
same added $((POLL + 2)) "a user added with an alternate address: equal again within poll_interval + 2 s"
is "$(answer added newalt@example.org)" "250 2.1.5" "... the alternate address is accepted"
ldap_modify <<EOF
dn: cn=Dan,ou=ad,$B
changetype: modify
replace: userAccountControl
userAccountControl: 514
EOF
same disabled $((POLL + 2)) "an AD account disabled: equal again"
is "$(answer disabled daniel@ad.test)" "550 5.1.1" "... its addresses are rejected"
ldap_modify <<EOF
dn: cn=info,ou=aliases,$B
changetype: delete
EOF
same deleted $((POLL + 2)) "an alias entry deleted: equal again"
is "$(answer deleted info@example.org)" "550 5.1.1" "... its address is rejected"

# slapd stops: nothing is pushed, the backup keeps its maps; back, the
# daemon recovers by itself.
s=$(bsum b1)
ldap_stop
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 75 "sync-now with slapd down: exit 75"
like "$OUT" "source people: start_tls: Can't contact LDAP server" "the message names the source and the reason"
is "$(bsum b1)" "$s" "the backup's maps are unchanged while slapd is down"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "error (down): source people" "status shows the source down"
if grep -q "$(cat "$LDAP_PWFILE")" "$ALOG"; then not_ok "the log holds no password"; else ok "the log holds no password"; fi
ldap_restart || done_testing
ldap_modify <<EOF
dn: cn=info,ou=aliases,$B
changetype: add
objectClass: organizationalRole
objectClass: inetLocalMailRecipient
cn: info
mailLocalAddress: info@example.org
mailRoutingAddress: alice@example.org
EOF
check "after slapd is back, the daemon recovers by itself" wait_until 30 has b1 info@example.org
check "... the polls open a new connection" wait_until 15 conns_first
check "... and keep it" wait_until 20 conn_kept
agent_stop

# One-shot failures: exit code, message, nothing pushed.
s=$(bsum b1)
printf 'wrong\n' >"$T_DIR/wrong.pw"
sed "s|^password_file .*|password_file = $T_DIR/wrong.pw|" "$ACONF" >"$T_DIR/pw.conf"
run_rc "$AGENT" -c "$T_DIR/pw.conf" push
is "$RC" 75 "a wrong password: exit 75"
like "$OUT" "Invalid credentials" "... with the server's reason"
make_tls "$T_DIR/other" >/dev/null
sed "s|^ca_file .*|ca_file = $T_DIR/other/ca.pem|" "$ACONF" >"$T_DIR/ca.conf"
run_rc "$AGENT" -c "$T_DIR/ca.conf" push
is "$RC" 75 "StartTLS with another CA: exit 75"
like "$OUT" "source people: start_tls: TLS handshake with $LDAP_URI failed: its certificate does not verify against $T_DIR/other/ca.pem" \
	"... refused at StartTLS, naming the CA file"
sed "s|^uri .*$LDAP_PORT|uri = $LDAPS_URI|; s|^start_tls .*|start_tls = no|" "$ACONF" >"$T_DIR/ldaps.conf"
run_rc "$AGENT" -c "$T_DIR/ldaps.conf" export
is "$RC" 0 "ldaps:// with the server's CA: exit 0"
sed "s|^ca_file .*|ca_file = $T_DIR/other/ca.pem|" "$T_DIR/ldaps.conf" >"$T_DIR/ldaps-ca.conf"
run_rc "$AGENT" -c "$T_DIR/ldaps-ca.conf" push
is "$RC" 75 "ldaps:// with another CA: exit 75"
like "$OUT" "source people: bind to $LDAPS_URI: Can't contact LDAP server (or its certificate does not verify against $T_DIR/other/ca.pem" \
	"... the connection is refused, naming the CA file"
sed "s|^recipients_filter .*|recipients_filter = (mail=nobody@nowhere.test)|" "$ACONF" >"$T_DIR/empty.conf"
run_rc "$AGENT" -c "$T_DIR/empty.conf" push
is "$RC" 1 "a filter that finds nothing: exit 1"
like "$OUT" "source people: recipients_filter found no recipients" "... named as such"
sed "s|^recipients_filter .*|recipients_filter = (mail=*|" "$ACONF" >"$T_DIR/bad.conf"
run_rc "$AGENT" -c "$T_DIR/bad.conf" push
is "$RC" 1 "a malformed filter: exit 1"
like "$OUT" "source people: recipients_filter: Bad search filter" "... named as such"
# Configuration refusals: exit 2 and the key's line.
refuse "s|^uri .*$LDAP_PORT|uri = ldaps://127.0.0.1:$LDAP_PORT|" "[source people]: start_tls needs an ldap:// uri" "start_tls with ldaps://"
refuse "s|^uri .*$LDAP_PORT|uri = http://127.0.0.1:$LDAP_PORT|" "[source people]: uri must start with ldap://, ldaps:// or ldapi://" "an http:// uri"
refuse "/^password_file .*ldap/d" "[source people]: bind_dn needs password_file" "bind_dn without a password"
refuse "s|^sasl_mech .*|sasl_mech = PLAIN|" "[source ad]: sasl_mech must be EXTERNAL" "another SASL mechanism"
refuse "s|^schema .*|schema = novell|" "[source ad]: unknown schema 'novell' (known for type ldap: ad)" "an unknown schema"
is "$(bsum b1)" "$s" "none of the failures pushed anything"

pf_stop "$T_DIR/pf-backup"
pf_stop "$T_DIR/pf-primary"
backup_stop b1
ldap_stop
diag "t-agent-ldap took $(($(date +%s) - T0))s"
done_testing
