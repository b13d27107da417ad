/*
 * delta_splice - a finished base with a delta's checked edits (delta.h)
 *
 * delta_splice() builds a flat result: the base's text between edits is
 * copied in whole runs (in pieces, on every core) with the index entries
 * moved, and only the edits and the recipients' domains are checked.
 * delta_splice_shared() (delta_splice_shared.c) shares the base's
 * recipients instead, and takes the D lines, the counts and the checks
 * from here (delta_splice_impl.h).  Either result inherits the base's hash
 * leaves (state_hash_prepare), with the touched ones rehashed.  No step
 * allocates per record.
 *
 * Failures return NULL with "edit N: ..." or state_parse()'s messages for
 * the result's lines; the edits come from the network (delta_apply) and are
 * each checked against the base before use.
 */
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "delta_splice_impl.h"
#include "domset.h"
#include "norm.h"
#include "state_impl.h"
#include "thread.h"
/* delta_line_start - offset in a finished state's text of record r's line */
static size_t delta_line_start(const struct state_rec *r)
{
	return (size_t)r->off - 2;
}

/* delta_section_end - where a finished state's D (or R) lines end */
static size_t delta_section_end(const struct state *st,
				const struct state_index *ix)
{
	const struct state_rec *r;

	if (ix->n == 0)
		return ix == &st->dom ? 0 : st->canon_len;
	r = &ix->rec[ix->n - 1];
	return (size_t)r->off + r->klen + (ix == &st->dom ? 1u + r->vlen : 0) +
	       1;
}

/*
 * delta_splice_check - one edit of one section against the base and the
 * result so far (prev: the last key written, NULL before the first)
 */
static int delta_splice_check(const struct state *base,
			      const struct state_index *bix,
			      const struct delta_edit *e, size_t done,
			      const char *prev, size_t prevlen, size_t i,
			      struct err *err)
{
	const struct state_rec *b = e->at < bix->n ? &bix->rec[e->at] : NULL;

	if (e->at < done || e->at > bix->n || e->klen == 0 || e->klen > 255 ||
	    e->vlen > UINT16_MAX)
		return err_set(err, "edit %zu: out of order", i);
	if (!e->add) {
		if (b == NULL || b->klen != e->klen || b->vlen != e->vlen ||
		    memcmp(state_key(base, b), e->key, e->klen) != 0 ||
		    (e->type == 'D' && memcmp(state_key(base, b) + b->klen + 1,
					      e->val, e->vlen) != 0))
			return err_set(err,
				       "edit %zu: removes a record the base "
				       "lacks",
				       i);
		return 0;
	}
	if (e->type == 'D') {
		if (norm_folded(e->key, e->klen, 1, err) < 0 ||
		    norm_nexthop(e->val, e->vlen, err) < 0)
			return err_prefix(err, "edit %zu", i);
	} else if (norm_folded(e->key, e->klen, 0, err) < 0) {
		return err_prefix(err, "edit %zu", i);
	}
	if ((prev != NULL &&
	     state_keycmp(prev, prevlen, e->key, e->klen) >= 0) ||
	    (b != NULL &&
	     state_keycmp(e->key, e->klen, state_key(base, b), b->klen) >= 0))
		return err_set(err, "edit %zu: adds \"%.*s\" out of order", i,
			       (int)e->klen, e->key);
	return 0;
}

/*
 * delta_copy_add - base records [done, upto) of section type, text [from,
 * to), to go to text pos and record rn of the result, as pieces
 */
