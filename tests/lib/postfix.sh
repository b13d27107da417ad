# postfix.sh - private Postfix instances for the test scripts and the demo
# (sourced after common.sh; needs root)
#
# An instance lives entirely in one directory DIR of the test's temporary
# directory: DIR/conf (main.cf, master.cf), DIR/queue, DIR/data, DIR/maillog.
# It never reads or writes the system's /etc/postfix/main.cf, master.cf,
# queue or data directory, and it works whether or not the system has a
# main.cf or a running Postfix of its own:
#
#  - every Postfix command is given "-c DIR/conf" (postfix, postmap,
#    postconf, master); "postfix -c" needs no alternate_config_directories
#    entry when run as root, and no default main.cf at all;
#  - meta_directory and the daemon programs stay the packaged ones
#    (/etc/postfix/dynamicmaps.cf is read, never written, so cdb: and mysql:
#    tables load);
#  - "postfix -c DIR/conf check" creates the queue directories; then the
#    master runs in the foreground ("master -c DIR/conf -d") as a child of
#    the test, so its process id is known without reading a pid file, and
#    it is stopped by that pid (SIGTERM makes the master stop its children);
#  - logging goes to DIR/maillog through postlogd (maillog_file), no syslog;
#  - smtpd listens on 127.0.0.1:PORT only (a free port); no other inet
#    service; chroot is off.
#
#	pf_init DIR		make DIR, pick a port, write master.cf and a
#				base main.cf; sets PF_PORT
#	pf_main DIR		append main.cf lines read from stdin
#	pf_backup DIR MAPS [POSTCONF_FILE]
#				pf_init + backup MX settings: the main.cf lines
#				in POSTCONF_FILE (what "mxsyncd postconf"
#				prints, taken as they are), or, without it,
#				cdb: tables MAPS/relay_domains,
#				relay_recipients, transport with exact domain
#				matching
#	pf_primary DIR		pf_init + primary MX settings reading the
#				MariaDB of mariadb.sh (MDB_SOCK, MDB_USER,
#				MDB_PASSWORD) through mysql: tables
#	pf_primary_preset DIR SCHEMA DB
#				pf_init + a primary MX configured as the
#				panel SCHEMA (postfixadmin,
#				postfixadmin-backupmx, iredmail, ispmail)
#				documents it: its own mysql: .cf queries,
#				word for word, reading database DB of
#				mariadb.sh's server (see the function for the
#				upstream files and commits)
#	pf_start DIR		start the master; sets PF_PID; registers it
#				with track_pid; waits for the SMTP port
#	pf_stop DIR		stop the master by its pid and wait for it
#	pf_port DIR		print the instance's SMTP port
#	pf_postmap DIR ARGS...	postmap -c DIR/conf ARGS...
#	smtp_probe PORT ADDR...	one SMTP session: EHLO, MAIL FROM, RCPT TO for
#				each ADDR; prints "ADDR CODE TEXT" per line
#	smtp_codes PORT ADDR...	like smtp_probe, "ADDR CODE ENHANCED" only
#				(e.g. "a@b.test 550 5.1.1")
#	smtp_send PORT ADDR	send one short message to ADDR; exit 0 when
#				the server accepted it after DATA

PF_DAEMONS=$(postconf -dh daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)
PF_PORT=
PF_PORTS=
PF_PID=

pf_init() {
	d=$1
	mkdir -p "$d/conf" "$d/queue" "$d/data" || return 1
	chown postfix "$d/data" || return 1
	# a port no other instance of this script was given
	PF_PORT=$(free_port) || return 1
	while case " $PF_PORTS " in *" $PF_PORT "*) true ;; *) false ;; esac; do
		PF_PORT=$(free_port) || return 1
	done
	PF_PORTS="$PF_PORTS $PF_PORT"
	echo "$PF_PORT" >"$d/port"
	: >"$d/maillog"
	cat >"$d/conf/master.cf" <<EOF
# private test instance: one SMTP listener on loopback, no chroot
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	cat >"$d/conf/main.cf" <<EOF
# private test instance; nothing here refers to the system's Postfix
compatibility_level = 3.6
config_directory = $d/conf
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $d
myhostname = $(basename "$d").test
mydomain = test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
# the loopback test client must not be trusted for relaying
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP
biff = no
# many rejected probes in one session: no tarpit, no disconnect
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtputf8_enable = yes
EOF
}

