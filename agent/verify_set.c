/*
 * verify_set - strings, each once, with their index (verify_impl.h)
 *
 * The keys every table is asked, the candidates, their folded forms, the
 * domains and the local parts to cross: an append-only text of
 * NUL-terminated strings and an open-addressing index over it (FNV-1a,
 * linear probing, at most half full).  Indexes stay valid as the set
 * grows.  Adding fails (-1) only when out of memory or past 2^32 - 2
 * strings; the sets hold addresses and table keys, never secrets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify_impl.h"

/* verify_set_hash - FNV-1a */
static uint64_t verify_set_hash(const char *k, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	return h;
}

const char *verify_set_key(const struct verify_set *s, size_t i)
{
	return s->buf + s->off[i];
}

long verify_set_find(const struct verify_set *s, const char *k, size_t len)
{
	size_t i, m;
	uint32_t v;

	if (s->nslot == 0)
		return -1;
	m = s->nslot - 1;
	for (i = verify_set_hash(k, len) & m; (v = s->slot[i]) != 0;
	     i = (i + 1) & m) {
		const char *e = verify_set_key(s, v - 1);

		if (strlen(e) == len && memcmp(e, k, len) == 0)
			return (long)(v - 1);
	}
	return -1;
}

/* verify_set_grow - double the slot table */
static int verify_set_grow(struct verify_set *s)
{
	size_t nslot = s->nslot ? 2 * s->nslot : 1024, i, j, m = nslot - 1;
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (i = 0; i < s->n; i++) {
		const char *k = verify_set_key(s, i);

		for (j = verify_set_hash(k, strlen(k)) & m; slot[j] != 0;
		     j = (j + 1) & m)
			;
		slot[j] = (uint32_t)(i + 1);
	}
	free(s->slot);
	s->slot = slot;
	s->nslot = nslot;
	return 0;
}

/* verify_set_add - index of k, added when new; -1 out of memory */
long verify_set_add(struct verify_set *s, const char *k, size_t len)
{
	long f = verify_set_find(s, k, len);
	size_t i, m;
	void *p;

	if (f >= 0)
		return f;
	if (s->n >= UINT32_MAX - 1)
		return -1;
	if (2 * (s->n + 1) > s->nslot && verify_set_grow(s) < 0)
		return -1;
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 65536;

		while (cap < s->len + len + 1)
			cap *= 2;
		if ((p = realloc(s->buf, cap)) == NULL)
			return -1;
		s->buf = p;
		s->cap = cap;
	}
	if (s->n == s->ncap) {
		size_t ncap = s->ncap ? 2 * s->ncap : 1024;

		if ((p = realloc(s->off, ncap * sizeof(*s->off))) == NULL)
			return -1;
		s->off = p;
		s->ncap = ncap;
	}
	memcpy(s->buf + s->len, k, len);
	s->buf[s->len + len] = '\0';
	s->off[s->n] = s->len;
	s->len += len + 1;
	m = s->nslot - 1;
	for (i = verify_set_hash(k, len) & m; s->slot[i] != 0; i = (i + 1) & m)
		;
	s->slot[i] = (uint32_t)(s->n + 1);
	return (long)s->n++;
}

void verify_set_free(struct verify_set *s)
{
	free(s->buf);
	free(s->off);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}
