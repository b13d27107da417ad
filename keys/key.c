/*
 * key - Ed25519 key pairs, key ids, signing and verifying manifests
 *
 * Owns the secret key file format and the public line (see key.h), the key
 * id, and the signing context.  Every function returns -1 and fills the
 * caller's struct err on failure; messages about a key file start with its
 * path.
 *
 * Security: the secret key, the text of the secret key file and every buffer
 * that held either live in sodium_malloc'd memory (guard pages, mlock) and
 * are wiped with sodium_memzero on every path, successful or not.  A secret
 * key file that others can access, that its group can write or execute, or
 * that a group other than KEY_GROUP can read is refused, like ssh does: mode
 * 0600 (0400), or 0640 (0440) with group KEY_GROUP, so that root can own a
 * key the agent's user reads through its group.  The key file is created
 * with O_EXCL|O_NOFOLLOW and mode 0600 (or 0640 with group KEY_GROUP) and
 * never replaced; see key_write_new() for why it does not use formats/atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/fileio.h"
#include "key.h"

/* Enough for the longest valid secret key file plus a little slack. */
#define KEY_FILE_MAX 1024
#define KEY_COMMENT_MAX 160
#define KEY_SECRET_LEN crypto_sign_SECRETKEYBYTES
#define KEY_B64_SECRET_LEN                                                     \
	sodium_base64_ENCODED_LEN(KEY_SECRET_LEN,                              \
				  sodium_base64_VARIANT_ORIGINAL)
#define KEY_B64_PUBLIC_LEN                                                     \
	sodium_base64_ENCODED_LEN(KEY_PUBLIC_LEN,                              \
				  sodium_base64_VARIANT_ORIGINAL)

struct key_secret {
	unsigned char sk[KEY_SECRET_LEN];
	unsigned char pk[KEY_PUBLIC_LEN];
	char id[KEY_ID_LEN + 1];
	char comment[KEY_COMMENT_MAX + 1];
};

int key_init(struct err *err)
{
	if (sodium_init() < 0)
		return err_set(err, "sodium_init: cannot initialise libsodium");
	return 0;
}

int key_group_gid(gid_t *gid_r, struct err *err)
{
	struct group gr, *res = NULL;
	char *buf = NULL;
	size_t size = 4096;
	int e, rc = -1;

	/* a group with many members needs a larger buffer: retry on ERANGE */
	for (;;) {
		free(buf);
		if ((buf = malloc(size)) == NULL) {
			err_set(err, "getgrnam(%s): out of memory", KEY_GROUP);
			goto out;
		}
		e = getgrnam_r(KEY_GROUP, &gr, buf, size, &res);
		if (e != ERANGE || size >= (1u << 20))
			break;
		size *= 2;
	}
	if (e != 0) {
		errno = e;
		err_sys(err, "getgrnam(%s)", KEY_GROUP);
		goto out;
	}
	rc = 0;
	if (res != NULL) {
		*gid_r = res->gr_gid;
		rc = 1;
	}
out:
	free(buf);
	return rc;
}

/* key_group_may_read - 1 if a file of group gid may be group-readable */
static int key_group_may_read(gid_t gid)
{
	struct err ignored;
	gid_t g;

	/* no such group, or no answer: only owner-only modes pass */
	return key_group_gid(&g, &ignored) == 1 && g == gid;
}

void key_id(const unsigned char pk[KEY_PUBLIC_LEN], char out[KEY_ID_LEN + 1])
{
	unsigned char h[crypto_generichash_BYTES];

	/* BLAKE2b-256; crypto_generichash_BYTES is 32 */
	crypto_generichash(h, sizeof(h), pk, KEY_PUBLIC_LEN, NULL, 0);
	sodium_bin2hex(out, KEY_ID_LEN + 1, h, KEY_ID_LEN / 2);
}

