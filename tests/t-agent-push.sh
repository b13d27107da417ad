#!/bin/sh
# t-agent-push - mxsync-agent check-config, export, push against real
# mxsyncd backups over HTTPS: exit codes 0/75/1/2, config errors as
# file:line, deltas and the full snapshot after a 409, a serial lifted above
# a backup's, export -o accepted by "mxsyncd apply", --allow-shrink, and TLS
# verification failures (wrong CA, wrong pin).
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup mx2
backup_setup mx3
backup_start mx2
backup_start mx3
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\nexample.net OK\n' >"$SRC/domains"
printf 'alice@example.com a\nBob@Example.COM b\n@example.net any\nroot r\n' >"$SRC/virtual"
printf '# list\npostmaster@example.com\n' >"$SRC/list"
SOURCES="[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual
lists = $SRC/list"
agent_conf "$SOURCES" mx2 mx3

# --- configuration errors: file:line, exit 2
cfgerr() { # DESC WANT-SUBSTRING - the config in $T_DIR/bad.conf
	run_rc "$AGENT" -c "$T_DIR/bad.conf" check-config
	is "$RC" 2 "$1: exit 2"
	like "$OUT" "$2" "$1: message"
}
{ cat "$ACONF"; echo "bogus = 1"; } >"$T_DIR/bad.conf"
n=$(wc -l <"$T_DIR/bad.conf")
cfgerr "unknown key" "$T_DIR/bad.conf:$n: "
sed 's/^type = file/type = ldap3/' "$ACONF" >"$T_DIR/bad.conf"
cfgerr "unknown source type" "unknown type 'ldap3' (file, mysql, pgsql, ldap or maildir)"
sed 's|^url = https://|url = http://|' "$ACONF" >"$T_DIR/bad.conf"
cfgerr "plain http backup url" "url must start with https://"
sed 's|^nexthop .*||' "$ACONF" >"$T_DIR/bad.conf"
cfgerr "missing nexthop" "missing key 'nexthop'"
sed 's|^expire .*|expire = soon|' "$ACONF" >"$T_DIR/bad.conf"
cfgerr "bad duration" "$T_DIR/bad.conf:"
printf '%s\n[source m]\ntype = maildir\nroot = /tmp\nlayout = %%n/%%d\n' "$(cat "$ACONF")" >"$T_DIR/bad.conf"
cfgerr "maildir layout with %n before %d" "%n must come after %d"
printf '%s\n[source q]\ntype = mysql\nuser = u\ndbname = d\n' "$(cat "$ACONF")" >"$T_DIR/bad.conf"
cfgerr "mysql source without queries" "set domains_query or recipients_query"
sed 's|^recipients = .*|recipients = '"$SRC"'/missing|' "$ACONF" >"$T_DIR/bad.conf"
cfgerr "check-config: a missing source file" "source files: open($SRC/missing)"
run_rc "$AGENT" -c "$T_DIR/nonexistent.conf" export
is "$RC" 2 "a missing config file: exit 2"
run_rc "$AGENT" -c "$ACONF" frobnicate
is "$RC" 2 "an unknown command: exit 2"
check "check-config accepts the good config" "$AGENT" -c "$ACONF" check-config

# --- export
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export exits 0"
want="D example.com smtp:[mx1.example.com]:25
D example.net smtp:[mx1.example.com]:25
R @example.net
R alice@example.com
R bob@example.com
R postmaster@example.com"
is "$OUT" "$want" "export prints the canonical state (folded, sorted, local names skipped)"
printf 'x@nowhere.example x\n' >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export with a recipient of an unlisted domain: exit 0 (dropped)"
like "$OUT" "source files: 1 recipients dropped, their domain is listed by no source (e.g. x@nowhere.example)" \
	"... counted, naming the source and an example"
