#!/bin/sh
# t-agent-relay - the mail-relay setup: a file source with a Postfix
# transport file (three domains, three next hops, one relay: route with a
# port), a domains file, accept_all, pushed by the agent daemon to a real
# mxsyncd; the backup's real Postfix (configured from "mxsyncd postconf")
# routes each domain to its own loopback SMTP sink and answers RCPT TO as
# the relay's own Postfix, configured from the same files, does.  Subdomain
# keys, "*", and non-relay values are refused with file:line, and so are
# a bad accept_all domain and a bad canary anywhere in its list.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"
. "$TOP/tests/lib/postfix.sh"

agent_setup || done_testing
backup_setup mx2
backup_start mx2
SRC=$T_DIR/src
mkdir -p "$SRC" "$T_DIR/sinks"

# --- three SMTP sinks on loopback, one per next hop: each message's
# envelope recipients go to sinks/NAME.rcpt
cat >"$T_DIR/sink.py" <<'EOF'
import socket, sys
name, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(5)
def session(c):
    f = c.makefile("rb"); rcpts = []
    c.sendall(b"220 %s.sink ESMTP\r\n" % name.encode())
    while True:
        l = f.readline()
        if not l: break
        v = l.strip().upper()
        if v.startswith(b"EHLO") or v.startswith(b"HELO"):
            c.sendall(b"250 %s.sink\r\n" % name.encode())
        elif v.startswith(b"RCPT TO:"):
            rcpts.append(l.strip()[8:].strip(b"<> ").decode()); c.sendall(b"250 ok\r\n")
        elif v == b"DATA":
            c.sendall(b"354 go\r\n")
            while f.readline() not in (b".\r\n", b".\n", b""): pass
            with open(out, "a") as o:
                o.write("".join(r + "\n" for r in rcpts))
            rcpts = []; c.sendall(b"250 queued\r\n")
        elif v == b"QUIT":
            c.sendall(b"221 bye\r\n"); break
        else:
            c.sendall(b"250 ok\r\n")
while True:
    c, _ = srv.accept()
    try:
        session(c)
    except OSError:
        pass   # a port probe that hung up
    c.close()
EOF
for s in one two three; do
	p=$(free_port)
	eval "SINK_$s=$p"
	python3 "$T_DIR/sink.py" "$s" "$p" "$T_DIR/sinks/$s.rcpt" >"$T_DIR/sinks/$s.log" 2>&1 &
	track_pid $!
	wait_port "$p" 10 || not_ok "sink $s listens"
done

# --- the relay's files
cat >"$SRC/transport" <<EOF
# customers' domains and their servers
a.example	smtp:[127.0.0.1]:$SINK_one
b.example	relay:[127.0.0.1]:$SINK_two
c.example	smtp:[127.0.0.1]:$SINK_three
EOF
printf 'a.example, d.example\ne.example\n' >"$SRC/domains"
printf 'alice@a.example OK\nbob@b.example OK\ncarol@d.example OK\n' >"$SRC/recipients"
printf '@c.example OK\n' >"$SRC/acceptall"
agent_conf "[source relay]
type = file
transport = $SRC/transport
domains = $SRC/domains
recipients = $SRC/recipients
accept_all = c.example" mx2
check "check-config accepts transport and accept_all" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
like "$OUT" "D b.example relay:[127.0.0.1]:$SINK_two" "export: the transport file's value is the domain's nexthop"
like "$OUT" "D a.example smtp:[127.0.0.1]:$SINK_one" "a domain in both files takes the transport file's next hop"
like "$OUT" "D d.example smtp:[mx1.example.com]:25" "a domains-file domain keeps the agent's nexthop"
like "$OUT" "R @c.example" "accept_all exports @domain"

check "the daemon starts" agent_start
check "the export reaches the backup" wait_until 20 has mx2 alice@a.example
M=$T_DIR/b-mx2/maps
for d in a.example:"smtp:[127.0.0.1]:$SINK_one" b.example:"relay:[127.0.0.1]:$SINK_two" \
	c.example:"smtp:[127.0.0.1]:$SINK_three" d.example:"smtp:[mx1.example.com]:25"; do
	is "$(bq mx2 "${d%%:*}" transport)" "${d#*:}" "postmap -q ${d%%:*} transport.cdb: its own next hop"
done
is "$(bq mx2 anyone@c.example relay_recipients)" "" "no per-address key for the accept-all domain"
is "$(bq mx2 @c.example relay_recipients)" OK "the accept-all domain is @c.example in relay_recipients"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "1 domains without any recipient (the backups reject all their addresses): e.example" "status counts and names the domain without recipients"
is "$(grep -c 'domain without any recipient' "$ALOG")" 1 "the log names it once"

