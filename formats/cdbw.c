/*
 * cdbw - build, validate and install the three Postfix CDB maps
 *
 * Owns relay_domains.cdb, relay_recipients.cdb and transport.cdb.  Records
 * go in with tinycdb's cdb_make_add() in canonical order (the states are
 * de-duplicated already, so no duplicate check is needed, and the bytes are
 * those of "postmap cdb:" for the same records).  Keys carry no trailing NUL
 * and no value is ever empty ("OK", or the domain's nexthop).
 *
 * Failure: the format's 4 GiB limit is checked before anything is written;
 * each temporary file is reopened with cdb_init() and every record looked
 * up (and the record count and file size compared) before any rename.  On
 * any failure before the renames every temporary file is removed and the
 * live maps are untouched; a rename that fails leaves each map whole (old or
 * new), which is safe because every recipient's domain is in its own
 * generation's domain set.
 *
 * Security: a corrupt or truncated map makes Postfix's smtpd die, so a map
 * is renamed into place only after the full validation above.  The files are
 * created 0644 and never hard-linked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cdb.h>

#include "atomic.h"
#include "cdbw.h"

enum cdbw_kind { CDBW_K_DOMAINS, CDBW_K_RECIPIENTS, CDBW_K_TRANSPORT, CDBW_NMAPS };

static const char *const cdbw_names[CDBW_NMAPS] = {
	CDBW_RELAY_DOMAINS, CDBW_RELAY_RECIPIENTS, CDBW_TRANSPORT,
};

#define CDBW_OK "OK"
#define CDBW_OK_LEN 2
#define CDBW_HEADER 2048ULL

/* cdbw_count - records of one state in a map of this kind */
static size_t cdbw_count(const struct state *st, enum cdbw_kind kind)
{
	return kind == CDBW_K_RECIPIENTS ? state_recipient_count(st) :
					 state_domain_count(st);
}

/* cdbw_record - key and value of record i of one state */
static void cdbw_record(const struct state *st, enum cdbw_kind kind,
			size_t i, const char **k, size_t *klen,
			const char **v, size_t *vlen)
{
	if (kind == CDBW_K_RECIPIENTS) {
		state_recipient(st, i, k, klen);
		*v = CDBW_OK;
		*vlen = CDBW_OK_LEN;
	} else if (kind == CDBW_K_DOMAINS) {
		const char *nh;
		size_t nlen;

		state_domain(st, i, k, klen, &nh, &nlen);
		*v = CDBW_OK;
		*vlen = CDBW_OK_LEN;
	} else {
		state_domain(st, i, k, klen, v, vlen);
	}
}

/* cdbw_size - file size of one map: 2048 + sum(8 + k + v) + 16 * N */
static uint64_t cdbw_size(const struct state *const *states, size_t n,
			  enum cdbw_kind kind, uint64_t *records_r)
{
	uint64_t size = CDBW_HEADER, records = 0;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;

	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			size += 8 + 16 + (uint64_t)klen + vlen;
		}
		records += cnt;
	}
	if (records_r)
		*records_r = records;
	return size;
}

void cdbw_sizes(const struct state *const *states, size_t n,
		uint64_t *domains_r, uint64_t *recipients_r,
		uint64_t *transport_r)
{
	if (domains_r)
		*domains_r = cdbw_size(states, n, CDBW_K_DOMAINS, NULL);
	if (recipients_r)
		*recipients_r = cdbw_size(states, n, CDBW_K_RECIPIENTS, NULL);
	if (transport_r)
		*transport_r = cdbw_size(states, n, CDBW_K_TRANSPORT, NULL);
}

/*
 * cdbw_check - the open CDB file fd holds exactly these records: the size
 * and record count match and every key is found with its value.  name is
 * for messages.
 */
static int cdbw_check(int fd, const char *name,
		      const struct state *const *states, size_t n,
		      enum cdbw_kind kind, struct err *err)
{
	struct cdb c;
	struct stat st;
	unsigned pos;
	uint64_t want_size, want_records, got = 0;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;
	int inited = 0, rc = -1, r;

