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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cdb.h>

#include "atomic.h"
#include "cdbw.h"
#include "mem.h"

enum cdbw_kind { CDBW_K_DOMAINS, CDBW_K_RECIPIENTS, CDBW_K_TRANSPORT, CDBW_NMAPS };

static const char *const cdbw_names[CDBW_NMAPS] = {
	CDBW_RELAY_DOMAINS, CDBW_RELAY_RECIPIENTS, CDBW_TRANSPORT,
};

/*
 * The order of the renames: transport, relay_recipients, relay_domains.  A
 * new domain is relayed only once its route and its recipients are in
 * place, so a crash between two renames never lets a new domain accept
 * mail without its transport.
 */
static const int cdbw_rename_order[CDBW_NMAPS] = {
	CDBW_K_TRANSPORT, CDBW_K_RECIPIENTS, CDBW_K_DOMAINS,
};

#define CDBW_OK "OK"
#define CDBW_OK_LEN 2
#define CDBW_HEADER 2048ULL
/* a map of this many records is built and checked on two threads */
#define CDBW_THREAD_MIN 65536
/* octets written between two starts of writeback */
#define CDBW_WRITEBACK (8ULL << 20)

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
 * cdbw_expect - what one map must hold, from the states alone: the file
 * size, the end of the record area, and every record as hash << 32 |
 * position, in file order (rec) and grouped by hash table (tab, table t's
 * records at tab[start[t]] .. tab[start[t + 1] - 1]).  Filled while the
 * file is being written, on the second core for a large map.
 */
struct cdbw_expect {
	const struct state *const *states;
	size_t n;
	enum cdbw_kind kind;
	uint64_t size, dend;
	uint64_t *rec, *tab;
	size_t nrec;
	size_t start[257];
};

static void cdbw_expect_free(struct cdbw_expect *e)
{
	free(e->rec);
	e->rec = e->tab = NULL;
}

/* cdbw_expect_init - sizes only (a cheap pass); 0, or -1 when over limit */
static int cdbw_expect_init(struct cdbw_expect *e,
			    const struct state *const *states, size_t n,
			    enum cdbw_kind kind, uint64_t limit, const char *name,
			    struct err *err)
{
	uint64_t records;

	memset(e, 0, sizeof(*e));
	e->states = states;
	e->n = n;
	e->kind = kind;
	e->size = cdbw_size(states, n, kind, &records);
	e->nrec = (size_t)records;
	e->dend = e->size - 16 * records;
	if (e->size > limit)
		return err_set(err, "%s would be %llu bytes, over the CDB "
			       "format's limit of %llu", name,
			       (unsigned long long)e->size,
			       (unsigned long long)limit);
	return 0;
}

/* cdbw_expect_fill - the record lists (positions fit: the size was checked) */
static int cdbw_expect_fill(struct cdbw_expect *e, const char *name,
			    struct err *err)
{
	const char *k, *v;
	size_t s, i, cnt, klen, vlen, g = 0, t, fill[256];
	uint64_t pos = CDBW_HEADER;

	e->rec = malloc(2 * (e->nrec ? e->nrec : 1) * sizeof(*e->rec));
	if (e->rec == NULL)
		return err_set(err, "%s: out of memory (%zu records)", name,
			       e->nrec);
	mem_huge(e->rec, 2 * e->nrec * sizeof(*e->rec));
	e->tab = e->rec + e->nrec;
	memset(e->start, 0, sizeof(e->start));
	for (s = 0; s < e->n; s++) {
		cnt = cdbw_count(e->states[s], e->kind);
		for (i = 0; i < cnt; i++, g++) {
			uint32_t h;

			cdbw_record(e->states[s], e->kind, i, &k, &klen, &v,
				    &vlen);
			h = cdbw_hash(k, klen);
			e->rec[g] = (uint64_t)h << 32 | pos;
			e->start[(h & 255) + 1]++;
			pos += 8 + klen + vlen;
		}
	}
	for (t = 0; t < 256; t++) {
		e->start[t + 1] += e->start[t];
		fill[t] = e->start[t];
	}
	for (g = 0; g < e->nrec; g++)
		e->tab[fill[(e->rec[g] >> 32) & 255]++] = e->rec[g];
	return 0;
}

