/*
 * cdbw_impl - what building (cdbw.c), the packing of shards (cdbw_pack.c)
 * and the read-back check (cdbw_check.c) share: the three maps' records as the
 * states give them, and the expected layout of one map file
 */
#ifndef MXSYNC_CDBW_IMPL_H
#define MXSYNC_CDBW_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cdbw.h"

enum cdbw_kind {
	CDBW_K_DOMAINS,
	CDBW_K_RECIPIENTS,
	CDBW_K_TRANSPORT,
	CDBW_NMAPS
};

#define CDBW_OK "OK"
#define CDBW_OK_LEN 2
#define CDBW_HEADER 2048ULL

/* cdbw_count - records of one state in a map of this kind */
static inline size_t cdbw_count(const struct state *st, enum cdbw_kind kind)
{
	return kind == CDBW_K_RECIPIENTS ? state_recipient_count(st)
					 : state_domain_count(st);
}

/* cdbw_record - key and value of record i of one state */
static inline void cdbw_record(const struct state *st, enum cdbw_kind kind,
			       size_t i, const char **k, size_t *klen,
			       const char **v, size_t *vlen)
{
	if (kind == CDBW_K_RECIPIENTS) {
		state_recipient(st, i, k, klen);
		*v = CDBW_OK;
		*vlen = CDBW_OK_LEN;
	} else if (kind == CDBW_K_DOMAINS) {
		state_domain(st, i, k, klen, NULL, NULL);
		*v = CDBW_OK;
		*vlen = CDBW_OK_LEN;
	} else {
		state_domain(st, i, k, klen, v, vlen);
	}
}

/*
 * cdbw_next - the first record index >= i of state s (cnt records) that
 * belongs to the map: every one when shard < 0, else those whose entry in
 * sel[s] (the shard of each recipient, cdbw_shard_sel) is shard; cnt when
 * none is left
 */
static inline size_t cdbw_next(const uint8_t *const *sel, int shard, size_t s,
			       size_t i, size_t cnt)
{
	const uint8_t *p;

	if (shard < 0 || i >= cnt)
		return i < cnt ? i : cnt;
	p = memchr(sel[s] + i, shard, cnt - i);
	return p != NULL ? (size_t)(p - sel[s]) : cnt;
}

/* cdbw_size - file size of one map: 2048 + sum(8 + k + v) + 16 * N */
uint64_t cdbw_size(const struct state *const *states, size_t n,
		   enum cdbw_kind kind);
/*
 * cdbw_size_sel - the same of one shard when shard >= 0 (sel as for
 * cdbw_next); *records_r (when not NULL) gets its record count
 */
uint64_t cdbw_size_sel(const struct state *const *states, size_t n,
		       enum cdbw_kind kind, const uint8_t *const *sel,
		       int shard, uint64_t *records_r);

/* cdbw_path - dir/NAME.cdb of map m into buf */
int cdbw_path(char *buf, size_t size, const char *dir, int m, struct err *err);

/*
 * cdbw_expect - what one map must hold, from the states alone: the file
 * size, the end of the record area, and every record as hash << 32 |
 * position, in file order (rec) and grouped by hash table (tab, table t's
 * records at tab[start[t]] .. tab[start[t + 1] - 1]).
 */
struct cdbw_expect {
	const struct state *const *states;
	size_t n;
	enum cdbw_kind kind;
	const uint8_t *const *sel; /* a shard's selection, see cdbw_next */
	int shard;		   /* -1: the whole map */
	/*
	 * or the shard's records packed (a length octet, the key; value
	 * "OK"), read in one sequential pass instead of picked out of the
	 * states
	 */
	const unsigned char *pack;
	size_t pack_len;
	uint64_t size, dend;
	uint64_t *rec, *tab;
	size_t nrec;
	size_t start[257];
};

/* cdbw_expect_init - sizes only (a cheap pass); -1 when over limit */
int cdbw_expect_init(struct cdbw_expect *e, const struct state *const *states,
		     size_t n, enum cdbw_kind kind, uint64_t limit,
		     const char *name, struct err *err);
/* cdbw_expect_init_sel - the same for one shard (shard >= 0) or all (-1) */
int cdbw_expect_init_sel(struct cdbw_expect *e,
			 const struct state *const *states, size_t n,
			 enum cdbw_kind kind, const uint8_t *const *sel,
			 int shard, uint64_t limit, const char *name,
			 struct err *err);

/* cdbw_expect_init_pack - the same for a packed shard of nrec records */
int cdbw_expect_init_pack(struct cdbw_expect *e, const unsigned char *pack,
			  size_t len, size_t nrec, uint64_t limit,
			  const char *name, struct err *err);

/* cdbw_iter - the records of one map in file order */
struct cdbw_iter {
	const struct cdbw_expect *e;
	size_t s, i;
	const unsigned char *p;
};

static inline void cdbw_iter_init(struct cdbw_iter *it,
				  const struct cdbw_expect *e)
{
	it->e = e;
	it->s = it->i = 0;
	it->p = e->pack;
}

/* cdbw_iter_next - 1 and the next record, or 0 after the last */
static inline int cdbw_iter_next(struct cdbw_iter *it, const char **k,
				 size_t *klen, const char **v, size_t *vlen)
{
	const struct cdbw_expect *e = it->e;
	size_t cnt;

	if (e->pack != NULL) {
		if (it->p >= e->pack + e->pack_len)
			return 0;
		*klen = *it->p;
		*k = (const char *)it->p + 1;
		it->p += 1 + *klen;
		*v = CDBW_OK;
		*vlen = CDBW_OK_LEN;
		return 1;
	}
	while (it->s < e->n) {
		cnt = cdbw_count(e->states[it->s], e->kind);
		it->i = cdbw_next(e->sel, e->shard, it->s, it->i, cnt);
		if (it->i < cnt) {
			cdbw_record(e->states[it->s], e->kind, it->i, k, klen,
				    v, vlen);
			it->i++;
			return 1;
		}
		it->s++;
		it->i = 0;
	}
	return 0;
}

/*
 * cdbw_expect_fill - room for the record lists, which cdbw_check() fills
 * as it reads the records back; fails only when out of memory
 */
int cdbw_expect_fill(struct cdbw_expect *e, const char *name, struct err *err);

/* cdbw_expect_free - release the record lists */
void cdbw_expect_free(struct cdbw_expect *e);

/*
 * cdbw_check - 0 when the CDB file open on fd holds exactly e's records in
 * order and cdb_find() reaches each of them; -1 with the first fault.  e's
 * record lists (cdbw_expect_fill) are filled on the way.
 */
int cdbw_check(int fd, const char *name, struct cdbw_expect *e,
	       struct err *err);

/* one shard's records packed: a length octet and the key, each */
struct cdbw_pack {
	unsigned char *buf;
	size_t len, cap, nrec;
	int failed; /* out of memory */
};

/*
 * cdbw_packs - the touched shards' records (all when touched is NULL) of
 * the n states, by sel, into pk[shard] (shards of them, zeroed here);
 * cdbw_packs_free - what it made, and pk (cdbw_pack.c)
 */
int cdbw_packs(const struct state *const *states, size_t n,
	       const uint8_t *const *sel, unsigned shards,
	       const unsigned char *touched, struct cdbw_pack *pk,
	       struct err *err);
void cdbw_packs_free(struct cdbw_pack *pk, unsigned shards);

#endif