static int delta_copy_add(struct delta_copies *cp, char type, size_t done,
			  size_t upto, size_t from, size_t to, size_t pos,
			  size_t rn, struct err *err)
{
	const struct state_index *bix =
	    type == 'D' ? &cp->base->dom : &cp->base->rcpt;
	struct delta_piece *q;
	size_t a;

	for (a = done; a < upto; a += DELTA_PIECE) {
		if (cp->n == cp->cap) {
			size_t cap = cp->cap ? 2 * cp->cap : 16;

			q = realloc(cp->p, cap * sizeof(*q));
			if (q == NULL)
				return err_set(err, "out of memory");
			cp->p = q;
			cp->cap = cap;
		}
		q = &cp->p[cp->n++];
		q->type = type;
		q->a = a;
		q->b = upto - a > DELTA_PIECE ? a + DELTA_PIECE : upto;
		q->from = a == done ? from : delta_line_start(&bix->rec[a]);
		q->to = q->b == upto ? to : delta_line_start(&bix->rec[q->b]);
		q->pos = pos + (q->from - from);
		q->rn = rn + (a - done);
		q->shift_from = from;
		q->shift_pos = pos;
	}
	return 0;
}

void delta_copy_one(void *arg, size_t i)
{
	const struct delta_copies *cp = arg;
	const struct delta_piece *q = &cp->p[i];
	const struct state *base = cp->base;
	struct state *res = cp->res;
	const struct state_index *bix =
	    q->type == 'D' ? &base->dom : &base->rcpt;
	struct state_rec *r =
	    (q->type == 'D' ? res->dom.rec : res->rcpt.rec) + q->rn;
	size_t n = q->b - q->a;

	memcpy(res->arena + q->pos, base->arena + q->from, q->to - q->from);
	if (q->type == 'R' && res->hsel != NULL)
		memcpy(res->hsel + q->rn, base->hsel + q->a, n);
	state_recs_moved(r, &bix->rec[q->a], n, q->shift_from, q->shift_pos);
}

int delta_splice_section(const struct state *base, struct state *res, char type,
			 const struct delta_edit *ed, size_t n, size_t *ei,
			 size_t *pos, struct delta_copies *cp, struct err *err)
{
	const struct state_index *bix = type == 'D' ? &base->dom : &base->rcpt;
	struct state_index *rix = type == 'D' ? &res->dom : &res->rcpt;
	size_t done = 0, upto, from, to, len;
	const char *prev = NULL;
	size_t prevlen = 0;
	struct state_rec *r;

	for (;; (*ei)++) {
		const struct delta_edit *e =
		    *ei < n && ed[*ei].type == type ? &ed[*ei] : NULL;

		if (e != NULL && delta_splice_check(base, bix, e, done, prev,
						    prevlen, *ei, err) < 0)
			return -1;
		/* copy base records [done, upto) as one run */
		upto = e != NULL ? e->at : bix->n;
		if (upto > done) {
			from = delta_line_start(&bix->rec[done]);
			to = upto < bix->n ? delta_line_start(&bix->rec[upto])
					   : delta_section_end(base, bix);
			/* the sizes were counted from the edits: re-checked */
			if (to - from > res->cap - *pos ||
			    upto - done > rix->cap - rix->n)
				return err_set(err, "edit %zu: out of order",
					       *ei);
			if (delta_copy_add(cp, type, done, upto, from, to, *pos,
					   rix->n, err) < 0)
				return -1;
			rix->n += upto - done;
			*pos += to - from;
			prev = state_key(base, &bix->rec[upto - 1]);
			prevlen = bix->rec[upto - 1].klen;
			done = upto;
		}
		if (e == NULL)
			return 0;
		if (!e->add) {
			done = e->at + 1;
			continue;
		}
		len = 2 + e->klen + (type == 'D' ? 1 + e->vlen : 0) + 1;
		if (len > res->cap - *pos || rix->n == rix->cap)
			return err_set(err, "edit %zu: out of order", *ei);
		res->arena[*pos] = type;
		res->arena[*pos + 1] = ' ';
		memcpy(res->arena + *pos + 2, e->key, e->klen);
		if (type == 'D') {
			res->arena[*pos + 2 + e->klen] = ' ';
			memcpy(res->arena + *pos + 3 + e->klen, e->val,
			       e->vlen);
		}
		res->arena[*pos + len - 1] = '\n';
		if (type == 'R' && res->hsel != NULL)
			res->hsel[rix->n] =
			    (uint8_t)state_shard_of(e->key, e->klen);
		r = &rix->rec[rix->n++];
		r->pfx = 0;
		r->off = (uint32_t)(*pos + 2);
		r->klen = (uint8_t)e->klen;
		r->vlen = (uint16_t)e->vlen;
		r->fresh = 0;
		prev = e->key;
		prevlen = e->klen;
		*pos += len;
	}
}

