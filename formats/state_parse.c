/*
 * state_parse - canonical text into a finished state, refusing anything
 * that is not canonical
 *
 * The parsed buffer becomes the state's arena: a line's key is indexed
 * where it lies.  The D lines are read in order; the R lines in chunks on
 * every core, and the refusal named is the one a reading line by line
 * would meet first.  Failures return NULL with "state line N: ..."
 * (unknown line type, no final newline, unfolded key, domain after
 * recipients, duplicate, not sorted, recipient domain absent) or the 4 GiB
 * limit.
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
#include "thread.h"

/*
 * The R lines are checked in chunks of about this many octets, spread over
 * the cores (thread_for): each chunk's lines are checked against each
 * other, and each chunk's first line against the line before it after all
 * are done.  At most this many chunks.  (A sanitizer build cuts chunks of
 * a few lines, state_impl.h.)
 */
#ifdef STATE_SANITIZED
#define STATE_PARSE_CHUNK 64
#else
#define STATE_PARSE_CHUNK (512 * 1024)
#endif
#define STATE_PARSE_CHUNKS_MAX 256

/*
 * state_parse_line - check one line (lineno) and fill its record r; prev
 * is the record before it in its section, NULL for the first; in_r: the
 * recipients have begun (the domain set ds is built)
 */
static int state_parse_line(const struct state *st, const char *line,
			    size_t llen, unsigned lineno, int in_r,
			    const struct domset *ds,
			    const struct state_rec *prev, struct state_rec *r,
			    struct err *err)
{
	const char *key = line + 2, *sp = NULL, *d;
	size_t klen, vlen = 0, dlen;
	int c;

	if (llen < 2 || line[1] != ' ' || (line[0] != 'D' && line[0] != 'R'))
		return err_set(err, "state line %u: unknown line type", lineno);
	if (line[0] == 'D') {
		if (in_r)
			return err_set(err,
				       "state line %u: domain after recipients",
				       lineno);
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
		klen = llen - 2;
		if (norm_folded(key, klen, 0, err) < 0)
			return err_prefix(err, "state line %u", lineno);
		state_domain_of(key, klen, &d, &dlen);
		if (!domset_has(ds, d, dlen))
			return err_set(err,
				       "state line %u: recipient domain "
				       "\"%.*s\" is not among the domains",
				       lineno, (int)dlen, d);
	}
	if (prev != NULL) {
		c = state_keycmp(state_key(st, prev), prev->klen, key, klen);
		if (c == 0)
			return err_set(
			    err, "state line %u: duplicate %s \"%.*s\"", lineno,
			    line[0] == 'D' ? "domain" : "recipient", (int)klen,
			    key);
		if (c > 0)
			return err_set(err,
				       "state line %u: not sorted (\"%.*s\" "
				       "after \"%.*s\")",
				       lineno, (int)klen, key, (int)prev->klen,
				       state_key(st, prev));
	}
	r->pfx = 0;
	r->off = (uint32_t)(key - st->arena);
	r->klen = (uint8_t)klen;
	r->vlen = (uint16_t)vlen;
	r->fresh = 0;
	return 0;
}

/*
 * One chunk of R lines: text [from, to), its records rcpt.rec[first,
 * first + n), the number of its first line, and its first failure (at
 * fail_line) if any.
 */
struct state_parse_chunk {
	size_t from, to, first, n;
	unsigned lineno, fail_line;
	int failed;
	struct err err;
};

/* the chunks of one parse, for thread_for() */
struct state_parse_run {
	struct state *st;
	const struct domset *ds;
	struct state_parse_chunk *c;
};

/* state_parse_count - the lines of chunk i */
static void state_parse_count(void *arg, size_t i)
{
	const struct state_parse_run *run = arg;
	struct state_parse_chunk *c = &run->c[i];
	const char *p = run->st->arena + c->from, *e = run->st->arena + c->to;

	for (c->n = 0; p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL;
	     p++)
		c->n++;
	/* a last line without its newline is a line (and refused) */
	if (c->to > c->from && run->st->arena[c->to - 1] != '\n')
		c->n++;
}

/* state_parse_chunk - check the lines of chunk i into their records */
static void state_parse_chunk(void *arg, size_t i)
{
	const struct state_parse_run *run = arg;
	struct state_parse_chunk *c = &run->c[i];
	struct state *st = run->st;
	struct state_rec *r = st->rcpt.rec + c->first;
	size_t pos = c->from, k = 0;
	unsigned lineno = c->lineno;

	for (; pos < c->to; pos++, k++, lineno++) {
		const char *line = st->arena + pos;
		const char *nl = memchr(line, '\n', c->to - pos);

		if (nl == NULL) {
			err_set(&c->err, "state line %u: no final newline",
				lineno);
			break;
		}
		if (state_parse_line(st, line, (size_t)(nl - line), lineno, 1,
				     run->ds, k > 0 ? &r[k - 1] : NULL, &r[k],
				     &c->err) < 0)
			break;
		pos += (size_t)(nl - line);
	}
	c->failed = pos < c->to;
	c->fail_line = lineno;
}