sed 's|^type = file|type = file\nunlisted_domains = refuse|' "$ACONF" >"$T_DIR/refuse.conf"
run_rc "$AGENT" -c "$T_DIR/refuse.conf" export
is "$RC" 1 "export with unlisted_domains = refuse: exit 1"
like "$OUT" "source files" "... naming the source"
like "$OUT" "nowhere.example" "... and the domain"
sed -i '$d' "$SRC/virtual"
printf 'bad address@example.com x\n' >"$SRC/bad"
sed 's|^lists = .*|lists = '"$SRC"'/bad|' "$ACONF" >"$T_DIR/bad.conf"
run_rc "$AGENT" -c "$T_DIR/bad.conf" export
is "$RC" 1 "export with a malformed list line: exit 1"
like "$OUT" "$SRC/bad:1" "... naming file:line"

# --- push: exit 0, full then delta
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "push to two backups: exit 0"
like "$OUT" "mx2: serial" "push reports mx2"
like "$OUT" "mx3: serial" "push reports mx3"
like "$OUT" "(full," "the first push is full"
is "$(bq mx2 bob@example.com relay_recipients)" OK "mx2 has bob@example.com"
is "$(bq mx3 anyone@example.net relay_recipients)" "" "exact key lookup: no anyone@example.net key"
is "$(bq mx3 @example.net relay_recipients)" OK "mx3 has the catch-all"
echo "carol@example.com c" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "second push: exit 0"
like "$OUT" "(delta," "the second push is a delta"
bytes=$(printf '%s\n' "$OUT" | sed -n 's/^mx2: .*(delta, \([0-9]*\) body bytes)/\1/p')
is "$bytes" 21 "the delta body is one line (+R carol@example.com)"
is "$(bq mx3 carol@example.com relay_recipients)" OK "the delta reached mx3"
is "$("$AGENT" -c "$ACONF" export --diff 2>/dev/null)" "" "export --diff after a push: nothing changed"
echo "dave@example.com d" >>"$SRC/virtual"
is "$("$AGENT" -c "$ACONF" export --diff 2>/dev/null)" "+R dave@example.com" "export --diff shows the pending change"
run_rc "$AGENT" -c "$ACONF" export --diff
like "$OUT" "1 added, 0 removed since serial" "export --diff counts the changes"

# --- a backup that lost its state answers 409 to a delta: full snapshot
backup_stop mx3
rm -rf "$T_DIR/b-mx3/state" "$T_DIR/b-mx3/maps"
mkdir -p "$T_DIR/b-mx3/state" "$T_DIR/b-mx3/maps"
backup_start mx3
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "push after a backup lost its state: exit 0"
like "$OUT" "mx3: serial" "mx3 acknowledged"
like "$OUT" "delta refused" "the 409 to the delta is reported"
like "$(printf '%s\n' "$OUT" | grep '^mx3:')" "(full," "... and a full snapshot followed"
like "$(printf '%s\n' "$OUT" | grep '^mx2:')" "(delta," "mx2 still got a delta"
is "$(bq mx3 dave@example.com relay_recipients)" OK "mx3 has the whole state again"

# --- a backup holding a serial above ours (409, with the manifest signed by
# our key; within max_serial_ahead): lift the serial, resend
mkdir -p "$T_DIR/hi-state"
printf '{"serial": %s}\n' "$(( $(date +%s) + 50000 ))" >"$T_DIR/hi-state/ledger.json"
sed 's|^state_dir .*|state_dir = '"$T_DIR"'/hi-state|; s|^control_socket .*|control_socket = '"$T_DIR"'/hi.sock|' "$ACONF" >"$T_DIR/hi.conf"
run_rc "$AGENT" -c "$T_DIR/hi.conf" push
is "$RC" 0 "a push with a far-future serial is accepted"
high=$(printf '%s\n' "$OUT" | sed -n 's/^mx2: serial \([0-9]*\).*/\1/p')
echo "erin@example.com e" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "push after the backup got a higher serial: exit 0"
like "$OUT" "sending a higher serial" "the agent lifts its serial after the 409"
now_serial=$(printf '%s\n' "$OUT" | sed -n 's/^mx2: serial \([0-9]*\).*/\1/p')
if [ -n "$now_serial" ] && [ -n "$high" ] && [ "$now_serial" -gt "$high" ]; then
	ok "the new serial ($now_serial) is above the backup's ($high)"; else
	not_ok "the new serial ($now_serial) is above the backup's ($high)"; fi
