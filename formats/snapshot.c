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
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
#define SNAPSHOT_HDR_MAX                                                 \
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
		   const unsigned char sig[SNAPSHOT_SIG_LEN],
		   const void *body, size_t blen, struct err *err)
{
	struct atomic_file af;
	char *sig64 = NULL;
	int rc = -1;

	if (mlen == 0 || mlen > MANIFEST_MAX ||
	    memchr(manifest, '\n', mlen) != NULL)
		return err_set(err, "snapshot(%s): manifest must be one line "
			       "of 1..%d bytes", path, MANIFEST_MAX);
	if ((sig64 = snapshot_b64(sig, SNAPSHOT_SIG_LEN)) == NULL)
		return err_sys(err, "malloc");
	if (atomic_open(&af, path, 0644, err) < 0)
		goto out;
	if (atomic_write(&af, SNAPSHOT_MAGIC, sizeof(SNAPSHOT_MAGIC) - 1,
			 err) < 0 ||
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
/*
 * snapshot_hasher - BLAKE2b of the body as it arrives in memory: the reader
 * publishes how far it has read (ready), the hasher follows on a thread of
 * its own, so a large body is hashed while it is still being read.
 */
struct snapshot_hasher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const unsigned char *buf;
	size_t ready, len;
	int stop;
	crypto_generichash_state st;
};

static void *snapshot_hasher_run(void *arg)
{
	struct snapshot_hasher *h = arg;
	size_t done = 0, upto;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (h->ready == done && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		upto = h->ready;
		pthread_mutex_unlock(&h->mu);
		if (upto == done)	/* stopped with nothing new */
			break;
		crypto_generichash_update(&h->st, h->buf + done, upto - done);
		done = upto;
		if (done == h->len)
			break;
	}
	return NULL;
}

/* snapshot_publish - tell the hasher that the body up to ready is in */
static void snapshot_publish(struct snapshot_hasher *h, size_t ready, int stop)
{
	pthread_mutex_lock(&h->mu);
	h->ready = ready;
	h->stop = stop;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/*
 * snapshot_prefault - map a large fresh buffer in with one call (huge pages
 * where the kernel has them) instead of a page fault per 4 KiB while
 * pread() fills it.  Advice only: failure is ignored.
 */
static void snapshot_prefault(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)4095;

	if (e <= a)
		return;
#ifdef MADV_HUGEPAGE
	(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#endif
}

/*
 * snapshot_read_body - read s->body_len octets at off into s->body and
 * their BLAKE2b-256 into s->body_hash; a large body is read in chunks and
 * hashed on a second thread behind the reader.
 */
static int snapshot_read_body(int fd, const char *path, struct snapshot *s,
			      off_t off, struct err *err)
{
	struct snapshot_hasher h;
	pthread_t th;
	size_t pos, n;
	int rc = 0, threaded;

	memset(&h, 0, sizeof(h));
	h.buf = (const unsigned char *)s->body;
	h.len = s->body_len;
	crypto_generichash_init(&h.st, NULL, 0, sizeof(s->body_hash));
	if (s->body_len < 2 * SNAPSHOT_CHUNK ||
	    pthread_mutex_init(&h.mu, NULL) != 0) {
		if (fileio_pread_exact(fd, path, s->body, s->body_len, off,
				       err) < 0)
			return -1;
		crypto_generichash_update(&h.st, h.buf, h.len);
		return crypto_generichash_final(&h.st, s->body_hash,
						sizeof(s->body_hash));
	}
	snapshot_prefault(s->body, s->body_len);
	pthread_cond_init(&h.cv, NULL);
	threaded = pthread_create(&th, NULL, snapshot_hasher_run, &h) == 0;
	for (pos = 0; pos < s->body_len; pos += n) {
		n = s->body_len - pos < SNAPSHOT_CHUNK ? s->body_len - pos :
							 SNAPSHOT_CHUNK;
		if (fileio_pread_exact(fd, path, s->body + pos, n,
				       off + (off_t)pos, err) < 0) {
			rc = -1;
			break;
		}
		if (threaded)
			snapshot_publish(&h, pos + n, 0);
	}
	if (threaded) {
		snapshot_publish(&h, pos, 1);
		pthread_join(th, NULL);
	} else if (rc == 0)
		crypto_generichash_update(&h.st, h.buf, h.len);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
	if (rc < 0)
		return -1;
	return crypto_generichash_final(&h.st, s->body_hash,
					sizeof(s->body_hash));
}

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
		err_set(err, "snapshot(%s): not a snapshot file (bad magic "
			"line)", path);
		goto out;
	}
	p = hdr + sizeof(SNAPSHOT_MAGIC) - 1;

	/* manifest line */
	mlen = (size_t)(end - p) < MANIFEST_MAX + 1 ? (size_t)(end - p) :
						       MANIFEST_MAX + 1;
	if ((nl = memchr(p, '\n', mlen)) == NULL) {
		if (mlen > MANIFEST_MAX)
			err_set(err, "snapshot(%s): manifest line over %d "
				"bytes", path, MANIFEST_MAX);
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
	if ((nl = memchr(p, '\n', (size_t)(end - p) < SNAPSHOT_SIG_B64 + 1 ?
				      (size_t)(end - p) :
				      SNAPSHOT_SIG_B64 + 1)) == NULL) {
		err_set(err, "snapshot(%s): truncated signature line", path);
		goto out;
	}
	if ((sig = snapshot_unb64(p, (size_t)(nl - p), &siglen, err)) ==
		    NULL ||
	    siglen != SNAPSHOT_SIG_LEN) {
		err_set(err, "snapshot(%s): signature line is not base64 of "
			"%d bytes", path, SNAPSHOT_SIG_LEN);
		goto out;
	}
	memcpy(s->sig, sig, SNAPSHOT_SIG_LEN);
	p = nl + 1;

	/* body: the rest of the file */
	hlen = (size_t)(p - hdr);
	if (size - hlen > max_body) {
		err_set(err, "snapshot(%s): body of %" PRIu64 " bytes is over "
			"the limit of %zu", path, size - hlen, max_body);
		goto out;
	}
	s->body_len = (size_t)(size - hlen);
	if (s->body_len > 0) {
		if ((s->body = malloc(s->body_len + 1)) == NULL) {
			err_sys(err, "malloc");
			goto out;
		}
		if (snapshot_read_body(fd, path, s, (off_t)hlen, err) < 0)
			goto out;
		s->body[s->body_len] = '\0';
	} else
		crypto_generichash(s->body_hash, sizeof(s->body_hash), NULL, 0,
				   NULL, 0);
	rc = 0;
out:
	if (rc < 0)
		snapshot_clear(s);
	free(sig);
	close(fd);
	return rc;
}
