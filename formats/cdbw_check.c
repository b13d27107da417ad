/*
 * cdbw_check - the read-back check of a built CDB map, before it may be
 * renamed into place, and of installed maps (cdbw_verify)
 *
 * The file is reopened with cdb_init() and read back: the file size, every
 * record's key and value in order, and every hash table entry (each record
 * reachable exactly as cdb_find() reaches it), in sequential passes rather
 * than one random lookup per record.  Failures name the map and the first
 * fault found in file order: a record missing or wrong, a hash table
 * misplaced or short of entries, a record its table cannot reach.
 *
 * Security: a corrupt or truncated map makes Postfix's smtpd die, so this
 * check trusts nothing in the file: every offset read from it is bounded by
 * the expected layout before it is used.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cdb.h>

#include "cdbw_impl.h"

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

void cdbw_expect_free(struct cdbw_expect *e)
{
	free(e->rec);
	e->rec = e->tab = NULL;
}

int cdbw_expect_init(struct cdbw_expect *e, const struct state *const *states,
		     size_t n, enum cdbw_kind kind, uint64_t limit,
		     const char *name, struct err *err)
{
	return cdbw_expect_init_sel(e, states, n, kind, NULL, -1, limit, name,
				    err);
}

int cdbw_expect_init_sel(struct cdbw_expect *e,
			 const struct state *const *states, size_t n,
			 enum cdbw_kind kind, const uint8_t *const *sel,
			 int shard, uint64_t limit, const char *name,
			 struct err *err)
{
	uint64_t records;

	memset(e, 0, sizeof(*e));
	e->states = states;
	e->n = n;
	e->kind = kind;
	e->sel = sel;
	e->shard = shard;
	e->size = cdbw_size_sel(states, n, kind, sel, shard, &records);
	e->nrec = (size_t)records;
	e->dend = e->size - 16 * records;
	if (e->size > limit)
		return err_set(err,
			       "%s would be %llu bytes, over the CDB "
			       "format's limit of %llu",
			       name, (unsigned long long)e->size,
			       (unsigned long long)limit);
	return 0;
}

int cdbw_expect_init_pack(struct cdbw_expect *e, const unsigned char *pack,
			  size_t len, size_t nrec, uint64_t limit,
			  const char *name, struct err *err)
{
	memset(e, 0, sizeof(*e));
	e->kind = CDBW_K_RECIPIENTS;
	e->shard = -1;
	e->pack = pack;
	e->pack_len = len;
	e->nrec = nrec;
	/* each record: 1 + klen octets packed, 8 + klen + 2 + 16 in the file */
	e->size = CDBW_HEADER + (uint64_t)len - nrec + (uint64_t)nrec * 26;
	e->dend = e->size - 16 * (uint64_t)nrec;
	if (e->size > limit)
		return err_set(err,
			       "%s would be %llu bytes, over the CDB "
			       "format's limit of %llu",
			       name, (unsigned long long)e->size,
			       (unsigned long long)limit);
	return 0;
}

int cdbw_expect_fill(struct cdbw_expect *e, const char *name, struct err *err)
{
	e->rec = malloc(2 * (e->nrec ? e->nrec : 1) * sizeof(*e->rec));
	if (e->rec == NULL)
		return err_set(err, "%s: out of memory (%zu records)", name,
			       e->nrec);
	e->tab = e->rec + e->nrec;
	memset(e->start, 0, sizeof(e->start));
	return 0;
}

/*
 * cdbw_records - every record is at its place, byte for byte; on the way
 * the record lists of e are filled (each record's hash and position, in
 * file order and by hash table) for cdbw_tables().  Positions fit in 32
 * bits: the size was checked by cdbw_expect_init().
 */