is "$(bq mx2 erin@example.com relay_recipients)" OK "the lifted push installed"
# Serials stay increasing across runs (the ledger is persisted).
run_rc "$AGENT" -c "$ACONF" push
again=$(printf '%s\n' "$OUT" | sed -n 's/^mx2: serial \([0-9]*\).*/\1/p')
if [ -n "$again" ] && [ "$again" -gt "$now_serial" ]; then ok "the next run's serial is higher"; else
	not_ok "the next run's serial ($again) is higher than $now_serial"; fi

# --- exit 75: a backup down
backup_stop mx3
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 75 "push with one backup down: exit 75"
like "$OUT" "backup mx3 unreachable" "the message names the unreachable backup"
like "$OUT" "mx2: serial" "the other backup still got it"
backup_start mx3

# --- exit 1: a refusal (the backup does not trust this key for the domain)
d=$T_DIR/b-mx3
"$BIN/mxsync-keys" trusted-line -o "$ORIGIN" "$T_DIR/agent.key" example.org >"$T_DIR/trusted_narrow"
sed 's|^trusted_keys .*|trusted_keys = '"$T_DIR"'/trusted_narrow|' "$d/syncd.conf" >"$d/narrow.conf"
backup_stop mx3
n0=$(grep -c 'listening on' "$d/log")
"$MXSYNCD" -c "$d/narrow.conf" run >>"$d/log" 2>&1 &
BPID_mx3=$!; track_pid $!
wait_port "$PORT_mx3" 10
# the port opens before the installer has checked the maps: wait for it
wait_until 30 sh -c "[ \$(grep -c 'listening on' '$d/log') -gt $n0 ]"
s3=$(bsum mx3)
run_rc "$AGENT" -c "$ACONF" push --full
is "$RC" 1 "push refused by a backup: exit 1"
like "$OUT" "backup mx3 refused" "the message names the refusing backup"
like "$OUT" "example.com" "... and says why"
is "$(bsum mx3)" "$s3" "the refusing backup's maps are unchanged"
backup_stop mx3
backup_start mx3

# --- TLS: wrong CA and wrong pin are refused; the right pin alone works
make_tls "$T_DIR/tls2" >/dev/null 2>&1
sed 's|^ca_file = .*|ca_file = '"$T_DIR"'/tls2/ca.pem|' "$ACONF" >"$T_DIR/wrongca.conf"
s2=$(bsum mx2)
run_rc "$AGENT" -c "$T_DIR/wrongca.conf" push
is "$RC" 75 "a backup with a certificate from another CA: exit 75"
like "$OUT" "backup mx2 unreachable" "... naming the backup"
is "$(bsum mx2)" "$s2" "nothing was installed through an unverified peer"
sed 's|^ca_file = .*|pinned_pubkey = '"$(cat "$T_DIR/tls2/pin")"'|' "$ACONF" >"$T_DIR/wrongpin.conf"
run_rc "$AGENT" -c "$T_DIR/wrongpin.conf" push
is "$RC" 75 "a wrong pinned public key: exit 75"
like "$OUT" "backup mx3 unreachable" "... naming the backup"
sed 's|^ca_file = .*|pinned_pubkey = '"$(cat "$TLS/pin")"'|' "$ACONF" >"$T_DIR/pin.conf"
run_rc "$AGENT" -c "$T_DIR/pin.conf" push
is "$RC" 0 "the right pinned public key without a CA file: exit 0"
if grep -qi "verify *= *no\|insecure" "$TOP/agent/config.c"; then not_ok "no switch disables verification"; else
	ok "no switch disables verification"; fi

