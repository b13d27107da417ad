/*
 * state_runs - recipients shared between states: blocks, runs, and the
 * ways back to one flat text (state_impl.h)
 *
 * A delta's result (delta_splice_shared) holds its recipients as runs of
 * blocks: the base's unchanged records where they already are, its own
 * added records in a block of their own.  A block lives as long as a state
 * or run holds it.  Finding recipient i is a look at its page (a few runs
 * at most, usually one), a key a binary search over the runs' first keys
 * and then within one run.  What needs one text (a change to the state, or
 * a state with too many runs) gets a flat copy: state_flatten().
 *
 * Only out of memory fails (-1 or NULL with a message); the reference
 * counts are atomic, since a state may be freed on another thread than
 * the one that made a result of it.
 */
#include <stdlib.h>
#include <string.h>

#include "state_impl.h"

struct state_block *state_block_share(const struct state *st)
{
	struct state *own =
	    (struct state *)st; /* blk is set once, atomically */
	struct state_block *b, *none = NULL;

	b = __atomic_load_n(&own->blk, __ATOMIC_ACQUIRE);
	if (b != NULL)
		return b;
	if ((b = malloc(sizeof(*b))) == NULL)
		return NULL;
	b->arena = own->arena;
	b->rec = own->rcpt.rec;
	b->pooled = own->pooled;
	b->refs = 1; /* the state's own */
	if (!__atomic_compare_exchange_n(&own->blk, &none, b, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(b);
		b = none;
	}
	return b;
}

void state_block_hold(struct state_block *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void state_block_put(struct state_block *b)
{
	if (b == NULL || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (b->pooled) {
		state_pool_put(b->arena);
		state_pool_put(b->rec);
	} else {
		free(b->arena);
		free(b->rec);
	}
	free(b);
}

void state_runs_free(struct state *st)
{
	size_t k;

	for (k = 0; k < st->nrun; k++)
		state_block_put(st->run[k].blk);
	free(st->run);
	free(st->page);
	st->run = NULL;
	st->page = NULL;
	st->nrun = st->nr = 0;
	if (st->blk != NULL) {
		/* arena and rcpt.rec are the block's now */
		state_block_put(st->blk);
		st->blk = NULL;
		st->arena = NULL;
		st->rcpt.rec = NULL;
	}
}

size_t state_run_find(const struct state *st, size_t i)
{
	size_t p = i >> STATE_PAGE_SHIFT, lo = st->page[p], hi, mid;

	hi = p + 1 <= (st->nr - 1) >> STATE_PAGE_SHIFT ? st->page[p + 1]
						       : st->nrun - 1;
	/* the last run of [lo, hi] that starts at or before i */
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (st->run[mid].start <= i)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int state_runs_index(struct state *st)
{
	size_t np = st->nr > 0 ? ((st->nr - 1) >> STATE_PAGE_SHIFT) + 1 : 0;
	size_t k = 0, p;

	st->page = malloc((np ? np : 1) * sizeof(*st->page));
	if (st->page == NULL)
		return -1;
	for (p = 0; p < np; p++) {
		size_t i = p << STATE_PAGE_SHIFT;

		while (st->run[k].start + st->run[k].n <= i)
			k++;
		st->page[p] = (uint32_t)k;
	}
	return 0;
}

size_t state_lower_rcpt(const struct state *st, const char *key, size_t len,
			int *found_r)
{
	const struct state_run *r;
	size_t lo = 0, hi, mid;

	if (st->run == NULL)
		return state_lower(st, &st->rcpt, key, len, found_r);
	*found_r = 0;
	if (st->nrun == 0)
		return 0;
	/* the last run whose first key is not above key */
	hi = st->nrun;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = &st->run[mid];
		if (state_keycmp(r->arena + r->rec[0].off, r->rec[0].klen, key,
				 len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	r = &st->run[lo - 1];
	return r->start +
	       state_lower_in(r->arena, r->rec, r->n, key, len, found_r);
}

void state_run_text(const struct state_run *r, const char **text_r,
		    size_t *len_r)
{
	const struct state_rec *last = &r->rec[r->n - 1];

	*text_r = r->arena + r->rec[0].off - 2;
	*len_r = (size_t)(last->off + last->klen + 1) - (r->rec[0].off - 2);
}

size_t state_text_parts(const struct state *st)
{
	return st->run != NULL ? 1 + st->nrun : 1;
}

void state_text_part(const struct state *st, size_t k, const char **text_r,
		     size_t *len_r)
{
	if (st->run == NULL) {
		*text_r = st->arena;
		*len_r = st->canon_len;
	} else if (k == 0) {
		*text_r = st->arena;
		*len_r = state_dom_end(st);
	} else {
		state_run_text(&st->run[k - 1], text_r, len_r);
	}
}

struct state *state_flatten(const struct state *st, struct err *err)
{
	struct state *f = NULL;
	size_t dend = state_dom_end(st), pos, k, n = state_nr(st);
	const char *t;
	size_t tl;

	if ((f = state_new()) == NULL ||
	    (f->arena = state_pool_get(st->canon_len)) == NULL ||
	    (f->dom.rec = state_malloc(st->dom.n * sizeof(struct state_rec))) ==
		NULL ||
	    (f->rcpt.rec = state_pool_get(n * sizeof(struct state_rec))) ==
		NULL ||
	    (st->hsel != NULL && (f->hsel = state_pool_get(n)) == NULL) ||
	    (st->leaf != NULL && (f->leaf = malloc((1 + STATE_HASH_SHARDS) *
						   STATE_HASH_LEN)) == NULL)) {
		err_set(err, "out of memory (state of %zu octets)",
			st->canon_len);
		if (f != NULL)
			f->pooled = 1;
		state_free(f);
		return NULL;
	}
	f->pooled = 1;
	memcpy(f->arena, st->arena, dend);
	memcpy(f->dom.rec, st->dom.rec, st->dom.n * sizeof(struct state_rec));
	f->dom.n = f->dom.cap = st->dom.n;
	if (st->run == NULL) {
		memcpy(f->arena + dend, st->arena + dend, st->canon_len - dend);
		memcpy(f->rcpt.rec, st->rcpt.rec, n * sizeof(struct state_rec));
	} else {
		pos = dend;
		for (k = 0; k < st->nrun; k++) {
			const struct state_run *r = &st->run[k];
			struct state_rec *o = f->rcpt.rec + r->start;
			size_t shift_from = (size_t)r->rec[0].off;

			state_run_text(r, &t, &tl);
			memcpy(f->arena + pos, t, tl);
			state_recs_moved(o, r->rec, r->n, shift_from, pos + 2);
			pos += tl;
		}
	}
	f->rcpt.n = f->rcpt.cap = n;
	f->len = f->cap = f->canon_len = st->canon_len;
	if (st->hsel != NULL)
		memcpy(f->hsel, st->hsel, n);
	if (st->leaf != NULL)
		memcpy(f->leaf, st->leaf,
		       (1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	f->finished = st->finished;
	return f;
}

int state_unshare(struct state *st, struct err *err)
{
	struct state *f;

	if (st->run == NULL && st->blk == NULL)
		return 0;
	if (st->run == NULL &&
	    __atomic_load_n(&st->blk->refs, __ATOMIC_ACQUIRE) == 1) {
		/* nothing else holds the block: its buffers are ours again */
		free(st->blk);
		st->blk = NULL;
		return 0;
	}
	if ((f = state_flatten(st, err)) == NULL)
		return -1;
	/* st becomes f: its own buffers go, f's are moved in */
	state_release(st);
	*st = *f;
	free(f);
	return 0;
}
