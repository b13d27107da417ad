#!/bin/sh
# t-agent-daemon - mxsync-agent run against two real mxsyncd backups over
# HTTPS: file and Maildir edits are pushed with no command, deltas are
# small, a backup that was down converges to the latest state, a failing
# source pushes nothing, sync-now --wait, status, reload and stop.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup mx2
backup_setup mx3
backup_start mx2
backup_start mx3
SRC=$T_DIR/src
V=$T_DIR/vmail
mkdir -p "$SRC" "$V/example.org/bob/cur" "$V/example.org/bob/new" "$V/example.org/bob/tmp"
printf 'example.com\n' >"$SRC/domains"
printf 'alice@example.com alice\npostmaster@example.com root\nlocalonly root\n' >"$SRC/virtual"
SOURCES="[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual

[source vmail]
type = maildir
root = $V
layout = %d/%n"
agent_conf "$SOURCES" mx2 mx3
check "check-config accepts the config" "$AGENT" -c "$ACONF" check-config
check "the daemon starts and opens its control socket" agent_start

check "first export reaches mx2" wait_until 15 has mx2 alice@example.com
check "first export reaches mx3" wait_until 15 has mx3 bob@example.org
is "$(bq mx2 example.org relay_domains)" OK "the Maildir domain is a relay domain"
is "$(bq mx2 example.com transport)" "smtp:[mx1.example.com]:25" "domains get the agent's nexthop"
is "$(bq mx2 localonly@example.com relay_recipients)" "" "bare local alias names are not exported"

# Editing a map file by rename (as editors do) is pushed with no command.
{ cat "$SRC/virtual"; echo "carol@example.com carol"; } >"$SRC/virtual.new"
mv "$SRC/virtual.new" "$SRC/virtual"
check "a renamed-over map file is pushed (mx2)" wait_until 10 has mx2 carol@example.com
check "a renamed-over map file is pushed (mx3)" wait_until 10 has mx3 carol@example.com
# An edit in place, too.
echo "dora@example.com dora" >>"$SRC/virtual"
check "an appended map file is pushed" wait_until 10 has mx2 dora@example.com

# A new mailbox directory, in a new domain directory.
mkdir -p "$V/example.net/erin/cur" "$V/example.net/erin/new" "$V/example.net/erin/tmp"
check "a new Maildir in a new domain is pushed" wait_until 10 has mx2 erin@example.net
mkdir -p "$V/example.net/fred/cur" "$V/example.net/fred/new" "$V/example.net/fred/tmp"
check "a second Maildir in that domain is pushed" wait_until 10 has mx3 fred@example.net
rm -rf "$V/example.net/fred"
check "a removed Maildir disappears" wait_until 10 hasnt mx2 fred@example.net

# Deltas: the later pushes are small.
like "$(cat "$ALOG")" "(delta, " "later pushes are deltas"
big=$(sed -n 's/.*acknowledged (delta, \([0-9]*\) body bytes.*/\1/p' "$ALOG" | sort -n | tail -n 1)
if [ -n "$big" ] && [ "$big" -lt 100 ]; then ok "delta bodies are small (largest $big bytes)"; else
	not_ok "delta bodies are small (largest '$big' bytes)"; fi

# sync-now --wait returns once both backups hold the serial.
echo "gina@example.com gina" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 0 "sync-now --wait exits 0"
like "$OUT" "acknowledged by every backup" "sync-now --wait says every backup acknowledged"
check "after sync-now --wait mx2 already has gina" has mx2 gina@example.com
check "after sync-now --wait mx3 already has gina" has mx3 gina@example.com

# The control socket's "wait": at once when held, "lag" at its timeout,
# a usage error for a malformed line.
ctl() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(300).decode().strip())' "$ASOCK" "$1"
}
Z=0000000000000000000000000000000000000000000000000000000000000000
is "$(ctl "wait 1 $Z 5000")" ok "wait for a serial every backup holds answers ok"
is "$(ctl "wait 9007199254740991 $Z 300")" lag "wait for a serial no backup holds answers lag at its timeout"
is "$(ctl "wait 1 zz 5")" "error 2 usage: wait SERIAL HASH MS" "a malformed wait is a usage error"
is "$(ctl "wait 1 $Z")" "error 2 usage: wait SERIAL HASH MS" "a wait without a timeout is a usage error"

# status, human and JSON
run_rc "$AGENT" -c "$ACONF" status
is "$RC" 0 "status exits 0"
like "$OUT" "daemon running" "status says the daemon runs"
like "$OUT" "backup mx2: serial" "status lists mx2"
like "$OUT" "in sync" "status shows backups in sync"
like "$OUT" "source vmail (maildir): last export" "status shows the Maildir source"
run_rc "$AGENT" -c "$ACONF" status --json
like "$OUT" '"in_sync": true' "status --json shows in_sync"

