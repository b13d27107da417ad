#!/bin/sh
# t-agent-filecache - the daemon's file source reads again only the files
# that changed: counted by "files_read" in status --json (and the debug
# log), not timed.  One file source with a domains file, a large map and
# two small files; after each change the daemon's state hash must equal a
# fresh one-shot export of the same files, and the change must reach a real
# mxsyncd backup.  Covers: an added and a removed line, a record held by two
# files, a same-size rewrite in place with the old mtime put back (only
# ctime tells), a file read within a second of its change (read again at
# the next export), a domains file change (everything read again), a cut line
# in a small file (refused, file:line named, nothing pushed), an unlisted
# recipient in two files (dropped and counted once); changes to the large
# map parse only its changed lines (counted by "lines_parsed"): an append,
# an edit in the middle by a new inode with a continuation line and a
# comment, an address on two lines with one deleted (test-agent-filespan
# covers many more edits against a full parse); a sync-now when nothing
# changed keeps the adopted state without hashing it again, and a shrink the
# guard refused stays refused while its file stays as it is.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup f1
backup_start f1 || { not_ok "mxsyncd starts"; done_testing; }
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\nexample.net\n' >"$SRC/domains"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "u%05d@example.com\tbox/\n", i }' \
	>"$SRC/virtual"
printf 'alias1@example.net\tu00001@example.com\nu00002@example.com\tu00003@example.com\n' \
	>"$SRC/aliases"
printf 'list1@example.net\n' >"$SRC/list"
AGENT_EXTRA="settle_timeout = 10s"
agent_conf "[source files]
type       = file
domains    = $SRC/domains
recipients = $SRC/virtual $SRC/aliases
lists      = $SRC/list" f1
# the same files, exported once by a second agent with its own state_dir
sed "s#^state_dir .*#state_dir = $T_DIR/fresh#; s#^control_socket .*#control_socket = $T_DIR/fresh.sock#" \
	"$ACONF" >"$T_DIR/fresh.conf"
mkdir -p "$T_DIR/fresh"

# st KEY - a field of the file source in status --json ("hash": the state's)
st() {
	"$AGENT" -c "$ACONF" status --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
k = sys.argv[1]
print(j.get("state_hash") if k == "hash" else j["sources"][0].get(k))' "$1"
}
# fresh - the state hash of a one-shot export of the files as they are
fresh() {
	"$AGENT" -c "$T_DIR/fresh.conf" export -o "$T_DIR/fresh.snap" >/dev/null 2>&1 &&
		sed -n 's/.*"state_hash":"\([0-9a-f]*\)".*/\1/p' "$T_DIR/fresh.snap"
}
# sync DESC - sync-now; then the state must be what a fresh export makes
sync() {
	run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
	is "$RC" 0 "$1: sync-now --wait exits 0"
	is "$(st hash)" "$(fresh)" "$1: the state is that of a fresh export"
}
# settled - a sync-now that read no file (all were old enough to trust)
settled() {
	"$AGENT" -c "$ACONF" sync-now >/dev/null 2>&1 && [ "$(st files_read)" = 0 ]
}
# settled_refused - the same while the guard refuses the export (exit 1)
settled_refused() {
	"$AGENT" -c "$ACONF" sync-now >/dev/null 2>&1
	[ "$(st files_read)" = 0 ]
}

"$AGENT" -v -c "$ACONF" run >>"$ALOG" 2>&1 &
AGENT_PID=$!
track_pid $AGENT_PID
wait_until 20 test -S "$ASOCK" || not_ok "the daemon makes its control socket"
sync "first export"
is "$(st recipients)" 20003 "first export: every record of every file"
# A file changed within a second of its read is read again; once all were
# read when older, nothing is.
if wait_until 30 settled; then ok "unchanged files are not read again"; else
	not_ok "unchanged files are not read again (files_read $(st files_read))"; fi

printf 'alias2@example.net\tu00004@example.com\n' >>"$SRC/aliases"
sync "a line added to one small file"
is "$(st files_read)" 1 "... only that file was read"
check "... the backup has the added address" has f1 alias2@example.net
grep -q 'source files: exported in [0-9]* us, 1 files read' "$ALOG" &&
	ok "... the debug log counts the files read" ||
	not_ok "... the debug log counts the files read"

# u00002@example.com is in the large map too: gone from aliases, it stays
wait_until 30 settled || not_ok "settles again"
sed -i '/^u00002@/d; /^alias1@/d' "$SRC/aliases"
sync "two lines removed from one small file"
is "$(st files_read)" 1 "... only that file was read"
check "... an address another file holds stays" has f1 u00002@example.com
check "... an address no other file holds went" hasnt f1 alias1@example.net

# the same size, the same mtime: only ctime and the content differ
wait_until 30 settled || not_ok "settles again"
m=$(stat -c %.9Y "$SRC/list")
printf 'list2@example.net\n' >"$SRC/list"
touch -d "@$m" "$SRC/list"
sync "a same-size rewrite in place, mtime put back"
is "$(st files_read)" 1 "... the file was read again (its ctime changed)"
check "... the backup has the new address" has f1 list2@example.net
check "... and not the old one" hasnt f1 list1@example.net