/* delta_rcpt_domain_ok - recipient i's domain is in the table */
static int delta_rcpt_domain_ok(const struct state *st, const struct domset *ds,
				size_t i, struct err *err)
{
	const char *a, *d;
	const struct state_rec *r = state_rcpt(st, i, &a);
	size_t dlen;

	state_domain_of(a + r->off, r->klen, &d, &dlen);
	if (domset_has(ds, d, dlen))
		return 0;
	return err_set(err,
		       "state line %zu: recipient domain \"%.*s\" is not "
		       "among the domains",
		       st->dom.n + i + 1, (int)dlen, d);
}

/*
 * delta_splice_domains_ok - every recipient of the result has its domain:
 * all of them when a domain went away, else only the added ones (in order,
 * so that the first bad line is named)
 */
static int delta_splice_domains_ok(const struct state *res, int all,
				   const struct delta_edit *ed, size_t n,
				   struct err *err)
{
	struct domset ds = DOMSET_INIT;
	const char *d;
	size_t i, e, dlen;
	int ret = -1, found;

	if (!all) {
		/* a few added recipients: a binary search each, no table */
		for (e = 0; e < n; e++) {
			if (ed[e].type != 'R' || !ed[e].add)
				continue;
			i = state_lower_rcpt(res, ed[e].key, ed[e].klen,
					     &found);
			if (!found)
				return err_set(err, "edit %zu: lost", e);
			state_domain_of(ed[e].key, ed[e].klen, &d, &dlen);
			state_lower(res, &res->dom, d, dlen, &found);
			if (!found)
				return err_set(
				    err,
				    "state line %zu: recipient domain \"%.*s\" "
				    "is not among the domains",
				    res->dom.n + i + 1, (int)dlen, d);
		}
		return 0;
	}
	if (domset_build(&ds, res->arena, res->dom.rec, res->dom.n, err) < 0)
		return -1;
	for (i = 0; i < state_nr(res); i++)
		if (delta_rcpt_domain_ok(res, &ds, i, err) < 0)
			goto out;
	ret = 0;
out:
	domset_free(&ds);
	return ret;
}

int delta_splice_count(const struct state *base, const struct delta_edit *ed,
		       size_t n, struct delta_count *c, struct err *err)
{
	size_t i;

	if (!base->finished)
		return err_set(err, "delta_splice: base not finished");
	*c = (struct delta_count){base->canon_len,
				  state_dom_end(base),
				  0,
				  base->dom.n,
				  state_nr(base),
				  0,
				  0,
				  0,
				  0};
	for (i = 0; i < n; i++) {
		size_t l = 2 + ed[i].klen +
			   (ed[i].type == 'D' ? 1 + ed[i].vlen : 0) + 1;
		int dom = ed[i].type == 'D';

		if ((ed[i].type != 'D' && ed[i].type != 'R') ||
		    (i > 0 && dom && ed[i - 1].type == 'R') ||
		    ed[i].klen > 255 || ed[i].vlen > UINT16_MAX)
			return err_set(err, "edit %zu: out of order", i);
		if (dom)
			c->domains = 1;
		else
			c->mask |= (uint64_t)1
				   << state_shard_of(ed[i].key, ed[i].klen);
		if (ed[i].add) {
			if (l > STATE_ARENA_MAX - c->len)
				return err_set(
				    err,
				    "state too large (over 4 GiB of text)");
			c->len += l;
			if (dom) {
				c->dlen += l;
				c->nd++;
			} else {
				c->alen += l;
				c->na++;
				c->nr++;
			}
			continue;
		}
		if (l > c->len || (dom ? c->nd : c->nr) == 0 ||
		    (dom && l > c->dlen))
			return err_set(err,
				       "edit %zu: removes a record the base "
				       "lacks",
				       i);
		c->len -= l;
		if (!dom) {
			c->nr--;
			continue;
		}
		c->dlen -= l;
		c->nd--;
		if (!(i + 1 < n && ed[i + 1].type == 'D' && ed[i + 1].add &&
		      ed[i + 1].klen == ed[i].klen &&
		      memcmp(ed[i + 1].key, ed[i].key, ed[i].klen) == 0))
			c->gone = 1;
	}
	return 0;
}

