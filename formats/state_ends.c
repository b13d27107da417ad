/*
 * state_ends - what two finished states share at their ends: their
 * common first and last recipients (state_same_ends, state_common_ends in
 * state_impl.h and state.h), for the hash of a successor from its
 * predecessor's leaves (state_hash.c), the agent's guard and
 * delta_compute().  Flat states are compared as texts, a block at a time;
 * states whose records are shared (state_runs.c) by those records' memory
 * in bulk, key by key elsewhere.  Nothing fails.
 */
#include <string.h>

#include "state_impl.h"

/* octets compared at a time */
#define STATE_ENDS_BLOCK 4096

/*
 * state_ends_head_len - the length of the common prefix of a and b (n octets
 * each): memcmp a block at a time, then the octets of the block that differs
 */
static size_t state_ends_head_len(const char *a, const char *b, size_t n)
{
	size_t i = 0, k;

	while (n - i >= STATE_ENDS_BLOCK &&
	       memcmp(a + i, b + i, STATE_ENDS_BLOCK) == 0)
		i += STATE_ENDS_BLOCK;
	k = n - i < STATE_ENDS_BLOCK ? n - i : STATE_ENDS_BLOCK;
	while (k > 0 && a[i] == b[i]) {
		i++;
		k--;
	}
	return i;
}

/* state_ends_tail_len - the length of the common suffix of a and b (n each) */
static size_t state_ends_tail_len(const char *a, const char *b, size_t n)
{
	size_t i = 0, k;

	while (n - i >= STATE_ENDS_BLOCK &&
	       memcmp(a + n - i - STATE_ENDS_BLOCK,
		      b + n - i - STATE_ENDS_BLOCK, STATE_ENDS_BLOCK) == 0)
		i += STATE_ENDS_BLOCK;
	k = n - i < STATE_ENDS_BLOCK ? n - i : STATE_ENDS_BLOCK;
	while (k > 0 && a[n - i - 1] == b[n - i - 1]) {
		i++;
		k--;
	}
	return i;
}

