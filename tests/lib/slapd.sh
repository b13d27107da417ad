# slapd.sh - a private OpenLDAP server for the test scripts (sourced after
# common.sh; needs root)
#
#	ldap_start [DIR]	write DIR/slapd.conf (schemas core, cosine,
#				inetorgperson, nis, misc and the test's
#				ad-test.schema; an mdb database for
#				dc=example,dc=test with the syncprov overlay;
#				the monitor database, cn=Monitor),
#				load DIR/data.ldif if present with slapadd, and
#				start slapd on ldapi (DIR/ldapi),
#				ldap://127.0.0.1:LDAP_PORT with StartTLS and
#				ldaps://127.0.0.1:LDAPS_PORT (a certificate
#				from make_tls in DIR/tls); sets LDAP_DIR,
#				LDAP_PORT, LDAP_URI, LDAPS_URI, LDAPI_URI,
#				LDAP_PID, LDAP_PWFILE (the password of
#				cn=mxsync,ou=system,dc=example,dc=test)
#	ldap_restart		start it again on the same database
#	ldap_stop		stop it by its pid and wait for it
#	ldap_modify		ldapmodify over ldapi as root (SASL EXTERNAL,
#				mapped to the rootdn); LDIF on stdin
#
# Everything lives in the test's temporary directory and is removed with it.

LDAP_DIR=
LDAP_PORT=
LDAP_URI=
LDAPS_URI=
LDAPI_URI=
LDAP_PID=
LDAP_PWFILE=
LDAP_BASE=dc=example,dc=test

# ldap_uri_path PATH - PATH %-encoded for an ldapi:// URI
ldap_uri_path() { printf '%s' "$1" | sed 's|/|%2F|g'; }

ldap_run_server() {
	rm -f "$LDAP_DIR/ldapi"
	slapd -d 0 -f "$LDAP_DIR/slapd.conf" \
		-h "$LDAP_URI/ $LDAPS_URI/ $LDAPI_URI/" >>"$LDAP_DIR/slapd.log" 2>&1 &
	LDAP_PID=$!
	track_pid "$LDAP_PID"
	i=0
	while [ $i -lt 300 ]; do
		if ldapsearch -LLL -Q -Y EXTERNAL -H "$LDAPI_URI" -s base \
			-b "" namingContexts >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$LDAP_PID" 2>/dev/null; then
			diag "slapd exited; see $LDAP_DIR/slapd.log"
			tail -n 20 "$LDAP_DIR/slapd.log" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	diag "slapd did not answer on $LDAPI_URI within 30 s"
	return 1
}

ldap_start() {
	LDAP_DIR=${1:-$T_DIR/ldap}
	mkdir -p "$LDAP_DIR/db" || return 1
	make_tls "$LDAP_DIR/tls" || return 1
	LDAP_PORT=$(free_port)
	LDAP_URI=ldap://127.0.0.1:$LDAP_PORT
	LDAPS_PORT=$(free_port)
	while [ "$LDAPS_PORT" = "$LDAP_PORT" ]; do LDAPS_PORT=$(free_port); done
	LDAPS_URI=ldaps://127.0.0.1:$LDAPS_PORT
	LDAPI_URI=ldapi://$(ldap_uri_path "$LDAP_DIR/ldapi")
	LDAP_PWFILE=$LDAP_DIR/mxsync.pw
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$LDAP_PWFILE"
	echo >>"$LDAP_PWFILE"
	chmod 600 "$LDAP_PWFILE"
	s=/etc/ldap/schema
	cat >"$LDAP_DIR/slapd.conf" <<EOF
include $s/core.schema
include $s/cosine.schema
include $s/inetorgperson.schema
include $s/nis.schema
include $s/misc.schema
include $TOP/tests/fixtures/ad-test.schema
pidfile $LDAP_DIR/slapd.pid
argsfile $LDAP_DIR/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
TLSCACertificateFile $LDAP_DIR/tls/ca.pem
TLSCertificateFile $LDAP_DIR/tls/cert.pem
TLSCertificateKeyFile $LDAP_DIR/tls/key.pem
sizelimit 500
# root over ldapi (SASL EXTERNAL) is the database's rootdn
authz-regexp "gidNumber=0\\\\+uidNumber=0,cn=peercred,cn=external,cn=auth" "cn=admin,$LDAP_BASE"
database mdb
suffix "$LDAP_BASE"
rootdn "cn=admin,$LDAP_BASE"
directory $LDAP_DIR/db
maxsize 1073741824
# the agent's account may read everything, in one paged result
limits dn.exact="cn=mxsync,ou=system,$LDAP_BASE" size.prtotal=unlimited size.soft=unlimited size.hard=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by * read
overlay syncprov
# the server's own counts (cn=Monitor): connections and their operations
database monitor
EOF
	# the base entries and the agent's account; then the test's data
	{
		cat <<EOF
dn: $LDAP_BASE
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=system,$LDAP_BASE
objectClass: organizationalUnit
ou: system

dn: cn=mxsync,ou=system,$LDAP_BASE
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: mxsync
userPassword: $(slappasswd -n -s "$(cat "$LDAP_PWFILE")")

EOF
		[ -f "$LDAP_DIR/data.ldif" ] && cat "$LDAP_DIR/data.ldif"
	} >"$LDAP_DIR/all.ldif"
	if ! slapadd -q -f "$LDAP_DIR/slapd.conf" -l "$LDAP_DIR/all.ldif" \
		>"$LDAP_DIR/slapadd.log" 2>&1; then
		diag "slapadd failed:"
		tail -n 20 "$LDAP_DIR/slapadd.log" | sed 's/^/#   /'
		return 1
	fi
	ldap_run_server
}

ldap_restart() {
	ldap_run_server
}

ldap_stop() {
	[ -n "$LDAP_PID" ] || return 0
	stop_pid "$LDAP_PID"
	LDAP_PID=
}

ldap_modify() {
	ldapmodify -Q -Y EXTERNAL -H "$LDAPI_URI" >/dev/null
}
