/*
 * state_finish - turn added records into a finished, canonical state
 *
 * Sort (state_sort.c), then one pass per index that drops duplicates,
 * checks, and copies each kept record into the new canonical text.  During
 * a pass a kept record's new offset is kept in pfx and off stays valid in
 * the old arena until nothing can fail, so that a failure leaves a usable
 * (unfinished) state holding the same records.
 *
 * Failures: the same domain with two nexthops, or a recipient whose domain
 * is not among the domains (unless its tag says to drop it:
 * state_finish_unlisted), named with the record (and its tag), the 4 GiB
 * limit of the text, and out of memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domset.h"
#include "state_impl.h"

/* state_swap_off - exchange off and pfx (the new offset) of n records */
static void state_swap_off(struct state_rec *rec, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t t = rec[i].pfx;

		rec[i].pfx = rec[i].off;
		rec[i].off = (uint32_t)t;
	}
}

/* state_drop - close the gap [j, i) left by de-duplication */
static void state_drop(struct state_index *ix, size_t j, size_t i)
{
	if (j < i) {
		memmove(&ix->rec[j], &ix->rec[i],
			(ix->n - i) * sizeof(*ix->rec));
		ix->n -= i - j;
	}
}

/*
 * state_finish_domains - the D lines into text from *pos; the same domain
 * twice is dropped with the same nexthop, an error with another
 */
static int state_finish_domains(struct state *st, char *text, size_t *pos,
				unsigned *tag_r, struct err *err)
{
	size_t i, j;

	for (i = j = 0; i < st->dom.n; i++) {
		struct state_rec *r = &st->dom.rec[i];
		const char *k = state_key(st, r);
		size_t n = (size_t)r->klen + 1 + r->vlen;

		if (j > 0) {
			struct state_rec *p = &st->dom.rec[j - 1];
			const char *pk = text + p->pfx;

			if (p->klen == r->klen && memcmp(pk, k, r->klen) == 0) {
				if (p->vlen == r->vlen &&
				    memcmp(pk + p->klen + 1, k + r->klen + 1,
					   r->vlen) == 0)
					continue;
				if (tag_r != NULL)
					*tag_r = r->fresh ? state_tag(st, r)
							  : state_tag(st, p);
				err_set(err,
					"domain \"%.*s\" listed with two "
					"nexthops: \"%.*s\" and \"%.*s\"",
					(int)r->klen, k, (int)p->vlen,
					pk + p->klen + 1, (int)r->vlen,
					k + r->klen + 1);
				state_drop(&st->dom, j, i);
				return -1;
			}
		}
		text[*pos] = 'D';
		text[*pos + 1] = ' ';
		memcpy(text + *pos + 2, k, n);
		text[*pos + 2 + n] = '\n';
		st->dom.rec[j] = *r;
		st->dom.rec[j++].pfx = *pos + 2;
		*pos += n + 3;
	}
	state_drop(&st->dom, j, i);
	return 0;
}

/* state_drops - recipients of an absent domain that their tag drops */
struct state_drops {
	const unsigned char *drop; /* drop[tag]: drop, not fail (ndrop) */
	size_t ndrop;
	struct state_index gone; /* the records dropped, in key order */
};

/*
 * state_finish_recipients - the R lines into text from *pos, duplicates
 * dropped; the first recipient in key order whose domain is not in ds
 * fails, unless its tag drops it (then it is kept aside in dr->gone, and
 * put back into the index when the finish fails)
 */
static int state_finish_recipients(struct state *st, const struct domset *ds,
				   struct state_drops *dr, char *text,
				   size_t *pos, unsigned *tag_r,
				   struct err *err)
{
	size_t i, j, dlen, pl = 0;
	const char *d, *pk = NULL;
	unsigned tag;

