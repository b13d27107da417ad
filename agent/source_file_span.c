/*
 * source_file_span - a changed file of the file source's cache
 * (source_file_cache.c) parsed only where it changed
 *
 * A unit keeps the bytes its file had when it was parsed, and the keys
 * those bytes yield on more than one line, with their counts (struct
 * source_file_span_dup; every other key of the unit, kept or dropped for
 * its domain, is yielded by exactly one line).  When the file changed it is
 * still read whole, with every settle rule (source_file.c), and compared
 * with those bytes as it is read (source_file_read_prev: only what follows
 * the first difference is kept anew): the common prefix and suffix are the
 * same text in both, and what lies between, widened to whole logical
 * lines, is parsed in the old and in the new bytes alone.
 *
 * Widened how: the span starts at a line that starts a logical line in
 * both texts (or at the start of the file) and ends where such a line
 * starts within the common suffix (or at the end of both).  In a postmap
 * file (TEXTMAP_POSTMAP, textmap.h) that is a line whose first octet is
 * neither white space nor "#": a line starting with white space continues
 * the logical line before it, and blank and comment lines neither add to
 * it nor end it, so a span never starts or ends on them.  In a list every
 * line stands alone.  The parser is in the same state at such a line
 * whatever came before, so the logical lines before the span are the same
 * in both texts, and so are those after it, and their keys did not change:
 * the file's keys change by what the old span yields and the new one does
 * not, or the reverse, counted: a key leaves the unit only when no line is
 * left that yields it, and a key that now comes twice is counted in the
 * duplicates.  The records that join or leave become pending edits of the
 * unit's state (source_file_cache.c), so that a change copies nothing.  An
 * added key whose domain is not listed joins the dropped ones (unlisted_domains
 * = drop).  The result is what a full parse of the new bytes gives, record for
 * record and count for count.
 *
 * Anything else is left to the full parse, which also words every error:
 * a span larger than SOURCE_FILE_SPAN_PART of the file (and than
 * SOURCE_FILE_SPAN_MIN), a line of the span that fails to parse, a key
 * refused for its domain (unlisted_domains = refuse), counts that do not
 * add up, running out of memory.  Nothing is changed then: the update
 * applies all its edits or none.
 */
#include <stdlib.h>
#include <string.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "../formats/norm.h"
#include "../formats/textmap.h"
#include "source.h"
#include "source_file_priv.h"

/* a span this large is parsed alone only when under 1/PART of the file */
#define SOURCE_FILE_SPAN_MIN 65536
#define SOURCE_FILE_SPAN_PART 25

/* source_file_span_ref - a folded key, borrowed */
struct source_file_span_ref {
	const char *k;
	size_t len;
};

/* the folded keys of a parse, in the order of the text */
struct source_file_span_keys {
	struct buf arena;
	size_t *off, *len;
	size_t n, cap;
	int skip_local;
	struct source_file_span_ref *v; /* once collected, sorted */
};

/* source_file_span_clear - forget a unit's bytes and duplicates */
void source_file_span_clear(struct source_file_cache_unit *u)
{
	size_t i;

	free(u->bytes);
	for (i = 0; u->dups != NULL && i < u->ndups; i++)
		free(u->dups[i].key);
	free(u->dups);
	u->bytes = NULL;
	u->blen = u->bcap = 0;
	u->dups = NULL;
	u->ndups = 0;
}

static void source_file_span_keys_free(struct source_file_span_keys *ks)
{
	buf_free(&ks->arena);
	free(ks->off);
	free(ks->len);
	free(ks->v);
}

/*
 * source_file_span_collect - one key of a parse, folded and skipped as
 * source_file.c adds it (source_file_key, state_add_address)
 */
static int source_file_span_collect(void *arg, const char *key, size_t klen,
				    const char *value, size_t vlen,
				    const char *file, unsigned line,
				    struct err *err)
{
	struct source_file_span_keys *ks = arg;
	char out[NORM_BUF_SIZE];
	size_t n;

	(void)value;
	(void)vlen;
	(void)file;
	(void)line;
	if (ks->skip_local && memchr(key, '@', klen) == NULL)
		return 0;
	if (!(klen <= NORM_ADDRESS_MAX &&
	      norm_address_ascii(key, klen, out, sizeof(out), &n)) &&
	    (norm_address(key, klen, out, sizeof(out), &n, err) < 0 ||
	     norm_folded(out, n, 0, err) < 0))
		return -1;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? 2 * ks->cap : 64;
		size_t *no, *nl;

