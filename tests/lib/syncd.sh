# syncd.sh - helpers for the mxsyncd test scripts (sourced after common.sh)
#
# syncd_setup makes, under $S: a TLS CA and certificate, two signing keys
# (k1 for origin mx1.example.com, trusted for example.com and example.net;
# k2 for origin mx2.example.org, trusted for example.org and shop.test; k3
# generated but not trusted), trusted_keys, state/, maps/,
# a Postfix config dir for postmap, and syncd.conf listening on $PORT
# (status and metrics on $SPORT).
# Pushes are signed by tests/tools/mksnap.c (build/tests/tool-mksnap).

S=$T_DIR/syncd
MAPS=$S/maps
STATE=$S/state
MKSNAP=$BIN/tests/tool-mksnap
MXSYNCD=$BIN/mxsyncd
O1=mx1.example.com
O2=mx2.example.org
SYNCD_PID=""

# syncd_conf [EXTRA LINES] - (re)write $S/syncd.conf
syncd_conf() {
	cat >"$S/syncd.conf" <<EOC
[syncd]
listen       = 127.0.0.1:$PORT
status_listen = 127.0.0.1:$SPORT
tls_cert     = $S/tls/cert.pem
tls_key      = $S/tls/key.pem
trusted_keys = $S/trusted_keys
state_dir    = $STATE
maps_dir     = $MAPS
max_body     = ${MAX_BODY:-16M}
max_shrink   = 10%
canaries     = postmaster@example.com
timeout      = ${TIMEOUT:-10s}
install_wait = ${INSTALL_WAIT:-3s}
${1:-}
EOC
}

syncd_setup() {
	mkdir -p "$S" "$MAPS" "$STATE" "$S/pf"
	make_tls "$S/tls" || { not_ok "make_tls"; return 1; }
	for k in k1 k2 k3; do
		"$BIN/mxsync-keys" generate -o "$S/$k.key" >/dev/null ||
			{ not_ok "mxsync-keys generate $k"; return 1; }
		# 0600: as root, 0640 group mxsync breaks if that group goes
		chmod 600 "$S/$k.key"
	done
	{
		"$BIN/mxsync-keys" trusted-line -o $O1 "$S/k1.key" \
			example.com example.net
		"$BIN/mxsync-keys" trusted-line -o $O2 "$S/k2.key" \
			example.org shop.test
	} >"$S/trusted_keys" || { not_ok "trusted-line"; return 1; }
	cp /usr/share/postfix/main.cf.debian "$S/pf/main.cf"
	PORT=$(free_port)
	SPORT=$(free_port)
	while [ "$SPORT" = "$PORT" ]; do SPORT=$(free_port); done
	syncd_conf
}

# keyid KEYFILE - the key id of a secret key file
keyid() { awk '{print $2; exit}' "$1"; }

# mkstate OUT "DOMAINS" "ADDRESSES" - a canonical state text
mkstate() {
	{
		for d in $2; do echo "D $d smtp:[mx.$d]:25"; done | LC_ALL=C sort
		for a in $3; do echo "R $a"; done | LC_ALL=C sort
	} >"$1"
}

# mkbig OUT DOMAIN N [PREFIX] - a state with N recipients in one domain
mkbig() {
	{
		echo "D $2 smtp:[mx.$2]:25"
		awk -v n="$3" -v d="$2" -v p="${4:-user}" \
			'BEGIN { for (i = 0; i < n; i++) printf "R %s%06d@%s\n", p, i, d }' |
			LC_ALL=C sort
	} >"$1"
}

# syncd_start [OPTS] - start mxsyncd and wait until it is ready: the port
# is bound before the store is loaded and the maps repaired, and "listening
# on" is logged (with READY=1) only after that
syncd_start() {
	_ready=$(grep -c 'listening on' "$S/log" 2>/dev/null)
	"$MXSYNCD" -c "$S/syncd.conf" "$@" run >>"$S/log" 2>&1 &
	SYNCD_PID=$!
	track_pid $SYNCD_PID
	wait_port "$PORT" 10 &&
		wait_until 20 syncd_logged_ready "${_ready:-0}"
}

# syncd_logged_ready N - the log holds more than N "listening on" lines
syncd_logged_ready() {
	[ "$(grep -c 'listening on' "$S/log" 2>/dev/null)" -gt "$1" ]
}

# syncd_kill9 - kill -9 the installer, as a crash does, and wait until its
# network process, which follows it on PR_SET_PDEATHSIG or the hung-up
# channel only when the scheduler lets it run, is gone and the ports are
# free: until then a new mxsyncd cannot bind (and wait_port would see the
# old process listening)
syncd_kill9() {
	_net=$(pgrep -P "$SYNCD_PID")
	kill -9 "$SYNCD_PID"
	wait "$SYNCD_PID" 2>/dev/null
	SYNCD_PID=""
	wait_until 30 syncd_gone $_net
}

# syncd_gone PID... - none of PID runs (a zombie counts as gone) and
# nothing listens on $PORT or $SPORT
syncd_gone() {
	for _p in "$@"; do
		case $(ps -o stat= -p "$_p" 2>/dev/null) in "" | Z*) ;; *) return 1 ;; esac
	done
	! syncd_listening "$PORT" && ! syncd_listening "$SPORT"
}

# syncd_listening PORT - a socket listens on TCP port PORT
syncd_listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

syncd_stop() {
	[ -n "$SYNCD_PID" ] && stop_pid "$SYNCD_PID"
	SYNCD_PID=""
}

# snap NAME ARGS... - mksnap in headers mode: $S/NAME.hdr and $S/NAME.body
snap() {
	n=$1; shift
	"$MKSNAP" --headers "$@" "$S/$n.body" >"$S/$n.hdr"
}

# push NAME [CURL ARGS...] - POST $S/NAME.body with $S/NAME.hdr; sets
# CODE (HTTP status) and BODY (the response text)
push() {
	n=$1; shift
	CODE=$(curl -sS --max-time 30 --cacert "$S/tls/ca.pem" -H @"$S/$n.hdr" \
		-H 'Content-Type: application/octet-stream' "$@" \
		--data-binary @"$S/$n.body" -o "$S/resp" -w '%{http_code}' \
		"https://127.0.0.1:$PORT/v1/push" 2>"$S/curl.err")
	BODY=$(cat "$S/resp" 2>/dev/null; cat "$S/curl.err")
}

# get PATH - GET over HTTPS from the status port into BODY
get() {
	BODY=$(curl -sS --max-time 10 --cacert "$S/tls/ca.pem" \
		"https://127.0.0.1:$SPORT$1" 2>&1)
}

# pq KEY MAP - what postmap -q reads from a map ("" when not found)
pq() { PF_CONF=$S/pf map_q "$MAPS" "$1" "$2"; }

# state_sum - one checksum over the stored origin files
state_sum() { cat "$STATE"/origin-*.snap 2>/dev/null | sha256sum | cut -d' ' -f1; }

# cdb_dump MAP - the records of a map, sorted ("" and rc 1 if invalid)
cdb_dump() { cdb -d "$MAPS/$1.cdb" | LC_ALL=C sort; }

# refused NAME CODE MESSAGE DESC - push NAME; expect CODE and MESSAGE, and
# maps and state unchanged
refused() {
	m0=$(maps_sum "$MAPS"); s0=$(state_sum)
	push "$1"
	is "$CODE" "$2" "$4: HTTP $2"
	like "$BODY" "$3" "$4: message"
	is "$(maps_sum "$MAPS")" "$m0" "$4: maps unchanged"
	is "$(state_sum)" "$s0" "$4: state unchanged"
}
