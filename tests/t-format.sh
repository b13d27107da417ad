# t-format.sh - every C source and header is as clang-format makes it with
# the committed .clang-format (clang-format --dry-run -Werror), one test a
# directory so that a failure names where to look.
. "$(dirname "$0")/lib/common.sh"

if ! command -v clang-format >/dev/null 2>&1; then
	not_ok "clang-format is installed (tests/install-deps installs it)"
	done_testing
fi
cd "$TOP" || exit 2
for dir in formats keys syncd agent tests/unit tests/tools tests/fuzz; do
	files=$(git ls-files "$dir/*.c" "$dir/*.h" 2>/dev/null)
	[ -n "$files" ] || files=$(ls "$dir"/*.c "$dir"/*.h 2>/dev/null)
	[ -n "$files" ] || continue
	# shellcheck disable=SC2086
	if clang-format --dry-run -Werror $files >"$T_DIR/out" 2>&1; then
		ok "$dir: formatted as .clang-format says"
	else
		diag "$(grep -c 'error:' "$T_DIR/out") places; first:"
		grep 'error:' "$T_DIR/out" | head -n 3 | sed 's/^/#   /'
		not_ok "$dir: formatted as .clang-format says"
	fi
done
done_testing