static int cdbw_records(struct cdbw_expect *e, const unsigned char *mem,
			const char *name, struct err *err)
{
	const char *k, *v;
	size_t g, t, klen, vlen, fill[256];
	uint32_t h;
	struct cdbw_iter it;
	uint64_t pos = CDBW_HEADER;

	memset(e->start, 0, sizeof(e->start));
	cdbw_iter_init(&it, e);
	for (g = 0; g < e->nrec; g++) {
		if (!cdbw_iter_next(&it, &k, &klen, &v, &vlen))
			return err_set(err, "%s: records missing", name);
		h = cdbw_hash(k, klen);
		if (pos > e->dend || e->dend - pos < 8 ||
		    cdbw_u32(mem + pos) != klen ||
		    cdbw_u32(mem + pos + 4) != vlen ||
		    e->dend - pos - 8 < (uint64_t)klen + vlen ||
		    memcmp(mem + pos + 8, k, klen) != 0 ||
		    memcmp(mem + pos + 8 + klen, v, vlen) != 0)
			return err_set(err, "%s: record %.*s missing or wrong",
				       name, (int)(klen > 256 ? 256 : klen), k);
		e->rec[g] = (uint64_t)h << 32 | pos;
		e->start[(h & 255) + 1]++;
		pos += 8 + klen + vlen;
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
 * cdbw_tables - the 256 hash tables, whose places the header walk checked:
 * in each, the non-empty slots are exactly this table's records, each with
 * its hash, each reached from its start slot ((hash >> 8) % slots) by
 * linear probing with no empty slot on the way and no earlier slot of the
 * same key in between.  That is what cdb_find() needs to find every record,
 * checked table by table (each small enough to stay in cache) instead of
 * one random lookup per record.  The records were checked before.
 */
static int cdbw_tables(const struct cdbw_expect *e, const unsigned char *mem,
		       const char *name, struct err *err)
{
	size_t i, t;

	for (t = 0; t < 256; t++) {
		uint32_t tpos = cdbw_u32(mem + 8 * t);
		uint32_t nslots = cdbw_u32(mem + 8 * t + 4);
		const unsigned char *tab = mem + tpos;
		size_t used = 0, s;

		for (s = 0; s < nslots; s++)
			used += cdbw_u32(tab + 8 * s + 4) != 0;
		if (used != e->start[t + 1] - e->start[t])
			return err_set(err,
				       "%s: hash table %zu has %zu "
				       "entries for %zu records",
				       name, t, used,
				       e->start[t + 1] - e->start[t]);
		for (i = e->start[t]; i < e->start[t + 1]; i++)
			if (cdbw_probe(mem, e->dend, tab, nslots, e->tab[i]) <
			    0)
				return err_set(err,
					       "%s: record at %u "
					       "cannot be found through hash "
					       "table %zu",
					       name, (uint32_t)e->tab[i], t);
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
int cdbw_check(int fd, const char *name, struct cdbw_expect *e, struct err *err)
{
	struct cdb c;
	struct stat st;
	const unsigned char *mem;
	uint64_t pos, dend;
	size_t t;
	int inited = 0, rc = -1;

	if (e->rec == NULL && cdbw_expect_fill(e, name, err) < 0)
		goto out;
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
	if (cdbw_records(e, mem, name, err) < 0)
		goto out;
	/* the tables' places: back to back after the records, to the end */
	for (t = 0, pos = dend; t < 256; t++) {
		uint32_t tpos = cdbw_u32(mem + 8 * t);
		uint32_t nslots = cdbw_u32(mem + 8 * t + 4);

		if (tpos != pos || nslots > (e->size - pos) / 8) {
			err_set(err,
				"%s: hash table %zu at %u (%u slots), "
				"expected at %llu",
				name, t, tpos, nslots, (unsigned long long)pos);
			goto out;
		}
		pos += 8ULL * nslots;
	}
	if (pos != e->size) {
		err_set(err, "%s: hash tables end at %llu, file at %llu", name,
			(unsigned long long)pos, (unsigned long long)e->size);
		goto out;
	}
	if (cdbw_tables(e, mem, name, err) < 0)
		goto out;
	rc = 0;
out:
	if (inited)
		cdb_free(&c);
	return rc;
}

int cdbw_verify(const struct state *const *states, size_t n, const char *dir,
		struct err *err)
{
	struct cdbw_plan plan = {1, NULL, 0, NULL, 1};

	return cdbw_verify_plan(states, n, dir, &plan, err);
}
