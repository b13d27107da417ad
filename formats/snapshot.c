/*
 * snapshot - a signed snapshot as one file, and base64 for HTTP headers
 *
 * Owns the file framing: the magic line, one manifest line, one signature
 * line (base64 of 64 bytes) and the body, which is the rest of the file.
 * Base64 is libsodium's, variant ORIGINAL (RFC 4648 with padding).
 *
 * Failure: snapshot_read() refuses a wrong magic, a missing, oversize or
 * truncated manifest or signature line, a signature that is not exactly 64
 * bytes of base64, and a body over max_body, with "snapshot(path): reason".
 * It checks framing only; the signature and the body hash are the reader's.
 *
 * Security: the file is untrusted.  Nothing beyond the header limits and
 * max_body is read into memory; the body's size against the manifest's
 * body_size is compared by the caller after verification.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "atomic.h"
#include "fileio.h"
#include "manifest.h"
#include "snapshot.h"

#define SNAPSHOT_B64_VARIANT sodium_base64_VARIANT_ORIGINAL
/* base64 of 64 bytes: 88 characters */
#define SNAPSHOT_SIG_B64 (((SNAPSHOT_SIG_LEN + 2) / 3) * 4)
#define SNAPSHOT_HDR_MAX                                                       \
	(sizeof(SNAPSHOT_MAGIC) - 1 + MANIFEST_MAX + 1 + SNAPSHOT_SIG_B64 + 1)

char *snapshot_b64(const void *bin, size_t len)
{
	size_t outlen;
	char *out;

	if (len > (SIZE_MAX / 4) - 4)
		return NULL;
	outlen = sodium_base64_ENCODED_LEN(len, SNAPSHOT_B64_VARIANT);
	if ((out = malloc(outlen)) == NULL)
		return NULL;
	sodium_bin2base64(out, outlen, bin, len, SNAPSHOT_B64_VARIANT);
	return out;
}

unsigned char *snapshot_unb64(const char *text, size_t len, size_t *outlen_r,
			      struct err *err)
{
	unsigned char *out;
	const char *end = NULL;
	size_t cap = len / 4 * 3 + 3, outlen = 0;

