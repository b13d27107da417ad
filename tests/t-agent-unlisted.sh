#!/bin/sh
# t-agent-unlisted - a recipient whose domain no source lists:
# "unlisted_domains = drop" (the default) drops and counts it per source
# (export, push, the daemon's log and status) and exports the rest;
# "unlisted_domains = refuse" fails the export (exit 1, the record named,
# nothing written or pushed); bad values and unknown presets ("schema =")
# are file:line config errors (exit 2).  Real mxsyncd backup over HTTPS.
. "$(dirname "$0")/lib/common.sh"
. "$TOP/tests/lib/agent.sh"

agent_setup || done_testing
backup_setup u1
backup_start u1 || { not_ok "mxsyncd starts"; done_testing; }
SRC=$T_DIR/src
mkdir -p "$SRC"
printf 'example.com\n' >"$SRC/domains"
printf 'example.net\n' >"$SRC/domains2"
# off.test is listed by no source: the primary does not host it
printf 'alice@example.com a\nx@off.test b\ny@off.test c\n' >"$SRC/virtual"
printf 'bob@example.net\nz@gone.test\n' >"$SRC/list2"
# conf A2 - two file sources; A2 is the second one's unlisted_domains line
conf() {
	agent_conf "[source panel]
type = file
domains = $SRC/domains
recipients = $SRC/virtual

[source other]
type = file
domains = $SRC/domains2
lists = $SRC/list2
$1" u1
}

# --- drop (the default)
conf ""
check "check-config accepts the sources" "$AGENT" -c "$ACONF" check-config
run_rc "$AGENT" -c "$ACONF" export
is "$RC" 0 "drop: export exits 0"
want="D example.com smtp:[mx1.example.com]:25
D example.net smtp:[mx1.example.com]:25
R alice@example.com
R bob@example.net"
is "$(printf '%s\n' "$OUT" | grep -v '^mxsync-agent:')" "$want" \
	"drop: the recipients of listed domains are exported, the others not"
like "$OUT" "source panel: 2 recipients dropped, their domain is listed by no source (e.g. x@off.test)" \
	"drop: one line per source with the count and one example"
like "$OUT" "source other: 1 recipients dropped, their domain is listed by no source (e.g. z@gone.test)" \
	"drop: counted per source"
n=$(printf '%s\n' "$OUT" | grep -c 'dropped')
is "$n" 2 "drop: no line per dropped recipient"

# a domain that another source lists is not unlisted
printf 'example.com\noff.test\n' >"$SRC/domains2"
run_rc "$AGENT" -c "$ACONF" export
like "$OUT" "R x@off.test" "a domain listed by another source keeps its recipients"
printf 'example.net\n' >"$SRC/domains2"

# --- refuse: the export fails, names the record, writes nothing
conf "unlisted_domains = refuse"
empty=$(bsum u1)
run_rc "$AGENT" -c "$ACONF" export -o "$T_DIR/snap"
is "$RC" 1 "refuse: export exits 1"
like "$OUT" 'source other: recipient "z@gone.test": domain "gone.test" is not among the domains' \
	"refuse: the message names the source and the record"
if [ -e "$T_DIR/snap" ]; then not_ok "refuse: no snapshot file written"; else
	ok "refuse: no snapshot file written"; fi
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 1 "refuse: push exits 1"
is "$(bsum u1)" "$empty" "refuse: the backup's maps were not touched"
if grep -q 'serial' "$T_DIR/b-u1/log"; then
	not_ok "refuse: nothing reached the backup"
else
	ok "refuse: nothing reached the backup"
fi

# the refusing source is "other"; "panel" still drops its own
printf 'bob@example.net\n' >"$SRC/list2"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 0 "refuse on one source, drop on the other: push exits 0"
like "$OUT" "source panel: 2 recipients dropped" "the other source still drops"
grep -q 'serial' "$T_DIR/b-u1/log" && ok "the backup logs an accepted push" ||
	not_ok "the backup logs an accepted push"
