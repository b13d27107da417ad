/*
 * selwalk - the records of some shards, shard by shard and in index order,
 * spread over the cores: the one walk behind a state's hash leaves
 * (state_hash.c) and the maps' shards (cdbw.c)
 *
 * A walk covers n arrays of records: sel[s][i] is the shard of record i of
 * array s, which has cnt[s] records.  For every wanted shard h it calls
 * begin(arg, h), then each(arg, h, s, i) for every record of shard h, in
 * the order of s and then of i, then end(arg, h).  The calls for one shard
 * come from one thread; those for different shards may run at the same
 * time (thread_for), so the callbacks must keep each shard's data apart.
 *
 * A few wanted shards (at most SELWALK_FEW) are walked one by one, their
 * records found with memchr in sel: the cost is a scan of one octet per
 * record and the shard's own records (a delta).  Those lie all over the
 * array, so each()
 * would wait for a cache miss or two per record: prefetch(arg, s, i, far),
 * when set, is called SELWALK_AHEAD records ahead with far 1 (fetch what
 * locates record i) and SELWALK_AHEAD / 2 ahead with far 0 (fetch the
 * record), so that the misses overlap (the PREFETCH speed knob of the
 * Makefile turns this off).  More shards are walked in SELWALK_GROUPS
 * groups (shard h in group h % SELWALK_GROUPS), each group one pass over
 * every record: the memory is then read in order (a full install).
 * Nothing fails.
 */
#ifndef MXSYNC_SELWALK_H
#define MXSYNC_SELWALK_H

#include <stddef.h>
#include <stdint.h>

#define SELWALK_FEW 8
#define SELWALK_GROUPS 4
#define SELWALK_AHEAD 16
#define SELWALK_SHARDS_MAX 256

struct selwalk {
	const uint8_t *const *sel;
	const size_t *cnt;
	size_t n;
	unsigned shards;	   /* every sel[s][i] is below it */
	const unsigned char *want; /* want[h]: walk shard h; NULL: all */
	void (*begin)(void *arg, unsigned h); /* or NULL */
	void (*each)(void *arg, unsigned h, size_t s, size_t i);
	void (*end)(void *arg, unsigned h);			  /* or NULL */
	void (*prefetch)(void *arg, size_t s, size_t i, int far); /* or NULL */
	void *arg;
};

/* selwalk - walk w (see above); returns when every shard is done */
void selwalk(const struct selwalk *w);

#endif