		if (cap > SIZE_MAX / sizeof(size_t))
			return err_set(err, "out of memory");
		if ((no = realloc(ks->off, cap * sizeof(*no))) == NULL)
			return err_set(err, "out of memory");
		ks->off = no;
		if ((nl = realloc(ks->len, cap * sizeof(*nl))) == NULL)
			return err_set(err, "out of memory");
		ks->len = nl;
		ks->cap = cap;
	}
	ks->off[ks->n] = ks->arena.len;
	ks->len[ks->n] = n;
	if (buf_append(&ks->arena, out, n) < 0)
		return err_set(err, "out of memory");
	ks->n++;
	return 0;
}

static int source_file_span_ref_cmp(const void *a, const void *b)
{
	const struct source_file_span_ref *x = a, *y = b;

	return source_file_cache_keycmp(x->k, x->len, y->k, y->len);
}

/*
 * source_file_span_keys - the folded keys of text (whole logical lines),
 * sorted, in ks; -1 when a line does not parse or memory is short
 */
static int source_file_span_keys(enum textmap_kind kind, const char *text,
				 size_t len, struct source_file_span_keys *ks)
{
	struct err err;
	size_t i;

	memset(ks, 0, sizeof(*ks));
	ks->skip_local = kind == TEXTMAP_POSTMAP;
	if (textmap_parse_buf("span", text, len, kind, source_file_span_collect,
			      ks, &err) != 0)
		return -1;
	if (ks->n == 0)
		return 0;
	if ((ks->v = calloc(ks->n, sizeof(*ks->v))) == NULL)
		return -1;
	for (i = 0; i < ks->n; i++) {
		ks->v[i].k = ks->arena.data + ks->off[i];
		ks->v[i].len = ks->len[i];
	}
	qsort(ks->v, ks->n, sizeof(*ks->v), source_file_span_ref_cmp);
	return 0;
}

/* source_file_span_run - how many of v[i], v[i + 1], ... are the same key */
static size_t source_file_span_run(const struct source_file_span_ref *v,
				   size_t n, size_t i)
{
	size_t j = i + 1;

	while (j < n && source_file_span_ref_cmp(&v[i], &v[j]) == 0)
		j++;
	return j - i;
}

/*
 * source_file_span_dups - the keys u->bytes yields more than once, counted
 * into u->dups (a second parse of the whole file: only done when the
 * first one yielded more keys than it kept); -1 when memory is short
 */
int source_file_span_dups(struct source *src, enum textmap_kind kind,
			  struct source_file_cache_unit *u)
{
	struct source_file_span_keys ks;
	size_t i, r, n = 0;
	int rc = -1;

	(void)src;
	if (source_file_span_keys(kind, u->bytes, u->blen, &ks) < 0)
		goto out;
	for (i = 0; i < ks.n; i += r)
		if ((r = source_file_span_run(ks.v, ks.n, i)) > 1)
			n++;
	if (n > 0 && (u->dups = calloc(n, sizeof(*u->dups))) == NULL)
		goto out;
	for (i = 0; i < ks.n; i += r) {
		struct source_file_span_dup *d;

		if ((r = source_file_span_run(ks.v, ks.n, i)) < 2)
			continue;
		d = &u->dups[u->ndups];
		if ((d->key = malloc(ks.v[i].len + 1)) == NULL)
			goto out;
		memcpy(d->key, ks.v[i].k, ks.v[i].len);
		d->key[ks.v[i].len] = '\0';
		d->len = ks.v[i].len;
		d->count = r;
		u->ndups++;
	}
	rc = 0;
out:
	source_file_span_keys_free(&ks);
	return rc;
}

/* source_file_span_suffix - the length of the common end of a[0, n), b[0, n)
 * ... where a and b point past their texts' ends */
static size_t source_file_span_suffix(const char *a_end, const char *b_end,
				      size_t n)
{
	size_t i = 0;

	while (i + 4096 <= n &&
	       memcmp(a_end - i - 4096, b_end - i - 4096, 4096) == 0)
		i += 4096;
	while (i < n && a_end[-(ptrdiff_t)i - 1] == b_end[-(ptrdiff_t)i - 1])
		i++;
	return i;
}

/* source_file_span_blank - Postfix ISSPACE, as textmap.c has it */
static int source_file_span_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/*
 * source_file_span_fresh - 1 when the parser of a kind file is in the same
 * state at a line start whose first octet is c (-1: the end of the text)
 * whatever came before: the end of the text, or any line of a list, or a
 * postmap line that starts a logical line
 */
