#!/bin/sh
# t-agent-maildir - the Maildir source on a tree with symbolic links and
# lost+found, pushed by the daemon to a real mxsyncd: links whose target
# stays under root (an alias domain, a mailbox kept elsewhere in the tree)
# are followed, links out of root are not, entries that are no domain name
# are skipped and counted in status and the log, never exported.  A file
# source whose directory is a mount point (a tmpfs) that goes away is down,
# the stale file below the mount point is never read, and the source is
# back by itself when the file system is mounted again.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup mx2
backup_start mx2
V=$T_DIR/vmail
OUT_=$T_DIR/outside
mb() { mkdir -p "$1/cur" "$1/new" "$1/tmp"; }
mb "$V/example.com/alice"
mb "$V/example.com/bob"
mb "$V/shared.example/carol"
mb "$OUT_/evil.example/eve"
mb "$OUT_/mallory"
mkdir -p "$V/lost+found" "$V/example.com/lost+found"
ln -s example.com "$V/alias.example"			# the usual alias domain
ln -s ../shared.example/carol "$V/example.com/carol"	# a mailbox elsewhere under root
ln -s "$OUT_/evil.example" "$V/evil.example"		# leads out of root
ln -s "$OUT_/mallory" "$V/example.com/mallory"		# leads out of root
# The file source's directory: a tmpfs bind-mounted over a stale copy.
FS=$T_DIR/fs
mkdir -p "$FS" "$T_DIR/fsdata"
printf 'stale@example.com s\n' >"$FS/virtual"
mount -t tmpfs -o size=1m mxsync-test "$T_DIR/fsdata" || { not_ok "mount tmpfs"; done_testing; }
on_exit "umount -l '$T_DIR/fsdata' 2>/dev/null"
printf 'zoe@example.com z\n' >"$T_DIR/fsdata/virtual"
mount --bind "$T_DIR/fsdata" "$FS" || { not_ok "bind mount"; done_testing; }
on_exit "umount -l '$FS' 2>/dev/null"
agent_conf "[source vmail]
type = maildir
root = $V

[source files]
type = file
recipients = $FS/virtual" mx2

run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "export of the tree exits 0"
like "$OUT" "R alice@alias.example" "a symlinked alias domain yields the target's mailboxes"
like "$OUT" "R bob@alias.example" "... every one of them"
like "$OUT" "R carol@example.com" "a symlinked mailbox under root is followed"
case "$OUT" in *evil.example*) not_ok "a domain linked out of root is not exported" ;; *) ok "a domain linked out of root is not exported" ;; esac
case "$OUT" in *mallory*) not_ok "a mailbox linked out of root is not exported" ;; *) ok "a mailbox linked out of root is not exported" ;; esac
case "$OUT" in *lost*) not_ok "lost+found is not exported" ;; *) ok "lost+found is not exported" ;; esac

check "the daemon starts" agent_start
check "the tree reaches the backup" wait_until 20 has mx2 alice@alias.example
check "carol reaches the backup" has mx2 carol@example.com
check "eve does not" hasnt mx2 eve@evil.example
run_rc "$AGENT" -c "$ACONF" status
# lost+found, evil.example, and mallory seen through both domain names
like "$OUT" "4 entries skipped (e.g. $V/" "status counts the skipped entries, with an example"
case "$OUT" in *"(not a domain name))"*|*"(link out of root))"*) ok "status says why the example was skipped" ;; *) not_ok "status says why the example was skipped" ;; esac
like "$(cat "$ALOG")" "source vmail: 4 entries skipped, not exported" "the log counts them"
# An alias domain link added later is seen by inotify.
ln -s example.com "$V/alias2.example"
check "a new alias-domain link is pushed" wait_until 15 has mx2 bob@alias2.example

check "the file on the tmpfs reaches the backup" has mx2 zoe@example.com
S=$(bsum mx2)
umount "$FS" || { sleep 1; umount "$FS"; }
check "an unmounted file directory makes the source down" wait_until 15 sh -c "'$AGENT' -c '$ACONF' status | grep -qF 'error (down): source files: nothing is mounted on $FS any more'"
check "the stale file below the mount point is not exported" hasnt mx2 stale@example.com
is "$(bsum mx2)" "$S" "the maps did not change"
mount --bind "$T_DIR/fsdata" "$FS"
check "the remounted directory's source is back by itself" wait_until 20 sh -c "! '$AGENT' -c '$ACONF' status | grep -q 'error'"
check "zoe is still accepted" has mx2 zoe@example.com
check "stale never was" hasnt mx2 stale@example.com
agent_stop

done_testing