/*
 * cdbw_part - one share of a check: records [g0, g1) read back and compared
 * with the states, or hash tables [t0, t1) checked; run on the calling
 * thread or a second one.
 */
struct cdbw_part {
	const struct cdbw_expect *e;
	const unsigned char *mem;
	const char *name;
	size_t g0, g1, t0, t1;
	int tables;
	pthread_t th;
	int threaded, rc;
	struct err err;
};

/* cdbw_records - records [g0, g1) are at their places, byte for byte */
static int cdbw_records(struct cdbw_part *pt)
{
	const struct cdbw_expect *e = pt->e;
	const unsigned char *mem = pt->mem;
	const char *k, *v;
	size_t s = 0, i = pt->g0, g, klen, vlen, cnt;
	uint64_t pos;

	while (s < e->n && i >= (cnt = cdbw_count(e->states[s], e->kind))) {
		i -= cnt;
		s++;
	}
	/* one call maps the share in, not a page fault per few pages */
	if (pt->g1 > pt->g0)
		mem_populate(mem + (uint32_t)e->rec[pt->g0],
			     (pt->g1 < e->nrec ? (uint32_t)e->rec[pt->g1]
					       : e->dend) -
				     (uint32_t)e->rec[pt->g0],
			     0);
	for (g = pt->g0; g < pt->g1; g++, i++) {
		while (i >= cdbw_count(e->states[s], e->kind)) {
			s++;
			i = 0;
		}
		cdbw_record(e->states[s], e->kind, i, &k, &klen, &v, &vlen);
		pos = (uint32_t)e->rec[g];
		if (e->dend - pos < 8 || cdbw_u32(mem + pos) != klen ||
		    cdbw_u32(mem + pos + 4) != vlen ||
		    e->dend - pos - 8 < (uint64_t)klen + vlen ||
		    cdbw_neq(mem + pos + 8, k, klen) ||
		    cdbw_neq(mem + pos + 8 + klen, v, vlen))
			return err_set(&pt->err, "%s: record %.*s missing or "
				       "wrong", pt->name,
				       (int)(klen > 256 ? 256 : klen), k);
	}
	return 0;
}

/*
 * cdbw_tables - hash tables [t0, t1), whose places the header walk checked:
 * in each, the non-empty slots are exactly this table's records, each with
 * its hash, each reached from its start slot ((hash >> 8) % slots) by
 * linear probing with no empty slot on the way and no earlier slot of the
 * same key in between.  That is what cdb_find() needs to find every record,
 * checked table by table (each small enough to stay in cache) instead of
 * one random lookup per record.  The records were checked before.
 */
static int cdbw_tables(struct cdbw_part *pt)
{
	const struct cdbw_expect *e = pt->e;
	const unsigned char *mem = pt->mem;
	size_t i, t;

	for (t = pt->t0; t < pt->t1; t++) {
		uint32_t tpos = cdbw_u32(mem + 8 * t);
		uint32_t nslots = cdbw_u32(mem + 8 * t + 4);
		const unsigned char *tab = mem + tpos;
		size_t used = 0, s;

		for (s = 0; s < nslots; s++)
			used += cdbw_u32(tab + 8 * s + 4) != 0;
		if (used != e->start[t + 1] - e->start[t])
			return err_set(&pt->err, "%s: hash table %zu has %zu "
				       "entries for %zu records", pt->name, t,
				       used, e->start[t + 1] - e->start[t]);
		for (i = e->start[t]; i < e->start[t + 1]; i++)
			if (cdbw_probe(mem, e->dend, tab, nslots,
				       e->tab[i]) < 0)
				return err_set(&pt->err, "%s: record at %u "
					       "cannot be found through hash "
					       "table %zu", pt->name,
					       (uint32_t)e->tab[i], t);
	}
	return 0;
}

