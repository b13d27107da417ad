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
