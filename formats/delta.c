/*
 * delta - the change between two canonical states
 *
 * delta_compute() walks both states' sorted indexes once.  delta_apply()
 * checks each change line (syntax, order, folding, presence in the base,
 * found by binary search) and hands the changes to delta_splice_shared()
 * (delta_splice.c): the base is a verified canonical state, so only the
 * changed records and the recipients' domains are checked again, and the
 * result shares the base's unchanged recipients.  The result's hash is
 * then compared with the signed one; when the base keeps its hash leaves
 * (state_hash_prepare) the result inherits them and only the leaves of the
 * touched shards are rehashed.
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
#include "manifest.h"
#include "norm.h"
#include "state_impl.h"

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
	at = type == 'D' ? state_lower(base, &base->dom, key, klen, &present)
			 : state_lower_rcpt(base, key, klen, &present);
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
				   MANIFEST_VERSION, 0, err);
}

struct state *delta_apply_version(const struct state *base,
				  const unsigned char *base_hash,
				  const char *delta, size_t len,
				  const unsigned char *result_hash, int version,
				  unsigned flags, struct err *err)
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
	res = delta_splice_shared(base, ed, n, flags, err);
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
