/*
 * journal - the deltas installed since an origin's state was written whole
 *
 * Fails with "journal(path): reason".  Security: an entry changes the
 * state only as a push would: its signature (when the key is trusted), its
 * base and its result hash are checked before its state replaces the old.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/atomic.h"
#include "../formats/delta.h"
#include "../formats/fileio.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../keys/key.h"
#include "journal.h"

#define JOURNAL_MAGIC "mxsync-journal "

int journal_path(char *buf, size_t size, const char *dir, const char *origin,
		 struct err *err)
{
	int n = snprintf(buf, size, "%s/origin-%s" JOURNAL_SUFFIX, dir, origin);

	if (n < 0 || (size_t)n >= size)
		return err_set(err, "%s: path too long", dir);
	return 0;
}

/*
 * journal_entry - apply the entry at p (n octets left) to o; *used_r is its
 * length.  Returns 1 applied, 0 skipped (at or below o's serial), -1 bad,
 * -2 cut short.
 */
static int journal_entry(const char *p, size_t n, struct store_origin *o,
			 const struct trust *trust, size_t *used_r,
			 struct err *err)
{
	const struct trust_key *k;
	struct manifest m;
	struct state *st = NULL;
	unsigned char *sig = NULL;
	const char *nl, *man, *sig64, *body;
	unsigned long long mlen, blen;
	size_t hlen, siglen, slen;
	char *json = NULL, hdr[64];
	int rc = -1;