/* key_comment_ok - printable ASCII or UTF-8, no control characters */
static int key_comment_ok(const char *c, struct err *err)
{
	size_t i, n = strlen(c);

	if (n > KEY_COMMENT_MAX)
		return err_set(err, "comment is longer than %d octets",
			       KEY_COMMENT_MAX);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c[i];

		if (ch < 0x20 || ch == 0x7f)
			return err_set(err,
				       "comment holds a control character");
	}
	if (n > 0 && (c[0] == ' ' || c[n - 1] == ' '))
		return err_set(err, "comment starts or ends with a space");
	return 0;
}

/* key_format_publine - "mxsync-ed25519 KEYID PUBKEY [comment]" */
static int key_format_publine(const unsigned char pk[KEY_PUBLIC_LEN],
			      const char *id, const char *comment, char *out,
			      size_t size, struct err *err)
{
	char b64[KEY_B64_PUBLIC_LEN];
	int n;

	sodium_bin2base64(b64, sizeof(b64), pk, KEY_PUBLIC_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, size, "%s %s %s%s%s", KEY_PUBLIC_TAG, id, b64,
		     comment[0] ? " " : "", comment);
	if (n < 0 || (size_t)n >= size)
		return err_set(err, "public line does not fit in %zu octets",
			       size);
	return 0;
}

/*
 * key_write_new - create path with O_EXCL, write text, fsync, close
 *
 * The secret key file cannot go through formats/atomic: a temp file renamed
 * into place would silently replace an existing key, and O_EXCL must hold on
 * the final name so that "generate" never overwrites a key.  A crash between
 * open and fsync can leave a short file; key_load_secret refuses it.
 */
static int key_write_new(const char *path, const char *text, size_t len,
			 gid_t gid, struct err *err)
{
	mode_t mode = gid == (gid_t)-1 ? 0600 : 0640;
	int fd = -1, rc = -1, created = 0, w;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		if (errno == EEXIST)
			err_set(err,
				"%s: File exists (refusing to overwrite "
				"a key)",
				path);
		else
			err_sys(err, "%s", path);
		goto out;
	}
	created = 1;
	/* the group first, then the mode: nobody else may read it meanwhile */
	if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0) {
		err_sys(err, "fchown(%s, group %s)", path, KEY_GROUP);
		goto out;
	}
	/* the umask may only have removed bits; make the mode exact */
	if (fchmod(fd, mode) < 0) {
		err_sys(err, "fchmod(%s)", path);
		goto out;
	}
	if (fileio_write_all(fd, path, text, len, err) < 0)
		goto out;
	if (fsync(fd) < 0) {
		err_sys(err, "fsync(%s)", path);
		goto out;
	}
	w = close(fd);
	fd = -1;
	if (w < 0) {
		err_sys(err, "close(%s)", path);
		goto out;
	}
	if (fileio_fsync_dir(path, 1, err) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	/* we created it with O_EXCL, so it is ours to remove */
	if (rc < 0 && created)
		unlink(path);
	return rc;
}

int key_generate(const char *path, const char *comment, char *publine,
		 size_t size, struct err *err)
{
	return key_generate_group(path, comment, (gid_t)-1, publine, size, err);
}