# --- the backup's Postfix from "mxsyncd postconf"; the relay's own Postfix
# from the same files
run_rc "$MXSYNCD" -c "$T_DIR/b-mx2/syncd.conf" postconf
is "$RC" 0 "mxsyncd postconf exits 0"
like "$OUT" "transport_maps = cdb:$M/transport" "postconf prints transport_maps"
like "$OUT" "next hops" "postconf says the domains have their own next hops"
printf '%s\n' "$OUT" >"$T_DIR/postconf"
pf_backup "$T_DIR/pf-backup" "$M" "$T_DIR/postconf" || not_ok "pf_backup"
pf_start "$T_DIR/pf-backup" || not_ok "backup Postfix starts"
pf_init "$T_DIR/pf-relay" || not_ok "pf_init relay"
cp "$SRC/transport" "$SRC/recipients" "$SRC/acceptall" "$T_DIR/pf-relay/conf/"
for m in transport recipients acceptall; do pf_postmap "$T_DIR/pf-relay" "hash:$T_DIR/pf-relay/conf/$m"; done
pf_main "$T_DIR/pf-relay" <<EOF
# the relay itself: routes and valid recipients from its own files
relay_domains = $SRC/domains, hash:$T_DIR/pf-relay/conf/transport
transport_maps = hash:$T_DIR/pf-relay/conf/transport
relay_recipient_maps = hash:$T_DIR/pf-relay/conf/recipients, hash:$T_DIR/pf-relay/conf/acceptall
recipient_delimiter = +
parent_domain_matches_subdomains = debug_peer_list, fast_flush_domains, mynetworks, permit_mx_backup_networks, qmqpd_authorized_clients, smtpd_access_maps
EOF
pf_start "$T_DIR/pf-relay" || not_ok "relay Postfix starts"
PROBES="alice@a.example nobody@a.example alice+x@a.example bob@b.example x@b.example anyone@c.example postmaster@c.example carol@d.example zed@d.example e@e.example u@f.example x@sub.a.example"
smtp_codes "$(pf_port "$T_DIR/pf-relay")" $PROBES >"$T_DIR/relay.codes"
smtp_codes "$(pf_port "$T_DIR/pf-backup")" $PROBES >"$T_DIR/backup.codes"
is "$(cat "$T_DIR/backup.codes")" "$(cat "$T_DIR/relay.codes")" "the backup answers every RCPT as the relay does"
like "$(cat "$T_DIR/backup.codes")" "anyone@c.example 250" "the accept-all domain takes any address"
like "$(cat "$T_DIR/backup.codes")" "nobody@a.example 550 5.1.1" "an unknown address of a routed domain is refused"

# --- delivery: each domain's mail reaches its own sink
BP=$(pf_port "$T_DIR/pf-backup")
check "the backup accepts mail for alice@a.example" smtp_send "$BP" alice@a.example
check "the backup accepts mail for bob@b.example" smtp_send "$BP" bob@b.example
check "the backup accepts mail for anyone@c.example" smtp_send "$BP" anyone@c.example
check "alice's message reaches sink one (smtp:)" wait_until 60 grep -qx alice@a.example "$T_DIR/sinks/one.rcpt"
check "bob's message reaches sink two (relay: with a port)" wait_until 60 grep -qx bob@b.example "$T_DIR/sinks/two.rcpt"
check "the accept-all domain's message reaches sink three" wait_until 60 grep -qx anyone@c.example "$T_DIR/sinks/three.rcpt"
is "$(cat "$T_DIR/sinks/"*.rcpt | sort | tr '\n' ' ')" "alice@a.example anyone@c.example bob@b.example " "no message went to another sink"