	if ((out = malloc(cap + 1)) == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	if (sodium_base642bin(out, cap, text, len, NULL, &outlen, &end,
			      SNAPSHOT_B64_VARIANT) != 0 ||
	    end != text + len) {
		free(out);
		err_set(err, "invalid base64");
		return NULL;
	}
	out[outlen] = '\0';
	*outlen_r = outlen;
	return out;
}

int snapshot_write(const char *path, const char *manifest, size_t mlen,
		   const unsigned char sig[SNAPSHOT_SIG_LEN], const void *body,
		   size_t blen, struct err *err)
{
	struct atomic_file af;
	char *sig64 = NULL;
	int rc = -1;

	if (mlen == 0 || mlen > MANIFEST_MAX ||
	    memchr(manifest, '\n', mlen) != NULL)
		return err_set(err,
			       "snapshot(%s): manifest must be one line "
			       "of 1..%d bytes",
			       path, MANIFEST_MAX);
	if ((sig64 = snapshot_b64(sig, SNAPSHOT_SIG_LEN)) == NULL)
		return err_sys(err, "malloc");
	if (atomic_open(&af, path, 0600, err) < 0)
		goto out;
	if (atomic_write(&af, SNAPSHOT_MAGIC, sizeof(SNAPSHOT_MAGIC) - 1, err) <
		0 ||
	    atomic_write(&af, manifest, mlen, err) < 0 ||
	    atomic_write(&af, "\n", 1, err) < 0 ||
	    atomic_write(&af, sig64, strlen(sig64), err) < 0 ||
	    atomic_write(&af, "\n", 1, err) < 0 ||
	    (blen > 0 && atomic_write(&af, body, blen, err) < 0)) {
		atomic_abort(&af);
		goto out;
	}
	rc = atomic_commit(&af, err);
out:
	free(sig64);
	return rc;
}

void snapshot_clear(struct snapshot *s)
{
	if (s == NULL)
		return;
	free(s->manifest);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

/*
 * snapshot_read - the header is read and checked first, then the body in
 * one read into a buffer of its exact size: no growing buffer, no copy, and
 * nothing is allocated for a body over max_body.
 */
int snapshot_read(const char *path, size_t max_body, struct snapshot *s,
		  struct err *err)
{
	char hdr[SNAPSHOT_HDR_MAX], *p, *nl, *end;
	unsigned char *sig = NULL;
	size_t hlen, mlen, siglen = 0;
	uint64_t size;
	struct stat sb;
	int fd, rc = -1;

	memset(s, 0, sizeof(*s));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, "open(%s)", path);
	if (fstat(fd, &sb) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(err, "snapshot(%s): not a regular file", path);
		goto out;
	}
	size = (uint64_t)sb.st_size;
	hlen = size < sizeof(hdr) ? (size_t)size : sizeof(hdr);
	if (fileio_pread_exact(fd, path, hdr, hlen, 0, err) < 0)
		goto out;
	end = hdr + hlen;
	if (hlen < sizeof(SNAPSHOT_MAGIC) - 1 ||
	    memcmp(hdr, SNAPSHOT_MAGIC, sizeof(SNAPSHOT_MAGIC) - 1) != 0) {
		err_set(err,
			"snapshot(%s): not a snapshot file (bad magic "
			"line)",
			path);
		goto out;
	}
	p = hdr + sizeof(SNAPSHOT_MAGIC) - 1;

	/* manifest line */
	mlen = (size_t)(end - p) < MANIFEST_MAX + 1 ? (size_t)(end - p)
						    : MANIFEST_MAX + 1;
	if ((nl = memchr(p, '\n', mlen)) == NULL) {
		if (mlen > MANIFEST_MAX)
			err_set(err,
				"snapshot(%s): manifest line over %d "
				"bytes",
				path, MANIFEST_MAX);
		else
			err_set(err, "snapshot(%s): truncated manifest line",
				path);
		goto out;
	}
	mlen = (size_t)(nl - p);
	if (mlen == 0 || memchr(p, '\0', mlen) != NULL) {
		err_set(err, "snapshot(%s): empty or malformed manifest line",
			path);
		goto out;
	}
	if ((s->manifest = malloc(mlen + 1)) == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	memcpy(s->manifest, p, mlen);
	s->manifest[mlen] = '\0';
	s->manifest_len = mlen;
	p = nl + 1;

	/* signature line */
	if ((nl = memchr(p, '\n',
			 (size_t)(end - p) < SNAPSHOT_SIG_B64 + 1
			     ? (size_t)(end - p)
			     : SNAPSHOT_SIG_B64 + 1)) == NULL) {
		err_set(err, "snapshot(%s): truncated signature line", path);
		goto out;
	}
	if ((sig = snapshot_unb64(p, (size_t)(nl - p), &siglen, err)) == NULL ||
	    siglen != SNAPSHOT_SIG_LEN) {
		err_set(err,
			"snapshot(%s): signature line is not base64 of "
			"%d bytes",
			path, SNAPSHOT_SIG_LEN);
		goto out;
	}
	memcpy(s->sig, sig, SNAPSHOT_SIG_LEN);
	p = nl + 1;

	/* body: the rest of the file */
	hlen = (size_t)(p - hdr);
	if (size - hlen > max_body) {
		err_set(err,
			"snapshot(%s): body of %" PRIu64 " bytes is over "
			"the limit of %zu",
			path, size - hlen, max_body);
		goto out;
	}
	s->body_len = (size_t)(size - hlen);
	if (s->body_len > 0) {
		if ((s->body = malloc(s->body_len + 1)) == NULL) {
			err_sys(err, "malloc");
			goto out;
		}
		if (fileio_pread_exact(fd, path, s->body, s->body_len,
				       (off_t)hlen, err) < 0)
			goto out;
		s->body[s->body_len] = '\0';
	}
	rc = 0;
out:
	if (rc < 0)
		snapshot_clear(s);
	free(sig);
	close(fd);
	return rc;
}