static int source_file_span_fresh(enum textmap_kind kind, int c)
{
	if (c < 0 || kind == TEXTMAP_LIST)
		return 1;
	return !source_file_span_blank((char)c) && c != '#';
}

/* source_file_span_ref_key, _dup_key - the key of a ref, of a duplicate */
static const char *source_file_span_ref_key(const void *e, size_t *len_r)
{
	const struct source_file_span_ref *r = e;

	*len_r = r->len;
	return r->k;
}

static const char *source_file_span_dup_key(const void *e, size_t *len_r)
{
	const struct source_file_span_dup *d = e;

	*len_r = d->len;
	return d->key;
}

/* one key whose count changed, and what that does */
struct source_file_span_change {
	struct source_file_span_ref key;
	size_t count; /* lines yielding it now */
	int unit;     /* -1 leaves the unit's records, 1 joins them, 0 */
	int gone;     /* the same for the dropped ones */
	size_t at;    /* its place in the unit (delta_edit.at) */
};

/* the update being built; nothing of the unit changes until it is done */
struct source_file_span_plan {
	struct source_file_span_change *ch;
	size_t nch;
	/* the new pending changes: fresh[i] for those made here */
	struct delta_edit *ed;
	unsigned char *fresh;
	size_t ned;
	unsigned char *undone;		   /* the unit's pending ones that go */
	struct source_file_span_ref *gone; /* the unit's dropped ones */
	size_t ngone;
	struct buf gone_text;
	/* the new duplicates: keys borrowed from the unit's unless own[i] */
	struct source_file_span_dup *dups;
	unsigned char *own;
	size_t ndups;
};

static void source_file_span_plan_free(struct source_file_span_plan *pl)
{
	size_t i;

	free(pl->ch);
	for (i = 0; pl->ed != NULL && i < pl->ned; i++)
		if (pl->fresh != NULL && pl->fresh[i] && pl->ed[i].add)
			free((char *)pl->ed[i].key);
	free(pl->ed);
	free(pl->fresh);
	free(pl->undone);
	free(pl->gone);
	buf_free(&pl->gone_text);
	for (i = 0; pl->dups != NULL && i < pl->ndups; i++)
		if (pl->own[i])
			free(pl->dups[i].key);
	free(pl->dups);
	free(pl->own);
}

/* source_file_span_gone_index - the dropped ones of u as sorted refs */
static int source_file_span_gone_index(const struct source_file_cache_unit *u,
				       struct source_file_span_plan *pl)
{
	const char *p = u->gone.data, *end, *nl;

