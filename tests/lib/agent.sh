# agent.sh - helpers for the mxsync-agent test scripts (sourced after
# common.sh)
#
#	agent_setup		TLS CA and certificate ($TLS), the agent's key,
#				the trusted-keys line for origin $ORIGIN
#	backup_setup NAME	a mxsyncd instance's directories and config
#				(port in $PORT_NAME); backup_start/stop NAME
#	agent_conf "SOURCES" [BACKUP...] - write $ACONF ([agent] with
#				max_shrink 50% as the backups have it, plus
#				$AGENT_EXTRA lines; the given source
#				sections, a [backup] per NAME)
#	agent_start / agent_stop	the daemon, log in $ALOG
#	bq NAME KEY MAP		postmap -q against backup NAME's map
#	bsum NAME		maps_sum of a backup

AGENT=$BIN/mxsync-agent
MXSYNCD=$BIN/mxsyncd
ORIGIN=mx1.example.com
TLS=$T_DIR/tls
ACONF=$T_DIR/agent.conf
ALOG=$T_DIR/agent.log
ASTATE=$T_DIR/agent-state
ASOCK=$T_DIR/agent.sock
AGENT_PID=""

agent_setup() {
	mkdir -p "$ASTATE" "$T_DIR/pf"
	make_tls "$TLS" || { not_ok "make_tls"; return 1; }
	"$BIN/mxsync-keys" generate -o "$T_DIR/agent.key" >/dev/null ||
		{ not_ok "mxsync-keys generate"; return 1; }
	# as root with the group mxsync present the key is 0640 mxsync: 0600
	# keeps it readable when the package (and the group) goes meanwhile
	chmod 600 "$T_DIR/agent.key"
	"$BIN/mxsync-keys" trusted-line -o "$ORIGIN" "$T_DIR/agent.key" \
		'*' >"$T_DIR/trusted_keys" || { not_ok "trusted-line"; return 1; }
	cp /usr/share/postfix/main.cf.debian "$T_DIR/pf/main.cf"
}

backup_setup() {
	d=$T_DIR/b-$1
	mkdir -p "$d/state" "$d/maps"
	p=$(free_port)
	eval "PORT_$1=$p"
	cat >"$d/syncd.conf" <<EOC
[syncd]
listen       = 127.0.0.1:$p
status_listen = none
tls_cert     = $TLS/cert.pem
tls_key      = $TLS/key.pem
trusted_keys = $T_DIR/trusted_keys
state_dir    = $d/state
maps_dir     = $d/maps
max_shrink   = 50%
# the agent tests add and remove a handful of recipients many times a
# minute: only the per-push guard (t-syncd-shrink tests the window)
shrink_window = 0
EOC
}

backup_start() {
	d=$T_DIR/b-$1
	"$MXSYNCD" -c "$d/syncd.conf" run >>"$d/log" 2>&1 &
	eval "BPID_$1=$!"
	track_pid $!
	eval "wait_port \$PORT_$1 10"
}

backup_stop() {
	eval "p=\${BPID_$1:-}"
	[ -n "$p" ] && stop_pid "$p"
	eval "BPID_$1="
}

# small_source - $SRC with one domain and three recipients in Postfix text
# files, and FILE_SOURCE, the [source files] section that reads them
small_source() {
	SRC=$T_DIR/src
	mkdir -p "$SRC"
	printf 'example.com\n' >"$SRC/domains"
	printf 'alice@example.com a\nbob@example.com b\ncarol@example.com c\n' >"$SRC/virtual"
	FILE_SOURCE="[source files]
type = file
domains = $SRC/domains
recipients = $SRC/virtual"
}