# A backup that is down, then up, converges to the latest state.
backup_stop mx3
echo "hank@example.com hank" >>"$SRC/virtual"
check "mx2 gets hank while mx3 is down" wait_until 10 has mx2 hank@example.com
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 3
is "$RC" 75 "sync-now --wait exits 75 when a backup is down"
like "$OUT" "backup mx3" "the timeout message names the lagging backup"
like "$OUT" "last error: unreachable" "the timeout message says why"
echo "ivan@example.com ivan" >>"$SRC/virtual"
sleep 1
echo "june@example.com june" >>"$SRC/virtual"
check "mx2 follows while mx3 is down" wait_until 10 has mx2 june@example.com
backup_start mx3
check "mx3 converges after coming back (retry with backoff)" wait_until 30 has mx3 june@example.com
check "mx3 has the intermediate change too" has mx3 hank@example.com
is "$(bsum mx3)" "$(bsum mx2)" "mx3 and mx2 have the same maps"

# A failing source: nothing is pushed, the backups keep their maps.
sleep 1
s2=$(bsum mx2); s3=$(bsum mx3)
mv "$SRC/virtual" "$SRC/virtual.away"
mkdir -p "$V/example.org/kim/cur" "$V/example.org/kim/new" "$V/example.org/kim/tmp"
# until the export that would have pushed them has run (and failed)
wait_until 20 grep -qF "export failed, nothing pushed (down): source files: open($SRC/virtual)" "$ALOG"
is "$(bsum mx2)" "$s2" "a removed map file pushes nothing: mx2 maps unchanged"
is "$(bsum mx3)" "$s3" "a removed map file pushes nothing: mx3 maps unchanged"
like "$(cat "$ALOG")" "export failed, nothing pushed (down): source files: open($SRC/virtual)" "the log names the failing source and file"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "source files (file): last export" "status still lists the source"
like "$OUT" "error (down): source files: open($SRC/virtual)" "status shows the source error"
run_rc "$AGENT" -c "$ACONF" sync-now --wait
is "$RC" 75 "sync-now exits 75 while a source is down"
like "$OUT" "source files" "sync-now names the failing source"
mv "$SRC/virtual.away" "$SRC/virtual"
check "the source is back: pushes resume" wait_until 15 has mx2 kim@example.org

# Bad data in a source: exit 1 from sync-now, nothing pushed.
s2=$(bsum mx2)
printf 'x\377@unknown.example x\n' >>"$SRC/virtual"
n=$(wc -l <"$SRC/virtual")
run_rc "$AGENT" -c "$ACONF" sync-now --wait
is "$RC" 1 "sync-now exits 1 for bad data"
like "$OUT" "source files" "the message names the source"
like "$OUT" "$SRC/virtual:$n: invalid UTF-8" "the message names the bad record"
is "$(bsum mx2)" "$s2" "bad data pushes nothing"
sed '$d' "$SRC/virtual" >"$SRC/v2" && mv "$SRC/v2" "$SRC/virtual"

# Logs never hold recipients.
if grep -q "alice@example.com" "$ALOG"; then not_ok "the agent log holds no recipient"; else
	ok "the agent log holds no recipient"; fi

# SIGHUP with a broken config keeps the daemon and its config.
cp "$ACONF" "$ACONF.good"
echo "bogus = 1" >>"$ACONF"
kill -HUP "$AGENT_PID"
check "the refused reload is logged" wait_until 20 grep -q "reload refused" "$ALOG"
check "a broken reload keeps the daemon running" kill -0 "$AGENT_PID"
cp "$ACONF.good" "$ACONF"
n0=$(grep -c "configuration reloaded" "$ALOG")
kill -HUP "$AGENT_PID"
check "a good reload is applied" wait_until 20 sh -c "[ \$(grep -c 'configuration reloaded' '$ALOG') -gt $n0 ]"
echo "lena@example.com lena" >>"$SRC/virtual"
check "after a reload, edits are still pushed" wait_until 10 has mx2 lena@example.com

# SIGTERM stops it and removes the socket.
kill "$AGENT_PID"
i=0; while kill -0 "$AGENT_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$AGENT_PID" 2>/dev/null; then not_ok "SIGTERM stops the daemon"; else ok "SIGTERM stops the daemon"; fi
if [ -e "$ASOCK" ]; then not_ok "the control socket is removed"; else ok "the control socket is removed"; fi
run_rc "$AGENT" -c "$ACONF" sync-now
is "$RC" 75 "sync-now without a daemon exits 75"
like "$OUT" "is the agent running?" "sync-now without a daemon says so"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "daemon not running" "status without the daemon reads the ledger"
like "$OUT" "backup mx3: serial" "offline status lists the backups"

