/*
 * domset - a state's domains as a hash table (see domset.h)
 *
 * Fails only in domset_build(), when out of memory.
 */
#include <stdlib.h>
#include <string.h>

#include "domset.h"

/* domset_hash - hash of a domain, eight octets a step */
static uint64_t domset_hash(const char *k, size_t len)
{
	uint64_t h = (uint64_t)len * 0x9e3779b97f4a7c15ull, w;

	for (; len >= 8; k += 8, len -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	/*
	 * The last 1..7 octets in at most two loads (of 4 octets, which may
	 * overlap; or octets 0, len / 2 and len - 1): with the length in
	 * the seed they still tell every key apart, and a copy of len octets
	 * into a word would cost a loop and a stalled load per lookup.
	 */
	if (len >= 4) {
		uint32_t a, b;

		memcpy(&a, k, 4);
		memcpy(&b, k + len - 4, 4);
		w = (uint64_t)a | (uint64_t)b << 32;
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	} else if (len > 0) {
		w = (uint64_t)(unsigned char)k[0] |
		    (uint64_t)(unsigned char)k[len / 2] << 8 |
		    (uint64_t)(unsigned char)k[len - 1] << 16;
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

/* domset_meta - what a slot holds besides the offset (never 0: len > 0) */
static uint32_t domset_meta(uint64_t h, size_t len)
{
	return (uint32_t)(h >> 40) << 8 | (uint32_t)len;
}

int domset_build(struct domset *ds, const char *text,
		 const struct state_rec *rec, size_t n, struct err *err)
{
	size_t size = 16, i, h;
	uint64_t x;

	while (size < 2 * n)
		size *= 2;
	ds->slot = calloc(size, sizeof(*ds->slot));
	if (ds->slot == NULL)
		return err_set(err, "out of memory (domain table)");
	ds->mask = size - 1;
	ds->text = text;
	for (i = 0; i < n; i++) {
		x = domset_hash(text + rec[i].off, rec[i].klen);
		for (h = (size_t)x & ds->mask; ds->slot[h].meta != 0;)
			h = (h + 1) & ds->mask;
		ds->slot[h].off = rec[i].off;
		ds->slot[h].meta = domset_meta(x, rec[i].klen);
	}
	return 0;
}

int domset_has(const struct domset *ds, const char *d, size_t dlen)
{
	uint64_t x = domset_hash(d, dlen);
	uint32_t meta = domset_meta(x, dlen);
	size_t h = (size_t)x & ds->mask;

	/* a slot's length is 8 bits, and no domain key is empty */
	if (dlen == 0 || dlen > 255)
		return 0;
	for (; ds->slot[h].meta != 0; h = (h + 1) & ds->mask)
		if (ds->slot[h].meta == meta &&
		    memcmp(ds->text + ds->slot[h].off, d, dlen) == 0)
			return 1;
	return 0;
}

void domset_free(struct domset *ds)
{
	free(ds->slot);
	ds->slot = NULL;
}
