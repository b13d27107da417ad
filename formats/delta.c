/*
 * delta - the change between two canonical states
 *
 * delta_compute() walks both states' sorted indexes once.  delta_apply()
 * checks each change line (syntax, order, folding, presence in the base,
 * found by binary search) and hands the changes to state_splice(), which
 * builds the result by copying the base's text between changes in whole
 * runs: the base is a verified canonical state, so only the changed records
 * and the recipients' domains are checked again.  The result's hash is then
 * compared with the signed one.  No step allocates per record.
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
#include "norm.h"

/* delta_cmp - bytewise key order, shorter first on a tie */
static int delta_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

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
	char head[4] = { sign, type, ' ', '\0' };

	return delta_put(out, head, key, klen, val, vlen);
}

int delta_compute(const struct state *old, const struct state *new,
		  struct buf *out, size_t *adds_r, size_t *removes_r,
		  struct err *err)
{
	size_t i = 0, j = 0, no, nn, adds = 0, removes = 0;
	const char *ok, *ov, *nk, *nv;
	size_t okl, ovl, nkl, nvl;
	int c;

	no = state_domain_count(old);
	nn = state_domain_count(new);
	while (i < no || j < nn) {
		if (i < no)
			state_domain(old, i, &ok, &okl, &ov, &ovl);
		if (j < nn)
			state_domain(new, j, &nk, &nkl, &nv, &nvl);
		c = i >= no ? 1 : j >= nn ? -1 : delta_cmp(ok, okl, nk, nkl);
		if (c == 0) {
			if (ovl != nvl || memcmp(ov, nv, ovl) != 0) {
				if (delta_line(out, '-', 'D', ok, okl, ov, ovl) < 0 ||
				    delta_line(out, '+', 'D', nk, nkl, nv, nvl) < 0)
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
	i = j = 0;
	no = state_recipient_count(old);
	nn = state_recipient_count(new);
	while (i < no || j < nn) {
		if (i < no)
			state_recipient(old, i, &ok, &okl);
		if (j < nn)
			state_recipient(new, j, &nk, &nkl);
		c = i >= no ? 1 : j >= nn ? -1 : delta_cmp(ok, okl, nk, nkl);
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

/* delta_hex - hash as hex for messages */
static const char *delta_hex(const unsigned char *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < STATE_HASH_LEN; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * STATE_HASH_LEN] = '\0';
	return out;
}

/* delta_check_key - an added key must be folded as norm.h folds it */
static int delta_check_key(char type, const char *k, size_t klen,
			   struct err *err)
{
	char out[NORM_BUF_SIZE];
	size_t n;
	int r;

	if (type == 'D')
		r = norm_domain(k, klen, out, sizeof(out), &n, err);
	else
		r = norm_address(k, klen, out, sizeof(out), &n, err);
	if (r < 0)
		return -1;
	if (n != klen || memcmp(out, k, n) != 0)
		return err_set(err, "%s \"%.*s\" is not folded (\"%s\")",
			       type == 'D' ? "domain" : "address",
			       (int)(klen > 255 ? 255 : klen), k, out);
	return 0;
}

/* delta_lower - index of the first base record whose key is >= key */
static size_t delta_lower(const struct state *base, char type,
			  const char *key, size_t klen)
{
	size_t lo = 0, hi, mid, kl;
	const char *k;

	hi = type == 'D' ? state_domain_count(base)
			 : state_recipient_count(base);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (type == 'D')
			state_domain(base, mid, &k, &kl, NULL, NULL);
		else
			state_recipient(base, mid, &k, &kl);
		if (delta_cmp(k, kl, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * delta_apply_line - check one change line against the line before it and
 * the base, and turn it into an edit (e) of the base
 */
static int delta_apply_line(const struct state *base,
			    const struct state_edit *prev, const char *line,
			    size_t llen, unsigned lineno, struct state_edit *e,
			    struct err *err)
{
	const char *key = line + 3, *val = NULL, *sp, *bk, *bv = NULL;
	size_t klen, vlen = 0, bkl = 0, bvl = 0, at, count;
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
		return err_set(err, "delta line %u: not sorted (domain change after recipient changes)",
			       lineno);
	if (prev != NULL && prev->type == type) {
		c = delta_cmp(prev->key, prev->klen, key, klen);
		if (c > 0 || (c == 0 && !(!prev->add && sign == '+')))
			return err_set(err, "delta line %u: not sorted (\"%.*s\" after \"%.*s\")",
				       lineno, (int)klen, key, (int)prev->klen,
				       prev->key);
		/* the same key removed just before: a nexthop change */
		again = c == 0;
	}

	if (sign == '+') {
		if (delta_check_key(type, key, klen, err) < 0 ||
		    (type == 'D' && norm_nexthop(val, vlen, err) < 0))
			return err_prefix(err, "delta line %u", lineno);
	}
	at = delta_lower(base, type, key, klen);
	count = type == 'D' ? state_domain_count(base)
			    : state_recipient_count(base);
	present = 0;
	if (at < count) {
		if (type == 'D')
			state_domain(base, at, &bk, &bkl, &bv, &bvl);
		else
			state_recipient(base, at, &bk, &bkl);
		present = bkl == klen && memcmp(bk, key, klen) == 0;
	}
	if (sign == '-') {
		if (!present)
			return err_set(err, "delta line %u: removes absent %s \"%.*s\"",
				       lineno, type == 'D' ? "domain" : "recipient",
				       (int)klen, key);
		if (type == 'D' && (bvl != vlen || memcmp(bv, val, vlen) != 0))
			return err_set(err, "delta line %u: removes domain \"%.*s\" with nexthop \"%.*s\", but the base has \"%.*s\"",
				       lineno, (int)klen, key, (int)vlen, val,
				       (int)bvl, bv);
	} else if (present && !again) {
		return err_set(err, "delta line %u: adds present %s \"%.*s\"",
			       lineno, type == 'D' ? "domain" : "recipient",
			       (int)klen, key);
	} else if (present) {
		at++;	/* after the record the line before removed */
	}
	*e = (struct state_edit){ key, val, klen, vlen, at, type, sign == '+' };
	return 0;
}

struct state *delta_apply(const struct state *base,
			  const unsigned char *base_hash,
			  const char *delta, size_t len,
			  const unsigned char *result_hash, struct err *err)
{
	struct state *res = NULL;
	struct state_edit *ed = NULL;
	unsigned char h[STATE_HASH_LEN];
	char hex1[2 * STATE_HASH_LEN + 1], hex2[2 * STATE_HASH_LEN + 1];
	const char *p;
	size_t pos = 0, n = 0, lines = 0;
	unsigned lineno = 0;

	if (base_hash != NULL) {
		state_hash(base, h);
		if (memcmp(h, base_hash, STATE_HASH_LEN) != 0) {
			err_set(err, "delta base hash mismatch: expected %s, base state has %s",
				delta_hex(base_hash, hex1), delta_hex(h, hex2));
			goto out;
		}
	}
	for (p = delta; (p = memchr(p, '\n', len - (size_t)(p - delta)));
	     p++)
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
	res = state_splice(base, ed, n, err);
	if (res == NULL) {
		err_prefix(err, "delta result");
		goto out;
	}
	if (result_hash != NULL) {
		state_hash(res, h);
		if (memcmp(h, result_hash, STATE_HASH_LEN) != 0) {
			err_set(err, "delta result hash mismatch: expected %s, result has %s",
				delta_hex(result_hash, hex1), delta_hex(h, hex2));
			state_free(res);
			res = NULL;
			goto out;
		}
	}
out:
	free(ed);
	return res;
}