static void *cdbw_part_run(void *arg)
{
	struct cdbw_part *pt = arg;

	pt->rc = pt->tables ? cdbw_tables(pt) : cdbw_records(pt);
	return NULL;
}

/*
 * cdbw_halves - run a check in two shares, the second on its own thread
 * when the map is large; the first failure in file order is reported.
 */
static int cdbw_halves(struct cdbw_part pt[2], struct err *err)
{
	int i;

	pt[1].threaded = pt[1].e->nrec >= CDBW_THREAD_MIN &&
			 pthread_create(&pt[1].th, NULL, cdbw_part_run,
					&pt[1]) == 0;
	cdbw_part_run(&pt[0]);
	if (pt[1].threaded)
		pthread_join(pt[1].th, NULL);
	else
		cdbw_part_run(&pt[1]);
	for (i = 0; i < 2; i++)
		if (pt[i].rc < 0) {
			*err = pt[i].err;
			return -1;
		}
	return 0;
}

/*
 * cdbw_check - the open CDB file fd holds exactly the expected records, in
 * this order, and cdb_find() finds each of them: the size matches, the
 * record area read back is these keys and values byte for byte, the hash
 * tables follow the records back to back up to the end of the file, and
 * they lead to every record (cdbw_tables).  name is for messages.
 */
static int cdbw_check(int fd, const char *name, const struct cdbw_expect *e,
		      struct err *err)
{
	struct cdb c;
	struct stat st;
	struct cdbw_part pt[2];
	const unsigned char *mem;
	uint64_t pos, dend;
	size_t t;
	int inited = 0, rc = -1;

	if (fstat(fd, &st) < 0) {
		err_sys(err, "fstat(%s)", name);
		goto out;
	}
	if ((uint64_t)st.st_size != e->size) {
		err_set(err, "%s: %llu bytes, expected %llu", name,
			(unsigned long long)st.st_size,
			(unsigned long long)e->size);
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
	mem = cdb_get(&c, (unsigned)e->size, 0);
	if (mem == NULL || cdb_get(&c, 1, (unsigned)e->size) != NULL) {
		err_set(err, "%s: cannot map the file", name);
		goto out;
	}
	dend = cdbw_u32(mem);
	if (dend != e->dend) {
		if (dend > e->dend && dend <= e->size)
			err_set(err, "%s: %llu octets after the last record",
				name, (unsigned long long)(dend - e->dend));
		else
			err_set(err, "%s: corrupt header", name);
		goto out;
	}
	memset(pt, 0, sizeof(pt));
	pt[0].e = pt[1].e = e;
	pt[0].mem = pt[1].mem = mem;
	pt[0].name = pt[1].name = name;
	pt[0].g1 = pt[1].g0 = e->nrec / 2;
	pt[1].g1 = e->nrec;
	if (cdbw_halves(pt, err) < 0)
		goto out;
	/* the tables' places: back to back after the records, to the end */
	for (t = 0, pos = dend; t < 256; t++) {
		uint32_t tpos = cdbw_u32(mem + 8 * t);
		uint32_t nslots = cdbw_u32(mem + 8 * t + 4);

		if (tpos != pos || nslots > (e->size - pos) / 8) {
			err_set(err, "%s: hash table %zu at %u (%u slots), "
				"expected at %llu", name, t, tpos, nslots,
				(unsigned long long)pos);
			goto out;
		}
		pos += 8ULL * nslots;
	}
	if (pos != e->size) {
		err_set(err, "%s: hash tables end at %llu, file at %llu",
			name, (unsigned long long)pos,
			(unsigned long long)e->size);
		goto out;
	}
	pt[0].tables = pt[1].tables = 1;
	pt[0].t1 = pt[1].t0 = 128;
	pt[1].t1 = 256;
	if (cdbw_halves(pt, err) < 0)
		goto out;
	rc = 0;
out:
	if (inited)
		cdb_free(&c);
	return rc;
}

/* cdbw_filler - cdbw_expect_fill on a thread of its own */
struct cdbw_filler {
	struct cdbw_expect *e;
	const char *name;
	pthread_t th;
	int threaded, rc;
	struct err err;
};

static void *cdbw_filler_run(void *arg)
{
	struct cdbw_filler *f = arg;

	f->rc = cdbw_expect_fill(f->e, f->name, &f->err);
	return NULL;
}

/*
 * cdbw_build - write one map to af's temporary file and validate it; for a
 * large map the expected records are listed on a second thread meanwhile
 */
static int cdbw_build(struct atomic_file *af, struct cdbw_expect *e,
		      struct err *err)
{
	struct cdbw_filler f = { e, af->tmp, 0, 0, -1, { "" } };
	struct cdb_make cm;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;
	uint64_t wpos = CDBW_HEADER, kicked = 0;
	int started = 0, rc = -1;

