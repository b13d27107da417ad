/*
 * shard - what a delta changes in the sharded relay_recipients maps
 *
 * Reads only delta texts that delta_apply() accepted (well-formed, sorted,
 * each removal present in the base); shard_sel_after() still checks that
 * its result has the size of the next state and fails otherwise, so a
 * mismatch costs a full computation, never a wrong shard.
 */
#include <stdlib.h>
#include <string.h>

#include "../formats/cdbw.h"
#include "shard.h"

void shard_touched(const char *delta, size_t len, unsigned shards,
		   unsigned char *touched, int *domains_r)
{
	const char *p = delta, *end = delta + len, *nl, *k, *sp;

	*domains_r = 0;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p < 4 || (p[0] != '+' && p[0] != '-') || p[2] != ' ')
			continue;
		k = p + 3;
		if (p[1] == 'D') {
			*domains_r = 1;
			sp = memchr(k, ' ', (size_t)(nl - k));
			touched[cdbw_shard_of(k, (size_t)((sp ? sp : nl) - k),
					      shards)] = 1;
		} else if (p[1] == 'R')
			touched[cdbw_shard_of(k, (size_t)(nl - k), shards)] = 1;
	}
}

/* shard_cmp - bytewise order of two keys, shorter first on a tie */
static int shard_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* shard_lower - index of the first recipient of st not below key */
static size_t shard_lower(const struct state *st, const char *key, size_t len)
{
	size_t lo = 0, hi = state_recipient_count(st), klen;
	const char *k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		state_recipient(st, mid, &k, &klen);
		if (shard_cmp(k, klen, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint8_t *shard_sel_after(const struct state *base, const uint8_t *sel,
			 const struct state *next, const char *delta,
			 size_t len, unsigned shards)
{
	size_t nb, nn, oi = 0, ni = 0, pos;
	const char *p = delta, *end = delta + len, *nl, *k;
	uint8_t *out;

	if (base == NULL || sel == NULL || next == NULL)
		return NULL;
	nb = state_recipient_count(base);
	nn = state_recipient_count(next);
	if ((out = malloc(nn > 0 ? nn : 1)) == NULL)
		return NULL;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p < 4 || p[1] != 'R' || p[2] != ' ')
			continue;
		k = p + 3;
		pos = shard_lower(base, k, (size_t)(nl - k));
		/* a removal and an addition of one key: the addition's place */
		if (pos < oi)
			pos = oi;
		if (pos - oi > nn - ni)
			goto bad;
		memcpy(out + ni, sel + oi, pos - oi);
		ni += pos - oi;
		oi = pos;
		if (p[0] == '-') {
			if (oi >= nb)
				goto bad;
			oi++;
		} else {
			if (ni >= nn)
				goto bad;
			out[ni++] =
			    (uint8_t)cdbw_shard_of(k, (size_t)(nl - k), shards);
		}
	}
	if (nb - oi != nn - ni)
		goto bad;
	memcpy(out + ni, sel + oi, nb - oi);
	return out;
bad:
	free(out);
	return NULL;
}
