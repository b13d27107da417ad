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
 * each temporary file is reopened with cdb_init() and read back before any
 * rename: the file size, every record's key and value in order, and every
 * hash table entry (each record reachable exactly as cdb_find() reaches
 * it), in sequential passes rather than one random lookup per record.  On
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
#include <sys/mman.h>
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
 * cdbw_hash - the CDB hash (h = 5381; h = (h + (h << 5)) ^ c), as
 * cdb_hash() computes it, inline: the check hashes every key.  A different
 * result could only make the check fail, never pass.
 */
static inline uint32_t cdbw_hash(const char *k, size_t len)
{
	const unsigned char *p = (const unsigned char *)k;
	uint32_t h = 5381;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h + (h << 5)) ^ p[i];
	return h;
}

/* cdbw_neq - the n octets differ (inline: short keys, and "OK" values) */
static inline int cdbw_neq(const unsigned char *a, const char *b, size_t n)
{
	uint64_t wa, wb;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&wa, a + i, 8);
		memcpy(&wb, b + i, 8);
		if (wa != wb)
			return 1;
	}
	for (; i < n; i++)
		if (a[i] != (unsigned char)b[i])
			return 1;
	return 0;
}

/*
 * cdbw_advise - transparent huge pages for the inside of a large buffer
 * (a million records' list is 16 MB of fresh memory; 4 KiB page faults cost
 * more than filling it).  Advice only: failure is ignored.
 */
