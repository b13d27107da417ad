/*
 * state_impl - how a state is held, for the files of the state module
 * (state.c, state_sort.c, state_finish.c, state_parse.c, state_hash.c,
 * state_ends.c, state_runs.c, state_pool.c), the domain set (domset.c) and the
 * delta (delta.c, delta_splice.c); nothing else includes it.
 *
 * Records live in one arena.  While records are being added the arena holds,
 * per record, a 4-octet tag and the key (and " nexthop" for a domain);
 * state_finish() sorts a compact index (16 octets per record, with an 8-octet
 * big-endian key prefix so that a radix sort rarely touches the arena),
 * drops duplicates, checks that every recipient's domain is present, and
 * rebuilds the arena as exactly the canonical text.  A finished state is
 * therefore its own canonical text: hashing, writing and copying are single
 * passes, and a parsed state uses the parsed buffer as its arena.
 */
#ifndef MXSYNC_STATE_IMPL_H
#define MXSYNC_STATE_IMPL_H

#include <stdint.h>
#include <string.h>

#include "state.h"

/*
 * STATE_SANITIZED: a sanitizer build (SAN=1, what CI runs the tests with,
 * and the fuzzing build).  There the state module checks its shortcuts
 * against the long way (state_hash.c) and cuts its parallel work into
 * tiny pieces (state_parse.c), so that every test exercises their seams.
 */
#if defined(__SANITIZE_ADDRESS__)
#define STATE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STATE_SANITIZED 1
#endif
#endif

#define STATE_ARENA_MAX ((size_t)STATE_TEXT_MAX)
#define STATE_TAG_LEN 4

struct state_rec {
	uint64_t pfx;  /* sort key: 8 key octets from the current depth */
	uint32_t off;  /* offset of the key in the arena */
	uint16_t vlen; /* nexthop length (domains only) */
	uint8_t klen;  /* key length (norm.h bounds keys below 255) */
	uint8_t fresh; /* 1: added since the last finish, tag at off - 4 */
};

struct state_index {
	struct state_rec *rec;
	size_t n, cap;
};

/*
 * state_block - an arena and its records that several states may read: a
 * delta's result (state_runs.c) shares the unchanged recipients of its
 * base instead of copying them.  refs counts the states and runs that hold
 * it (atomically: states are freed on any thread); the last one frees it.
 */
struct state_block {
	char *arena;
	struct state_rec *rec;
	int pooled;
	unsigned refs;
};

/*
 * state_run - consecutive recipients of a block: rec[0 .. n) (n >= 1),
 * whose lines are one stretch of the block's arena, the state's recipients
 * start .. start + n - 1; the run holds one reference to blk
 */
struct state_run {
	struct state_block *blk;
	const char *arena; /* blk->arena */
	const struct state_rec *rec;
	size_t n;
	size_t start;
};

/*
 * the lines of one hash shard (see struct state); while its leaf is
 * computed, hashed: how many octets of them the hash has read, max: how
 * many may be kept
 */
struct state_lines {
	char *buf;
	size_t len, cap, n, hashed, max;
};

struct state {
	char *arena; /* canonical text once finished */
	size_t len, cap;
	size_t canon_len; /* arena[0, canon_len) is canonical text */
	struct state_index dom, rcpt;
	int finished;
	/*
	 * Shared records (state_runs.c).  blk: arena and rcpt.rec as a block
	 * that a delta's result reads, or NULL while nothing shares them.
	 * run: a delta's result keeps its recipients in nrun runs of blocks
	 * (nr of them; rcpt is then empty and arena holds only the D lines,
	 * canon_len still counts the whole text); NULL for a flat state.
	 * page[p]: the first run holding a recipient of page p (recipients
	 * p << STATE_PAGE_SHIFT onwards), so that finding recipient i's run
	 * is a search among few runs.
	 */
	struct state_block *blk;
	struct state_run *run;
	size_t nrun, nr;
	uint32_t *page;
	/*
	 * Kept by state_hash_prepare() (state_hash.c), both or neither: the
	 * hash shard of each recipient and the 1 + STATE_HASH_SHARDS leaf
	 * hashes.  Any change to the records drops them (state_hash_forget).
	 */
	uint8_t *hsel;
	unsigned char (*leaf)[STATE_HASH_LEN];
	/*
	 * lines[h].buf: the R lines of hash shard h, in order (the text of
	 * its leaf), for a shard that a delta with DELTA_LINES rehashed
	 * (state_shard_lines); lines is NULL, or STATE_HASH_SHARDS entries,
	 * of which those with buf NULL are not kept.  Dropped with the
	 * leaves.
	 */
	struct state_lines *lines;
	/* 1: its large buffers came from state_pool and go back there */
	int pooled;
};