int delta_splice_end(const struct state *base, struct state *res,
		     const struct delta_count *c, const struct delta_edit *ed,
		     size_t n, int lines, struct err *err)
{
	res->finished = 1;
	if (delta_splice_domains_ok(res, c->gone, ed, n, err) < 0)
		return -1;
	if (res->hsel != NULL)
		state_hash_update(
		    res, (const unsigned char(*)[STATE_HASH_LEN])base->leaf,
		    c->domains, c->mask, lines);
	return 0;
}

struct state *delta_splice_flat(const struct state *base,
				const struct delta_edit *ed, size_t n,
				int lines, struct err *err)
{
	struct state *res = NULL, *flat;
	struct delta_copies cp = {NULL, NULL, NULL, 0, 0};
	struct delta_count c;
	size_t pos = 0, ei = 0;

	if (base->run != NULL) {
		/* the copy below reads one text */
		if ((flat = state_flatten(base, err)) == NULL)
			return NULL;
		res = delta_splice_flat(flat, ed, n, lines, err);
		state_free(flat);
		return res;
	}
	if (delta_splice_count(base, ed, n, &c, err) < 0)
		return NULL;
	if ((res = state_new()) == NULL ||
	    (res->arena = state_pool_get(c.len)) == NULL ||
	    (res->dom.rec = state_malloc(c.nd * sizeof(struct state_rec))) ==
		NULL ||
	    (res->rcpt.rec = state_pool_get(c.nr * sizeof(struct state_rec))) ==
		NULL) {
		err_set(err, "out of memory (state of %zu octets)", c.len);
		goto fail;
	}
	res->cap = c.len;
	res->dom.cap = c.nd;
	res->rcpt.cap = c.nr;
	res->pooled = 1;
	/* the base's hash leaves carry over: only touched ones are rehashed */
	if (base->leaf != NULL)
		res->hsel = state_pool_get(c.nr);
	cp.base = base;
	cp.res = res;
	if (delta_splice_section(base, res, 'D', ed, n, &ei, &pos, &cp, err) <
		0 ||
	    delta_splice_section(base, res, 'R', ed, n, &ei, &pos, &cp, err) <
		0)
		goto fail;
	if (ei != n || pos != c.len || res->dom.n != c.nd ||
	    res->rcpt.n != c.nr) {
		err_set(err, "edit %zu: out of order", ei);
		goto fail;
	}
	thread_for(cp.n, delta_copy_one, &cp);
	free(cp.p);
	cp.p = NULL;
	res->len = res->cap = res->canon_len = c.len;
	if (delta_splice_end(base, res, &c, ed, n, lines, err) < 0)
		goto fail;
	return res;
fail:
	free(cp.p);
	state_free(res);
	return NULL;
}

struct state *delta_splice(const struct state *base,
			   const struct delta_edit *ed, size_t n,
			   struct err *err)
{
	return delta_splice_flat(base, ed, n, 0, err);
}
