/*
 * textmap - source files: Postfix text maps and plain address lists
 *
 * TEXTMAP_POSTMAP follows postmap(1) (readllines() and the loop in
 * postmap.c): a physical line whose first non-blank octet is "#", or that is
 * blank, is dropped without ending the logical line; a line that starts
 * with white space is appended, without its newline, to the logical line
 * before it; a logical line with no text before it is ignored, as postmap
 * ignores it.  The key ends at the first white space outside double quotes
 * (a backslash protects the next octet) and is passed on in its quoted
 * form; the value is the rest, trimmed.  Where postmap would warn and skip
 * a line (a key without a value, which is also what a cut line leaves; an
 * unbalanced quote; invalid UTF-8) this module refuses the file instead, so
 * that a source never silently loses a record.  A last line without its
 * newline is read as postmap reads it.
 *
 * Errors are "file:line: message" with the logical line's first line.
 *
 * Security: the input is an administrator's file but may be large or
 * malformed; every line is bounded by TEXTMAP_LINE_MAX and NUL is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "norm.h"
#include "textmap.h"

/* textmap_space - Postfix ISSPACE: ASCII white space only */
static inline int textmap_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

#define TEXTMAP_ONES 0x0101010101010101ull
#define TEXTMAP_HIGHS 0x8080808080808080ull

/*
 * textmap_scan - one pass over a physical line: its length up to the first
 * newline (or n), whether it holds a NUL, whether it is all ASCII (so that
 * the UTF-8 check can be skipped).  Eight octets a step; a word holding a
 * newline or NUL is finished octet by octet.
 */
static size_t textmap_scan(const char *p, size_t n, int *nul_r, int *ascii_r)
{
	uint64_t w, x, hi = 0;
	size_t i = 0;
	int nul = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		x = w ^ (TEXTMAP_ONES * '\n');
		if ((((x - TEXTMAP_ONES) & ~x) | ((w - TEXTMAP_ONES) & ~w)) &
		    TEXTMAP_HIGHS)
			break;
		hi |= w;
	}
	for (; i < n && p[i] != '\n'; i++) {
		nul |= p[i] == '\0';
		hi |= (unsigned char)p[i];
	}
	*nul_r = nul;
	*ascii_r = (hi & TEXTMAP_HIGHS) == 0;
	return i;
}

/*
 * textmap_special - octets that end or shape a key: white space (Postfix
 * ISSPACE), backslash, double quote
 */
static const unsigned char textmap_special[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1,
    ['\r'] = 1, [' '] = 1,  ['"'] = 1,	['\\'] = 1,
};

/* textmap_logical - split one postmap logical line and hand it on */
static int textmap_logical(const char *name, const char *l, size_t len,
			   int ascii, unsigned line, textmap_fn fn, void *ctx,
			   struct err *err)
{
	size_t k, v, end;
	int in_quotes = 0;

	/* Continuation text with nothing before it: postmap ignores it. */
	if (len == 0 || textmap_space(l[0]))
		return 0;
	if (!ascii && !norm_utf8_valid(l, len))
		return err_set(err, "%s:%u: invalid UTF-8", name, line);
	for (k = 0; k < len; k++) {
		if (!textmap_special[(unsigned char)l[k]])
			continue;
		if (l[k] == '\\') {
			if (++k == len)
				break;
		} else if (textmap_space(l[k])) {
			if (!in_quotes)
				break;
		} else if (l[k] == '"') {
			in_quotes = !in_quotes;
		}
	}
	if (in_quotes)
		return err_set(err, "%s:%u: unbalanced '\"'", name, line);
	if (k > len)
		k = len;
	v = k < len ? k + 1 : len;
	while (v < len && textmap_space(l[v]))
		v++;
	end = len;
	while (end > v && textmap_space(l[end - 1]))
		end--;
	/*
	 * postmap warns "expected format: key whitespace value" and skips
	 * the line; it is what a writer that stopped inside a line leaves,
	 * so it fails the file rather than silently losing a record.
	 */
	if (end == v)
		return err_set(err,
			       "%s:%u: key without a value (postmap would "
			       "skip this line; is the file cut short?)",
			       name, line);
	return fn(ctx, l, k, l + v, end - v, name, line, err);
}