	*used_r = n; /* a bad header: nothing after it can be read */
	nl = memchr(p, '\n', n < sizeof(hdr) ? n : sizeof(hdr));
	if (nl == NULL)
		return n < sizeof(hdr) ? -2 : err_set(err, "bad entry header");
	hlen = (size_t)(nl - p) + 1;
	memcpy(hdr, p, hlen - 1);
	hdr[hlen - 1] = '\0';
	if (strncmp(hdr, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0 ||
	    sscanf(hdr + strlen(JOURNAL_MAGIC), "%llu %llu", &mlen, &blen) !=
		2 ||
	    mlen == 0 || mlen > MANIFEST_MAX || blen > n)
		return blen > n ? -2 : err_set(err, "bad entry header");
	if (n - hlen < mlen + 1)
		return -2;
	man = p + hlen;
	sig64 = man + mlen + 1;
	nl = memchr(sig64, '\n', n - hlen - mlen - 1);
	if (nl == NULL)
		return -2;
	slen = (size_t)(nl - sig64);
	body = nl + 1;
	if ((size_t)(p + n - body) < blen)
		return -2;
	*used_r = (size_t)(body - p) + (size_t)blen;
	if (man[mlen] != '\n' ||
	    manifest_decode(&m, man, (size_t)mlen, err) < 0)
		goto out;
	if (strcmp(m.origin, o->m.origin) != 0 || m.kind != MANIFEST_DELTA) {
		err_set(err, "entry of origin %s is not a delta of %s",
			m.origin, o->m.origin);
		goto out;
	}
	if (m.serial <= o->m.serial) {
		rc = 0;
		goto out;
	}
	if (m.base_serial != o->m.serial ||
	    memcmp(m.base_hash, o->m.state_hash, STATE_HASH_LEN) != 0) {
		err_set(err,
			"entry serial %" PRIu64 " does not follow serial "
			"%" PRIu64,
			m.serial, o->m.serial);
		goto out;
	}
	sig = snapshot_unb64(sig64, slen, &siglen, err);
	if (sig == NULL)
		goto out;
	if (siglen != SNAPSHOT_SIG_LEN) {
		err_set(err, "entry serial %" PRIu64 ": bad signature length",
			m.serial);
		goto out;
	}
	k = trust != NULL ? trust_find(trust, m.key_id) : NULL;
	if (k != NULL && key_verify(k->pk, man, (size_t)mlen, sig, err) < 0) {
		err_prefix(err, "entry serial %" PRIu64 ": bad signature",
			   m.serial);
		goto out;
	}
	st = delta_apply_version(o->st, NULL, body, (size_t)blen, m.state_hash,
				 m.version, 0, err);
	if (st == NULL) {
		err_prefix(err, "entry serial %" PRIu64, m.serial);
		goto out;
	}
	if (state_domain_count(st) != m.domains ||
	    state_recipient_count(st) != m.recipients) {
		err_set(err, "entry serial %" PRIu64 ": counts do not match",
			m.serial);
		goto out;
	}
	if ((json = malloc((size_t)mlen + 1)) == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	memcpy(json, man, (size_t)mlen);
	json[mlen] = '\0';
	free(o->manifest);
	o->manifest = json;
	o->manifest_len = (size_t)mlen;
	json = NULL;
	o->m = m;
	memcpy(o->sig, sig, SNAPSHOT_SIG_LEN);
	state_free(o->st);
	o->st = st;
	st = NULL;
	free(o->sel);
	o->sel = NULL;
	rc = 1;
out:
	free(json);
	free(sig);
	state_free(st);
	return rc;
}

int journal_replay(const char *dir, struct store_origin *o,
		   const struct trust *trust, struct err *err)
{
	char path[4096], *buf = NULL;
	size_t len = 0, pos = 0, used;
	struct err e2;
	int k, rc = -1;

	o->journal_len = 0;
	o->journal_n = 0;
	if (journal_path(path, sizeof(path), dir, o->m.origin, err) < 0)
		return -1;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (fileio_read_all(path, (size_t)-1 / 2, &buf, &len, err) < 0)
		return -1;
	while (pos < len) {
		k = journal_entry(buf + pos, len - pos, o, trust, &used, &e2);
		if (k == -2)
			break;
		if (k == -1) {
			/* the last entry: what a crash during an append left */
			if (pos + used >= len)
				break;
			err_set(err, "journal(%s): at octet %zu: %s", path, pos,
				e2.msg);
			goto out;
		}
		pos += used;
		o->journal_n++;
	}
	o->journal_len = pos;
	rc = 0;
out:
	free(buf);
	return rc;
}

int journal_append(const char *dir, struct store_origin *o, uint64_t prev_len,
		   unsigned prev_n, const char *body, size_t len,
		   struct err *err)
{
	char path[4096], hdr[64], *sig64 = NULL;
	struct {
		const void *p;
		size_t n;
	} v[5];
	uint64_t off = prev_len;
	int fd = -1, created, i, rc = -1;
	struct stat sb;
	ssize_t w;

	if (journal_path(path, sizeof(path), dir, o->m.origin, err) < 0)
		return -1;
	if ((sig64 = snapshot_b64(o->sig, SNAPSHOT_SIG_LEN)) == NULL)
		return err_sys(err, "malloc");
	created = stat(path, &sb) < 0;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_sys(err, "open(%s)", path);
		goto out;
	}
	/* whatever a crash left after the last good entry goes */
	if (ftruncate(fd, (off_t)prev_len) < 0) {
		err_sys(err, "ftruncate(%s)", path);
		goto out;
	}
	snprintf(hdr, sizeof(hdr), JOURNAL_MAGIC "%zu %zu\n", o->manifest_len,
		 len);
	v[0].p = hdr;
	v[0].n = strlen(hdr);
	v[1].p = o->manifest;
	v[1].n = o->manifest_len;
	v[2].p = "\n";
	v[2].n = 1;
	v[3].p = sig64;
	v[3].n = strlen(sig64);
	v[4].p = "\n";
	v[4].n = 1;
	for (i = 0; i < 6; i++) {
		const char *p = i < 5 ? v[i].p : body;
		size_t n = i < 5 ? v[i].n : len;

		while (n > 0) {
			w = pwrite(fd, p, n, (off_t)off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				err_sys(err, "write(%s)", path);
				goto out;
			}
			p += w;
			n -= (size_t)w;
			off += (uint64_t)w;
		}
	}
	if (fdatasync(fd) < 0) {
		err_sys(err, "fdatasync(%s)", path);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(err, "close(%s)", path);
		goto out;
	}
	fd = -1;
	if (created && atomic_fsync_dir(path, err) < 0)
		goto out;
	o->journal_len = off;
	o->journal_n = prev_n + 1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(sig64);
	return rc;
}

int journal_remove(const char *dir, const char *origin, struct err *err)
{
	char path[4096];

	if (journal_path(path, sizeof(path), dir, origin, err) < 0)
		return -1;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(err, "unlink(%s)", path);
	}
	return atomic_fsync_dir(path, err);
}

int journal_due(const struct store_origin *prev, size_t len)
{
	uint64_t cap = state_text_size(prev->st) / 8;

	if (cap < (1u << 20))
		cap = 1u << 20;
	return prev->journal_n + 1 > JOURNAL_MAX_N ||
	       prev->journal_len + len > cap;
}