int key_generate_group(const char *path, const char *comment, gid_t gid,
		       char *publine, size_t size, struct err *err)
{
	struct key_secret *k = NULL;
	char *text = NULL;
	char b64[KEY_B64_SECRET_LEN];
	int n, rc = -1;

	if (comment == NULL)
		comment = "";
	if (key_comment_ok(comment, err) < 0)
		goto out;
	k = sodium_malloc(sizeof(*k));
	text = sodium_malloc(KEY_FILE_MAX);
	if (k == NULL || text == NULL) {
		err_set(err, "sodium_malloc: out of memory");
		goto out;
	}
	if (crypto_sign_keypair(k->pk, k->sk) != 0) {
		err_set(err, "crypto_sign_keypair failed");
		goto out;
	}
	key_id(k->pk, k->id);
	/* the public line first: it must fit before a file is created */
	if (key_format_publine(k->pk, k->id, comment, publine, size, err) < 0)
		goto out;
	sodium_bin2base64(b64, sizeof(b64), k->sk, KEY_SECRET_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(text, KEY_FILE_MAX, "%s %s %s%s%s\n", KEY_SECRET_TAG,
		     k->id, b64, comment[0] ? " " : "", comment);
	if (n < 0 || n >= KEY_FILE_MAX) {
		err_set(err, "%s: key file text too long", path);
		goto out;
	}
	if (key_write_new(path, text, (size_t)n, gid, err) < 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(b64, sizeof(b64));
	sodium_free(text); /* sodium_free wipes before freeing */
	sodium_free(k);
	return rc;
}

/* key_read_file - the file's text into sodium memory, NUL-terminated */
static char *key_read_file(const char *path, size_t *len_r, struct err *err)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd = -1, ok = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_sys(err, "open(%s)", path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & S_IROTH) {
		err_set(err,
			"key file %s is readable by group or others "
			"(mode %04o); chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if ((st.st_mode & S_IRGRP) && !key_group_may_read(st.st_gid)) {
		err_set(err,
			"key file %s is readable by group or others "
			"(mode %04o); chmod 600 %s, or chgrp %s %s if the "
			"agent reads it through group %s",
			path, (unsigned)(st.st_mode & 07777), path, KEY_GROUP,
			path, KEY_GROUP);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_IXGRP | S_IXOTH)) {
		err_set(err,
			"key file %s is accessible by group or others "
			"(mode %04o); chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	text = sodium_malloc(KEY_FILE_MAX + 1);
	if (text == NULL) {
		err_set(err, "sodium_malloc: out of memory");
		goto out;
	}
	if (fileio_read_upto(fd, path, text, KEY_FILE_MAX, &len, err) < 0)
		goto out;
	if (len == KEY_FILE_MAX) {
		err_set(err, "%s: too large for a key file", path);
		goto out;
	}
	text[len] = '\0';
	*len_r = len;
	ok = 1;
out:
	if (fd >= 0)
		close(fd);
	if (!ok) {
		sodium_free(text);
		text = NULL;
	}
	return text;
}

/* key_is_id - 16 lower-case hex digits */
static int key_is_id(const char *s, size_t n)
{
	size_t i;

	if (n != KEY_ID_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* key_parse_secret - check the text of a secret key file and fill k */
static int key_parse_secret(const char *path, char *text, size_t len,
			    struct key_secret *k, struct err *err)
{
	unsigned char *seed_pk = NULL, *seed_sk = NULL;
	char *p, *tag, *id, *b64, *comment, *nl, *end;
	size_t b64_len, bin_len = 0;
	const char *b64_end = NULL;
	int rc = -1;

	if (len == 0)
		return err_set(err, "%s: empty key file", path);
	if (memchr(text, '\0', len) != NULL)
		return err_set(err, "%s: not a key file (NUL byte)", path);
	nl = strchr(text, '\n');
	if (nl != NULL) {
		if (nl + 1 != text + len)
			return err_set(err,
				       "%s: more than one line; a secret "
				       "key file is one line",
				       path);
		*nl = '\0';
	}
	/* fields are separated by single spaces; the comment is the rest */
	tag = text;
	p = strchr(tag, ' ');
	if (p == NULL)
		return err_set(err,
			       "%s: not an mxsync secret key file "
			       "(expected \"%s KEYID KEY\")",
			       path, KEY_SECRET_TAG);
	*p = '\0';
	if (strcmp(tag, KEY_PUBLIC_TAG) == 0)
		return err_set(err,
			       "%s: this is a public key line, not a "
			       "secret key file",
			       path);
	if (strcmp(tag, KEY_SECRET_TAG) != 0)
		return err_set(err,
			       "%s: not an mxsync secret key file "
			       "(tag is not \"%s\")",
			       path, KEY_SECRET_TAG);
	id = p + 1;
	p = strchr(id, ' ');
	if (p == NULL)
		return err_set(err, "%s: no secret key after the key id", path);
	*p = '\0';
	if (!key_is_id(id, strlen(id)))
		return err_set(err,
			       "%s: malformed key id (want %d lower-case "
			       "hex digits)",
			       path, KEY_ID_LEN);
	b64 = p + 1;
	p = strchr(b64, ' ');
	comment = "";
	if (p != NULL) {
		*p = '\0';
		comment = p + 1;
	}
	if (key_comment_ok(comment, err) < 0)
		return err_prefix(err, "%s", path);
	b64_len = strlen(b64);
	if (sodium_base642bin(k->sk, sizeof(k->sk), b64, b64_len, NULL,
			      &bin_len, &b64_end,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		/* a valid encoding that only overflows is a length error */
		if (b64_len != KEY_B64_SECRET_LEN - 1)
			return err_set(err,
				       "%s: secret key has the wrong "
				       "length (%zu base64 characters, want "
				       "%zu) or bad base64",
				       path, b64_len,
				       (size_t)KEY_B64_SECRET_LEN - 1);
		return err_set(err, "%s: bad base64 in the secret key", path);
	}
	end = b64 + b64_len;
	if (b64_end != end)
		return err_set(err, "%s: bad base64 in the secret key", path);
	if (bin_len != KEY_SECRET_LEN)
		return err_set(err,
			       "%s: secret key has the wrong length (%zu "
			       "bytes, want %d)",
			       path, bin_len, KEY_SECRET_LEN);
	/*
	 * The second half of an Ed25519 secret key is its public key; a
	 * damaged file could pair a public half with a foreign seed.  Derive
	 * the pair from the seed again and insist both halves agree.
	 */
	seed_pk = sodium_malloc(KEY_PUBLIC_LEN);
	seed_sk = sodium_malloc(KEY_SECRET_LEN);
	if (seed_pk == NULL || seed_sk == NULL) {
		err_set(err, "sodium_malloc: out of memory");
		goto out;
	}
	if (crypto_sign_seed_keypair(seed_pk, seed_sk, k->sk) != 0 ||
	    sodium_memcmp(seed_sk, k->sk, KEY_SECRET_LEN) != 0) {
		err_set(err,
			"%s: secret key is damaged (its public half does "
			"not match its seed)",
			path);
		goto out;
	}
	memcpy(k->pk, seed_pk, KEY_PUBLIC_LEN);
	key_id(k->pk, k->id);
	if (strcmp(k->id, id) != 0) {
		err_set(err,
			"%s: key id %s does not match the key (its id is "
			"%s)",
			path, id, k->id);
		goto out;
	}
	memcpy(k->comment, comment, strlen(comment) + 1);
	rc = 0;
out:
	sodium_free(seed_pk);
	sodium_free(seed_sk);
	return rc;
}

struct key_secret *key_load_secret(const char *path, struct err *err)
{
	struct key_secret *k = NULL;
	char *text = NULL;
	size_t len = 0;
	int ok = 0;

	text = key_read_file(path, &len, err);
	if (text == NULL)
		goto out;
	k = sodium_malloc(sizeof(*k));
	if (k == NULL) {
		err_set(err, "sodium_malloc: out of memory");
		goto out;
	}
	sodium_memzero(k, sizeof(*k));
	if (key_parse_secret(path, text, len, k, err) < 0)
		goto out;
	/* nothing writes the key after loading; sodium_free undoes this */
	sodium_mprotect_readonly(k);
	ok = 1;
out:
	sodium_free(text); /* wipes the file text */
	if (!ok) {
		sodium_free(k);
		k = NULL;
	}
	return k;
}

void key_secret_free(struct key_secret *sk)
{
	/* sodium_free wipes the whole allocation; NULL is a no-op */
	sodium_free(sk);
}

const char *key_secret_id(const struct key_secret *sk)
{
	return sk->id;
}

int key_secret_publine(const struct key_secret *sk, char *out, size_t size,
		       struct err *err)
{
	return key_format_publine(sk->pk, sk->id, sk->comment, out, size, err);
}

void key_secret_public(const struct key_secret *sk,
		       unsigned char pk[KEY_PUBLIC_LEN])
{
	memcpy(pk, sk->pk, KEY_PUBLIC_LEN);
}

/* key_context_msg - KEY_SIGN_CONTEXT || msg in a new buffer */
static unsigned char *key_context_msg(const void *msg, size_t len, size_t *n_r,
				      struct err *err)
{
	const size_t clen = sizeof(KEY_SIGN_CONTEXT) - 1;
	unsigned char *buf;

	if (len > SIZE_MAX - clen) {
		err_set(err, "message too large to sign");
		return NULL;
	}
	buf = malloc(clen + len + 1);
	if (buf == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	memcpy(buf, KEY_SIGN_CONTEXT, clen);
	if (len > 0)
		memcpy(buf + clen, msg, len);
	*n_r = clen + len;
	return buf;
}

int key_sign(const struct key_secret *sk, const void *msg, size_t len,
	     unsigned char sig[KEY_SIG_LEN], struct err *err)
{
	unsigned char *buf;
	size_t n = 0;
	int rc = 0;

	buf = key_context_msg(msg, len, &n, err);
	if (buf == NULL)
		return -1;
	if (crypto_sign_detached(sig, NULL, buf, n, sk->sk) != 0)
		rc = err_set(err, "crypto_sign_detached failed");
	free(buf);
	return rc;
}

int key_verify(const unsigned char pk[KEY_PUBLIC_LEN], const void *msg,
	       size_t len, const unsigned char sig[KEY_SIG_LEN],
	       struct err *err)
{
	unsigned char *buf;
	size_t n = 0;
	int rc = 0;

	buf = key_context_msg(msg, len, &n, err);
	if (buf == NULL)
		return -1;
	if (crypto_sign_verify_detached(sig, buf, n, pk) != 0)
		rc = err_set(err, "bad signature: it does not verify with "
				  "this key");
	free(buf);
	return rc;
}

int key_public_decode(const char *id, size_t id_len, const char *b64,
		      size_t b64_len, unsigned char pk[KEY_PUBLIC_LEN],
		      struct err *err)
{
	unsigned char tmp[KEY_PUBLIC_LEN + 1];
	char want[KEY_ID_LEN + 1];
	const char *b64_end = NULL;
	size_t bin_len = 0;

	if (!key_is_id(id, id_len))
		return err_set(err,
			       "malformed key id \"%.*s\" (want %d "
			       "lower-case hex digits)",
			       id_len > 40 ? 40 : (int)id_len, id, KEY_ID_LEN);
	/* one spare byte in tmp tells "too long" from "bad base64" */
	if (sodium_base642bin(tmp, sizeof(tmp), b64, b64_len, NULL, &bin_len,
			      &b64_end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    b64_end != b64 + b64_len) {
		if (b64_len > KEY_B64_PUBLIC_LEN - 1)
			return err_set(err,
				       "public key has the wrong length "
				       "(%zu base64 characters, want %zu)",
				       b64_len, (size_t)KEY_B64_PUBLIC_LEN - 1);
		return err_set(err, "bad base64 in the public key");
	}
	if (bin_len != KEY_PUBLIC_LEN)
		return err_set(err,
			       "public key has the wrong length (%zu "
			       "bytes, want %d)",
			       bin_len, KEY_PUBLIC_LEN);
	key_id(tmp, want);
	if (memcmp(want, id, KEY_ID_LEN) != 0)
		return err_set(err,
			       "key id %.*s does not match the public key "
			       "(its id is %s)",
			       KEY_ID_LEN, id, want);
	memcpy(pk, tmp, KEY_PUBLIC_LEN);
	return 0;
}