	if (u->unlisted == 0)
		return 0;
	if ((pl->gone = calloc(u->unlisted, sizeof(*pl->gone))) == NULL)
		return -1;
	end = p + u->gone.len;
	while (p < end && pl->ngone < u->unlisted &&
	       (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		pl->gone[pl->ngone].k = p;
		pl->gone[pl->ngone++].len = (size_t)(nl - p);
		p = nl + 1;
	}
	return pl->ngone == u->unlisted && p == end ? 0 : -1;
}

/*
 * source_file_span_decide - what the change of one key from co to cn lines
 * of the span does to the unit; -1 when the counts do not add up or the
 * full parse must decide (a domain refused)
 */
static int source_file_span_decide(struct source *src,
				   const struct source_file_cache_unit *u,
				   struct source_file_span_plan *pl,
				   const struct source_file_span_ref *k,
				   size_t co, size_t cn)
{
	struct source_file_span_change *c = &pl->ch[pl->nch];
	size_t d, old, at;
	int in_unit, in_gone;
	const char *dom;

	in_unit = source_file_cache_has(u, k->k, k->len, &at);
	in_gone = source_file_cache_search(
		      pl->gone, pl->ngone, sizeof(*pl->gone),
		      source_file_span_ref_key, k->k, k->len) < pl->ngone;
	d = source_file_cache_search(u->dups, u->ndups, sizeof(*u->dups),
				     source_file_span_dup_key, k->k, k->len);
	old = d < u->ndups ? u->dups[d].count : (in_unit || in_gone);
	/* the old span yields it co times: the whole file at least as often */
	if (old < co || (old > 0 && !in_unit && !in_gone) ||
	    (in_unit && in_gone))
		return -1;
	memset(c, 0, sizeof(*c));
	c->key = *k;
	c->count = old - co + cn;
	c->at = at;
	if (old == 0 && c->count > 0) {
		dom = memrchr(k->k, '@', k->len);
		if (dom == NULL)
			return -1;
		dom++;
		if (state_find_domain(u->set, dom,
				      k->len - (size_t)(dom - k->k)) >= 0)
			c->unit = 1;
		else if (src->unlisted_domains == SOURCE_UNLISTED_DROP)
			c->gone = 1;
		else
			return -1;
	} else if (old > 0 && c->count == 0) {
		if (in_unit)
			c->unit = -1;
		else
			c->gone = -1;
	}
	pl->nch++;
	return 0;
}

/*
 * source_file_span_changes - the keys whose counts differ between the old
 * span's keys o and the new span's n, decided, in key order
 */
static int source_file_span_changes(struct source *src,
				    const struct source_file_cache_unit *u,
				    struct source_file_span_plan *pl,
				    const struct source_file_span_keys *o,
				    const struct source_file_span_keys *n)
{
	size_t i = 0, j = 0, ro, rn;
	int c;

	if (o->n + n->n > 0 &&
	    (pl->ch = calloc(o->n + n->n, sizeof(*pl->ch))) == NULL)
		return -1;
	while (i < o->n || j < n->n) {
		c = i >= o->n	? 1
		    : j >= n->n ? -1
				: source_file_span_ref_cmp(&o->v[i], &n->v[j]);
		ro = c <= 0 ? source_file_span_run(o->v, o->n, i) : 0;
		rn = c >= 0 ? source_file_span_run(n->v, n->n, j) : 0;
		if (ro != rn &&
		    source_file_span_decide(
			src, u, pl, c <= 0 ? &o->v[i] : &n->v[j], ro, rn) < 0)
			return -1;
		i += ro;
		j += rn;
	}
	return 0;
}

/* source_file_span_build - the unit's new records, dropped ones, duplicates */
static int source_file_span_build(const struct source_file_cache_unit *u,
				  struct source_file_span_plan *pl)
{
	size_t i, g = 0, d = 0, nd = 0, q = 0, kl;
	const char *k;

