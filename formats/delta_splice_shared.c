/*
 * delta_splice_shared - a finished base with a delta's checked edits, as a
 * result that reads the base's unchanged recipients where they are
 * (state_runs.c), so that its cost is that of the edits and the D lines,
 * not of the state (delta.h).  The D lines, the counts and the checks are
 * those of the flat splice (delta_splice.c, delta_splice_impl.h).
 *
 * Failures return NULL with "edit N: ..." messages; the edits come from the
 * network (delta_apply) and are each checked against the base before use.
 */
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "delta_splice_impl.h"
#include "norm.h"
#include "state_impl.h"
#include "thread.h"

/* what delta_splice_shared() builds the result's runs from */
struct delta_runs {
	const struct state *base;
	struct state *res;
	struct state_block *bb; /* a flat base's records, shared */
	struct state_block *ab; /* the added recipients */
	size_t cap;		/* room in res->run */
	size_t apos, acap;	/* octets used in ab->arena, and its size */
	size_t an, ncap;	/* records used in ab->rec, and its size */
	int over;		/* more runs than counted: a bad edit */
};

/* delta_run_push - recipients rec[0 .. n) of block b next in the result */
static void delta_run_push(struct delta_runs *dr, struct state_block *b,
			   const struct state_rec *rec, size_t n)
{
	struct state *res = dr->res;
	struct state_run *last =
	    res->nrun > 0 ? &res->run[res->nrun - 1] : NULL;

	if (last != NULL && last->blk == b && last->rec + last->n == rec) {
		/* where a removed run ended: the two halves join again */
		last->n += n;
	} else if (res->nrun == dr->cap) {
		dr->over = 1;
		return;
	} else {
		state_block_hold(b);
		res->run[res->nrun++] =
		    (struct state_run){b, b->arena, rec, n, res->nr};
	}
	res->nr += n;
}

/* delta_runs_copy - the base's recipients [a, b) next in the result */
static void delta_runs_copy(struct delta_runs *dr, size_t a, size_t b)
{
	const struct state *base = dr->base;
	const struct state_run *r;
	size_t k, off, cnt;

	if (dr->res->hsel != NULL)
		memcpy(dr->res->hsel + dr->res->nr, base->hsel + a, b - a);
	if (base->run == NULL) {
		delta_run_push(dr, dr->bb, &base->rcpt.rec[a], b - a);
		return;
	}
	for (k = state_run_find(base, a); a < b; k++) {
		r = &base->run[k];
		off = a - r->start;
		cnt = r->n - off < b - a ? r->n - off : b - a;
		delta_run_push(dr, r->blk, r->rec + off, cnt);
		a += cnt;
	}
}

/*
 * delta_runs_edit - check one recipient edit against the base (done: the
 * base's recipients before it are placed; prev: the last key placed) and
 * place it: a removal skips its record, an addition goes to the block of
 * added recipients
 */
static int delta_runs_edit(struct delta_runs *dr, const struct delta_edit *e,
			   size_t *done, const char **prev, size_t *prevlen,
			   size_t i, struct err *err)
{
	const struct state *base = dr->base;
	size_t nb = state_nr(base), len = 2 + e->klen + 1;
	const struct state_rec *b = NULL, *p;
	struct state_block *ab = dr->ab;
	struct state_rec *r;
	const char *ba = NULL, *pa;

	if (e->at < *done || e->at > nb || e->klen == 0)
		return err_set(err, "edit %zu: out of order", i);
	if (e->at < nb)
		b = state_rcpt(base, e->at, &ba);
	if (e->at > *done) {
		delta_runs_copy(dr, *done, e->at);
		p = state_rcpt(base, e->at - 1, &pa);
		*prev = pa + p->off;
		*prevlen = p->klen;
		*done = e->at;
	}
	if (!e->add) {
		if (b == NULL || b->klen != e->klen ||
		    memcmp(ba + b->off, e->key, e->klen) != 0)
			return err_set(err,
				       "edit %zu: removes a record the base "
				       "lacks",
				       i);
		*done = e->at + 1;
		return 0;
	}
	if (norm_folded(e->key, e->klen, 0, err) < 0)
		return err_prefix(err, "edit %zu", i);
	if ((*prev != NULL &&
	     state_keycmp(*prev, *prevlen, e->key, e->klen) >= 0) ||
	    (b != NULL &&
	     state_keycmp(e->key, e->klen, ba + b->off, b->klen) >= 0))
		return err_set(err, "edit %zu: adds \"%.*s\" out of order", i,
			       (int)e->klen, e->key);
	if (len > dr->acap - dr->apos || dr->an == dr->ncap)
		return err_set(err, "edit %zu: out of order", i);
	memcpy(ab->arena + dr->apos, "R ", 2);
	memcpy(ab->arena + dr->apos + 2, e->key, e->klen);
	ab->arena[dr->apos + len - 1] = '\n';
	r = &ab->rec[dr->an++];
	*r = (struct state_rec){0, (uint32_t)(dr->apos + 2), 0,
				(uint8_t)e->klen, 0};
	if (dr->res->hsel != NULL)
		dr->res->hsel[dr->res->nr] =
		    (uint8_t)state_shard_of(e->key, e->klen);
	delta_run_push(dr, ab, r, 1);
	dr->apos += len;
	*prev = e->key;
	*prevlen = e->klen;
	return 0;
}