	for (i = j = 0; i < st->rcpt.n; i++) {
		struct state_rec *r = &st->rcpt.rec[i];
		const char *k = state_key(st, r);

		/* the one before, kept or set aside, in the old arena */
		if (pk != NULL && pl == r->klen && memcmp(pk, k, pl) == 0)
			continue;
		pk = k;
		pl = r->klen;
		state_domain_of(k, r->klen, &d, &dlen);
		if (!domset_has(ds, d, dlen)) {
			tag = state_tag(st, r);
			if (r->fresh && tag < dr->ndrop && dr->drop[tag]) {
				if (state_grow_index(&dr->gone, err) < 0)
					goto fail;
				dr->gone.rec[dr->gone.n++] = *r;
				continue;
			}
			if (tag_r != NULL)
				*tag_r = tag;
			err_set(err,
				"recipient \"%.*s\": domain \"%.*s\" is not "
				"among the domains",
				(int)r->klen, k, (int)dlen, d);
			goto fail;
		}
		text[*pos] = 'R';
		text[*pos + 1] = ' ';
		memcpy(text + *pos + 2, k, r->klen);
		text[*pos + 2 + r->klen] = '\n';
		st->rcpt.rec[j] = *r;
		st->rcpt.rec[j++].pfx = *pos + 2;
		*pos += (size_t)r->klen + 3;
	}
	state_drop(&st->rcpt, j, i);
	return 0;
fail:
	/* the records set aside fit where the pass had moved past them */
	state_drop(&st->rcpt, j, i);
	if (dr->gone.n > 0)
		memcpy(&st->rcpt.rec[st->rcpt.n], dr->gone.rec,
		       dr->gone.n * sizeof(*dr->gone.rec));
	st->rcpt.n += dr->gone.n;
	dr->gone.n = 0;
	return -1;
}

int state_finish(struct state *st, unsigned *tag_r, struct err *err)
{
	return state_finish_unlisted(st, NULL, 0, NULL, NULL, tag_r, err);
}

int state_finish_unlisted(struct state *st, const unsigned char *drop,
			  size_t ndrop, state_unlisted_fn *dropped, void *arg,
			  unsigned *tag_r, struct err *err)
{
	struct state_drops dr = {drop, ndrop, {NULL, 0, 0}};
	struct domset ds = DOMSET_INIT;
	struct state_rec *tmp = NULL;
	size_t i, max, total = 0, pos = 0;
	char *text = NULL;
	int ret = -1, dom_swapped = 0;

	if (st->finished)
		return 0;
	max = st->dom.n > st->rcpt.n ? st->dom.n : st->rcpt.n;
	tmp = state_malloc(max * sizeof(*tmp));
	if (tmp == NULL) {
		err_set(err, "out of memory (sorting %zu records)", max);
		goto out;
	}
	state_sort(st, st->dom.rec, tmp, st->dom.n);
	state_sort(st, st->rcpt.rec, tmp, st->rcpt.n);
	free(tmp);
	tmp = NULL;

	for (i = 0; i < st->dom.n; i++)
		total += 2 + st->dom.rec[i].klen + 1 + st->dom.rec[i].vlen + 1;
	for (i = 0; i < st->rcpt.n; i++)
		total += 2 + st->rcpt.rec[i].klen + 1;
	if (total > STATE_ARENA_MAX) {
		err_set(err, "state too large (over 4 GiB of text)");
		goto out;
	}
	text = state_malloc(total);
	if (text == NULL) {
		err_set(err, "out of memory (state text of %zu octets)", total);
		goto out;
	}
	if (state_finish_domains(st, text, &pos, tag_r, err) < 0)
		goto out;
	/* The domain set looks keys up in the new text. */
	state_swap_off(st->dom.rec, st->dom.n);
	dom_swapped = 1;
	if (domset_build(&ds, text, st->dom.rec, st->dom.n, err) < 0 ||
	    state_finish_recipients(st, &ds, &dr, text, &pos, tag_r, err) < 0)
		goto out;
	/* nothing can fail now: name the dropped ones, in key order */
	for (i = 0; dropped != NULL && i < dr.gone.n; i++)
		dropped(arg, state_tag(st, &dr.gone.rec[i]),
			state_key(st, &dr.gone.rec[i]), dr.gone.rec[i].klen);
	/* the new text becomes the arena */
	state_swap_off(st->rcpt.rec, st->rcpt.n);
	for (i = 0; i < st->dom.n; i++)
		st->dom.rec[i].fresh = 0;
	for (i = 0; i < st->rcpt.n; i++)
		st->rcpt.rec[i].fresh = 0;
	dom_swapped = 0;
	free(st->arena);
	st->arena = text;
	text = NULL;
	st->len = st->cap = st->canon_len = pos;
	st->finished = 1;
	ret = 0;
out:
	if (dom_swapped)
		state_swap_off(st->dom.rec, st->dom.n);
	domset_free(&ds);
	free(dr.gone.rec);
	free(text);
	free(tmp);
	return ret;
}
