/*
 * snapshot - a signed snapshot as one file, and the HTTP header encoding
 *
 * File form (what "mxsync-agent export -o" writes and "mxsyncd apply" reads):
 *
 *	mxsync-snapshot 1\n
 *	<manifest JSON>\n
 *	<signature, base64 of 64 bytes>\n
 *	<body: body_size octets>
 *
 * Over HTTP the same parts travel as headers X-Mxsync-Manifest (base64 of
 * the manifest JSON) and X-Mxsync-Signature (base64), and the body as the
 * request body.  snapshot_read() checks only the framing; verification of
 * the signature and the body hash is the reader's job.
 */
#ifndef MXSYNC_SNAPSHOT_H
#define MXSYNC_SNAPSHOT_H

#include <stddef.h>

#include "err.h"

#define SNAPSHOT_MAGIC "mxsync-snapshot 1\n"
#define SNAPSHOT_SIG_LEN 64
#define SNAPSHOT_HDR_MANIFEST "X-Mxsync-Manifest"
#define SNAPSHOT_HDR_SIGNATURE "X-Mxsync-Signature"

struct snapshot {
	char *manifest; /* owned, NUL-terminated JSON */
	size_t manifest_len;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	char *body; /* owned; may be NULL when body_len is 0 */
	size_t body_len;
};

/* snapshot_write - write through the atomic-replace helper, mode 0600 (a
 * snapshot holds a recipient list) */
int snapshot_write(const char *path, const char *manifest, size_t mlen,
		   const unsigned char sig[SNAPSHOT_SIG_LEN], const void *body,
		   size_t blen, struct err *err);
/* snapshot_read - read a file; max_body bounds the body; fills *s */
int snapshot_read(const char *path, size_t max_body, struct snapshot *s,
		  struct err *err);
void snapshot_clear(struct snapshot *s);

/* Base64 (RFC 4648, with padding) for headers; caller frees. */
char *snapshot_b64(const void *bin, size_t len);
/* snapshot_unb64 - decode into a malloc'd buffer (NUL-terminated) */
unsigned char *snapshot_unb64(const char *text, size_t len, size_t *outlen_r,
			      struct err *err);

#endif
