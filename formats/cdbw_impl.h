/*
 * cdbw_impl - what building (cdbw.c) and the read-back check
 * (cdbw_check.c) share: the three maps' records as the states give them,
 * and the expected layout of one map file
 */
#ifndef MXSYNC_CDBW_IMPL_H
#define MXSYNC_CDBW_IMPL_H

#include <stddef.h>
#include <stdint.h>

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

/* cdbw_size - file size of one map: 2048 + sum(8 + k + v) + 16 * N */
uint64_t cdbw_size(const struct state *const *states, size_t n,
		   enum cdbw_kind kind, uint64_t *records_r);

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
	uint64_t size, dend;
	uint64_t *rec, *tab;
	size_t nrec;
	size_t start[257];
};

/* cdbw_expect_init - sizes only (a cheap pass); -1 when over limit */
int cdbw_expect_init(struct cdbw_expect *e, const struct state *const *states,
		     size_t n, enum cdbw_kind kind, uint64_t limit,
		     const char *name, struct err *err);

/* cdbw_expect_fill - the record lists; fails only when out of memory */
int cdbw_expect_fill(struct cdbw_expect *e, const char *name, struct err *err);

/* cdbw_expect_free - release the record lists */
void cdbw_expect_free(struct cdbw_expect *e);

/*
 * cdbw_check - 0 when the CDB file open on fd holds exactly e's records in
 * order and cdb_find() reaches each of them; -1 with the first fault
 */
int cdbw_check(int fd, const char *name, const struct cdbw_expect *e,
	       struct err *err);

#endif