# The delta base lives in memory and reaches state_dir when the daemon is
# quiet or stops: written whole as base-SERIAL.state, or, when it moved on
# by the deltas it pushed, as those steps appended to that file's journal.
# The ledger never names files that are missing or hold another state, and
# no other base file stays.
ledger_base() { sed -n 's/.*"base_hash": "\([0-9a-f]*\)".*/\1/p' "$ASTATE/ledger.json"; }
ledger_bserial() { sed -n 's/.*"base_serial": \([0-9]*\).*/\1/p' "$ASTATE/ledger.json"; }
ledger_num() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$ASTATE/ledger.json"; }
file_hash() { agent_base_hash "$ASTATE" 2>&1; }
base_files() { (cd "$ASTATE" && ls base-* 2>/dev/null | tr '\n' ' '); }
# named_files - the base files the ledger names
named_files() {
	f=$(ledger_num base_file)
	if [ "$(ledger_num journal_len)" -gt 0 ]; then
		echo "base-$f.journal base-$f.state "
	else
		echo "base-$f.state "
	fi
}
is "$(ledger_base)" "$(file_hash)" "after a stop the ledger names the base that its base files hold"
is "$(base_files)" "$(named_files)" "after a stop only the named base files are left"
check "the restarted daemon opens its control socket" agent_start
wait_until 15 "$AGENT" -c "$ACONF" sync-now --wait --timeout 5
n0=$(wc -l <"$ALOG")
echo "mona@example.com mona" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 0 "sync-now --wait after a restart exits 0"
like "$(tail -n +"$((n0 + 1))" "$ALOG")" "(delta, " "after a restart the stored base still gives deltas"
check "mx2 has mona" has mx2 mona@example.com
# A crash right after an acknowledgement, before the base was written.
echo "nina@example.com nina" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 0 "sync-now --wait before the crash exits 0"
kill -9 "$AGENT_PID"
i=0; while kill -0 "$AGENT_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
rm -f "$ASOCK"
AGENT_PID=""
is "$(ledger_base)" "$(file_hash)" "after a kill -9 the ledger still names the base that its base files hold"
check "the daemon starts after a kill -9" agent_start
is "$(base_files)" "$(named_files)" "a restart leaves only the named base files"
n0=$(wc -l <"$ALOG")
echo "olga@example.com olga" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 0 "sync-now --wait after a kill -9 exits 0"
check "after a kill -9 mx2 gets the new recipient" has mx2 olga@example.com
check "after a kill -9 mx3 gets the new recipient" has mx3 olga@example.com
is "$(bsum mx3)" "$(bsum mx2)" "after a kill -9 mx2 and mx3 have the same maps"
if grep -q "delta refused" "$ALOG"; then not_ok "no backup refused a delta from a stale base"; else
	ok "no backup refused a delta from a stale base"; fi
# Quiet for a moment: the acknowledged base is stored.
last_serial() { grep -o '"serial": [0-9]*' "$ASTATE/ledger.json" | head -n 1 | cut -d' ' -f2; }
base_stored() { [ "$(ledger_bserial)" = "$(last_serial)" ]; }
check "after a quiet moment the stored base is the last acknowledged state" wait_until 20 base_stored
is "$(ledger_base)" "$(file_hash)" "after a quiet moment the ledger names the stored base"
is "$(base_files)" "$(named_files)" "only the named base files are left"
# Two more changes, each pushed as a delta: the base moves on by two steps
# of the journal, and the base file is not written again.
bfile=$(ledger_num base_file)
bstat=$(stat -c '%i %Y %s' "$ASTATE/base-$bfile.state")
steps=$(ledger_num journal_n)
for u in quinn rosa; do
	echo "$u@example.com $u" >>"$SRC/virtual"
	run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
	is "$RC" 0 "sync-now --wait for $u exits 0"
	check "... the base is stored" wait_until 20 base_stored
done
is "$(ledger_num base_file)" "$bfile" "two deltas later the ledger names the same base file"
is "$(stat -c '%i %Y %s' "$ASTATE/base-$bfile.state")" "$bstat" "... which was not written again"
is "$(ledger_num journal_n)" "$((steps + 2))" "... and two more steps in its journal"
is "$(ledger_base)" "$(file_hash)" "... which take the base file to the ledger's base"
is "$(base_files)" "$(named_files)" "... and no other base file is left"
# A crash in the middle of an append leaves octets past journal_len: the
# restarted daemon reads only what the ledger names, and writes over them.
{ printf 'mxsync-agent-step 1 2 00 8000\n'; head -c 4000 /dev/zero | tr '\0' x; } \
	>>"$ASTATE/base-$bfile.journal"