/*
 * state_parse_chunks - the chunks of R lines from pos to the end, at line
 * boundaries; their count
 */
static size_t state_parse_chunks(const struct state *st, size_t pos,
				 struct state_parse_chunk *c)
{
	size_t n = 0, want = (st->len - pos) / STATE_PARSE_CHUNKS_MAX + 1;
	const char *nl;

	if (want < STATE_PARSE_CHUNK)
		want = STATE_PARSE_CHUNK;
	while (pos < st->len) {
		c[n].from = pos;
		nl = st->len - pos > want ? memchr(st->arena + pos + want, '\n',
						   st->len - pos - want)
					  : NULL;
		pos = nl != NULL ? (size_t)(nl - st->arena) + 1 : st->len;
		c[n++].to = pos;
	}
	return n;
}

/*
 * state_parse_recipients - the R lines from pos (line number lineno) into
 * st->rcpt, checked in chunks spread over the cores; the first failure in
 * text order is the one reported, as a parse line by line would
 */
static int state_parse_recipients(struct state *st, size_t pos, unsigned lineno,
				  const struct domset *ds, struct err *err)
{
	struct state_parse_chunk *c;
	struct state_parse_run run;
	size_t n, i, total = 0;
	const struct state_rec *a, *b;
	struct state_rec scratch;
	int rc = -1;

	c = calloc(STATE_PARSE_CHUNKS_MAX + 1, sizeof(*c));
	if (c == NULL)
		return err_set(err, "out of memory");
	n = state_parse_chunks(st, pos, c);
	run.st = st;
	run.ds = ds;
	run.c = c;
	thread_for(n, state_parse_count, &run);
	for (i = 0; i < n; i++) {
		c[i].first = total;
		c[i].lineno = lineno + (unsigned)total;
		total += c[i].n;
	}
	if (state_reserve_index(&st->rcpt, total, err) < 0)
		goto out;
	thread_for(n, state_parse_chunk, &run);
	for (i = 0; i < n; i++) {
		/* the first line's own checks come before its order */
		if (c[i].failed && c[i].fail_line == c[i].lineno) {
			*err = c[i].err;
			goto out;
		}
		a = i > 0 ? &st->rcpt.rec[c[i].first - 1] : NULL;
		b = &st->rcpt.rec[c[i].first];
		if (a != NULL && state_keycmp(state_key(st, a), a->klen,
					      state_key(st, b), b->klen) >= 0) {
			/* the same message as a parse line by line */
			state_parse_line(st, st->arena + b->off - 2,
					 (size_t)b->klen + 2, c[i].lineno, 1,
					 ds, a, &scratch, err);
			goto out;
		}
		if (c[i].failed) {
			*err = c[i].err;
			goto out;
		}
	}
	st->rcpt.n = total;
	rc = 0;
out:
	free(c);
	return rc;
}

struct state *state_parse_owned(char *buf, size_t len, struct err *err)
{
	struct domset ds = DOMSET_INIT;
	struct state *st = NULL;
	struct state_rec r;
	size_t pos = 0;
	unsigned lineno = 1;

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
	/* the D lines, up to the first R line */
	for (; pos < len; lineno++) {
		const char *line = st->arena + pos;
		const char *nl = memchr(line, '\n', len - pos);

		if (nl == NULL) {
			err_set(err, "state line %u: no final newline", lineno);
			goto fail;
		}
		if (nl - line >= 2 && line[0] == 'R' && line[1] == ' ')
			break;
		if (state_parse_line(
			st, line, (size_t)(nl - line), lineno, 0, NULL,
			st->dom.n > 0 ? &st->dom.rec[st->dom.n - 1] : NULL, &r,
			err) < 0 ||
		    state_grow_index(&st->dom, err) < 0)
			goto fail;
		st->dom.rec[st->dom.n++] = r;
		pos += (size_t)(nl - line) + 1;
	}
	if (pos < len &&
	    (domset_build(&ds, st->arena, st->dom.rec, st->dom.n, err) < 0 ||
	     state_parse_recipients(st, pos, lineno, &ds, err) < 0))
		goto fail;
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