	f.threaded = e->nrec >= CDBW_THREAD_MIN &&
		     pthread_create(&f.th, NULL, cdbw_filler_run, &f) == 0;
	if (!f.threaded)
		cdbw_filler_run(&f);
	if (cdb_make_start(&cm, af->fd) < 0) {
		err_sys(err, "cdb_make_start(%s)", af->tmp);
		goto out;
	}
	started = 1;
	for (s = 0; s < e->n; s++) {
		cnt = cdbw_count(e->states[s], e->kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(e->states[s], e->kind, i, &k, &klen, &v,
				    &vlen);
			if (cdb_make_add(&cm, k, (unsigned)klen, v,
					 (unsigned)vlen) < 0) {
				err_sys(err, "write(%s)", af->tmp);
				goto out;
			}
			/*
			 * Start writing back what is written so far: the
			 * disk works while records are added and checked,
			 * and the fsync before the rename waits less.
			 */
			wpos += 8 + klen + vlen;
			if (wpos - kicked >= CDBW_WRITEBACK) {
				(void)sync_file_range(af->fd, (off_t)kicked,
						      (off_t)(wpos - kicked),
						      SYNC_FILE_RANGE_WRITE);
				kicked = wpos;
			}
		}
	}
	started = 0;
	if (cdb_make_finish(&cm) < 0) {
		err_sys(err, "write(%s)", af->tmp);
		goto out;
	}
	if (kicked > 0)
		(void)sync_file_range(af->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (f.threaded) {
		pthread_join(f.th, NULL);
		f.threaded = 0;
	}
	if (f.rc < 0) {
		*err = f.err;
		goto out;
	}
	if (cdbw_check(af->fd, af->tmp, e, err) < 0)
		goto out;
	rc = 0;
out:
	/*
	 * tinycdb frees its record lists only in cdb_make_finish(); after a
	 * failed add call it for that alone (the temp file is discarded).
	 */
	if (started)
		(void)cdb_make_finish(&cm);
	if (f.threaded)
		pthread_join(f.th, NULL);
	return rc;
}

/* cdbw_path - dir/NAME.cdb into buf */
static int cdbw_path(char *buf, size_t size, const char *dir, int m,
		     struct err *err)
{
	int k = snprintf(buf, size, "%s/%s.cdb", dir, cdbw_names[m]);