# --- refusals, naming file:line: with the daemon running nothing is pushed
s0=$(bsum mx2)
cp "$SRC/transport" "$SRC/transport.good"
printf '.sub.a.example\tsmtp:[127.0.0.1]:%s\n' "$SINK_one" >>"$SRC/transport"
check "a .domain key is refused" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF '$SRC/transport:5: \".sub.a.example\" would route subdomains; the backup relays exactly the listed domains'"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 10
is "$RC" 1 "sync-now exits 1 for a .domain key"
like "$OUT" "transport:5" "sync-now names file:line"
is "$(bsum mx2)" "$s0" "the refused transport file changed no map"
cp "$SRC/transport.good" "$SRC/transport"
check "the good file again: status clean" wait_until 15 sh -c "! '$AGENT' -c '$ACONF' status | grep -q 'error'"
agent_stop
tref() { # DESC LINE WANT - one bad line appended: push exits 1, maps unchanged
	cp "$SRC/transport.good" "$SRC/transport"
	printf '%s\n' "$2" >>"$SRC/transport"
	run_rc "$AGENT" -c "$ACONF" push
	is "$RC" 1 "$1: push exits 1"
	like "$OUT" "$3" "$1: the message names file:line and why"
	is "$(bsum mx2)" "$s0" "$1: the maps did not change"
}
tref "'*'" "*	smtp:[127.0.0.1]:$SINK_one" "$SRC/transport:5: \"*\" would route every domain; the backup relays exactly the listed domains"
tref "a local: value" "e.example	local:" "$SRC/transport:5: domain e.example: not a relay route (a backup only relays to the next hop): transport \"local\" of nexthop \"local:\" is not allowed"
tref "an error: value" "e.example	error:5.1.1 gone" "$SRC/transport:5: domain e.example: not a relay route"
tref "a port out of range" "e.example	smtp:[127.0.0.1]:99999" "$SRC/transport:5: domain e.example: not a relay route (a backup only relays to the next hop): malformed nexthop"
tref "two next hops for one domain" "a.example	smtp:[127.0.0.1]:1" "$SRC/transport:5: domain a.example: next hop \"smtp:[127.0.0.1]:1\", but \"smtp:[127.0.0.1]:$SINK_one\" at $SRC/transport:2"
tref "an address key" "x@a.example	smtp:[127.0.0.1]:1" "$SRC/transport:5: \"x@a.example\": address keys are not read"
cp "$SRC/transport.good" "$SRC/transport"
dref() { # DESC LINE WANT - a bad domains file: push exits 1, maps unchanged
	printf 'a.example\n%s\n' "$2" >"$SRC/domains"
	run_rc "$AGENT" -c "$ACONF" push
	is "$RC" 1 "$1 in a domains file: push exits 1"
	like "$OUT" "$3" "$1: the message names file:line and why"
	is "$(bsum mx2)" "$s0" "$1: the maps did not change"
}
dref "a .domain" "d.example, .b.example" "$SRC/domains:2: \".b.example\" would match subdomains or every domain"
dref "'*'" "*" "$SRC/domains:2: \"*\" would match subdomains or every domain"
dref "a negation" "!d.example" "$SRC/domains:2: \"!d.example\": negations, nested files and lookup tables are not read here"
dref "a lookup table" "hash:/etc/postfix/relay" "$SRC/domains:2: \"hash:/etc/postfix/relay\": negations"
dref "a word that is no domain" "d.example e.example localhost" "$SRC/domains:2: \"localhost\" is not a domain name"
printf 'a.example # hosted\nd.example OK\ne.example\n' >"$SRC/domains"
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "a comment after a word and a map value are read as Postfix does"
case "$OUT" in *"D ok "*|*hosted*) not_ok "... and yield no domain of their own" ;; *) ok "... and yield no domain of their own" ;; esac
sed 's/^accept_all = .*/accept_all = nowhere.example/' "$ACONF" >"$T_DIR/aa.conf"
run_rc "$AGENT" -c "$T_DIR/aa.conf" push
is "$RC" 1 "accept_all of a domain no source lists: push exits 1"
like "$OUT" "source relay" "... naming the source"
like "$OUT" "accept_all: domain nowhere.example is listed by no source" "... and the domain"
is "$(bsum mx2)" "$s0" "... and the maps did not change"
sed 's/^accept_all = .*/accept_all = bad..example/' "$ACONF" >"$T_DIR/aa2.conf"
run_rc "$AGENT" -c "$T_DIR/aa2.conf" check-config
is "$RC" 2 "accept_all with a bad domain: check-config exits 2"
like "$OUT" "$T_DIR/aa2.conf:" "... naming file:line"
like "$OUT" "accept_all" "... and the key"

# canaries: a list of addresses separated by blanks and commas
sed '/^\[agent\]/a canaries = alice@a.example,, bob@b.example\t,' "$ACONF" >"$T_DIR/can.conf"
check "canaries separated by blanks and commas are accepted" "$AGENT" -c "$T_DIR/can.conf" check-config
sed '/^\[agent\]/a canaries = alice@a.example, bob@b..example' "$ACONF" >"$T_DIR/can2.conf"
run_rc "$AGENT" -c "$T_DIR/can2.conf" check-config
is "$RC" 2 "a bad second canary: check-config exits 2"
like "$OUT" "$T_DIR/can2.conf:2: canaries: " "... naming file:line and the key"
like "$OUT" '"bob@b..example"' "... and the bad address"

done_testing
