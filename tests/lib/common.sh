# common.sh - shared helpers for the test scripts (sourced, POSIX sh)
#
# Output is TAP ("ok N - ...", "not ok N - ..."), which tests/run counts.
# Everything a script starts is registered with track_pid and stopped by
# process id on exit, also when the script fails.

set -u
: "${BUILD:=build}"
TOP=${MXSYNC_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$TOP/$BUILD
case "$BUILD" in /*) BIN=$BUILD ;; esac
T_N=0
T_FAILED=0
T_PIDS=""
T_CLEANUPS=""
T_DIR=$(mktemp -d /tmp/mxsync-test.XXXXXX)
chmod 755 "$T_DIR"

ok() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
not_ok() { T_N=$((T_N + 1)); T_FAILED=$((T_FAILED + 1)); echo "not ok $T_N - $*"; }
diag() { echo "# $*"; }

# check DESC CMD... - ok when CMD exits 0
check() {
	d=$1; shift
	if "$@" >"$T_DIR/.check.out" 2>&1; then ok "$d"; else
		not_ok "$d"; sed 's/^/#   /' "$T_DIR/.check.out" | tail -n 20; fi
}

# is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then ok "$3"; else
		not_ok "$3"; diag "  got:  '$1'"; diag "  want: '$2'"; fi
}

# like GOT SUBSTRING DESC
like() {
	case "$1" in *"$2"*) ok "$3" ;; *)
		not_ok "$3"; diag "  got:  '$1'"; diag "  want substring: '$2'" ;; esac
}

# wait_until SECONDS CMD... - 0 as soon as CMD succeeds, 1 at the timeout
wait_until() {
	lim=$(( $1 * 5 )); shift
	i=0
	while [ $i -lt $lim ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# run_rc OUTVAR CMD... - run CMD, capture stdout+stderr in $OUT and exit in $RC
run_rc() {
	OUT=$("$@" 2>&1)
	RC=$?
}

# pid_start PID - the start time of process PID (its /proc stat field 22;
# the command name before it may hold spaces), empty when there is none
pid_start() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# track_pid PID - stop PID at exit; kept with its start time, so that a
# process that ended and whose number another process got (pid_max is
# often 32768, and tests run side by side) is never signalled
track_pid() { T_PIDS="$1:$(pid_start "$1") $T_PIDS"; }
on_exit() { T_CLEANUPS="$1; $T_CLEANUPS"; }

# stop_pid PID[:START] - TERM, wait up to 5 s, then KILL; with START, only
# the process that has that start time
stop_pid() {
	p=${1%%:*}
	case $1 in *:*) [ -n "${1#*:}" ] && [ "$(pid_start "$p")" = "${1#*:}" ] || return 0 ;; esac
	kill -0 "$p" 2>/dev/null || return 0
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

t_cleanup() {
	eval "$T_CLEANUPS"
	for p in $T_PIDS; do stop_pid "$p"; done
	if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T_DIR"; else rm -rf "$T_DIR"; fi
}
trap 't_cleanup' EXIT
trap 'exit 130' INT TERM

done_testing() {
	echo "1..$T_N"
	[ "$T_FAILED" = 0 ]
	exit $?
}

# free_port - a TCP port on 127.0.0.1 nobody listens on now
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS] - until something listens on 127.0.0.1:PORT
wait_port() {
	i=0; lim=$(( ${2:-10} * 10 ))
	while [ $i -lt $lim ]; do
		if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null; then return 0; fi
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

# make_tls DIR - a test CA and a server certificate for 127.0.0.1, ::1 and
# localhost: DIR/ca.pem, DIR/cert.pem, DIR/key.pem, and DIR/pin (sha256//...)
make_tls() {
	d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=mxsync test CA" \
		>/dev/null 2>&1 || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/key.pem" -out "$d/req.pem" -subj "/CN=localhost" \
		>/dev/null 2>&1 || return 1
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
	openssl x509 -req -in "$d/req.pem" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -out "$d/cert.pem" -days 2 -extfile "$d/ext" \
		>/dev/null 2>&1 || return 1
	printf 'sha256//%s\n' "$(openssl pkey -in "$d/key.pem" -pubout -outform DER 2>/dev/null |
		openssl dgst -sha256 -binary | openssl base64 -A)" >"$d/pin"
}

# sha FILE - a content checksum used to prove files did not change
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# maps_sum DIR - one checksum over the maps (every relay_recipients shard)
maps_sum() {
	for f in "$1"/relay_domains.cdb "$1"/relay_recipients*.cdb "$1"/transport.cdb; do
		printf '%s %s\n' "${f##*/}" "$(sha "$f")"
	done | sha256sum | cut -d' ' -f1
}

# SHARDS - mxsyncd's recipient_shards (the default unless a test sets it)
SHARDS=${SHARDS:-64}

# rr_maps DIR - the relay_recipient_maps value for the shards in DIR, as
# "mxsyncd postconf" prints it
rr_maps() {
	awk -v d="$1" -v n="$SHARDS" 'BEGIN {
		if (n == 1) { printf "cdb:%s/relay_recipients", d; exit }
		for (i = 0; i < n; i++) printf "%scdb:%s/relay_recipients-%02x", i ? ", " : "", d, i }'
}

# map_q DIR KEY MAP - postmap -q of KEY in DIR's MAP; relay_recipients
# is looked up in every shard at once (unionmap: a key found in two
# shards answers "OK,OK")
map_q() {
	if [ "$3" = relay_recipients ]; then
		postmap -c "${PF_CONF:-$T_DIR/pf}" -q "$2" "unionmap:{$(rr_maps "$1")}" 2>&1
	else
		postmap -c "${PF_CONF:-$T_DIR/pf}" -q "$2" "cdb:$1/$3" 2>&1
	fi
}

# map_dump DIR MAP - "cdb -d" of a map; of every shard for relay_recipients
map_dump() {
	if [ "$2" = relay_recipients ] && [ "$SHARDS" != 1 ]; then
		for f in $(rr_maps "$1" | tr -d ','); do
			cdb -d "${f#cdb:}.cdb" || return 1
		done
	else
		cdb -d "$1/$2.cdb"
	fi
}

# wait_within SECONDS CMD... - 0 as soon as CMD succeeds, 1 when no attempt
# that started within SECONDS of the call succeeded (a clock limit, unlike
# wait_until, which counts attempts)
wait_within() {
	ww_end=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		[ $(( $(date +%s%N) / 1000000 )) -lt "$ww_end" ] || return 1
	done
}