	want_size = cdbw_size(states, n, kind, &want_records);
	if (fstat(fd, &st) < 0) {
		err_sys(err, "fstat(%s)", name);
		goto out;
	}
	if ((uint64_t)st.st_size != want_size) {
		err_set(err, "%s: %llu bytes, expected %llu", name,
			(unsigned long long)st.st_size,
			(unsigned long long)want_size);
		goto out;
	}
	if (cdb_init(&c, fd) < 0) {
		err_sys(err, "cdb_init(%s)", name);
		goto out;
	}
	inited = 1;
	cdb_seqinit(&pos, &c);
	while ((r = cdb_seqnext(&pos, &c)) > 0)
		got++;
	if (r < 0) {
		err_set(err, "%s: corrupt record list", name);
		goto out;
	}
	if (got != want_records) {
		err_set(err, "%s: %llu records, expected %llu", name,
			(unsigned long long)got,
			(unsigned long long)want_records);
		goto out;
	}
	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			r = cdb_find(&c, k, (unsigned)klen);
			if (r < 0) {
				err_set(err, "%s: corrupt hash table", name);
				goto out;
			}
			if (r == 0 || cdb_datalen(&c) != vlen ||
			    memcmp(cdb_get(&c, (unsigned)vlen, cdb_datapos(&c)),
				   v, vlen) != 0) {
				err_set(err, "%s: record %.*s missing or wrong",
					name, (int)(klen > 256 ? 256 : klen),
					k);
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (inited)
		cdb_free(&c);
	return rc;
}

/* cdbw_build - write one map to af's temporary file and validate it */
static int cdbw_build(struct atomic_file *af, const struct state *const *states,
		      size_t n, enum cdbw_kind kind, struct err *err)
{
	struct cdb_make cm;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;
	int started = 0, rc = -1;

	if (cdb_make_start(&cm, af->fd) < 0) {
		err_sys(err, "cdb_make_start(%s)", af->tmp);
		goto out;
	}
	started = 1;
	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			if (cdb_make_add(&cm, k, (unsigned)klen, v,
					 (unsigned)vlen) < 0) {
				err_sys(err, "write(%s)", af->tmp);
				goto out;
			}
		}
	}
	started = 0;
	if (cdb_make_finish(&cm) < 0) {
		err_sys(err, "write(%s)", af->tmp);
		goto out;
	}
	if (cdbw_check(af->fd, af->tmp, states, n, kind, err) < 0)
		goto out;
	rc = 0;
out:
	/*
	 * tinycdb frees its record lists only in cdb_make_finish(); after a
	 * failed add call it for that alone (the temp file is discarded).
	 */
	if (started)
		(void)cdb_make_finish(&cm);
	return rc;
}

int cdbw_install(const struct state *const *states, size_t n,
		 const char *dir, uint64_t limit, struct err *err)
{
	struct atomic_file af[CDBW_NMAPS];
	char path[4096];
	uint64_t size;
	int m, k, rc = -1;

	for (m = 0; m < CDBW_NMAPS; m++)
		af[m] = (struct atomic_file){ -1, NULL, NULL };

	/* the format's limit, before anything is written */
	for (m = 0; m < CDBW_NMAPS; m++) {
		size = cdbw_size(states, n, (enum cdbw_kind)m, NULL);
		if (size > limit) {
			err_set(err, "%s.cdb would be %llu bytes, over the CDB "
				"format's limit of %llu", cdbw_names[m],
				(unsigned long long)size,
				(unsigned long long)limit);
			goto out;
		}
	}
	for (m = 0; m < CDBW_NMAPS; m++) {
		k = snprintf(path, sizeof(path), "%s/%s.cdb", dir,
			     cdbw_names[m]);
		if (k < 0 || (size_t)k >= sizeof(path)) {
			err_set(err, "%s: directory name too long", dir);
			goto out;
		}
		if (atomic_open(&af[m], path, 0644, err) < 0 ||
		    cdbw_build(&af[m], states, n, (enum cdbw_kind)m, err) < 0 ||
		    atomic_sync(&af[m], err) < 0)
			goto out;
	}
	/* all three built, validated and on disk: now replace the live ones */
	for (m = 0; m < CDBW_NMAPS; m++)
		if (atomic_commit(&af[m], err) < 0)
			goto out;
	rc = 0;
out:
	for (m = 0; m < CDBW_NMAPS; m++)
		atomic_abort(&af[m]);
	return rc;
}

int cdbw_verify(const struct state *const *states, size_t n,
		const char *dir, struct err *err)
{
	char path[4096];
	int m, k, fd;

	for (m = 0; m < CDBW_NMAPS; m++) {
		k = snprintf(path, sizeof(path), "%s/%s.cdb", dir,
			     cdbw_names[m]);
		if (k < 0 || (size_t)k >= sizeof(path))
			return err_set(err, "%s: directory name too long", dir);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return err_sys(err, "open(%s)", path);
		k = cdbw_check(fd, path, states, n, (enum cdbw_kind)m, err);
		close(fd);
		if (k < 0)
			return -1;
	}
	return 0;
}