/* state_ends_after - the index of the first recipient of st ending after x */
static size_t state_ends_after(const struct state *st, size_t x)
{
	size_t lo = 0, hi = st->rcpt.n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		/* "R " key "\n" ends at off + klen + 1 */
		if ((size_t)st->rcpt.rec[mid].off + st->rcpt.rec[mid].klen +
			1 <=
		    x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * state_ends_before - the index of the first recipient of st whose line
 * starts at y or later, the newline before it included (start - 1 >= y)
 */
static size_t state_ends_before(const struct state *st, size_t y)
{
	size_t lo = 0, hi = st->rcpt.n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		/* the line starts at off - 2, its newline before at off - 3 */
		if ((size_t)st->rcpt.rec[mid].off < y + 3)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The records of a and b are their canonical texts.  Where the texts agree
 * from the start (x octets) the recipients that end there are the same
 * records at the same index in both; where they agree from the end (y
 * octets, never overlapping x) the recipients whose line and the newline
 * before it lie there are the same, counted from the end.  Only the
 * recipients between differ.
 */
static void state_same_ends_flat(const struct state *a, const struct state *b,
				 size_t *head_r, size_t *tail_r)
{
	size_t la = a->canon_len, lb = b->canon_len, m, x, y, p, q, sa, sb;

	m = la < lb ? la : lb;
	x = state_ends_head_len(a->arena, b->arena, m);
	y = state_ends_tail_len(a->arena + la - (m - x),
				b->arena + lb - (m - x), m - x);
	p = state_ends_after(a, x);
	q = state_ends_after(b, x);
	if (q < p)
		p = q;
	sa = a->rcpt.n - state_ends_before(a, la - y);
	sb = b->rcpt.n - state_ends_before(b, lb - y);
	if (sb < sa)
		sa = sb;
	/* cannot overlap (y <= m - x); kept safe all the same */
	if (p + sa > a->rcpt.n || p + sa > b->rcpt.n)
		p = sa = 0;
	*head_r = p;
	*tail_r = sa;
}

/*
 * A state's recipients as segments: its runs, or the one flat index.
 * state_ends_seg - segment k of st (arena, records, count)
 */
static size_t state_ends_nseg(const struct state *st)
{
	return st->run != NULL ? st->nrun : st->rcpt.n > 0;
}

static const struct state_rec *state_ends_seg(const struct state *st, size_t k,
					      const char **arena_r, size_t *n_r)
{
	if (st->run == NULL) {
		*arena_r = st->arena;
		*n_r = st->rcpt.n;
		return st->rcpt.rec;
	}
	*arena_r = st->run[k].arena;
	*n_r = st->run[k].n;
	return st->run[k].rec;
}

/* state_ends_same_rec - records ra and rb have the same key */
static int state_ends_same_rec(const char *aa, const struct state_rec *ra,
			       const char *ab, const struct state_rec *rb)
{
	return (ra == rb && aa == ab) ||
	       (ra->klen == rb->klen &&
		memcmp(aa + ra->off, ab + rb->off, ra->klen) == 0);
}

/*
 * With runs, records that are the same memory in both states (what a
 * delta's results share) are the same in bulk; elsewhere key by key, from
 * either end, until two differ.
 */
static void state_same_ends_runs(const struct state *a, const struct state *b,
				 size_t *head_r, size_t *tail_r)
{
	size_t na = state_nr(a), nb = state_nr(b), max = na < nb ? na : nb;
	size_t sa = state_ends_nseg(a), sb = state_ends_nseg(b);
	size_t head = 0, tail = 0, ka = 0, kb = 0, oa = 0, ob = 0, la, lb, m;
	const struct state_rec *ra, *rb;
	const char *aa, *ab;

	while (ka < sa && kb < sb) {
		ra = state_ends_seg(a, ka, &aa, &la);
		rb = state_ends_seg(b, kb, &ab, &lb);
		if (aa == ab && ra + oa == rb + ob) {
			m = la - oa < lb - ob ? la - oa : lb - ob;
		} else if (state_ends_same_rec(aa, ra + oa, ab, rb + ob)) {
			m = 1;
		} else {
			break;
		}
		head += m;
		if ((oa += m) == la) {
			ka++;
			oa = 0;
		}
		if ((ob += m) == lb) {
			kb++;
			ob = 0;
		}
	}
	/* from the end: records [0, oa) of segment ka - 1 are left */
	ka = sa;
	kb = sb;
	oa = ob = 0;
	if (ka > 0)
		state_ends_seg(a, ka - 1, &aa, &oa);
	if (kb > 0)
		state_ends_seg(b, kb - 1, &ab, &ob);
	while (ka > 0 && kb > 0 && head + tail < max) {
		ra = state_ends_seg(a, ka - 1, &aa, &la);
		rb = state_ends_seg(b, kb - 1, &ab, &lb);
		if (aa == ab && ra + oa == rb + ob) {
			m = oa < ob ? oa : ob;
			if (m > max - head - tail)
				m = max - head - tail;
		} else if (state_ends_same_rec(aa, ra + oa - 1, ab,
					       rb + ob - 1)) {
			m = 1;
		} else {
			break;
		}
		tail += m;
		if ((oa -= m) == 0 && --ka > 0)
			state_ends_seg(a, ka - 1, &aa, &oa);
		if ((ob -= m) == 0 && --kb > 0)
			state_ends_seg(b, kb - 1, &ab, &ob);
	}
	*head_r = head;
	*tail_r = tail;
}

void state_same_ends(const struct state *a, const struct state *b,
		     size_t *head_r, size_t *tail_r, int *domains_r)
{
	size_t da = state_dom_end(a), db = state_dom_end(b);

	if (a->run == NULL && b->run == NULL)
		state_same_ends_flat(a, b, head_r, tail_r);
	else
		state_same_ends_runs(a, b, head_r, tail_r);
	*domains_r = da != db || memcmp(a->arena, b->arena, da) != 0;
}

void state_common_ends(const struct state *a, const struct state *b,
		       size_t *head_r, size_t *tail_r)
{
	int domains;

	*head_r = *tail_r = 0;
	if (a == NULL || b == NULL || !a->finished || !b->finished)
		return;
	state_same_ends(a, b, head_r, tail_r, &domains);
}
