/*
 * delta - the change between two canonical states
 *
 * delta_compute() walks both states' sorted indexes once.  delta_apply()
 * checks each change line (syntax, order, folding, presence in the base,
 * found by binary search) and hands the changes to state_splice(), which
 * builds the result by copying the base's text between changes in whole
 * runs (in pieces, on every core): the base is a verified canonical state, so
 * only the changed records and the recipients' domains are checked again.  The
 * result's hash is then compared with the signed one; when the base keeps its
 * hash leaves (state_hash_prepare) the result inherits them and only the leaves
 * of the touched shards are rehashed.  No step allocates per record.
 *
 * Failures return -1 (NULL) with "delta line N: ..." for a malformed or
 * inapplicable delta, "delta base hash mismatch: ..." and "delta result hash
 * mismatch: ..." for hash checks.
 *
 * Security: the delta comes from the network; it is trusted only as far as
 * the hashes prove: every line is checked (type, order, folding, presence in
 * the base) and the result must hash to the signed state hash.
 */
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "domset.h"
#include "manifest.h"
#include "norm.h"
#include "state_impl.h"
#include "thread.h"

/* delta_put - append "<head><key>[ <val>]\n" (a state or a change line) */
static int delta_put(struct buf *out, const char *head, const char *key,
		     size_t klen, const char *val, size_t vlen)
{
	if (buf_append(out, head, strlen(head)) < 0 ||
	    buf_append(out, key, klen) < 0)
		return -1;
	if (val != NULL &&
	    (buf_putc(out, ' ') < 0 || buf_append(out, val, vlen) < 0))
		return -1;
	return buf_putc(out, '\n');
}

/* delta_line - append one change line */
static int delta_line(struct buf *out, char sign, char type, const char *key,
		      size_t klen, const char *val, size_t vlen)
{
	char head[4] = {sign, type, ' ', '\0'};

	return delta_put(out, head, key, klen, val, vlen);
}

int delta_compute(const struct state *old, const struct state *new,
		  struct buf *out, size_t *adds_r, size_t *removes_r,
		  struct err *err)
{
	size_t i = 0, j = 0, no, nn, adds = 0, removes = 0;
	const char *ok, *ov, *nk, *nv;
	size_t okl, ovl, nkl, nvl, head, tail;
	int c, domains;

	/* what the two texts share at either end is no change: skipped */
	head = tail = 0;
	domains = 1;
	if (old->finished && new->finished)
		state_same_ends(old, new, &head, &tail, &domains);
	no = domains ? state_domain_count(old) : 0;
	nn = domains ? state_domain_count(new) : 0;
	while (i < no || j < nn) {
		if (i < no)
			state_domain(old, i, &ok, &okl, &ov, &ovl);
		if (j < nn)
			state_domain(new, j, &nk, &nkl, &nv, &nvl);
		c = i >= no ? 1 : j >= nn ? -1 : state_keycmp(ok, okl, nk, nkl);
		if (c == 0) {
			if (ovl != nvl || memcmp(ov, nv, ovl) != 0) {
				if (delta_line(out, '-', 'D', ok, okl, ov,
					       ovl) < 0 ||
				    delta_line(out, '+', 'D', nk, nkl, nv,
					       nvl) < 0)
					goto nomem;
				removes++;
				adds++;
			}
			i++;
			j++;
		} else if (c < 0) {
			if (delta_line(out, '-', 'D', ok, okl, ov, ovl) < 0)
				goto nomem;
			removes++;
			i++;
		} else {
			if (delta_line(out, '+', 'D', nk, nkl, nv, nvl) < 0)
				goto nomem;
			adds++;
			j++;
		}
	}
	i = j = head;
	no = state_recipient_count(old) - tail;
	nn = state_recipient_count(new) - tail;
	while (i < no || j < nn) {
		if (i < no)
			state_recipient(old, i, &ok, &okl);
		if (j < nn)
			state_recipient(new, j, &nk, &nkl);
		c = i >= no ? 1 : j >= nn ? -1 : state_keycmp(ok, okl, nk, nkl);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (delta_line(out, '-', 'R', ok, okl, NULL, 0) < 0)
				goto nomem;
			removes++;
			i++;
		} else {
			if (delta_line(out, '+', 'R', nk, nkl, NULL, 0) < 0)
				goto nomem;
			adds++;
			j++;
		}
	}
	if (adds_r != NULL)
		*adds_r = adds;
	if (removes_r != NULL)
		*removes_r = removes;
	return 0;