agent_stop
check "the daemon starts beside a journal cut short past its end" agent_start
n0=$(wc -l <"$ALOG")
echo "sara@example.com sara" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 0 "... sync-now --wait exits 0"
like "$(tail -n +"$((n0 + 1))" "$ALOG")" "(delta, " "... the stored base with its journal still gives deltas"
check "... the base is stored again" wait_until 20 base_stored
is "$(ledger_base)" "$(file_hash)" "... and its files hold it"
is "$(stat -c %s "$ASTATE/base-$bfile.journal")" "$(ledger_num journal_len)" \
	"... the cut octets were written over"
check "mx2 has sara" has mx2 sara@example.com

# A step inside journal_len that no longer holds what was appended (a
# damaged disk; here the first step's hash): the base does not load, the
# daemon says which file and where, and the next change reaches every
# backup in full, never as a delta from a base that is not the ledger's.
agent_stop
python3 - "$ASTATE/base-$bfile.journal" <<'PYEOF'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
magic, frm, to = bytes(d[:d.index(b"\n")]).split(b" ")[:3]
i = len(magic) + len(frm) + len(to) + 3  # the first step's hash
d[i] = ord("1") if d[i] == ord("0") else ord("0")
open(p, "wb").write(d)
PYEOF
n0=$(wc -l <"$ALOG")
check "the daemon starts beside a damaged journal" agent_start
echo "tina@example.com tina" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 0 "... sync-now --wait exits 0"
new=$(tail -n +"$((n0 + 1))" "$ALOG")
like "$new" "no delta base: $ASTATE/base-$bfile.journal: step at octet 0: delta result hash mismatch" \
	"... the daemon names the damaged step"
is "$(printf '%s\n' "$new" | grep -c 'acknowledged (full, ')" 2 "... both backups get the change in full"
is "$(printf '%s\n' "$new" | grep -c 'acknowledged (delta, ')" 0 "... and no delta"
check "... mx2 has tina" has mx2 tina@example.com
check "... mx3 has tina" has mx3 tina@example.com
is "$(bsum mx3)" "$(bsum mx2)" "... mx2 and mx3 have the same maps"
check "... a new base is stored" wait_until 20 base_stored
is "$(ledger_base)" "$(file_hash)" "... and its files hold it"
is "$(base_files)" "$(named_files)" "... and the damaged journal is gone"

# A backup added while the daemon was down gets the state in full; the
# others hold that same state under its former serial, so the next change
# reaches them as a delta naming that serial, not in full again.
agent_stop
backup_setup mx4
backup_start mx4
agent_conf "$SOURCES" mx2 mx3 mx4
check "the daemon starts with a backup added" agent_start
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 0 "sync-now --wait with the added backup exits 0"
check "the added backup mx4 has the state" has mx4 olga@example.com
n0=$(wc -l <"$ALOG")
echo "petra@example.com petra" >>"$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 0 "sync-now --wait after the next change exits 0"
new=$(tail -n +"$((n0 + 1))" "$ALOG")
for b in mx2 mx3 mx4; do
	case "$new" in
	*"backup $b: serial "*" acknowledged (delta, "*) ok "$b got the next change as a delta" ;;
	*) not_ok "$b got the next change as a delta"; diag "$new" ;;
	esac
	check "$b has the new recipient" has $b petra@example.com
done
is "$(bsum mx2)" "$(bsum mx4)" "mx2 and the added mx4 have the same maps"
if grep -q "delta refused\|delta_base" "$ALOG"; then not_ok "no backup refused a delta for its base"; else
	ok "no backup refused a delta for its base"; fi

# One process owns state_dir: a second daemon, a push and export -o while
# the daemon runs all exit 75 and say so; the running daemon is unharmed.
l0=$(cat "$ASTATE/ledger.json")
run_rc timeout 10 "$AGENT" -c "$ACONF" run
is "$RC" 75 "a second daemon on the same state_dir exits 75"
like "$OUT" "in use by another mxsync-agent" "a second daemon says state_dir is in use"
check "the second daemon left the control socket alone" test -S "$ASOCK"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 75 "push while the daemon runs exits 75"
like "$OUT" "use \"mxsync-agent sync-now\"" "push while the daemon runs points to sync-now"
run_rc "$AGENT" -c "$ACONF" export -o "$T_DIR/locked.snap"
is "$RC" 75 "export -o while the daemon runs exits 75"
if [ -e "$T_DIR/locked.snap" ]; then not_ok "the refused export -o wrote no file"; else
	ok "the refused export -o wrote no file"; fi
is "$(cat "$ASTATE/ledger.json")" "$l0" "the refused commands left the ledger as it was"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 20
is "$RC" 0 "the daemon still answers sync-now"
agent_stop
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "push after the daemon stopped exits 0"

done_testing