/* state_key - the key of a record */
static inline const char *state_key(const struct state *st,
				    const struct state_rec *r)
{
	return st->arena + r->off;
}

/* state_keycmp - bytewise order of two keys, shorter first on a tie */
static inline int state_keycmp(const char *a, size_t alen, const char *b,
			       size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* state_domain_of - the part of an address after its last "@" */
static inline void state_domain_of(const char *a, size_t alen, const char **d_r,
				   size_t *dlen_r)
{
	const char *at = memrchr(a, '@', alen);

	*d_r = at + 1;
	*dlen_r = alen - (size_t)(at + 1 - a);
}

#define STATE_PAGE_SHIFT 12

/* state_run_find - the run of recipient i of a state with runs */
size_t state_run_find(const struct state *st, size_t i);

/*
 * state_rcpt - recipient i of a finished state, flat or in runs: its
 * record, *arena_r the text its offset points into
 */
static inline const struct state_rec *state_rcpt(const struct state *st,
						 size_t i, const char **arena_r)
{
	const struct state_run *r;

	if (st->run == NULL) {
		*arena_r = st->arena;
		return &st->rcpt.rec[i];
	}
	r = &st->run[state_run_find(st, i)];
	*arena_r = r->arena;
	return &r->rec[i - r->start];
}

/* state_nr - the number of recipients, flat or in runs */
static inline size_t state_nr(const struct state *st)
{
	return st->run != NULL ? st->nr : st->rcpt.n;
}

/* state_dom_end - where the D lines of a finished state end in its arena */
static inline size_t state_dom_end(const struct state *st)
{
	if (st->run != NULL || st->rcpt.n == 0) {
		const struct state_rec *r;

		if (st->dom.n == 0)
			return 0;
		r = &st->dom.rec[st->dom.n - 1];
		return (size_t)r->off + r->klen + 1u + r->vlen + 1;
	}
	return (size_t)st->rcpt.rec[0].off - 2;
}

/*
 * state_lower_rcpt - state_lower() among the recipients, flat or in runs
 * (state_runs.c)
 */
size_t state_lower_rcpt(const struct state *st, const char *key, size_t len,
			int *found_r);

/*
 * state_block_share - st's arena and records as a block (made on first
 * use, held by st until it is freed): what a result of st reads; NULL when
 * out of memory.  state_block_hold - one more holder; state_block_put - one
 * holder fewer (the last frees the block and its buffers).
 */
struct state_block *state_block_share(const struct state *st);
void state_block_hold(struct state_block *b);
void state_block_put(struct state_block *b);

/* state_runs_index - st->page for st->run (-1 when out of memory) */
int state_runs_index(struct state *st);

/*
 * state_text_parts - the canonical text of a finished state as consecutive
 * parts: the whole text of a flat state, else its D lines and then each
 * run's lines; state_text_part - part k
 */
size_t state_text_parts(const struct state *st);
void state_text_part(const struct state *st, size_t k, const char **text_r,
		     size_t *len_r);

/*
 * state_recs_moved - n records copied to dst, their text moved from offset
 * from (src[0]'s key) to offset to
 */
static inline void state_recs_moved(struct state_rec *dst,
				    const struct state_rec *src, size_t n,
				    size_t from, size_t to)
{
	size_t k;

	memcpy(dst, src, n * sizeof(*dst));
	for (k = 0; k < n; k++)
		dst[k].off = (uint32_t)(dst[k].off - from + to);
}

/* state_run_text - the stretch of text of a run's lines */
void state_run_text(const struct state_run *r, const char **text_r,
		    size_t *len_r);

/* state_runs_free - drop a state's runs and its share of its block */
void state_runs_free(struct state *st);

/*
 * state_flatten - a flat copy of a finished state (pooled buffers), for
 * what needs one text: NULL when out of memory
 */
struct state *state_flatten(const struct state *st, struct err *err);

/*
 * state_unshare - make st flat and its buffers its own before it is
 * changed (a state with runs or a shared block); -1 when out of memory
 */
int state_unshare(struct state *st, struct err *err);

/*
 * a delta's result with more runs than this, or than a quarter of its
 * recipients, is made flat (delta_splice_shared)
 */
#define STATE_RUNS_MAX 4096

/* state_hash_forget - drop the kept leaves and shards (state_hash.c) */
void state_hash_forget(struct state *st);

/*
 * state_hash_update - st (whose hsel is already set) gets the leaves
 * base_leaf, with the D leaf (domains) and the shard leaves of mask
 * rehashed; with lines, and at most STATE_LINES_MAX shards in mask, it
 * also keeps the rehashed shards' lines (state_shard_lines), which their
 * leaves are then hashed from.  -1 (and no kept leaves) when out of
 * memory (state_hash.c); lines that did not fit in memory are only not
 * kept.
 */
#define STATE_LINES_MAX 2
int state_hash_update(struct state *st,
		      const unsigned char (*base_leaf)[STATE_HASH_LEN],
		      int domains, uint64_t mask, int lines);

/*
 * state_same_ends - two finished states compared from both ends: their
 * first *head_r recipients are the same records, and so are their last
 * *tail_r (the two ranges never overlap); *domains_r is 1 when their D
 * lines differ.  Flat states: one memcmp pass over their texts; states in
 * runs: shared records in bulk, key by key elsewhere (state_ends.c).
 */
void state_same_ends(const struct state *a, const struct state *b,
		     size_t *head_r, size_t *tail_r, int *domains_r);

/*
 * state_pool_get - a buffer of at least len octets, kept from a freed
 * state when one fits (state_pool.c); state_pool_put - free a state's
 * buffer, or keep it for the next state.  Both are malloc'd buffers.
 * state_pool_free - state_pool_put() for a pooled state, else free().
 */
void *state_pool_get(size_t len);
void state_pool_put(void *p);
void state_pool_free(const struct state *st, void *p);

/*
 * state_release - what st holds (buffers, runs, shares of blocks, kept
 * leaves), not st itself: state_free() without the free (state.c)
 */
void state_release(struct state *st);

/* state_malloc - malloc that gives a pointer for 0 octets too (state.c) */
void *state_malloc(size_t len);

/* state_reserve_index - room for records more entries (state.c) */
int state_reserve_index(struct state_index *ix, size_t records,
			struct err *err);

/* state_grow_index - room for one more record (state.c) */
int state_grow_index(struct state_index *ix, struct err *err);

/*
 * state_lower_in - the one binary search over records: the index among
 * rec[0 .. n) (keys at arena + off, in order) of the first record whose
 * key is not below key; *found_r says whether that record's key is key
 * (state.c).  state_lower - the same in ix (the state's dom or rcpt).
 */
size_t state_lower_in(const char *arena, const struct state_rec *rec, size_t n,
		      const char *key, size_t len, int *found_r);
size_t state_lower(const struct state *st, const struct state_index *ix,
		   const char *key, size_t len, int *found_r);

/* state_tag - the tag of a fresh record, 0 for one already canonical */
unsigned state_tag(const struct state *st, const struct state_rec *r);

/*
 * state_sort - stable sort of n records by key (state_sort.c); tmp has room
 * for n records
 */
void state_sort(const struct state *st, struct state_rec *r,
		struct state_rec *tmp, size_t n);

#endif
