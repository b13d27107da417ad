/*
 * test-key - key files, key ids, signing under the context prefix, and every
 * refusal of key_load_secret with its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../../keys/key.h"
#include "test.h"

static char dir[] = "/tmp/test-key.XXXXXX";

static const char *tpath(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp;

	unlink(path);
	fp = fopen(path, "w");
	if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	chmod(path, mode);
}

/* raw_key_text - a key file line for a raw key pair, pieces overridable */
static void raw_key_text(char *out, size_t size, const char *tag,
			 const char *id, const unsigned char *sk, size_t sklen,
			 const char *tail)
{
	char b64[256];

	sodium_bin2base64(b64, sizeof(b64), sk, sklen,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, size, "%s %s %s%s", tag, id, b64, tail);
}

/* load_err - key_load_secret must fail; returns its message */
static const char *load_err(const char *path)
{
	static struct err err;
	struct key_secret *sk;

	strcpy(err.msg, "(no error)");
	sk = key_load_secret(path, &err);
	if (sk != NULL) {
		key_secret_free(sk);
		return "(loaded)";
	}
	return err.msg;
}

int main(void)
{
	struct err err = {""};
	struct key_secret *sk = NULL, *sk2 = NULL;
	char publine[256], publine2[256], text[1024], id[KEY_ID_LEN + 1];
	char want[512], b64[64];
	unsigned char pk[KEY_PUBLIC_LEN], pk2[KEY_PUBLIC_LEN];
	unsigned char rpk[KEY_PUBLIC_LEN], rsk[crypto_sign_SECRETKEYBYTES];
	unsigned char sig[KEY_SIG_LEN], bad[KEY_SIG_LEN], h[32];
	unsigned char ctxmsg[256];
	char msg[] = "{\"origin\":\"mx1.example\",\"serial\":1}";
	struct stat st;
	const char *k1;
	gid_t mgid = 0;
	int mg;
	size_t i;
	/* with group mxsync: NULL loads, else the start of the refusal */
	static const struct {
		mode_t mode;
		const char *refusal;
	} gmodes[] = {
	    {0640, NULL},
	    {0440, NULL},
	    {0644, "is readable by group or others"},
	    {0604, "is readable by group or others"},
	    {0660, "is accessible by group or others"},
	    {0650, "is accessible by group or others"},
	};
	size_t clen = strlen(KEY_SIGN_CONTEXT);

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	ok(key_init(&err) == 0, "key_init");

	/* key_id is the first 8 bytes of BLAKE2b-256 in hex */
	crypto_sign_keypair(rpk, rsk);
	crypto_generichash(h, sizeof(h), rpk, sizeof(rpk), NULL, 0);
	sodium_bin2hex(want, sizeof(want), h, 8);
	key_id(rpk, id);
	is_str(id, want, "key_id is BLAKE2b-256(pk)[0..8] in hex");

	/* generate */
	k1 = tpath("k1");
	ok(key_generate(k1, "mx1 signing key", publine, sizeof(publine),
			&err) == 0,
	   "key_generate: %s", err.msg);
	ok(stat(k1, &st) == 0 && (st.st_mode & 07777) == 0600,
	   "key file has mode 0600");
	ok(strncmp(publine, "mxsync-ed25519 ", 15) == 0 &&
	       strlen(publine) == 15 + 16 + 1 + 44 + 1 + 15 &&
	       strcmp(publine + strlen(publine) - 16, " mx1 signing key") == 0,
	   "public line: tag, id, base64 key, comment: %s", publine);
	memcpy(id, publine + 15, KEY_ID_LEN);
	id[KEY_ID_LEN] = '\0';
	memcpy(b64, publine + 32, 44);
	ok(key_public_decode(id, 16, b64, 44, pk, &err) == 0,
	   "the public line decodes, key id matches: %s", err.msg);

	/* refuse to overwrite */
	memset(&err, 0, sizeof(err));
	ok(key_generate(k1, NULL, publine2, sizeof(publine2), &err) == -1,
	   "generate refuses an existing file");
	has_str(err.msg, "k1: File exists", "... with File exists");
	sk = key_load_secret(k1, &err);
	ok(sk != NULL, "the first key is still there and loads: %s", err.msg);
	if (sk == NULL)
		return test_done();
	is_str(key_secret_id(sk), id, "key_secret_id");
	ok(key_secret_publine(sk, publine2, sizeof(publine2), &err) == 0,
	   "key_secret_publine");
	is_str(publine2, publine, "public line again equals generate's");
	key_secret_public(sk, pk2);
	ok(memcmp(pk, pk2, sizeof(pk)) == 0, "key_secret_public");
	ok(key_secret_publine(sk, publine2, 40, &err) == -1,
	   "publine into a short buffer fails");

	/* symlink refused (O_NOFOLLOW) for generate and load */
	ok(symlink(tpath("nowhere"), tpath("link")) == 0, "symlink");
	ok(key_generate(tpath("link"), NULL, publine2, sizeof(publine2),
			&err) == -1,
	   "generate refuses a dangling symlink");
	ok(access(tpath("nowhere"), F_OK) != 0, "... and creates nothing");
	unlink(tpath("link"));
	ok(symlink(k1, tpath("link")) == 0, "symlink");
	has_str(load_err(tpath("link")), "Too many levels of symbolic links",
		"load refuses a symlink");

	/* sign and verify */
	ok(key_sign(sk, msg, strlen(msg), sig, &err) == 0, "key_sign");
	ok(key_verify(pk, msg, strlen(msg), sig, &err) == 0,
	   "key_verify accepts the signature");
	msg[3] ^= 1;
	memset(&err, 0, sizeof(err));
	ok(key_verify(pk, msg, strlen(msg), sig, &err) == -1,
	   "a flipped message byte does not verify");
	has_str(err.msg, "bad signature", "... message says bad signature");
	msg[3] ^= 1;
	memcpy(bad, sig, sizeof(bad));
	bad[10] ^= 0x40;
	memset(&err, 0, sizeof(err));
	ok(key_verify(pk, msg, strlen(msg), bad, &err) == -1,
	   "a flipped signature byte does not verify");
	has_str(err.msg, "bad signature", "... message says bad signature");
	ok(key_verify(pk, msg, strlen(msg) - 1, sig, &err) == -1,
	   "a truncated message does not verify");
	ok(key_sign(sk, "", 0, bad, &err) == 0 &&
	       key_verify(pk, "", 0, bad, &err) == 0,
	   "an empty message signs");

	/* the signature covers the context prefix */
	ok(crypto_sign_verify_detached(sig, (unsigned char *)msg, strlen(msg),
				       pk) != 0,
	   "the signature is not over the bare message");
	memcpy(ctxmsg, KEY_SIGN_CONTEXT, clen);
	memcpy(ctxmsg + clen, msg, strlen(msg));
	ok(crypto_sign_verify_detached(sig, ctxmsg, clen + strlen(msg), pk) ==
	       0,
	   "the signature is over KEY_SIGN_CONTEXT || message");
	crypto_sign_detached(bad, NULL, (unsigned char *)msg, strlen(msg), rsk);
	ok(key_verify(rpk, msg, strlen(msg), bad, &err) == -1,
	   "a signature of the bare message (no prefix) does not verify");
	crypto_sign_detached(bad, NULL, ctxmsg, clen + strlen(msg), rsk);
	ok(key_verify(rpk, msg, strlen(msg), bad, &err) == 0,
	   "a raw signature of prefix || message verifies");

	/* wrong key */
	ok(key_generate(tpath("k2"), NULL, publine2, sizeof(publine2), &err) ==
	       0,
	   "second key");
	sk2 = key_load_secret(tpath("k2"), &err);
	ok(sk2 != NULL, "second key loads");
	if (sk2 != NULL) {
		key_secret_public(sk2, pk2);
		memset(&err, 0, sizeof(err));
		ok(key_verify(pk2, msg, strlen(msg), sig, &err) == -1,
		   "verify with another key fails");
		has_str(err.msg, "bad signature", "... bad signature");
		ok(strcmp(key_secret_id(sk2), key_secret_id(sk)) != 0,
		   "two keys, two ids");
	}
	key_secret_free(sk2);
	key_secret_free(NULL);

	/* modes */
	chmod(k1, 0640);
	has_str(load_err(k1), "is readable by group or others (mode 0640)",
		"mode 0640 refused");
	has_str(load_err(k1), "chmod 600", "... suggests chmod 600");
	chmod(k1, 0604);
	has_str(load_err(k1), "is readable by group or others (mode 0604)",
		"mode 0604 refused");
	chmod(k1, 0620);
	has_str(load_err(k1), "accessible by group or others (mode 0620)",
		"mode 0620 refused");
	chmod(k1, 0400);
	sk2 = key_load_secret(k1, &err);
	ok(sk2 != NULL, "mode 0400 loads");
	key_secret_free(sk2);
	chmod(k1, 0600);

	/*
	 * group read: only for group KEY_GROUP.  k1 has the test's own group,
	 * which is not mxsync unless the test runs as mxsync.
	 */
	mg = key_group_gid(&mgid, &err);
	ok(mg >= 0, "key_group_gid answers (%s %s)", KEY_GROUP,
	   mg == 1 ? "exists" : "does not exist");
	if (mg == 1 && getegid() == mgid) {
		printf("# running as group %s: own-group refusal not tested\n",
		       KEY_GROUP);
	} else {
		chmod(k1, 0640);
		has_str(load_err(k1), "(mode 0640); chmod 600 ",
			"mode 0640, group not mxsync, refused");
		has_str(load_err(k1), "or chgrp mxsync ",
			"... and names the group it may have");
		chmod(k1, 0440);
		has_str(load_err(k1),
			"is readable by group or others "
			"(mode 0440)",
			"mode 0440, group not mxsync, refused");
	}
	chmod(k1, 0644);
	has_str(load_err(k1), "is readable by group or others (mode 0644)",
		"mode 0644 refused");
	ok(strstr(load_err(k1), "chgrp") == NULL,
	   "... with no chgrp hint: others must never read it");
	chmod(k1, 0600);

	/* key_generate_group: the caller's own group is always allowed */
	ok(key_generate_group(tpath("g1"), NULL, getegid(), publine2,
			      sizeof(publine2), &err) == 0,
	   "key_generate_group with the own group: %s", err.msg);
	ok(stat(tpath("g1"), &st) == 0 && (st.st_mode & 07777) == 0640 &&
	       st.st_gid == getegid(),
	   "... mode 0640, that group");
	if (mg == 1 && chown(k1, (uid_t)-1, mgid) == 0) {
		for (i = 0; i < sizeof(gmodes) / sizeof(gmodes[0]); i++) {
			chmod(k1, gmodes[i].mode);
			if (gmodes[i].refusal == NULL) {
				sk2 = key_load_secret(k1, &err);
				ok(sk2 != NULL,
				   "mode %04o, group mxsync, loads",
				   (unsigned)gmodes[i].mode);
				key_secret_free(sk2);
				continue;
			}
			snprintf(want, sizeof(want), "%s (mode %04o)",
				 gmodes[i].refusal, (unsigned)gmodes[i].mode);
			has_str(load_err(k1), want,
				"mode %04o, group mxsync, refused",
				(unsigned)gmodes[i].mode);
		}
		chmod(k1, 0600);
		ok(chown(k1, (uid_t)-1, getegid()) == 0, "group back");
	} else {
		printf("# no group %s, or not allowed to chgrp to it: "
		       "acceptance of mode 0640 is tested by t-deb.sh\n",
		       KEY_GROUP);
	}

	/* malformed files, each from a raw key pair */
	key_id(rpk, id);
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, rsk, sizeof(rsk),
		     " raw\n");
	write_file(tpath("raw"), text, 0600);
	sk2 = key_load_secret(tpath("raw"), &err);
	ok(sk2 != NULL, "a hand-written key file loads: %s", err.msg);
	if (sk2 != NULL) {
		ok(key_sign(sk2, msg, strlen(msg), sig, &err) == 0 &&
		       key_verify(rpk, msg, strlen(msg), sig, &err) == 0,
		   "... and signs for its public key");
		key_secret_free(sk2);
	}
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, rsk, sizeof(rsk),
		     "");
	write_file(tpath("m"), text, 0600);
	sk2 = key_load_secret(tpath("m"), &err);
	ok(sk2 != NULL, "no final newline and no comment is fine");
	key_secret_free(sk2);

	raw_key_text(text, sizeof(text), "mxsync-ed448-secret", id, rsk,
		     sizeof(rsk), "\n");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")), "not an mxsync secret key file",
		"wrong tag refused");
	write_file(tpath("m"), publine, 0600);
	has_str(load_err(tpath("m")), "public key line, not a secret key",
		"a public line is refused as a secret key");
	snprintf(text, sizeof(text), "%s %s %s\n", KEY_SECRET_TAG, id,
		 "AAAA!!!!AAAA");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")), "bad base64", "bad base64 refused");
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, rsk, 32, "\n");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")), "wrong length (32 bytes, want 64)",
		"a 32-byte secret key refused");
	{
		unsigned char big[80];

		memset(big, 7, sizeof(big));
		raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, big,
			     sizeof(big), "\n");
		write_file(tpath("m"), text, 0600);
		has_str(load_err(tpath("m")), "wrong length",
			"an 80-byte secret key refused");
	}
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, "0123456789abcdef",
		     rsk, sizeof(rsk), "\n");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")),
		"key id 0123456789abcdef does not match the key",
		"a key id not matching the key refused");
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, "0123456789ABCDEF",
		     rsk, sizeof(rsk), "\n");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")), "malformed key id",
		"an upper-case key id refused");
	{
		unsigned char mixed[crypto_sign_SECRETKEYBYTES];

		/* seed of one key, public half of another */
		memcpy(mixed, rsk, sizeof(mixed));
		memcpy(mixed + 32, pk, 32);
		raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, mixed,
			     sizeof(mixed), "\n");
		write_file(tpath("m"), text, 0600);
		has_str(load_err(tpath("m")), "damaged",
			"a secret key whose halves disagree refused");
		sodium_memzero(mixed, sizeof(mixed));
	}
	raw_key_text(text, sizeof(text), KEY_SECRET_TAG, id, rsk, sizeof(rsk),
		     "\nsecond line\n");
	write_file(tpath("m"), text, 0600);
	has_str(load_err(tpath("m")), "more than one line",
		"trailing lines refused");
	write_file(tpath("m"), "", 0600);
	has_str(load_err(tpath("m")), "empty key file", "empty file refused");
	write_file(tpath("m"), KEY_SECRET_TAG "\n", 0600);
	has_str(load_err(tpath("m")), "not an mxsync secret key file",
		"tag alone refused");
	has_str(load_err(tpath("absent")), "No such file or directory",
		"a missing file refused");
	has_str(load_err(dir), "not a regular file", "a directory refused");
	ok(key_generate(tpath("c"), "bad\ncomment", publine2, sizeof(publine2),
			&err) == -1 &&
	       strstr(err.msg, "control character") &&
	       access(tpath("c"), F_OK) != 0,
	   "a comment with a newline is refused before creating a file");

	/* key_public_decode refusals */
	key_id(rpk, id);
	sodium_bin2base64(b64, sizeof(b64), rpk, sizeof(rpk),
			  sodium_base64_VARIANT_ORIGINAL);
	ok(key_public_decode(id, 16, b64, 44, pk2, &err) == 0 &&
	       memcmp(pk2, rpk, 32) == 0,
	   "key_public_decode");
	ok(key_public_decode("0000000000000000", 16, b64, 44, pk2, &err) == -1,
	   "public: wrong id");
	has_str(err.msg, "does not match the public key", "... message");
	ok(key_public_decode(id, 16, "AAAA*AAA", 8, pk2, &err) == -1,
	   "public: bad base64");
	has_str(err.msg, "bad base64", "... message");
	ok(key_public_decode(id, 16, b64, 40, pk2, &err) == -1,
	   "public: short key");
	has_str(err.msg, "wrong length", "... message");
	ok(key_public_decode(id, 15, b64, 44, pk2, &err) == -1,
	   "public: short id");
	has_str(err.msg, "malformed key id", "... message");

	sodium_memzero(rsk, sizeof(rsk));
	key_secret_free(sk);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return test_done();
}
