#!/bin/sh
# t-agent-ioerror - a read error inside the compare of a large file in
# pieces (source_file_read.c) fails that export and loses nothing.  The
# daemon keeps a 9.6 MB map (three pieces); strace attaches to it and makes
# every pread(2) fail with EIO, as a failing disk would; an appended line
# then gives sync-now exit 75 naming the file and the error, the backup's
# maps do not change and the daemon stays up.  Once strace has detached,
# the next sync-now sends the line.  Root and strace are needed (attaching
# to the daemon with ptrace).
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

if [ "$(id -u)" != 0 ] || ! command -v strace >/dev/null; then
	diag "not root or no strace: nothing to test here"
	done_testing
fi
agent_setup || done_testing
backup_setup f1
backup_start f1 || { not_ok "mxsyncd starts"; done_testing; }
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\n' >"$SRC/domains"
awk 'BEGIN { for (i = 0; i < 400000; i++) printf "u%06d@example.com\tbox/\n", i }' \
	>"$SRC/virtual"
agent_conf "[source files]
type       = file
domains    = $SRC/domains
recipients = $SRC/virtual" f1

"$AGENT" -v -c "$ACONF" run >>"$ALOG" 2>&1 &
AGENT_PID=$!
track_pid $AGENT_PID
wait_until 20 test -S "$ASOCK" || not_ok "the daemon makes its control socket"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 0 "first export: sync-now --wait exits 0"
check "... the backup has the map" has f1 u399999@example.com

# settled - a sync-now that read no file (all were old enough to trust), so
# that the next change is compared with the bytes the daemon kept
settled() {
	"$AGENT" -c "$ACONF" sync-now >/dev/null 2>&1 &&
		"$AGENT" -c "$ACONF" status --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(json.load(sys.stdin)["sources"][0]["files_read"] != 0)'
}
wait_until 30 settled || not_ok "the files are old enough to be trusted"

# traced - every thread of the daemon has a tracer (1) or none has (0)
traced() {
	for s in /proc/"$AGENT_PID"/task/*/status; do
		p=$(sed -n 's/^TracerPid:[[:space:]]*//p' "$s")
		if [ "$1" = 1 ] && [ "$p" = 0 ]; then return 1; fi
		if [ "$1" = 0 ] && [ "$p" != 0 ]; then return 1; fi
	done
}

before=$(bsum f1)
strace -f -qq -o /dev/null -p "$AGENT_PID" -e trace=pread64 \
	-e inject=pread64:error=EIO >"$T_DIR/strace.out" 2>&1 &
ST_PID=$!
track_pid $ST_PID
if wait_until 20 traced 1; then
	printf 'appended@example.com\tbox/\n' >>"$SRC/virtual"
	run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
	is "$RC" 75 "a read error inside a piece: sync-now exits 75"
	like "$OUT" "read($SRC/virtual): Input/output error" \
		"... naming the file and the error"
	is "$(bsum f1)" "$before" "... the backup's maps did not change"
	check "... the daemon is still running" kill -0 "$AGENT_PID"
	grep -q "read($SRC/virtual): Input/output error" "$ALOG" &&
		ok "... the daemon's log says so" ||
		not_ok "... the daemon's log says so"
else
	not_ok "strace attaches to every thread of the daemon"
	sed 's/^/#   /' "$T_DIR/strace.out"
fi
stop_pid "$ST_PID"
wait_until 20 traced 0 || not_ok "strace detaches"

run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 60
is "$RC" 0 "the disk reads again: sync-now --wait exits 0"
check "... the backup has the appended line" has f1 appended@example.com
check "... and the rest of the map" has f1 u000000@example.com

agent_stop
backup_stop f1
done_testing