pf_main() {
	cat >>"$1/conf/main.cf"
}

pf_port() {
	cat "$1/port"
}

pf_postmap() {
	d=$1; shift
	postmap -c "$d/conf" "$@"
}

pf_backup() {
	d=$1 maps=$2 pc=${3:-}
	pf_init "$d" || return 1
	echo "# backup MX" >>"$d/conf/main.cf"
	if [ -n "$pc" ]; then
		pf_main "$d" <"$pc"
	else
		pf_main "$d" <<EOF
relay_domains = cdb:$maps/relay_domains
relay_recipient_maps = cdb:$maps/relay_recipients
transport_maps = cdb:$maps/transport
recipient_delimiter = +
# relay_domains matches exactly as the primary's virtual_mailbox_domains
# do: a subdomain is relayed only when it is listed itself
parent_domain_matches_subdomains = debug_peer_list, fast_flush_domains, mynetworks, permit_mx_backup_networks, qmqpd_authorized_clients, smtpd_access_maps
EOF
	fi
}

pf_primary() {
	d=$1
	pf_init "$d" || return 1
	for m in domains mailboxes aliases; do
		case $m in
		domains) q="SELECT 1 FROM domain WHERE domain = '%s' AND active = 1 AND backupmx = 0" ;;
		mailboxes) q="SELECT 1 FROM mailbox WHERE username = '%s' AND active = 1" ;;
		aliases) q="SELECT goto FROM alias WHERE address = '%s' AND active = 1" ;;
		esac
		cat >"$d/conf/mysql-$m.cf" <<EOF
hosts = unix:$MDB_SOCK
user = $MDB_USER
password = $MDB_PASSWORD
dbname = postfix
query = $q
EOF
		chgrp postfix "$d/conf/mysql-$m.cf" && chmod 640 "$d/conf/mysql-$m.cf" || return 1
	done
	pf_main "$d" <<EOF
# primary MX: PostfixAdmin-like tables in MariaDB
virtual_alias_domains =
virtual_mailbox_domains = mysql:$d/conf/mysql-domains.cf
virtual_mailbox_maps = mysql:$d/conf/mysql-mailboxes.cf
virtual_alias_maps = mysql:$d/conf/mysql-aliases.cf
virtual_mailbox_base = $d/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
EOF
}

# pf_cf DIR NAME DB QUERY - write DIR/conf/NAME.cf for mysql: tables
pf_cf() {
	cat >"$1/conf/$2.cf" <<EOF
hosts = unix:$MDB_SOCK
user = $MDB_USER
password = $MDB_PASSWORD
dbname = $3
query = $4
EOF
	chgrp postfix "$1/conf/$2.cf" && chmod 640 "$1/conf/$2.cf"
}

pf_primary_preset() {
	d=$1 schema=$2 db=$3 c=$1/conf
	pf_init "$d" || return 1
	case $schema in
	postfixadmin | postfixadmin-backupmx)
		# DOCUMENTS/POSTFIX_CONF.txt (and, for the backup MX variant,
		# its "optional query to use when relaying for backup MX" and
		# DOCUMENTS/BACKUP_MX.txt) of postfixadmin/postfixadmin at
		# commit 65b10f7285524bc6753f604bd11ff3c3de5cbf97
		if [ "$schema" = postfixadmin ]; then
			pf_cf "$d" mysql_virtual_domains_maps "$db" "SELECT domain FROM domain WHERE domain='%s' AND active = '1'"
		else
			pf_cf "$d" mysql_virtual_domains_maps "$db" "SELECT domain FROM domain WHERE domain='%s' AND backupmx = '0' AND active = '1'"
			pf_cf "$d" mysql_relay_domains_maps "$db" "SELECT domain FROM domain WHERE domain = '%s' AND backupmx = '1'"
		fi
		pf_cf "$d" mysql_virtual_alias_maps "$db" "SELECT goto FROM alias WHERE address='%s' AND active = '1'"
		pf_cf "$d" mysql_virtual_alias_domain_maps "$db" "SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = CONCAT('%u', '@', alias_domain.target_domain) AND alias.active='1' AND alias_domain.active='1'"
		pf_cf "$d" mysql_virtual_alias_domain_catchall_maps "$db" "SELECT goto FROM alias,alias_domain WHERE alias_domain.alias_domain = '%d' and alias.address = CONCAT('@', alias_domain.target_domain) AND alias.active='1' AND alias_domain.active='1'"
		pf_cf "$d" mysql_virtual_mailbox_maps "$db" "SELECT maildir FROM mailbox WHERE username='%s' AND active = '1'"
		pf_cf "$d" mysql_virtual_alias_domain_mailbox_maps "$db" "SELECT maildir FROM mailbox,alias_domain WHERE alias_domain.alias_domain = '%d' and mailbox.username = CONCAT('%u', '@', alias_domain.target_domain) AND mailbox.active='1' AND alias_domain.active='1'"
		pf_main "$d" <<EOF
