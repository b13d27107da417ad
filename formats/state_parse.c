/*
 * state_parse - canonical text into a finished state, refusing anything
 * that is not canonical
 *
 * The parsed buffer becomes the state's arena: a line's key is indexed
 * where it lies.  Failures return NULL with "state line N: ..." (unknown
 * line type, no final newline, unfolded key, domain after recipients,
 * duplicate, not sorted, recipient domain absent) or the 4 GiB limit.
 *
 * Security: state text comes from the network (after its hash and
 * signature were checked) and from disk; nothing in it is trusted: every
 * key is re-folded and compared, order and uniqueness are checked line by
 * line, and lengths are bounded (keys by norm.h, the text by 4 GiB).
 */
#include <stdlib.h>
#include <string.h>

#include "domset.h"
#include "norm.h"
#include "state_impl.h"

/* state_parse_line - one line of canonical text into the index */
static int state_parse_line(struct state *st, const char *line, size_t llen,
			    unsigned lineno, int *seen_r, struct domset *ds,
			    struct err *err)
{
	struct state_index *ix;
	struct state_rec *r, *prev;
	const char *key = line + 2, *sp = NULL, *d;
	size_t klen, vlen = 0, dlen;
	int c;

	if (llen < 2 || line[1] != ' ' || (line[0] != 'D' && line[0] != 'R'))
		return err_set(err, "state line %u: unknown line type", lineno);
	if (line[0] == 'D') {
		if (*seen_r)
			return err_set(err,
				       "state line %u: domain after recipients",
				       lineno);
		ix = &st->dom;
		sp = memchr(key, ' ', llen - 2);
		if (sp == NULL)
			return err_set(err, "state line %u: empty nexthop",
				       lineno);
		klen = (size_t)(sp - key);
		vlen = llen - 2 - klen - 1;
		if (norm_folded(key, klen, 1, err) < 0 ||
		    norm_nexthop(sp + 1, vlen, err) < 0)
			return err_prefix(err, "state line %u", lineno);
	} else {
		*seen_r = 1;
		ix = &st->rcpt;
		klen = llen - 2;
		if (norm_folded(key, klen, 0, err) < 0)
			return err_prefix(err, "state line %u", lineno);
		if (ds->slot == NULL && domset_build(ds, st->arena, st->dom.rec,
						     st->dom.n, err) < 0)
			return -1;
		state_domain_of(key, klen, &d, &dlen);
		if (!domset_has(ds, d, dlen))
			return err_set(err,
				       "state line %u: recipient domain "
				       "\"%.*s\" is not among the domains",
				       lineno, (int)dlen, d);
	}
	if (ix->n > 0) {
		prev = &ix->rec[ix->n - 1];
		c = state_keycmp(state_key(st, prev), prev->klen, key, klen);
		if (c == 0)
			return err_set(
			    err, "state line %u: duplicate %s \"%.*s\"", lineno,
			    ix == &st->dom ? "domain" : "recipient", (int)klen,
			    key);
		if (c > 0)
			return err_set(err,
				       "state line %u: not sorted (\"%.*s\" "
				       "after \"%.*s\")",
				       lineno, (int)klen, key, (int)prev->klen,
				       state_key(st, prev));
	}
	if (state_grow_index(ix, err) < 0)
		return -1;
	r = &ix->rec[ix->n++];
	r->pfx = 0;
	r->off = (uint32_t)(key - st->arena);
	r->klen = (uint8_t)klen;
	r->vlen = (uint16_t)vlen;
	r->fresh = 0;
	return 0;
}

struct state *state_parse_owned(char *buf, size_t len, struct err *err)
{
	struct domset ds = DOMSET_INIT;
	struct state *st = NULL;
	const char *p, *e;
	size_t pos = 0, lines = 0;
	unsigned lineno = 0;
	int seen_r = 0;

	if (len > STATE_ARENA_MAX) {
		err_set(err, "state too large (%zu octets, over 4 GiB)", len);
		goto fail;
	}
	st = state_new();
	if (st == NULL) {
		err_set(err, "out of memory");
		goto fail;
	}
	st->arena = buf;
	buf = NULL;
	st->len = st->cap = len;
	/* one index allocation: a line is at most one recipient */
	for (p = st->arena, e = st->arena + len;
	     p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		lines++;
	if (state_reserve_index(&st->rcpt, lines, err) < 0)
		goto fail;
	while (pos < len) {
		const char *line = st->arena + pos;
		const char *nl = memchr(line, '\n', len - pos);

		lineno++;
		if (nl == NULL) {
			err_set(err, "state line %u: no final newline", lineno);
			goto fail;
		}
		if (state_parse_line(st, line, (size_t)(nl - line), lineno,
				     &seen_r, &ds, err) < 0)
			goto fail;
		pos += (size_t)(nl - line) + 1;
	}
	st->canon_len = len;
	st->finished = 1;
	domset_free(&ds);
	return st;
fail:
	domset_free(&ds);
	free(buf);
	state_free(st);
	return NULL;
}

struct state *state_parse(const char *buf, size_t len, struct err *err)
{
	char *copy = state_malloc(len);

	if (copy == NULL) {
		err_set(err, "out of memory (state of %zu octets)", len);
		return NULL;
	}
	if (len > 0)
		memcpy(copy, buf, len);
	return state_parse_owned(copy, len, err);
}