	if (k < 0 || (size_t)k >= size)
		return err_set(err, "%s: directory name too long", dir);
	return 0;
}

/*
 * cdbw_one - build, validate and sync map m in af[m]; cdbw_small - the two
 * domain maps (small) on a thread of their own while the recipient map is
 * built
 */
struct cdbw_small {
	struct atomic_file *af;
	struct cdbw_expect *e;
	const char *dir;
	pthread_t th;
	int threaded, rc, failed;	/* failed: the map that failed */
	struct err err;
};

static int cdbw_one(struct atomic_file *af, struct cdbw_expect *e,
		    const char *dir, int m, struct err *err)
{
	char path[4096];

	if (cdbw_path(path, sizeof(path), dir, m, err) < 0 ||
	    atomic_open(&af[m], path, 0644, err) < 0 ||
	    cdbw_build(&af[m], &e[m], err) < 0 ||
	    atomic_sync(&af[m], err) < 0)
		return -1;
	cdbw_expect_free(&e[m]);
	return 0;
}

static void *cdbw_small_run(void *arg)
{
	struct cdbw_small *w = arg;

	w->failed = CDBW_K_DOMAINS;
	w->rc = cdbw_one(w->af, w->e, w->dir, CDBW_K_DOMAINS, &w->err);
	if (w->rc == 0) {
		w->failed = CDBW_K_TRANSPORT;
		w->rc = cdbw_one(w->af, w->e, w->dir, CDBW_K_TRANSPORT,
				 &w->err);
	}
	return NULL;
}

int cdbw_install(const struct state *const *states, size_t n,
		 const char *dir, uint64_t limit, struct err *err)
{
	return cdbw_install_gated(states, n, dir, limit, NULL, NULL, err);
}

int cdbw_install_gated(const struct state *const *states, size_t n,
		       const char *dir, uint64_t limit,
		       int (*gate)(void *arg, struct err *err), void *arg,
		       struct err *err)
{
	struct atomic_file af[CDBW_NMAPS];
	struct cdbw_expect e[CDBW_NMAPS];
	struct cdbw_small w;
	char name[64];
	int m, rc = -1, rrc;
	struct err rerr;

	memset(e, 0, sizeof(e));
	for (m = 0; m < CDBW_NMAPS; m++)
		af[m] = (struct atomic_file){ -1, NULL, NULL };

	/* the format's limit, before anything is written */
	for (m = 0; m < CDBW_NMAPS; m++) {
		snprintf(name, sizeof(name), "%s.cdb", cdbw_names[m]);
		if (cdbw_expect_init(&e[m], states, n, (enum cdbw_kind)m,
				     limit, name, err) < 0)
			goto out;
	}
	memset(&w, 0, sizeof(w));
	w.af = af;
	w.e = e;
	w.dir = dir;
	w.threaded = e[CDBW_K_RECIPIENTS].nrec >= CDBW_THREAD_MIN &&
		     pthread_create(&w.th, NULL, cdbw_small_run, &w) == 0;
	if (!w.threaded)
		cdbw_small_run(&w);
	rrc = cdbw_one(af, e, dir, CDBW_K_RECIPIENTS, &rerr);
	if (w.threaded)
		pthread_join(w.th, NULL);
	/* the first failure in map order */
	if (w.rc < 0 && (rrc == 0 || w.failed == CDBW_K_DOMAINS)) {
		*err = w.err;
		goto out;
	}
	if (rrc < 0) {
		*err = rerr;
		goto out;
	}
	/* all three built, validated and on disk: now replace the live ones */
	if (gate != NULL && gate(arg, err) < 0)
		goto out;
	for (m = 0; m < CDBW_NMAPS; m++)
		if (atomic_commit(&af[cdbw_rename_order[m]], err) < 0)
			goto out;
	rc = 0;
out:
	for (m = 0; m < CDBW_NMAPS; m++) {
		atomic_abort(&af[m]);
		cdbw_expect_free(&e[m]);
	}
	return rc;
}

int cdbw_verify(const struct state *const *states, size_t n,
		const char *dir, struct err *err)
{
	struct cdbw_expect e;
	char path[4096];
	int m, k, fd;

	for (m = 0; m < CDBW_NMAPS; m++) {
		if (cdbw_path(path, sizeof(path), dir, m, err) < 0)
			return -1;
		if (cdbw_expect_init(&e, states, n, (enum cdbw_kind)m,
				     CDBW_LIMIT, path, err) < 0 ||
		    cdbw_expect_fill(&e, path, err) < 0) {
			cdbw_expect_free(&e);
			return -1;
		}
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			cdbw_expect_free(&e);
			return err_sys(err, "open(%s)", path);
		}
		k = cdbw_check(fd, path, &e, err);
		close(fd);
		cdbw_expect_free(&e);
		if (k < 0)
			return -1;
	}
	return 0;
}