/*
 * delta_runs_section - the recipients of the result as runs: the base's
 * between edits, the added ones from dr->ab; *ei advances
 */
static int delta_runs_section(struct delta_runs *dr,
			      const struct delta_edit *ed, size_t n, size_t *ei,
			      struct err *err)
{
	size_t done = 0, nb = state_nr(dr->base), prevlen = 0;
	const char *prev = NULL;

	for (; *ei < n; (*ei)++) {
		if (ed[*ei].type != 'R')
			return err_set(err, "edit %zu: out of order", *ei);
		if (delta_runs_edit(dr, &ed[*ei], &done, &prev, &prevlen, *ei,
				    err) < 0)
			return -1;
	}
	if (nb > done)
		delta_runs_copy(dr, done, nb);
	if (dr->over)
		return err_set(err, "edit %zu: out of order", *ei);
	return 0;
}

struct state *delta_splice_shared(const struct state *base,
				  const struct delta_edit *ed, size_t n,
				  unsigned flags, struct err *err)
{
	int lines = (flags & DELTA_LINES) != 0;
	struct state *res = NULL, *flat;
	struct delta_copies cp = {NULL, NULL, NULL, 0, 0};
	struct delta_runs dr = {base, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0};
	struct delta_count c;
	size_t pos = 0, ei = 0, k, tl, text;
	const char *t;

	/* each edit splits at most one run and adds at most one */
	dr.cap = (base->run != NULL ? base->nrun : 1) + 2 * n + 1;
	/* so many that the result would be made flat: made flat at once */
	if (dr.cap > 2 * STATE_RUNS_MAX)
		return delta_splice_flat(base, ed, n, lines, err);
	if (delta_splice_count(base, ed, n, &c, err) < 0)
		return NULL;
	if ((dr.ab = calloc(1, sizeof(*dr.ab))) != NULL)
		dr.ab->refs = 1; /* until the end of the splice */
	if (dr.ab == NULL || (res = state_new()) == NULL ||
	    (res->arena = state_malloc(c.dlen)) == NULL ||
	    (res->dom.rec = state_malloc(c.nd * sizeof(struct state_rec))) ==
		NULL ||
	    (res->run = malloc(dr.cap * sizeof(*res->run))) == NULL ||
	    (dr.ab->arena = state_malloc(c.alen)) == NULL ||
	    (dr.ab->rec = state_malloc(c.na * sizeof(struct state_rec))) ==
		NULL ||
	    (base->run == NULL && (dr.bb = state_block_share(base)) == NULL) ||
	    (base->leaf != NULL &&
	     (res->hsel = state_pool_get(c.nr)) == NULL)) {
		err_set(err, "out of memory (state of %zu octets)", c.len);
		goto fail;
	}
	dr.res = res;
	dr.acap = c.alen;
	dr.ncap = c.na;
	res->cap = c.dlen;
	res->dom.cap = c.nd;
	res->pooled = 1;
	cp.base = base;
	cp.res = res;
	if (delta_splice_section(base, res, 'D', ed, n, &ei, &pos, &cp, err) <
		0 ||
	    delta_runs_section(&dr, ed, n, &ei, err) < 0)
		goto fail;
	thread_for(cp.n, delta_copy_one, &cp);
	free(cp.p);
	cp.p = NULL;
	for (k = 0, text = pos; k < res->nrun; k++) {
		state_run_text(&res->run[k], &t, &tl);
		text += tl;
	}
	if (ei != n || pos != c.dlen || res->dom.n != c.nd || res->nr != c.nr ||
	    dr.an != c.na || text != c.len) {
		err_set(err, "edit %zu: out of order", ei);
		goto fail;
	}
	res->len = res->cap = c.dlen;
	res->canon_len = c.len;
	if (state_runs_index(res) < 0) {
		err_set(err, "out of memory (state of %zu octets)", c.len);
		goto fail;
	}
	if (delta_splice_end(base, res, &c, ed, n, lines, err) < 0)
		goto fail;
	state_block_put(dr.ab);
	if (res->nrun <= STATE_RUNS_MAX && res->nrun <= res->nr / 4 + 16)
		return res;
	/*
	 * Too many runs to find records fast, or runs of a few records each
	 * (which cost more than the records): one copy, flat again.
	 */
	flat = state_flatten(res, err);
	state_free(res);
	return flat;
fail:
	free(cp.p);
	if (dr.ab != NULL)
		state_block_put(dr.ab);
	state_free(res);
	return NULL;
}