/* textmap_list_line - one line of a plain list */
static int textmap_list_line(const char *name, const char *l, size_t len,
			     int ascii, unsigned line, textmap_fn fn, void *ctx,
			     struct err *err)
{
	size_t s = 0, k, e = len;

	while (s < len && textmap_space(l[s]))
		s++;
	while (e > s && textmap_space(l[e - 1]))
		e--;
	if (s == e || l[s] == '#')
		return 0;
	for (k = s; k < e && !textmap_space(l[k]); k++)
		;
	if (k < e)
		return err_set(err, "%s:%u: unexpected text after the key",
			       name, line);
	if (!ascii && !norm_utf8_valid(l + s, k - s))
		return err_set(err, "%s:%u: invalid UTF-8", name, line);
	return fn(ctx, l + s, k - s, "", 0, name, line, err);
}

int textmap_parse_buf(const char *name, const char *buf, size_t len,
		      enum textmap_kind kind, textmap_fn fn, void *ctx,
		      struct err *err)
{
	char *logical = NULL;
	const char *lp = ""; /* the logical line: in buf until continued */
	size_t pos = 0, llen = 0, plen, i;
	unsigned lineno = 0, first = 0;
	int ret = -1, r, nul, ascii, lascii = 1;

	if (kind == TEXTMAP_POSTMAP) {
		logical = malloc(TEXTMAP_LINE_MAX);
		if (logical == NULL) {
			err_set(err, "%s: out of memory", name);
			goto out;
		}
	}
	while (pos < len) {
		const char *line = buf + pos;

		plen = textmap_scan(line, len - pos, &nul, &ascii);
		pos += plen + (plen < len - pos ? 1 : 0);
		lineno++;
		if (nul) {
			err_set(err, "%s:%u: NUL byte in line", name, lineno);
			goto out;
		}
		if (plen > TEXTMAP_LINE_MAX) {
			err_set(err, "%s:%u: line longer than %d octets", name,
				lineno, TEXTMAP_LINE_MAX);
			goto out;
		}
		if (kind == TEXTMAP_LIST) {
			r = textmap_list_line(name, line, plen, ascii, lineno,
					      fn, ctx, err);
			if (r != 0) {
				ret = r;
				goto out;
			}
			continue;
		}
		/* Blank and comment lines neither add text nor end a line. */
		for (i = 0; i < plen && textmap_space(line[i]); i++)
			;
		if (i == plen || line[i] == '#')
			continue;
		if (!textmap_space(line[0])) {
			r = textmap_logical(name, lp, llen, lascii, first, fn,
					    ctx, err);
			if (r != 0) {
				ret = r;
				goto out;
			}
			/* Most logical lines are one line: no copy. */
			lp = line;
			llen = plen;
			lascii = ascii;
			first = lineno;
			continue;
		}
		if (llen == 0)
			first = lineno;
		if (plen > TEXTMAP_LINE_MAX - llen) {
			err_set(err,
				"%s:%u: logical line longer than %d octets",
				name, first, TEXTMAP_LINE_MAX);
			goto out;
		}
		if (lp != logical) {
			memcpy(logical, lp, llen);
			lp = logical;
		}
		memcpy(logical + llen, line, plen);
		llen += plen;
		lascii &= ascii;
	}
	if (kind == TEXTMAP_POSTMAP) {
		r = textmap_logical(name, lp, llen, lascii, first, fn, ctx,
				    err);
		if (r != 0) {
			ret = r;
			goto out;
		}
	}
	ret = 0;
out:
	free(logical);
	return ret;
}

int textmap_parse_file(const char *path, enum textmap_kind kind, textmap_fn fn,
		       void *ctx, struct err *err)
{
	char *buf;
	size_t len;
	int ret;

	if (fileio_read_all(path, SIZE_MAX / 2, &buf, &len, err) < 0)
		return -1;
	ret = textmap_parse_buf(path, buf, len, kind, fn, ctx, err);
	free(buf);
	return ret;
}