virtual_mailbox_domains = proxy:mysql:$c/mysql_virtual_domains_maps.cf
virtual_alias_maps =
   proxy:mysql:$c/mysql_virtual_alias_maps.cf,
   proxy:mysql:$c/mysql_virtual_alias_domain_maps.cf,
   proxy:mysql:$c/mysql_virtual_alias_domain_catchall_maps.cf
virtual_mailbox_maps =
   proxy:mysql:$c/mysql_virtual_mailbox_maps.cf,
   proxy:mysql:$c/mysql_virtual_alias_domain_mailbox_maps.cf
EOF
		[ "$schema" = postfixadmin ] ||
			echo "relay_domains = proxy:mysql:$c/mysql_relay_domains_maps.cf" |
			pf_main "$d"
		;;
	iredmail)
		# samples/postfix/mysql/*.cf and samples/postfix/main.cf.mysql
		# of iredmail/iRedMail at commit
		# e0fe4fc277504aaa3e4915046cfe420524e42162 (1.8.1)
		pf_cf "$d" virtual_mailbox_domains "$db" "(SELECT domain FROM domain WHERE domain='%s' AND backupmx=0 AND active=1 LIMIT 1) UNION (SELECT alias_domain.alias_domain FROM alias_domain,domain WHERE alias_domain.alias_domain='%s' AND alias_domain.active=1 AND alias_domain.target_domain=domain.domain AND domain.active=1 AND domain.backupmx=0 LIMIT 1)"
		pf_cf "$d" relay_domains "$db" "SELECT domain FROM domain WHERE domain='%s' AND backupmx=1 AND active=1 LIMIT 1"
		pf_cf "$d" virtual_mailbox_maps "$db" "SELECT CONCAT(mailbox.storagenode, '/', mailbox.maildir, '/Maildir/') FROM mailbox,domain WHERE mailbox.username='%s' AND mailbox.active=1 AND mailbox.enabledeliver=1 AND domain.domain = mailbox.domain AND domain.active=1"
		pf_cf "$d" virtual_alias_maps "$db" "SELECT forwardings.forwarding FROM forwardings,domain WHERE forwardings.address='%s' AND forwardings.domain=domain.domain AND forwardings.active=1 AND domain.backupmx=0 AND domain.active=1"
		pf_cf "$d" domain_alias_maps "$db" "SELECT forwardings.forwarding FROM forwardings,alias_domain,domain WHERE alias_domain.alias_domain='%d' AND forwardings.address=CONCAT('%u', '@', alias_domain.target_domain) AND alias_domain.target_domain=domain.domain AND forwardings.active=1 AND alias_domain.active=1 AND domain.backupmx=0"
		pf_cf "$d" catchall_maps "$db" "SELECT forwardings.forwarding FROM forwardings,domain WHERE forwardings.address='%d' AND '%u' NOT LIKE '%%+%%' AND forwardings.address=domain.domain AND forwardings.active=1 AND domain.active=1 AND domain.backupmx=0"
		pf_cf "$d" domain_alias_catchall_maps "$db" "SELECT forwardings.forwarding FROM forwardings,alias_domain,domain WHERE alias_domain.alias_domain='%d' AND forwardings.address=alias_domain.target_domain AND alias_domain.target_domain=domain.domain AND forwardings.active=1 AND alias_domain.active=1"
		pf_main "$d" <<EOF
virtual_mailbox_domains =
    proxy:mysql:$c/virtual_mailbox_domains.cf
relay_domains =
    \$mydestination
    proxy:mysql:$c/relay_domains.cf
virtual_mailbox_maps =
    proxy:mysql:$c/virtual_mailbox_maps.cf