before=$(bsum u1)
printf 'bob@example.net\nz@gone.test\n' >"$SRC/list2"
run_rc "$AGENT" -c "$ACONF" push
is "$RC" 1 "refuse after a good push: exit 1"
is "$(bsum u1)" "$before" "refuse after a good push: the backup's maps are unchanged"

# --- config errors
conf "unlisted_domains = ignore"
run_rc "$AGENT" -c "$ACONF" check-config
is "$RC" 2 "unlisted_domains = ignore: exit 2"
n=$(grep -n '^unlisted_domains' "$ACONF" | cut -d: -f1)
like "$OUT" "$ACONF:$n: [source other]: unlisted_domains must be drop or refuse, not 'ignore'" \
	"unlisted_domains = ignore: file:line message"
agent_conf "[source db]
type = mysql
socket = /nonexistent/mysqld.sock
user = u
dbname = d
schema = postfixadmim" u1
run_rc "$AGENT" -c "$ACONF" check-config
is "$RC" 2 "schema = postfixadmim: exit 2"
n=$(grep -n '^schema' "$ACONF" | cut -d: -f1)
like "$OUT" "$ACONF:$n: [source db]: unknown schema 'postfixadmim' (known for type mysql: postfixadmin postfixadmin-backupmx iredmail ispmail)" \
	"schema = postfixadmim: file:line message naming the known presets"
agent_conf "[source db]
type = mysql
socket = /nonexistent/mysqld.sock
user = u
dbname = d
schema = iredmail" u1
check "schema = iredmail needs no query" "$AGENT" -c "$ACONF" check-config
sed -i "s|^debounce .*|&\nverify_interval = often|" "$ACONF"
run_rc "$AGENT" -c "$ACONF" check-config
is "$RC" 2 "verify_interval = often: exit 2"
n=$(grep -n '^verify_interval' "$ACONF" | cut -d: -f1)
like "$OUT" "$ACONF:$n: " "verify_interval = often: reported at its file:line"
like "$OUT" "verify_interval" "verify_interval = often: the message names the key"

# --- the daemon drops, keeps syncing, logs once, shows the count
conf ""
: >"$ALOG"
agent_start || not_ok "agent daemon starts"
if wait_until 20 has u1 bob@example.net; then
	ok "daemon: the export with dropped recipients reached the backup"
else
	not_ok "daemon: the export with dropped recipients reached the backup"
	tail -n 20 "$ALOG" | sed 's/^/#   /'
fi
hasnt u1 z@gone.test && ok "daemon: the dropped recipient is not published" ||
	not_ok "daemon: the dropped recipient is not published"
like "$(cat "$ALOG")" "source other: 1 recipients dropped, their domain is listed by no source (e.g. z@gone.test)" \
	"daemon: the drop is logged with its count and an example"
run_rc "$AGENT" -c "$ACONF" status --json
like "$OUT" '"unlisted_dropped": 2' "daemon: status --json counts the panel's drops"
like "$OUT" '"unlisted_example": "z@gone.test"' "daemon: status --json names an example"
run_rc "$AGENT" -c "$ACONF" status
like "$OUT" "1 domains, 1 recipients, 1 dropped (domain listed by no source, e.g. z@gone.test)" \
	"daemon: status prints the count"
# a change is still synced while recipients are dropped
printf 'bob@example.net\nz@gone.test\ncarol@example.net\n' >"$SRC/list2"
if wait_until 20 has u1 carol@example.net; then
	ok "daemon: later changes are still synced"
else
	not_ok "daemon: later changes are still synced"
	tail -n 20 "$ALOG" | sed 's/^/#   /'
fi
n=$(grep -c 'source other: 1 recipients dropped' "$ALOG")
is "$n" 1 "daemon: an unchanged count is not logged again"
agent_stop
backup_stop u1
done_testing