static void cdbw_advise(void *p, size_t len)
{
	const uintptr_t huge = (uintptr_t)2 << 20;
	uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(huge - 1);

	if (len >= 2 * huge && e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

/* cdbw_u32 - a little-endian 32-bit field of the file */
static inline uint32_t cdbw_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * cdbw_probe - 0 when cdb_find() would reach the record rec (hash << 32 |
 * position) in this table: from its start slot, linear probing meets no
 * empty slot and no other entry of the same key before the record's own
 * entry, which carries its hash; -1 otherwise.
 */
static int cdbw_probe(const unsigned char *mem, uint64_t dend,
		      const unsigned char *tab, uint32_t nslots, uint64_t rec)
{
	uint32_t h = (uint32_t)(rec >> 32), rpos = (uint32_t)rec;
	uint32_t s, probes, spos, klen;

	s = (h >> 8) % nslots;
	for (probes = 0; probes < nslots; probes++) {
		spos = cdbw_u32(tab + 8 * (size_t)s + 4);
		if (spos == 0)
			return -1;
		if (spos == rpos)
			return cdbw_u32(tab + 8 * (size_t)s) == h ? 0 : -1;
		if (cdbw_u32(tab + 8 * (size_t)s) == h && spos < dend - 8) {
			/* rpos is a checked record; spos may be anything */
			klen = cdbw_u32(mem + rpos);
			if (cdbw_u32(mem + spos) == klen &&
			    (uint64_t)spos + 8 + klen <= dend &&
			    memcmp(mem + spos + 8, mem + rpos + 8, klen) == 0)
				return -1;
		}
		if (++s == nslots)
			s = 0;
	}
	return -1;
}

/*
 * cdbw_tables - the 256 hash tables of a file whose record area is
 * [2048, dend) and holds the records listed in rec (hash << 32 | position,
 * in file order): the tables follow the records back to back up to the end
 * of the file, and in each table the non-empty slots are exactly this
 * table's records, each with its hash, each reached from its start slot
 * ((hash >> 8) % slots) by linear probing with no empty slot on the way and
 * no earlier slot of the same key in between.  That is what cdb_find()
 * needs to find every record, checked table by table (each small enough to
 * stay in cache) instead of one random lookup per record.
 */
static int cdbw_tables(const unsigned char *mem, uint64_t fsize, uint64_t dend,
		       const uint64_t *rec, uint64_t *tmp, size_t nrec,
		       const char *name, struct err *err)
{
	size_t start[257], fill[256], i, t;
	uint64_t pos = dend;

	memset(start, 0, sizeof(start));
	for (i = 0; i < nrec; i++)
		start[((rec[i] >> 32) & 255) + 1]++;
	for (t = 0; t < 256; t++) {
		start[t + 1] += start[t];
		fill[t] = start[t];
	}
	for (i = 0; i < nrec; i++)
		tmp[fill[(rec[i] >> 32) & 255]++] = rec[i];

	for (t = 0; t < 256; t++) {
		uint32_t tpos = cdbw_u32(mem + 8 * t);
		uint32_t nslots = cdbw_u32(mem + 8 * t + 4);
		const unsigned char *tab = mem + tpos;
		size_t used = 0, s;

		if (tpos != pos || nslots > (fsize - pos) / 8)
			return err_set(err, "%s: hash table %zu at %u (%u slots), "
				       "expected at %llu", name, t, tpos, nslots,
				       (unsigned long long)pos);
		pos += 8ULL * nslots;
		for (s = 0; s < nslots; s++)
			used += cdbw_u32(tab + 8 * s + 4) != 0;
		if (used != start[t + 1] - start[t])
			return err_set(err, "%s: hash table %zu has %zu entries "
				       "for %zu records", name, t, used,
				       start[t + 1] - start[t]);
		for (i = start[t]; i < start[t + 1]; i++)
			if (cdbw_probe(mem, dend, tab, nslots, tmp[i]) < 0)
				return err_set(err, "%s: record at %u cannot be "
					       "found through hash table %zu",
					       name, (uint32_t)tmp[i], t);
	}
	if (pos != fsize)
		return err_set(err, "%s: hash tables end at %llu, file at %llu",
			       name, (unsigned long long)pos,
			       (unsigned long long)fsize);
	return 0;
}

/*
 * cdbw_check - the open CDB file fd holds exactly these records, in this
 * order, and cdb_find() finds each of them: the size matches, the record
 * area read sequentially is these keys and values byte for byte, and the
 * hash tables lead to every record (cdbw_tables).  name is for messages.
 */
static int cdbw_check(int fd, const char *name,
		      const struct state *const *states, size_t n,
		      enum cdbw_kind kind, struct err *err)
{
	struct cdb c;
	struct stat st;
	const unsigned char *mem;
	uint64_t want_size, want_records, pos, dend, *rec = NULL;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen, nrec = 0;
	int inited = 0, rc = -1;

	want_size = cdbw_size(states, n, kind, &want_records);
	if (fstat(fd, &st) < 0) {
		err_sys(err, "fstat(%s)", name);
		goto out;
	}
	if (want_size > CDBW_LIMIT) {
		err_set(err, "%s: over the CDB format's limit", name);
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
	/*
	 * The size matched, so it is at least the 2048-octet header; the
	 * mapping must be exactly that size (the file may not have changed
	 * since fstat).
	 */
	mem = cdb_get(&c, (unsigned)want_size, 0);
	if (mem == NULL || cdb_get(&c, 1, (unsigned)want_size) != NULL) {
		err_set(err, "%s: cannot map the file", name);
		goto out;
	}
#ifdef MADV_POPULATE_READ
	/* one call maps the whole file in, not a page fault per few pages */
	(void)madvise((void *)mem, (size_t)want_size, MADV_POPULATE_READ);
#endif
	dend = cdbw_u32(mem);
	if (dend < CDBW_HEADER || dend > want_size) {
		err_set(err, "%s: corrupt header", name);
		goto out;
	}
	rec = malloc(2 * (want_records ? want_records : 1) * sizeof(*rec));
	if (rec != NULL)
		cdbw_advise(rec, 2 * want_records * sizeof(*rec));
	if (rec == NULL) {
		err_set(err, "%s: out of memory (%llu records)", name,
			(unsigned long long)want_records);
		goto out;
	}
	pos = CDBW_HEADER;
	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			if (dend - pos < 8 || cdbw_u32(mem + pos) != klen ||
			    cdbw_u32(mem + pos + 4) != vlen ||
			    dend - pos - 8 < (uint64_t)klen + vlen ||
			    cdbw_neq(mem + pos + 8, k, klen) ||
			    cdbw_neq(mem + pos + 8 + klen, v, vlen)) {
				err_set(err, "%s: record %.*s missing or wrong",
					name, (int)(klen > 256 ? 256 : klen),
					k);
				goto out;
			}
			rec[nrec++] = (uint64_t)cdbw_hash(k, klen) << 32 |
				      pos;
			pos += 8 + klen + vlen;
		}
	}
	if (pos != dend) {
		err_set(err, "%s: %llu octets after the last record", name,
			(unsigned long long)(dend - pos));
		goto out;
	}
	if (cdbw_tables(mem, want_size, dend, rec, rec + nrec, nrec, name,
			err) < 0)
		goto out;
	rc = 0;
out:
	free(rec);
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