# a cut line in a small file: refused at the agent, the backup unchanged
wait_until 30 settled || not_ok "settles again"
before=$(bsum f1)
printf 'cut@example.net\n' >>"$SRC/aliases"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 1 "a key without a value: sync-now exits 1"
like "$OUT" "$SRC/aliases:2" "... naming file:line"
is "$(bsum f1)" "$before" "... the backup's maps did not change"
sed -i '$d' "$SRC/aliases"
sync "the cut line taken out"

# an unlisted recipient in two small files is dropped and counted once
printf 'x@off.test\n' >>"$SRC/list"
printf 'x@off.test\tsomeone@example.com\n' >>"$SRC/aliases"
sync "an unlisted address added to two files"
is "$(st unlisted_dropped)" 1 "... dropped and counted once"
is "$(st unlisted_example)" x@off.test "... and named"
check "... not at the backup" hasnt f1 x@off.test

# read within a second of its change, a file is not trusted yet: read
# again (decided only when the second export came within that second)
wait_until 30 settled || not_ok "settles again"
printf 'recent@example.net\n' >>"$SRC/list"
c=$(stat -c %.9Z "$SRC/list")
"$AGENT" -c "$ACONF" sync-now >/dev/null 2>&1
"$AGENT" -c "$ACONF" sync-now >/dev/null 2>&1
n=$(st files_read)
if awk -v c="$c" -v t="$(date +%s.%N)" 'BEGIN { exit !(t - c < 1) }'; then
	is "$n" 1 "a file changed within the second is read again"
else
	diag "the machine took over a second: the recent-file rule not checked"
fi

# the large map changed: read whole, but only its changed lines parsed
# (lines_parsed), and what is kept is what a full read gives (sync)
printf 'appended@example.com\tbox/\n' >>"$SRC/virtual"
sync "a line appended to the large map"
n=$(st lines_parsed)
if [ "$n" -le 2 ]; then ok "... one line parsed ($n)"; else
	not_ok "... one line parsed (got $n)"; fi
check "... the backup has it" has f1 appended@example.com
# sed -i writes a new file (another inode): a line changed in the middle,
# a continuation line (it adds to the line before it) and a comment after it
sed -i 's/^u10000@example.com\t.*$/u10000x@example.com\tbox\/\n\tcont@example.com\n# note@example.com x/' \
	"$SRC/virtual"
sync "a line edited, a continuation line and a comment, by a new inode"
n=$(st lines_parsed)
if [ "$n" -le 6 ]; then ok "... their lines parsed ($n)"; else
	not_ok "... their lines parsed (got $n)"; fi
# the same address on two lines (in another case): one of them deleted
printf 'U00005@EXAMPLE.COM\tother/\n' >>"$SRC/virtual"
sync "an address on a second line of the map"
sed -i '/^u00005@example.com/d' "$SRC/virtual"
sync "its first line deleted"
check "... the backup still has it" has f1 u00005@example.com

# nothing changed: the state is the one adopted, not hashed again
wait_until 30 settled || not_ok "settles again"
h=$(st hash)
n=$(grep -c 'export: nothing changed, the state is the one adopted before' "$ALOG")
sync "nothing changed"
is "$(st hash)" "$h" "... the state hash is the same"
is "$(grep -c 'export: nothing changed, the state is the one adopted before' "$ALOG")" \
	$((n + 1)) "... the daemon kept the state it had (debug log)"

# a shrink refused by the guard stays refused while the file stays as it is
before=$(bsum f1)
cp "$SRC/virtual" "$T_DIR/virtual.keep"
sed -i '/^u1/d; /^u0[5-9]/d' "$SRC/virtual"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 1 "a shrink of three quarters of the recipients: sync-now exits 1"
like "$OUT" "sync-now failed: would remove 75% of the recipients the backups acknowledged (15000 of 20004; max_shrink 50%); nothing pushed" "... the guard refused it, with the figures"
wait_until 30 settled_refused || not_ok "settles while refused"
run_rc "$AGENT" -c "$ACONF" sync-now --wait --timeout 30
is "$RC" 1 "the same file again, no file read: sync-now still exits 1"
like "$OUT" "sync-now failed: would remove 75% of the recipients" "... refused again by the guard"
is "$(st files_read)" 0 "... without reading the file"
is "$(bsum f1)" "$before" "... the backup's maps did not change"
run_rc "$AGENT" -c "$ACONF" sync-now --allow-shrink --wait --timeout 30
is "$RC" 0 "sync-now --allow-shrink sends it"
check "... the backup lost the removed addresses" hasnt f1 u10001@example.com
check "... and kept the others" has f1 u00001@example.com
mv "$T_DIR/virtual.keep" "$SRC/virtual"
sync "the map put back"
check "... the backup has the addresses again" has f1 u10001@example.com

# the domains file changed: everything is read again
wait_until 30 settled || not_ok "settles again"
printf 'example.org\n' >>"$SRC/domains"
sync "a domain added"
is "$(st files_read)" 4 "... every file was read again"

agent_stop
backup_stop f1
done_testing