nomem:
	return err_set(err, "out of memory (delta)");
}

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
 * The base's lines between edits are copied after the edits are checked
 * and written, in pieces of at most DELTA_PIECE records spread over the
 * cores (thread_for): one piece is its records' text, index entries
 * (moved by the run's shift) and hash shards.
 */
#define DELTA_PIECE 65536

struct delta_piece {
	char type;
	size_t a, b;	   /* base records [a, b) of the section */
	size_t from, to;   /* their text in the base */
	size_t pos, rn;	   /* where text and records go in the result */
	size_t shift_from; /* the run's first text offset in the base */
	size_t shift_pos;  /* ... and in the result */
};

struct delta_copies {
	const struct state *base;
	struct state *res;
	struct delta_piece *p;
	size_t n, cap;
};

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

/* delta_copy_one - piece i of the copies */
static void delta_copy_one(void *arg, size_t i)
{
	const struct delta_copies *cp = arg;
	const struct delta_piece *q = &cp->p[i];
	const struct state *base = cp->base;
	struct state *res = cp->res;
	const struct state_index *bix =
	    q->type == 'D' ? &base->dom : &base->rcpt;
	struct state_rec *r =
	    (q->type == 'D' ? res->dom.rec : res->rcpt.rec) + q->rn;
	size_t k, n = q->b - q->a;

	memcpy(res->arena + q->pos, base->arena + q->from, q->to - q->from);
	if (q->type == 'R' && res->hsel != NULL)
		memcpy(res->hsel + q->rn, base->hsel + q->a, n);
	memcpy(r, &bix->rec[q->a], n * sizeof(*r));
	for (k = 0; k < n; k++)
		r[k].off = (uint32_t)(r[k].off - q->shift_from + q->shift_pos);
}

/*
 * delta_splice_section - write one section (D or R lines) of the result:
 * runs of base lines noted in cp to be copied whole (their index entries
 * moved by the run's shift), edits checked and applied.  *pos and *ei
 * advance.
 */
static int delta_splice_section(const struct state *base, struct state *res,
				char type, const struct delta_edit *ed,
				size_t n, size_t *ei, size_t *pos,
				struct delta_copies *cp, struct err *err)
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
	const struct state_rec *r = &st->rcpt.rec[i];
	const char *d;
	size_t dlen;

	state_domain_of(state_key(st, r), r->klen, &d, &dlen);
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
			i = state_lower(res, &res->rcpt, ed[e].key, ed[e].klen,
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
	for (i = 0; i < res->rcpt.n; i++)
		if (delta_rcpt_domain_ok(res, &ds, i, err) < 0)
			goto out;
	ret = 0;
out:
	domset_free(&ds);
	return ret;
}

struct state *delta_splice(const struct state *base,
			   const struct delta_edit *ed, size_t n,
			   struct err *err)
{
	struct state *res = NULL;
	struct delta_copies cp = {NULL, NULL, NULL, 0, 0};
	size_t i, len = base->canon_len, nd = base->dom.n, nr = base->rcpt.n;
	size_t pos = 0, ei = 0;
	uint64_t mask = 0;
	int gone = 0, domains = 0;

	if (!base->finished) {
		err_set(err, "delta_splice: base not finished");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		size_t l = 2 + ed[i].klen +
			   (ed[i].type == 'D' ? 1 + ed[i].vlen : 0) + 1;

		if ((ed[i].type != 'D' && ed[i].type != 'R') ||
		    (i > 0 && ed[i].type == 'D' && ed[i - 1].type == 'R') ||
		    ed[i].klen > 255 || ed[i].vlen > UINT16_MAX) {
			err_set(err, "edit %zu: out of order", i);
			return NULL;
		}
		if (ed[i].add) {
			if (l > STATE_ARENA_MAX - len) {
				err_set(err,
					"state too large (over 4 GiB of text)");
				return NULL;
			}
			len += l;
			ed[i].type == 'D' ? nd++ : nr++;
		} else {
			/* removals are checked against the base before use */
			if (l > len || (ed[i].type == 'D' ? nd : nr) == 0) {
				err_set(err,
					"edit %zu: removes a record the "
					"base lacks",
					i);
				return NULL;
			}
			len -= l;
			ed[i].type == 'D' ? nd-- : nr--;
			/* a domain removed and not added back */
			if (ed[i].type == 'D' &&
			    !(i + 1 < n && ed[i + 1].type == 'D' &&
			      ed[i + 1].add && ed[i + 1].klen == ed[i].klen &&
			      memcmp(ed[i + 1].key, ed[i].key, ed[i].klen) ==
				  0))
				gone = 1;
		}
	}
	if ((res = state_new()) == NULL ||
	    (res->arena = state_pool_get(len)) == NULL ||
	    (res->dom.rec = state_malloc(nd * sizeof(struct state_rec))) ==
		NULL ||
	    (res->rcpt.rec = state_pool_get(nr * sizeof(struct state_rec))) ==
		NULL) {
		err_set(err, "out of memory (state of %zu octets)", len);
		goto fail;
	}
	res->cap = len;
	res->dom.cap = nd;
	res->rcpt.cap = nr;
	res->pooled = 1;
	/* the base's hash leaves carry over: only touched ones are rehashed */
	if (base->leaf != NULL && (res->hsel = state_pool_get(nr)) != NULL) {
		for (i = 0; i < n; i++)
			if (ed[i].type == 'R')
				mask |= (uint64_t)1 << state_shard_of(
					    ed[i].key, ed[i].klen);
			else
				domains = 1;
	}
	cp.base = base;
	cp.res = res;
	if (delta_splice_section(base, res, 'D', ed, n, &ei, &pos, &cp, err) <
		0 ||
	    delta_splice_section(base, res, 'R', ed, n, &ei, &pos, &cp, err) <
		0)
		goto fail;
	if (ei != n || pos != len || res->dom.n != nd || res->rcpt.n != nr) {
		err_set(err, "edit %zu: out of order", ei);
		goto fail;
	}
	thread_for(cp.n, delta_copy_one, &cp);
	free(cp.p);
	cp.p = NULL;
	res->len = res->cap = res->canon_len = len;
	res->finished = 1;
	if (delta_splice_domains_ok(res, gone, ed, n, err) < 0)
		goto fail;
	/* out of memory here only costs a whole hash later */
	if (res->hsel != NULL)
		state_hash_update(
		    res, (const unsigned char(*)[STATE_HASH_LEN])base->leaf,
		    domains, mask);
	return res;
fail:
	free(cp.p);
	state_free(res);
	return NULL;
}

/*
 * delta_apply_line - check one change line against the line before it and
 * the base, and turn it into an edit (e) of the base
 */
static int delta_apply_line(const struct state *base,
			    const struct delta_edit *prev, const char *line,
			    size_t llen, unsigned lineno, struct delta_edit *e,
			    struct err *err)
{
	const char *key = line + 3, *val = NULL, *sp, *bk, *bv = NULL;
	size_t klen, vlen = 0, bkl = 0, bvl = 0, at;
	char sign, type;
	int c, present, again = 0;

	if (llen < 3 || (line[0] != '+' && line[0] != '-') ||
	    (line[1] != 'D' && line[1] != 'R') || line[2] != ' ')
		return err_set(err, "delta line %u: unknown line type", lineno);
	sign = line[0];
	type = line[1];
	klen = llen - 3;
	if (type == 'D') {
		sp = memchr(key, ' ', klen);
		if (sp == NULL || sp + 1 == line + llen)
			return err_set(err, "delta line %u: empty nexthop",
				       lineno);
		klen = (size_t)(sp - key);
		val = sp + 1;
		vlen = llen - 3 - klen - 1;
	}

	/* Order: all D before all R, keys ascending, "-" before "+". */
	if (prev != NULL && prev->type == 'R' && type == 'D')
		return err_set(err,
			       "delta line %u: not sorted (domain change after "
			       "recipient changes)",
			       lineno);
	if (prev != NULL && prev->type == type) {
		c = state_keycmp(prev->key, prev->klen, key, klen);
		if (c > 0 || (c == 0 && !(!prev->add && sign == '+')))
			return err_set(err,
				       "delta line %u: not sorted (\"%.*s\" "
				       "after \"%.*s\")",
				       lineno, (int)klen, key, (int)prev->klen,
				       prev->key);
		/* the same key removed just before: a nexthop change */
		again = c == 0;
	}

	if (sign == '+') {
		if (norm_folded(key, klen, type == 'D', err) < 0 ||
		    (type == 'D' && norm_nexthop(val, vlen, err) < 0))
			return err_prefix(err, "delta line %u", lineno);
	}
	at = state_lower(base, type == 'D' ? &base->dom : &base->rcpt, key,
			 klen, &present);
	if (present && type == 'D')
		state_domain(base, at, &bk, &bkl, &bv, &bvl);
	if (sign == '-') {
		if (!present)
			return err_set(
			    err, "delta line %u: removes absent %s \"%.*s\"",
			    lineno, type == 'D' ? "domain" : "recipient",
			    (int)klen, key);
		if (type == 'D' && (bvl != vlen || memcmp(bv, val, vlen) != 0))
			return err_set(
			    err,
			    "delta line %u: removes domain \"%.*s\" with "
			    "nexthop \"%.*s\", but the base has \"%.*s\"",
			    lineno, (int)klen, key, (int)vlen, val, (int)bvl,
			    bv);
	} else if (present && !again) {
		return err_set(err, "delta line %u: adds present %s \"%.*s\"",
			       lineno, type == 'D' ? "domain" : "recipient",
			       (int)klen, key);
	} else if (present) {
		at++; /* after the record the line before removed */
	}
	*e = (struct delta_edit){key, val, klen, vlen, at, type, sign == '+'};
	return 0;
}

/*
 * delta_hash_check - st hashes to want, else "delta WHAT hash mismatch:
 * expected HEX, HAS has HEX"
 */
static int delta_hash_check(const struct state *st, int version,
			    const unsigned char want[STATE_HASH_LEN],
			    const char *what, const char *has, struct err *err)
{
	unsigned char h[STATE_HASH_LEN];
	char hex1[2 * STATE_HASH_LEN + 1], hex2[2 * STATE_HASH_LEN + 1];

	state_hash_version(st, version, h);
	if (memcmp(h, want, STATE_HASH_LEN) == 0)
		return 0;
	manifest_hex(want, STATE_HASH_LEN, hex1);
	manifest_hex(h, STATE_HASH_LEN, hex2);
	return err_set(err, "delta %s hash mismatch: expected %s, %s has %s",
		       what, hex1, has, hex2);
}

struct state *delta_apply(const struct state *base,
			  const unsigned char *base_hash, const char *delta,
			  size_t len, const unsigned char *result_hash,
			  struct err *err)
{
	return delta_apply_version(base, base_hash, delta, len, result_hash,
				   MANIFEST_VERSION, err);
}

struct state *delta_apply_version(const struct state *base,
				  const unsigned char *base_hash,
				  const char *delta, size_t len,
				  const unsigned char *result_hash, int version,
				  struct err *err)
{
	struct state *res = NULL;
	struct delta_edit *ed = NULL;
	const char *p;
	size_t pos = 0, n = 0, lines = 0;
	unsigned lineno = 0;

	if (base_hash != NULL &&
	    delta_hash_check(base, version, base_hash, "base", "base state",
			     err) < 0)
		goto out;
	for (p = delta; (p = memchr(p, '\n', len - (size_t)(p - delta))); p++)
		lines++;
	ed = malloc((lines ? lines : 1) * sizeof(*ed));
	if (ed == NULL) {
		err_set(err, "out of memory (applying delta)");
		goto out;
	}
	while (pos < len) {
		const char *line = delta + pos;
		const char *nl = memchr(line, '\n', len - pos);

		lineno++;
		if (nl == NULL) {
			err_set(err, "delta line %u: no final newline", lineno);
			goto out;
		}
		if (delta_apply_line(base, n > 0 ? &ed[n - 1] : NULL, line,
				     (size_t)(nl - line), lineno, &ed[n],
				     err) < 0)
			goto out;
		n++;
		pos += (size_t)(nl - line) + 1;
	}
	/* The base is verified and canonical: only the changes are checked. */
	res = delta_splice(base, ed, n, err);
	if (res == NULL) {
		err_prefix(err, "delta result");
		goto out;
	}
	/* a result without the base's leaves gets its own, for the next */
	if (version != STATE_HASH_V1)
		state_hash_prepare(res);
	if (result_hash != NULL &&
	    delta_hash_check(res, version, result_hash, "result", "result",
			     err) < 0) {
		state_free(res);
		res = NULL;
		goto out;
	}
out:
	free(ed);
	return res;
}