virtual_alias_maps =
    proxy:mysql:$c/virtual_alias_maps.cf
    proxy:mysql:$c/domain_alias_maps.cf
    proxy:mysql:$c/catchall_maps.cf
    proxy:mysql:$c/domain_alias_catchall_maps.cf
EOF
		;;
	ispmail)
		# roles/ispmail-postfix of Signum/ispmail-bookworm-ansible at
		# commit ffe3cb1d69d24f6291ecf59fd30b4179954c8843
		pf_cf "$d" mysql-virtual-mailbox-domains "$db" "SELECT 1 FROM virtual_domains WHERE name='%s'"
		pf_cf "$d" mysql-virtual-mailbox-maps "$db" "SELECT 1 FROM virtual_users WHERE email='%s'"
		pf_cf "$d" mysql-virtual-alias-maps "$db" "SELECT destination FROM virtual_aliases WHERE source='%s'"
		pf_cf "$d" mysql-email2email "$db" "SELECT email FROM virtual_users WHERE email='%s'"
		pf_main "$d" <<EOF
virtual_mailbox_domains = mysql:$c/mysql-virtual-mailbox-domains.cf
virtual_mailbox_maps = mysql:$c/mysql-virtual-mailbox-maps.cf
virtual_alias_maps = mysql:$c/mysql-virtual-alias-maps.cf,mysql:$c/mysql-email2email.cf
EOF
		;;
	*)
		diag "pf_primary_preset: unknown schema $schema"
		return 1
		;;
	esac
	# the test's own: where virtual mail would go, and the delimiter the
	# agent is told (iRedMail's main.cf sets the same)
	pf_main "$d" <<EOF
virtual_mailbox_base = $d/vmail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
recipient_delimiter = +
EOF
}

pf_start() {
	d=$1
	if ! postfix -c "$d/conf" check >"$d/check.out" 2>&1; then
		diag "postfix check failed for $d:"
		sed 's/^/#   /' "$d/check.out" | tail -n 20
		return 1
	fi
	"$PF_DAEMONS/master" -c "$d/conf" -d >"$d/master.out" 2>&1 &
	PF_PID=$!
	track_pid "$PF_PID"
	echo "$PF_PID" >"$d/master.pid"
	if ! wait_port "$(pf_port "$d")" 15; then
		diag "postfix in $d did not listen on port $(pf_port "$d"):"
		tail -n 20 "$d/master.out" "$d/maillog" | sed 's/^/#   /'
		return 1
	fi
}

pf_stop() {
	[ -s "$1/master.pid" ] || return 0
	stop_pid "$(cat "$1/master.pid")"
	rm -f "$1/master.pid"
}

smtp_probe() {
	python3 - "$@" <<'EOF'
import smtplib, sys
port = int(sys.argv[1])
try:
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="probe.example.net",
                     timeout=30)
    s.ehlo("probe.example.net")
    opts = []
    if any(not a.isascii() for a in sys.argv[2:]):
        # UTF-8 addresses need SMTPUTF8 (RFC 6531)
        opts = ["SMTPUTF8"]
        s.command_encoding = "utf-8"
    code, msg = s.mail("probe@example.net", opts)
    if code != 250:
        sys.exit("MAIL FROM refused: %d %s" % (code, msg.decode(errors="replace")))
    for a in sys.argv[2:]:
        code, msg = s.rcpt(a)
        print(a, code, msg.decode(errors="replace").replace("\n", " "))
    s.quit()
except (OSError, smtplib.SMTPException) as e:
    sys.exit("smtp_probe: port %d: %s" % (port, e))
EOF
}

smtp_codes() {
	smtp_probe "$@" | awk '{ e = ($3 ~ /^[245]\.[0-9]+\.[0-9]+$/) ? $3 : "-"; print $1, $2, e }'
}

smtp_send() {
	python3 - "$@" <<'EOF'
import smtplib, sys
port, rcpt = int(sys.argv[1]), sys.argv[2]
msg = ("From: <probe@example.net>\r\nTo: <%s>\r\nSubject: mxsync test\r\n"
       "\r\nThis message was relayed by the backup MX.\r\n" % rcpt)
try:
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="probe.example.net",
                     timeout=30)
    s.sendmail("probe@example.net", [rcpt], msg)
    s.quit()
except (OSError, smtplib.SMTPException) as e:
    sys.exit("smtp_send: port %d: %s" % (port, e))
EOF
}