	if ((pl->ed = calloc(pl->nch + u->npend + 1, sizeof(*pl->ed))) ==
		NULL ||
	    (pl->fresh = calloc(pl->nch + u->npend + 1, 1)) == NULL ||
	    (pl->undone = calloc(u->npend + 1, 1)) == NULL)
		return -1;
	if (u->ndups + pl->nch > 0 &&
	    ((pl->dups = calloc(u->ndups + pl->nch, sizeof(*pl->dups))) ==
		 NULL ||
	     (pl->own = calloc(u->ndups + pl->nch, 1)) == NULL))
		return -1;
	/*
	 * the records: the unit's pending changes with one more per key that
	 * joins or leaves (or none, where it undoes a pending one), in key
	 * order; nothing is copied (source_file_cache_settle)
	 */
	for (i = 0; i <= pl->nch; i++) {
		const struct source_file_span_change *c =
		    i < pl->nch ? &pl->ch[i] : NULL;
		struct delta_edit *e;
		int cmp = 1;

		if (c != NULL && c->unit == 0)
			continue;
		while (q < u->npend &&
		       (c == NULL || (cmp = source_file_cache_keycmp(
					  u->pend[q].key, u->pend[q].klen,
					  c->key.k, c->key.len)) < 0))
			pl->ed[pl->ned++] = u->pend[q++]; /* borrowed */
		if (c == NULL)
			break;
		if (q < u->npend && cmp == 0) {
			/* an addition taken back, a removal undone */
			if ((u->pend[q].add != 0) != (c->unit < 0))
				return -1;
			pl->undone[q++] = 1;
			continue;
		}
		e = &pl->ed[pl->ned];
		e->val = "";
		e->vlen = 0;
		e->at = c->at;
		e->type = 'R';
		e->add = c->unit > 0;
		e->klen = c->key.len;
		if (e->add) {
			if ((e->key = strndup(c->key.k, c->key.len)) == NULL)
				return -1;
			pl->fresh[pl->ned] = 1;
		} else {
			/* a removal names the record of set */
			if (c->at >= state_recipient_count(u->set))
				return -1;
			state_recipient(u->set, c->at, &k, &kl);
			if (kl != c->key.len || memcmp(k, c->key.k, kl) != 0)
				return -1;
			e->key = k;
		}
		pl->ned++;
	}
	/* the dropped ones: the old list merged with the changes */
	for (i = 0; i <= pl->nch; i++) {
		const struct source_file_span_change *c =
		    i < pl->nch ? &pl->ch[i] : NULL;

		if (c != NULL && c->gone == 0)
			continue;
		while (g < pl->ngone &&
		       (c == NULL ||
			source_file_span_ref_cmp(&pl->gone[g], &c->key) < 0)) {
			if (buf_append(&pl->gone_text, pl->gone[g].k,
				       pl->gone[g].len) < 0 ||
			    buf_putc(&pl->gone_text, '\n') < 0)
				return -1;
			g++;
		}
		if (c == NULL)
			break;
		if (c->gone < 0) {
			/* the one removed, the next of the old list */
			if (g >= pl->ngone || source_file_span_ref_cmp(
						  &pl->gone[g], &c->key) != 0)
				return -1;
			g++;
			continue;
		}
		if (buf_append(&pl->gone_text, c->key.k, c->key.len) < 0 ||
		    buf_putc(&pl->gone_text, '\n') < 0)
			return -1;
	}
	/* the duplicates: the old ones merged with the new counts */
	for (i = 0; i <= pl->nch; i++) {
		const struct source_file_span_change *c =
		    i < pl->nch ? &pl->ch[i] : NULL;
		const struct source_file_span_dup *o;
		struct source_file_span_dup *n;

		while (d < u->ndups &&
		       (c == NULL ||
			source_file_cache_keycmp(u->dups[d].key, u->dups[d].len,
						 c->key.k, c->key.len) < 0)) {
			o = &u->dups[d++];
			pl->dups[nd] = *o; /* borrowed */
			pl->ndups = ++nd;
		}
		if (c == NULL)
			break;
		if (d < u->ndups &&
		    source_file_cache_keycmp(u->dups[d].key, u->dups[d].len,
					     c->key.k, c->key.len) == 0)
			d++; /* replaced by its new count */
		if (c->count < 2)
			continue;
		n = &pl->dups[nd];
		if ((n->key = strndup(c->key.k, c->key.len)) == NULL)
			return -1;
		n->len = c->key.len;
		n->count = c->count;
		pl->own[nd] = 1;
		pl->ndups = ++nd;
	}
	return 0;
}

/* source_file_span_kept - 1 when the new duplicates borrow old's key */
static int source_file_span_kept(const struct source_file_span_plan *pl,
				 const struct source_file_span_dup *old)
{
	size_t i = source_file_cache_search(
	    pl->dups, pl->ndups, sizeof(*pl->dups), source_file_span_dup_key,
	    old->key, old->len);

	return i < pl->ndups && !pl->own[i];
}

/* the new text: the old one's first same octets, then tail */
struct source_file_span_new {
	const char *old, *tail;
	size_t same, len;
};

/* source_file_span_at - octet i of the new text */
static char source_file_span_at(const struct source_file_span_new *n, size_t i)
{
	return i < n->same ? n->old[i] : n->tail[i - n->same];
}

/*
 * source_file_span_update - u (its file's last bytes kept) updated to the
 * file's new bytes: the first same octets of the old ones, then those in
 * tail; only what changed is parsed.  *lines_r gets the lines parsed (old
 * and new span).  0 when done (u keeps the new bytes), -1 when the full
 * parse must do it (nothing changed then).
 */
int source_file_span_update(struct source *src, enum textmap_kind kind,
			    struct source_file_cache_unit *u, size_t same,
			    const struct buf *tail, size_t *lines_r)
{
	struct source_file_span_plan pl;
	struct source_file_span_keys ko, kn;
	struct source_file_span_new nt;
	const char *ob = u->bytes, *tb = tail->data != NULL ? tail->data : "";
	size_t olen = u->blen, tlen = tail->len, nlen, t, at, qo, qn, i,
	       unlisted, m;
	char *span = NULL, *p;
	long long added;
	int rc = -1;

	memset(&pl, 0, sizeof(pl));
	memset(&ko, 0, sizeof(ko));
	memset(&kn, 0, sizeof(kn));
	*lines_r = 0;
	if (ob == NULL || u->set == NULL || u->gone_lost || same > olen ||
	    tlen > SIZE_MAX - same - 1)
		return -1;
	nlen = same + tlen;
	nt.old = ob;
	nt.tail = tb;
	nt.same = same;
	nt.len = nlen;
	if (same == olen && tlen == 0)
		goto bytes; /* the same text */
	m = olen - same < tlen ? olen - same : tlen;
	t = source_file_span_suffix(ob + olen, tb + tlen, m);
	/* back to a line start where both texts start a logical line */
	at = same;
	while (at > 0 && ob[at - 1] != '\n')
		at--;
	while (
	    at > 0 &&
	    !(source_file_span_fresh(kind,
				     at < olen ? (unsigned char)ob[at] : -1) &&
	      source_file_span_fresh(
		  kind, at < nlen ? (unsigned char)source_file_span_at(&nt, at)
				  : -1))) {
		at--;
		while (at > 0 && ob[at - 1] != '\n')
			at--;
	}
	/* on to such a line in the common end, or to the end of both */
	qo = olen - t;
	qn = nlen - t;
	while (qo < olen &&
	       !((qo == 0 || ob[qo - 1] == '\n') &&
		 (qn == 0 || source_file_span_at(&nt, qn - 1) == '\n') &&
		 source_file_span_fresh(kind, (unsigned char)ob[qo]))) {
		const char *nl = memchr(ob + qo, '\n', olen - qo);
		size_t step =
		    nl != NULL ? (size_t)(nl + 1 - (ob + qo)) : olen - qo;

		qo += step;
		qn += step;
	}
	if (qo - at + qn - at > SOURCE_FILE_SPAN_MIN &&
	    qo - at + qn - at > (olen + nlen) / SOURCE_FILE_SPAN_PART)
		return -1;
	/* the new span in one piece: from the old text, then from tail */
	if ((span = malloc(qn - at + 1)) == NULL)
		return -1;
	memcpy(span, ob + at, same - at);
	memcpy(span + (same - at), tb, qn - same);
	*lines_r = source_file_lines(ob + at, qo - at) +
		   source_file_lines(span, qn - at);
	if (source_file_span_keys(kind, ob + at, qo - at, &ko) < 0 ||
	    source_file_span_keys(kind, span, qn - at, &kn) < 0 ||
	    source_file_span_gone_index(u, &pl) < 0 ||
	    source_file_span_changes(src, u, &pl, &ko, &kn) < 0 ||
	    source_file_span_build(u, &pl) < 0)
		goto out;
	added = (long long)u->added + (long long)kn.n - (long long)ko.n;
	if (added < 0)
		goto out;
	for (i = 0, unlisted = 0; i < pl.gone_text.len; i++)
		unlisted += pl.gone_text.data[i] == '\n';
	/* nothing can fail from here on */
	for (i = 0; i < u->npend; i++)
		if (pl.undone[i] && u->pend[i].add)
			free((char *)u->pend[i].key);
	free(u->pend);
	u->pend = pl.ed;
	u->npend = pl.ned;
	pl.ed = NULL;
	pl.ned = 0;
	buf_free(&u->gone);
	u->gone = pl.gone_text;
	memset(&pl.gone_text, 0, sizeof(pl.gone_text));
	u->unlisted = unlisted;
	u->unlisted_example[0] = '\0';
	if (unlisted > 0)
		snprintf(u->unlisted_example, sizeof(u->unlisted_example),
			 "%.*s",
			 (int)(strchr(u->gone.data, '\n') - u->gone.data),
			 u->gone.data);
	/* the old duplicates' keys that the new list does not borrow */
	for (i = 0; i < u->ndups; i++)
		if (source_file_span_kept(&pl, &u->dups[i]) == 0)
			free(u->dups[i].key);
	free(u->dups);
	u->dups = pl.dups;
	u->ndups = pl.ndups;
	pl.dups = NULL;
	pl.ndups = 0;
	u->added = (size_t)added;
	source_file_cache_settle(u);
bytes:
	/* the new bytes are the unit's: its old start, then tail */
	if (nlen + 1 > u->bcap) {
		if ((p = realloc(u->bytes, SOURCE_FILE_SPAN_ROOM(nlen))) ==
		    NULL) {
			/* the records are right; without the bytes the
			 * next change is parsed whole */
			source_file_span_clear(u);
			rc = 0;
			goto out;
		}
		u->bytes = p;
		u->bcap = SOURCE_FILE_SPAN_ROOM(nlen);
	}
	memcpy(u->bytes + same, tb, tlen);
	u->bytes[nlen] = '\0';
	u->blen = nlen;
	rc = 0;
out:
	free(span);
	source_file_span_keys_free(&ko);
	source_file_span_keys_free(&kn);
	source_file_span_plan_free(&pl);
	return rc;
}