# --- export -o: a signed snapshot that mxsyncd apply accepts
backup_stop mx3
echo "fred@example.com f" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" export -o "$T_DIR/snap"
is "$RC" 0 "export -o exits 0"
head -n 1 "$T_DIR/snap" >"$T_DIR/magic"
is "$(cat "$T_DIR/magic")" "mxsync-snapshot 1" "the file is a snapshot"
is "$(stat -c %a "$T_DIR/snap")" 600 "export -o writes the snapshot 0600 (it holds recipients)"
run_rc "$MXSYNCD" -c "$T_DIR/b-mx3/syncd.conf" apply "$T_DIR/snap"
is "$RC" 0 "mxsyncd apply accepts it"
is "$(bq mx3 fred@example.com relay_recipients)" OK "the applied snapshot is installed"

# --- --allow-shrink: a mass removal is refused unless signed off, by the
# agent's own guard first (against the state the backups acknowledged), and
# by the backup's guard for a snapshot the agent's guard let through
cp "$SRC/virtual" "$SRC/virtual.full"
printf 'alice@example.com a\n' >"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" export -o "$T_DIR/shrink0"
is "$RC" 1 "export -o of a mass removal: refused by the agent's guard, exit 1"
like "$OUT" "refused by the agent's guard: would remove 71.4% of the recipients the backups acknowledged (5 of 7; max_shrink 50%)" "the agent's guard says how much would go"
like "$OUT" "e.g. @example.net, bob@example.com" "... and names a few of them"
if [ -e "$T_DIR/shrink0" ]; then not_ok "the refused export -o wrote no file"; else ok "the refused export -o wrote no file"; fi
sed 's/^max_shrink .*/max_shrink = 100%/' "$ACONF" >"$T_DIR/noguard.conf"
run_rc "$AGENT" -c "$T_DIR/noguard.conf" export -o "$T_DIR/shrink"
is "$RC" 0 "with the agent's max_shrink at 100% export -o writes the snapshot"
s3=$(bsum mx3)
run_rc "$MXSYNCD" -c "$T_DIR/b-mx3/syncd.conf" apply "$T_DIR/shrink"
is "$RC" 1 "a snapshot removing most recipients is refused by the backup"
is "$(bsum mx3)" "$s3" "... and the maps are unchanged"
run_rc "$AGENT" -c "$ACONF" export --allow-shrink -o "$T_DIR/shrink2"
like "$OUT" "allow_shrink" "export --allow-shrink says so"
run_rc "$MXSYNCD" -c "$T_DIR/b-mx3/syncd.conf" apply "$T_DIR/shrink2"
is "$RC" 0 "the same removal with --allow-shrink is accepted"
is "$(bq mx3 fred@example.com relay_recipients)" "" "fred is gone after the allowed shrink"
s2=$(bsum mx2)
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 1 "push of the shrink without --allow-shrink: refused by the agent, exit 1"
like "$OUT" "refused by the agent's guard" "the message says the agent's guard refused"
is "$(bsum mx2)" "$s2" "the agent's refusal left mx2's maps unchanged"
run_rc "$AGENT" -c "$T_DIR/noguard.conf" push
is "$RC" 1 "push of the shrink past the agent's guard: refused by the backup, exit 1"
like "$OUT" "backup mx2 refused" "the message names the backup"
run_rc "$AGENT" -c "$ACONF" push --allow-shrink
is "$RC" 75 "push --allow-shrink (mx3 down): exit 75, mx2 accepted"
is "$(bq mx2 fred@example.com relay_recipients)" "" "mx2 applied the allowed shrink"
mv "$SRC/virtual.full" "$SRC/virtual"

# --- a source that is down: exit 75, nothing pushed
backup_start mx3
mv "$SRC/virtual" "$SRC/virtual.away"
s2=$(bsum mx2)
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 75 "push with a missing source file: exit 75"
like "$OUT" "export failed, nothing pushed: source files: open($SRC/virtual)" "... naming the source and file"
is "$(bsum mx2)" "$s2" "... and nothing was pushed"
mv "$SRC/virtual.away" "$SRC/virtual"

if grep -q "alice@example.com" "$T_DIR/b-mx2/log" "$T_DIR/b-mx3/log"; then
	not_ok "no recipient in the backups' logs"; else ok "no recipient in the backups' logs"; fi
done_testing
