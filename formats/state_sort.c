/*
 * state_sort - the stable sort of a state's index by key, for state_finish()
 *
 * Large runs: LSD radix sort on the 8-octet big-endian key prefix at a
 * depth, then the same at depth + 8 for each run of equal prefixes whose
 * keys go on.  Short runs: merge sort on the prefix, then the rest of the
 * key.  Sorting cannot fail: the caller provides the scratch index.
 */
#include <stdint.h>
#include <string.h>

#include "state_impl.h"

#define STATE_SMALL_SORT 256

/* state_prefix - 8 key octets from depth, big-endian, zero-padded */
static uint64_t state_prefix(const char *k, size_t klen, size_t depth)
{
	uint64_t p = 0;
	size_t i;

	for (i = 0; i < 8; i++) {
		p <<= 8;
		if (depth + i < klen)
			p |= (unsigned char)k[depth + i];
	}
	return p;
}

/* state_cmp_from - compare two records' keys from octet depth on */
static int state_cmp_from(const struct state *st, const struct state_rec *a,
			  const struct state_rec *b, size_t depth)
{
	size_t al = a->klen > depth ? a->klen - depth : 0;
	size_t bl = b->klen > depth ? b->klen - depth : 0;

	return state_keycmp(
	    state_key(st, a) + (a->klen > depth ? depth : 0), al,
	    state_key(st, b) + (b->klen > depth ? depth : 0), bl);
}

/* state_cmp_pfx - order by the prefix at depth, then by what follows */
static int state_cmp_pfx(const struct state *st, const struct state_rec *a,
			 const struct state_rec *b, size_t depth)
{
	if (a->pfx != b->pfx)
		return a->pfx < b->pfx ? -1 : 1;
	if (a->klen <= depth + 8 && b->klen <= depth + 8)
		return 0;
	return state_cmp_from(st, a, b, depth + 8);
}

/* state_msort - stable merge sort of records whose pfx is set at depth */
static void state_msort(const struct state *st, struct state_rec *r,
			struct state_rec *tmp, size_t n, size_t depth)
{
	size_t i, j, k, half;

	if (n < 12) {
		for (i = 1; i < n; i++) {
			struct state_rec x = r[i];

			for (j = i; j > 0 &&
				    state_cmp_pfx(st, &r[j - 1], &x, depth) > 0;
			     j--)
				r[j] = r[j - 1];
			r[j] = x;
		}
		return;
	}
	half = n / 2;
	state_msort(st, r, tmp, half, depth);
	state_msort(st, r + half, tmp + half, n - half, depth);
	if (state_cmp_pfx(st, &r[half - 1], &r[half], depth) <= 0)
		return;
	memcpy(tmp, r, n * sizeof(*r));
	for (i = 0, j = half, k = 0; i < half && j < n;)
		r[k++] = state_cmp_pfx(st, &tmp[j], &tmp[i], depth) < 0
			     ? tmp[j++]
			     : tmp[i++];
	while (i < half)
		r[k++] = tmp[i++];
	while (j < n)
		r[k++] = tmp[j++];
}

/* state_sort_at - state_sort() of keys that are equal before depth */
static void state_sort_at(const struct state *st, struct state_rec *r,
			  struct state_rec *tmp, size_t n, size_t depth)
{
	size_t count[8][256], i, start;
	struct state_rec *src = r, *dst = tmp, *swap;
	int b, more;

	if (n < 2)
		return;
	for (i = 0; i < n; i++)
		r[i].pfx = state_prefix(state_key(st, &r[i]), r[i].klen, depth);
	if (n < STATE_SMALL_SORT) {
		state_msort(st, r, tmp, n, depth);
		return;
	}
	memset(count, 0, sizeof(count));
	for (i = 0; i < n; i++)
		for (b = 0; b < 8; b++)
			count[b][(r[i].pfx >> (8 * b)) & 255]++;
	for (b = 0; b < 8; b++) {
		size_t sum = 0, c;
		int skip = 0;

		for (c = 0; c < 256; c++) {
			size_t k = count[b][c];

			if (k == n) {
				skip = 1;
				break;
			}
			count[b][c] = sum;
			sum += k;
		}
		if (skip)
			continue;
		for (i = 0; i < n; i++)
			dst[count[b][(src[i].pfx >> (8 * b)) & 255]++] = src[i];
		swap = src, src = dst, dst = swap;
	}
	if (src != r)
		memcpy(r, src, n * sizeof(*r));
	/* Runs of equal prefixes whose keys continue are sorted further. */
	for (start = 0; start < n; start = i) {
		more = r[start].klen > depth + 8;
		for (i = start + 1; i < n && r[i].pfx == r[start].pfx; i++)
			more |= r[i].klen > depth + 8;
		if (i - start > 1 && more)
			state_sort_at(st, r + start, tmp + start, i - start,
				      depth + 8);
	}
}

void state_sort(const struct state *st, struct state_rec *r,
		struct state_rec *tmp, size_t n)
{
	state_sort_at(st, r, tmp, n, 0);
}
