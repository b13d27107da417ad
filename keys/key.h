/*
 * key - Ed25519 key pairs, key ids, signing and verifying manifests
 *
 * Secret key file (created with O_EXCL, mode 0600, or 0640 with group
 * KEY_GROUP; loading accepts only those modes or stricter ones, and refuses
 * a file that others may read, or a group other than KEY_GROUP, "key file F
 * is readable by group or others (mode 0644); chmod 600 F"):
 *
 *	mxsync-ed25519-secret <KEYID> <base64 of the 64-byte secret key>
 *[comment]\n
 *
 * Public line (printed by "mxsync-keys generate" and "public"):
 *
 *	mxsync-ed25519 <KEYID> <base64 of the 32-byte public key> [comment]
 *
 * KEYID is the first 8 bytes of BLAKE2b-256(public key) as 16 lower-case hex
 * digits.  Signatures cover KEY_SIGN_CONTEXT followed by the exact manifest
 * bytes, so a manifest signature cannot be replayed as anything else.
 *
 * Security: the secret key lives in sodium_malloc'd memory, guarded and
 * locked, and is wiped by key_secret_free() and on every error path.
 */
#ifndef MXSYNC_KEY_H
#define MXSYNC_KEY_H

#include <stddef.h>
#include <sys/types.h>

#include "../formats/err.h"

#define KEY_ID_LEN 16
#define KEY_PUBLIC_LEN 32
#define KEY_SIG_LEN 64
#define KEY_SIGN_CONTEXT "mxsync manifest v1\n"
#define KEY_PUBLIC_TAG "mxsync-ed25519"
#define KEY_SECRET_TAG "mxsync-ed25519-secret"
/* the group the daemons run as; it may read a key file of mode 0640 */
#define KEY_GROUP "mxsync"

struct key_secret;

/* key_init - sodium_init(); call once in main before anything else */
int key_init(struct err *err);

/*
 * key_generate - make a key pair and write the secret key file at path
 * (refusing to overwrite); the public line goes to publine (>= 256 octets).
 */
int key_generate(const char *path, const char *comment, char *publine,
		 size_t size, struct err *err);
/*
 * key_generate_group - key_generate, but the file gets group gid and mode
 * 0640 (gid (gid_t)-1: mode 0600, the caller's group), set before the
 * secret is written
 */
int key_generate_group(const char *path, const char *comment, gid_t gid,
		       char *publine, size_t size, struct err *err);
/* key_group_gid - gid of KEY_GROUP: 1 found, 0 no such group, -1 error */
int key_group_gid(gid_t *gid_r, struct err *err);

struct key_secret *key_load_secret(const char *path, struct err *err);
void key_secret_free(struct key_secret *sk);
const char *key_secret_id(const struct key_secret *sk);
/* key_secret_publine - the public line for this key */
int key_secret_publine(const struct key_secret *sk, char *out, size_t size,
		       struct err *err);

/* key_id - KEYID of a public key into out (17 octets with the NUL) */
void key_id(const unsigned char pk[KEY_PUBLIC_LEN], char out[KEY_ID_LEN + 1]);

/* key_secret_public - the public half of a loaded key */
void key_secret_public(const struct key_secret *sk,
		       unsigned char pk[KEY_PUBLIC_LEN]);

/*
 * key_public_decode - check a KEYID and a base64 PUBKEY taken from a public
 * or trusted-keys line (lengths given, no NUL needed): the id must be 16
 * lower-case hex digits, the key 32 bytes of standard base64, and the id must
 * be the key's id.  Fills pk; the message has no file or line prefix.
 */
int key_public_decode(const char *id, size_t id_len, const char *b64,
		      size_t b64_len, unsigned char pk[KEY_PUBLIC_LEN],
		      struct err *err);

/* key_sign - sign context + msg */
int key_sign(const struct key_secret *sk, const void *msg, size_t len,
	     unsigned char sig[KEY_SIG_LEN], struct err *err);
/* key_verify - 0 if sig is a valid signature of context + msg, else -1 */
int key_verify(const unsigned char pk[KEY_PUBLIC_LEN], const void *msg,
	       size_t len, const unsigned char sig[KEY_SIG_LEN],
	       struct err *err);

#endif
