#!/bin/sh
# t-keys - mxsync-keys: generate, public, trusted-line, and every refusal
# (existing file, readable key file, malformed key files, usage errors) with
# its exit code and message.  The key id and the public key are checked
# independently with python3 (BLAKE2b) and openssl (Ed25519 from the seed).
. "$(dirname "$0")/lib/common.sh"

K=$BIN/mxsync-keys
D=$T_DIR

if [ ! -x "$K" ]; then
	not_ok "mxsync-keys is built ($K)"
	done_testing
fi

# usage
run_rc "$K" --help
is "$RC" 0 "--help exits 0"
like "$OUT" "mxsync-keys generate -o FILE" "--help shows the usage"
run_rc "$K" --version
is "$RC" 0 "--version exits 0"
like "$OUT" "mxsync-keys " "--version names the program"
run_rc "$K"
is "$RC" 2 "no command: exit 2"
like "$OUT" "usage: mxsync-keys" "no command: usage"
run_rc "$K" frobnicate
is "$RC" 2 "unknown command: exit 2"
like "$OUT" 'unknown command "frobnicate"' "unknown command: message"
run_rc "$K" generate
is "$RC" 2 "generate without -o: exit 2"
like "$OUT" "-o FILE is required" "generate without -o: message"
run_rc "$K" generate -o "$D/x" extra
is "$RC" 2 "generate with an extra argument: exit 2"
run_rc "$K" generate -x
is "$RC" 2 "generate with an unknown option: exit 2"
run_rc "$K" public
is "$RC" 2 "public without FILE: exit 2"
like "$OUT" "want exactly one FILE" "public without FILE: message"
[ ! -e "$D/x" ] && ok "usage errors create no file" || not_ok "usage errors create no file"

# generate
run_rc "$K" generate -o "$D/k1" -c "mx1 signing key"
is "$RC" 0 "generate exits 0"
PUB=$OUT
case "$PUB" in
mxsync-ed25519\ [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]\ *\ mx1\ signing\ key)
	ok "generate prints the public line" ;;
*) not_ok "generate prints the public line"; diag "got: $PUB" ;;
esac
# as root, with the daemons' group present, the key is 0640 group mxsync
WANT_MODE=600
if [ "$(id -u)" = 0 ] && getent group mxsync >/dev/null; then
	WANT_MODE=640
fi
is "$(stat -c %a "$D/k1")" "$WANT_MODE" "secret key file has mode 0$WANT_MODE"
ID=$(echo "$PUB" | cut -d' ' -f2)
PK=$(echo "$PUB" | cut -d' ' -f3)
WANT_ID=$(python3 -c 'import base64,hashlib,sys; print(hashlib.blake2b(base64.b64decode(sys.argv[1]), digest_size=32).hexdigest()[:16])' "$PK")
is "$ID" "$WANT_ID" "key id is the first 8 bytes of BLAKE2b-256(public key)"
is "$(cut -d' ' -f1,2 "$D/k1")" "mxsync-ed25519-secret $ID" "secret key file: tag and key id"
# openssl derives the public key from the 32-byte seed independently
SEED_HEX=$(cut -d' ' -f3 "$D/k1" | openssl base64 -d -A | head -c 32 | od -An -tx1 | tr -d ' \n')
OSSL_PK=$(python3 - "$SEED_HEX" <<'EOF'
import subprocess, sys, base64
# PKCS#8 wrapping of a raw Ed25519 seed, then openssl prints the public key
der = bytes.fromhex("302e020100300506032b657004220420" + sys.argv[1])
out = subprocess.run(["openssl", "pkey", "-inform", "DER", "-pubout",
                      "-outform", "DER"], input=der, capture_output=True).stdout
print(base64.b64encode(out[-32:]).decode() if len(out) >= 32 else "")
EOF
)
is "$OSSL_PK" "$PK" "openssl derives the same public key from the secret key's seed"

run_rc "$K" public "$D/k1"
is "$RC" 0 "public exits 0"
is "$OUT" "$PUB" "public prints the same line"

# refuse to overwrite
SUM=$(sha "$D/k1")
run_rc "$K" generate -o "$D/k1"
is "$RC" 1 "generate over an existing file: exit 1"
like "$OUT" "$D/k1: File exists" "generate over an existing file: message"
is "$(sha "$D/k1")" "$SUM" "the existing key is unchanged"

# O_NOFOLLOW: a dangling symlink is not followed
ln -s "$D/elsewhere" "$D/link"
run_rc "$K" generate -o "$D/link"
is "$RC" 1 "generate onto a symlink: exit 1"
[ ! -e "$D/elsewhere" ] && ok "the symlink target was not created" || not_ok "the symlink target was not created"

run_rc "$K" generate -o "$D/no/such/dir/k"
is "$RC" 1 "generate into a missing directory: exit 1"
like "$OUT" "No such file or directory" "generate into a missing directory: message"