# agent_conf "SOURCE SECTIONS" [BACKUP NAMES...]
agent_conf() {
	src=$1; shift
	{
		cat <<EOC
[agent]
origin         = $ORIGIN
key            = $T_DIR/agent.key
state_dir      = $ASTATE
control_socket = $ASOCK
control_group  = mxsync-test-nogroup
expire         = 1d
nexthop        = smtp:[mx1.example.com]:25
recipient_delimiter = +
debounce       = 200ms
max_shrink     = 50%
${AGENT_EXTRA:-}

$src
EOC
		for b in "$@"; do
			eval "p=\$PORT_$b"
			printf '[backup %s]\nurl = https://127.0.0.1:%s\nca_file = %s\n\n' \
				"$b" "$p" "$TLS/ca.pem"
		done
	} >"$ACONF"
}

agent_start() {
	"$AGENT" -c "$ACONF" run >>"$ALOG" 2>&1 &
	AGENT_PID=$!
	track_pid $AGENT_PID
	i=0
	while [ ! -S "$ASOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$ASOCK" ]
}

agent_stop() {
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	AGENT_PID=""
}

bq() { PF_CONF=$T_DIR/pf map_q "$T_DIR/b-$1/maps" "$2" "$3"; }

bsum() { maps_sum "$T_DIR/b-$1/maps"; }

# has NAME ADDRESS - backup NAME's relay_recipients holds ADDRESS
has() { [ "$(bq "$1" "$2" relay_recipients)" = OK ]; }
# hasnt NAME ADDRESS - it does not (and the map exists)
hasnt() { [ -e "$T_DIR/b-$1/maps/relay_domains.cdb" ] && [ -z "$(bq "$1" "$2" relay_recipients)" ]; }

# refuse SED WANT DESC - check-config of $ACONF edited by the sed script SED
# must exit 2 with WANT in its message (two TAP lines)
refuse() {
	sed "$1" "$ACONF" >"$T_DIR/refuse.conf"
	run_rc "$AGENT" -c "$T_DIR/refuse.conf" check-config
	if [ "$RC" = 2 ]; then ok "$3: exit 2"; else not_ok "$3: exit 2 (got $RC)"; fi
	like "$OUT" "$2" "... $2"
}

# agent_base_hash STATE_DIR - the state hash of the delta base that the
# agent's state_dir holds, worked out here from its files alone: the base
# file the ledger names (base_file) with the journal's steps applied as
# text (each step's "-" lines out, "+" lines in, sorted again), each step
# checked to start where the one before it ended and to end at its hash.
# Prints the hash, or a line saying what does not fit.
agent_base_hash() {
	python3 - "$1" "$BIN/tests/tool-statehash" <<'PYEOF'
import json, os, subprocess, sys, tempfile
d, tool = sys.argv[1], sys.argv[2]
l = json.load(open(os.path.join(d, "ledger.json")))
f = l.get("base_file", l.get("base_serial"))
lines = set(open(os.path.join(d, "base-%d.state" % f), "rb").read().splitlines(True))
def hash_of(ls):
    with tempfile.NamedTemporaryFile(dir=d, suffix=".check") as t:
        t.write(b"".join(sorted(ls)))
        t.flush()
        return subprocess.run([tool, t.name], capture_output=True, text=True).stdout.strip()
at, n = f, l.get("journal_len", 0)
j = open(os.path.join(d, "base-%d.journal" % f), "rb").read()[:n] if n else b""
while j:
    head, j = j.split(b"\n", 1)
    magic, frm, to, h, blen = head.decode().rsplit(" ", 4)
    if magic != "mxsync-agent-step" or int(frm) != at:
        print("step from %s after serial %d" % (frm, at)); sys.exit(0)
    body, j = j[:int(blen)], j[int(blen):]
    for ln in body.splitlines(True):
        (lines.discard if ln[:1] == b"-" else lines.add)(ln[1:])
    if hash_of(lines) != h:
        print("step to %s does not hash to its hash" % to); sys.exit(0)
    at = int(to)
if at != l["base_serial"]:
    print("the files end at serial %d, the ledger's base is %d" % (at, l["base_serial"]))
else:
    print(hash_of(lines))
PYEOF
}
