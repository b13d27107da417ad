#!/bin/sh
# t-fuzz-replay - every fuzz harness over its committed corpus and
# regression inputs, built with AddressSanitizer and UBSan (SAN=1), so that
# each input that once crashed or broke a promise stays fixed.
#
# The replay binaries come from "make SAN=1 fuzz-replay" in $BUILD when
# that is a sanitizer build (SAN=1 in the environment), else in
# $BUILD-san; make is run here, and does nothing when they are up to date.
. "$MXSYNC_TOP/tests/lib/common.sh"

if [ "${SAN:-}" = 1 ]; then SB=$BUILD; else SB=$BUILD-san; fi
if ! make -s -C "$MXSYNC_TOP" BUILD="$SB" SAN=1 fuzz-replay >"$T_DIR/make.log" 2>&1; then
	tail -n 20 "$T_DIR/make.log" | sed 's/^/# /'
	echo "not ok - build the replay binaries (make BUILD=$SB SAN=1 fuzz-replay)"
	exit 1
fi
# every report is fatal; leaks count too
export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export TMPDIR="$T_DIR"
for src in "$MXSYNC_TOP"/tests/fuzz/fuzz-*.c; do
	name=$(basename "$src" .c)
	name=${name#fuzz-}
	set -- "$MXSYNC_TOP/tests/fuzz/corpus/$name"
	[ -d "$MXSYNC_TOP/tests/fuzz/regress/$name" ] &&
		set -- "$@" "$MXSYNC_TOP/tests/fuzz/regress/$name"
	if "$SB/fuzz/replay-$name" "$@" >"$T_DIR/$name.out" 2>&1; then
		n=$(sed -n 's/^replay: \([0-9]*\) inputs$/\1/p' "$T_DIR/$name.out")
		if [ "${n:-0}" -gt 0 ]; then
			ok "fuzz $name: $n inputs replayed, no sanitizer report"
		else
			not_ok "fuzz $name: no inputs"
		fi
	else
		tail -n 30 "$T_DIR/$name.out" | sed 's/^/# /'
		not_ok "fuzz $name: replay failed"
	fi
done
done_testing