# a permissive umask still gives 0600
(umask 000; "$K" generate -o "$D/k2" >/dev/null 2>&1)
is "$(stat -c %a "$D/k2")" "$WANT_MODE" "umask 000 still gives mode 0$WANT_MODE"
PUB2=$("$K" public "$D/k2")
[ "$PUB2" != "$PUB" ] && ok "a second key differs" || not_ok "a second key differs"

# readable key files
for m in 640 604 644; do
	# the test's own group: never the group that may read a key
	cp -p "$D/k1" "$D/m$m"; chgrp "$(id -g)" "$D/m$m"; chmod "$m" "$D/m$m"
	run_rc "$K" public "$D/m$m"
	is "$RC" 1 "mode 0$m: exit 1"
	like "$OUT" "key file $D/m$m is readable by group or others (mode 0$m); chmod 600 $D/m$m" "mode 0$m: message"
done
cp -p "$D/k1" "$D/m620"; chgrp "$(id -g)" "$D/m620"; chmod 620 "$D/m620"
run_rc "$K" public "$D/m620"
is "$RC" 1 "mode 0620: exit 1"
like "$OUT" "accessible by group or others (mode 0620)" "mode 0620: message"

# malformed key files (each mode 0600)
mal() { # NAME CONTENT
	printf '%s' "$2" >"$D/$1"; chmod 600 "$D/$1"
	run_rc "$K" public "$D/$1"
}
LINE=$(cat "$D/k1")
SK=$(echo "$LINE" | cut -d' ' -f3)
mal tag "$(echo "$LINE" | sed 's/^mxsync-ed25519-secret/mxsync-rsa-secret/')
"
is "$RC" 1 "wrong tag: exit 1"
like "$OUT" "not an mxsync secret key file" "wrong tag: message"
mal pubtag "$PUB
"
is "$RC" 1 "a public line as key: exit 1"
like "$OUT" "this is a public key line, not a secret key file" "a public line as key: message"
mal b64 "mxsync-ed25519-secret $ID $(echo "$SK" | sed 's/^..../\$\$\$\$/')
"
is "$RC" 1 "bad base64: exit 1"
like "$OUT" "bad base64" "bad base64: message"
mal short "mxsync-ed25519-secret $ID $PK
"
is "$RC" 1 "32-byte secret key: exit 1"
like "$OUT" "wrong length (32 bytes, want 64)" "32-byte secret key: message"
mal wrongid "mxsync-ed25519-secret 0000000000000000 $SK
"
is "$RC" 1 "key id not matching the key: exit 1"
like "$OUT" "key id 0000000000000000 does not match the key (its id is $ID)" "key id not matching the key: message"
mal twolines "$LINE
$LINE
"
is "$RC" 1 "two lines: exit 1"
like "$OUT" "more than one line" "two lines: message"
mal empty ""
is "$RC" 1 "empty file: exit 1"
like "$OUT" "empty key file" "empty file: message"
run_rc "$K" public "$D/absent"
is "$RC" 1 "missing key file: exit 1"
like "$OUT" "open($D/absent): No such file or directory" "missing key file: message"

# trusted-line
run_rc "$K" trusted-line -o mx1.example "$D/k1" Example.COM other.example
is "$RC" 0 "trusted-line from the secret key: exit 0"
is "$OUT" "mx1.example mxsync-ed25519 $ID $PK example.com other.example" "trusted-line: the line, domains folded"
run_rc sh -c "echo '$PUB' | '$K' trusted-line -o mx1.example - '*'"
is "$RC" 0 "trusted-line from a public line on stdin: exit 0"
is "$OUT" "mx1.example mxsync-ed25519 $ID $PK *" "trusted-line from stdin: the line"
echo "$PUB" >"$D/pub"
run_rc "$K" trusted-line -o mx1.example "$D/pub" a.example
is "$OUT" "mx1.example mxsync-ed25519 $ID $PK a.example" "trusted-line from a public line file"
echo "mxsync-ed25519 0000000000000000 $PK" >"$D/badpub"
run_rc "$K" trusted-line -o mx1.example "$D/badpub" a.example
is "$RC" 1 "trusted-line, public line with a wrong key id: exit 1"
like "$OUT" "does not match the public key" "trusted-line, wrong key id: message"
run_rc "$K" trusted-line -o mx1.example "$D/k1" bad..example
is "$RC" 2 "trusted-line, malformed domain: exit 2"
like "$OUT" 'malformed domain "bad..example"' "trusted-line, malformed domain: message"
run_rc "$K" trusted-line -o 'mx 1' "$D/k1" a.example
is "$RC" 2 "trusted-line, malformed origin: exit 2"
run_rc "$K" trusted-line "$D/k1" a.example
is "$RC" 2 "trusted-line without -o: exit 2"
run_rc "$K" trusted-line -o mx1.example "$D/m640" a.example
is "$RC" 1 "trusted-line refuses a readable key file"
like "$OUT" "readable by group or others" "trusted-line, readable key file: message"

done_testing
