/*
 * state - the canonical state: every valid domain and recipient of an origin
 *
 * Records live in one arena.  While records are being added the arena holds,
 * per record, a 4-octet tag and the key (and " nexthop" for a domain);
 * state_finish() sorts a compact index (16 octets per record, with an 8-octet
 * big-endian key prefix so that a radix sort rarely touches the arena),
 * drops duplicates, checks that every recipient's domain is present, and
 * rebuilds the arena as exactly the canonical text.  A finished state is
 * therefore its own canonical text: hashing, writing and copying are single
 * passes, and a parsed state uses the parsed buffer as its arena.
 *
 * Failures return -1 (or NULL) with a message in struct err: parse errors as
 * "state line N: ...", record errors naming the record.
 *
 * Security: state text comes from the network (after signature checks) and
 * from disk; state_parse() trusts nothing: every key is re-folded and
 * compared, order and uniqueness are checked line by line, and lengths are
 * bounded (keys by norm.h, the whole text by 4 GiB, the index's offset size).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fileio.h"
#include "mem.h"
#include "norm.h"
#include "state.h"

#define STATE_ARENA_MAX ((size_t)UINT32_MAX)
#define STATE_TAG_LEN 4
#define STATE_SMALL_SORT 256
/* Records ahead whose keys are fetched early: sorted order is random access. */
#define STATE_AHEAD 16
/* Indexes this large are sorted and copied on two threads (state_par). */
#define STATE_PAR_MIN 65536
/* text of this many octets is hashed on a second thread while parsed */
#define STATE_PAR_HASH_MIN (1u << 20)
/* Prefixes sampled to choose where a large index is split for sorting. */
#define STATE_SAMPLES 255
/* Recipients ahead whose domain's slot is fetched early (a power of 2). */
#define STATE_RING 8
/* A fresh flag bit: a duplicate found by state_finish(), dropped later. */
#define STATE_DUP 2
/* A fresh flag bit: a recipient of an absent domain that its tag drops. */
#define STATE_UNLISTED 4

#define state_prefetch(st, ix, i, n)                                      \
	do {                                                              \
		if ((i) + STATE_AHEAD < (n))                              \
			__builtin_prefetch((st)->arena +                  \
					   (ix)[(i) + STATE_AHEAD].off);  \
	} while (0)

struct state_rec {
	uint64_t pfx;	/* sort key: 8 key octets from the current depth */
	uint32_t off;	/* offset of the key in the arena */
	uint16_t vlen;	/* nexthop length (domains only) */
	uint8_t klen;	/* key length (norm.h bounds keys below 255) */
	uint8_t fresh;	/* 1: added since the last finish, tag at off - 4 */
};

struct state_index {
	struct state_rec *rec;
	size_t n, cap;
};

struct state {
	char *arena;		/* canonical text once finished */
	size_t len, cap;
	size_t canon_len;	/* arena[0, canon_len) is canonical text */
	struct state_index dom, rcpt;
	int finished;
};

struct state *state_new(void)
{
	struct state *st = calloc(1, sizeof(*st));

	if (st != NULL)
		st->finished = 1;	/* the empty state is canonical */
	return st;
}

void state_free(struct state *st)
{
	if (st == NULL)
		return;
	free(st->arena);
	free(st->dom.rec);
	free(st->rcpt.rec);
	free(st);
}

/* state_malloc - malloc, with huge pages for large sizes */
static void *state_malloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	mem_huge(p, len);
	return p;
}

/* state_key - the key of a record */
static inline const char *state_key(const struct state *st,
				    const struct state_rec *r)
{
	return st->arena + r->off;
}

/*
 * state_memcmp - memcmp() for short keys, inline: eight octets a step, the
 * first differing word decides (compared big-endian, i.e. bytewise)
 */
static inline int state_memcmp(const char *a, const char *b, size_t n)
{
	uint64_t wa, wb;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&wa, a + i, 8);
		memcpy(&wb, b + i, 8);
		if (wa != wb) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			wa = __builtin_bswap64(wa);
			wb = __builtin_bswap64(wb);
#endif
			return wa < wb ? -1 : 1;
		}
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1
									 : 1;
	return 0;
}

/* state_keycmp - bytewise order of two keys, shorter first on a tie */
static inline int state_keycmp(const char *a, size_t alen, const char *b,
			       size_t blen)
{
	int c = state_memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* state_grow_arena - room for more octets in the arena */
static int state_grow_arena(struct state *st, size_t more, struct err *err)
{
	size_t cap;
	char *p;

	if (more > STATE_ARENA_MAX - st->len)
		return err_set(err, "state too large (over 4 GiB of text)");
	if (st->len + more <= st->cap)
		return 0;
	cap = st->cap ? st->cap : 4096;
	while (cap < st->len + more)
		cap = cap > SIZE_MAX / 2 ? st->len + more : cap * 2;
	p = realloc(st->arena, cap);
	if (p == NULL)
		return err_set(err, "out of memory (state arena of %zu octets)",
			       cap);
	mem_huge(p, cap);
	st->arena = p;
	st->cap = cap;
	return 0;
}

/* state_grow_index - room for one more record */
static int state_grow_index(struct state_index *ix, struct err *err)
{
	struct state_rec *p;
	size_t cap;

	if (ix->n < ix->cap)
		return 0;
	cap = ix->cap ? ix->cap * 2 : 256;
	if (cap > SIZE_MAX / sizeof(*p))
		return err_set(err, "out of memory (state index)");
	p = realloc(ix->rec, cap * sizeof(*p));
	if (p == NULL)
		return err_set(err, "out of memory (state index of %zu records)",
			       cap);
	mem_huge(p, cap * sizeof(*p));
	ix->rec = p;
	ix->cap = cap;
	return 0;
}

/* state_reserve_index - room for records more entries, in one allocation */
static int state_reserve_index(struct state_index *ix, size_t records,
			       struct err *err)
{
	struct state_rec *p;

	if (records <= ix->cap - ix->n)
		return 0;
	if (records > SIZE_MAX / sizeof(*p) - ix->n)
		return err_set(err, "out of memory (state index)");
	p = realloc(ix->rec, (ix->n + records) * sizeof(*p));
	if (p == NULL)
		return err_set(err, "out of memory (state index of %zu records)",
			       ix->n + records);
	mem_huge(p, (ix->n + records) * sizeof(*p));
	ix->rec = p;
	ix->cap = ix->n + records;
	return 0;
}

int state_reserve(struct state *st, size_t records, size_t bytes,
		  struct err *err)
{
	size_t more;
	char *a;

	if (records > SIZE_MAX / STATE_TAG_LEN ||
	    bytes > SIZE_MAX - records * STATE_TAG_LEN)
		return err_set(err, "out of memory (state of %zu records)",
			       records);
	/* each added record also carries its tag */
	more = bytes + records * STATE_TAG_LEN;
	/* past the format's limit: let the adds report it */
	if (more <= STATE_ARENA_MAX - st->len && st->len + more > st->cap) {
		a = realloc(st->arena, st->len + more);
		if (a == NULL)
			return err_set(err, "out of memory (state arena of %zu "
				       "octets)", st->len + more);
		mem_huge(a, st->len + more);
		st->arena = a;
		st->cap = st->len + more;
	}
	return state_reserve_index(&st->rcpt, records, err);
}

/* state_check_domain - the key must be what norm_domain() makes of it */
static int state_check_domain(const char *d, size_t dlen, struct err *err)
{
	char out[NORM_BUF_SIZE];
	size_t n;

	if (norm_domain(d, dlen, out, sizeof(out), &n, err) < 0)
		return -1;
	if (n != dlen || state_memcmp(out, d, n) != 0)
		return err_set(err, "domain \"%.*s\" is not folded (\"%s\")",
			       (int)(dlen > 255 ? 255 : dlen), d, out);
	return 0;
}

/* state_check_address - the key must be what norm_address() makes of it */
static int state_check_address(const char *a, size_t alen, struct err *err)
{
	char out[NORM_BUF_SIZE];
	size_t n;

	if (norm_address(a, alen, out, sizeof(out), &n, err) < 0)
		return -1;
	if (n != alen || state_memcmp(out, a, n) != 0)
		return err_set(err, "address \"%.*s\" is not folded (\"%s\")",
			       (int)(alen > 255 ? 255 : alen), a, out);
	return 0;
}

/* state_push - append a fresh record (tag, key, [" " value]) */
static int state_push(struct state *st, struct state_index *ix,
		      const char *key, size_t klen, const char *val,
		      size_t vlen, unsigned tag, struct err *err)
{
	size_t need = STATE_TAG_LEN + klen + (val ? 1 + vlen : 0);
	struct state_rec *r;
	uint32_t t = tag;

	if (state_grow_index(ix, err) < 0 || state_grow_arena(st, need, err) < 0)
		return -1;
	memcpy(st->arena + st->len, &t, STATE_TAG_LEN);
	r = &ix->rec[ix->n++];
	r->off = (uint32_t)(st->len + STATE_TAG_LEN);
	r->klen = (uint8_t)klen;
	r->vlen = (uint16_t)vlen;
	r->fresh = 1;
	r->pfx = 0;
	memcpy(st->arena + r->off, key, klen);
	if (val != NULL) {
		st->arena[r->off + klen] = ' ';
		memcpy(st->arena + r->off + klen + 1, val, vlen);
	}
	st->len += need;
	st->finished = 0;
	return 0;
}

int state_add_domain(struct state *st, const char *domain, size_t dlen,
		     const char *nexthop, size_t nlen, unsigned tag,
		     struct err *err)
{
	if (state_check_domain(domain, dlen, err) < 0)
		return -1;
	if (norm_nexthop(nexthop, nlen, err) < 0)
		return err_prefix(err, "domain \"%.*s\"", (int)dlen, domain);
	return state_push(st, &st->dom, domain, dlen, nexthop, nlen, tag, err);
}

int state_add_recipient(struct state *st, const char *addr, size_t alen,
			unsigned tag, struct err *err)
{
	if (state_check_address(addr, alen, err) < 0)
		return -1;
	return state_push(st, &st->rcpt, addr, alen, NULL, 0, tag, err);
}

int state_add_address(struct state *st, const char *addr, size_t alen,
		      unsigned tag, struct err *err)
{
	char out[NORM_BUF_SIZE];
	struct state_rec *r;
	uint32_t t = tag;
	size_t n;

	/*
	 * The common key is folded straight into the arena: what
	 * norm_address_ascii() returns it returns unchanged, so the check of
	 * state_add_recipient() could not fail and is skipped.
	 */
	if (alen <= NORM_ADDRESS_MAX) {
		if (state_grow_index(&st->rcpt, err) < 0 ||
		    state_grow_arena(st, STATE_TAG_LEN + alen + 1, err) < 0)
			return -1;
		if (norm_address_ascii(addr, alen,
				       st->arena + st->len + STATE_TAG_LEN,
				       alen + 1, &n)) {
			memcpy(st->arena + st->len, &t, STATE_TAG_LEN);
			r = &st->rcpt.rec[st->rcpt.n++];
			r->off = (uint32_t)(st->len + STATE_TAG_LEN);
			r->klen = (uint8_t)n;
			r->vlen = 0;
			r->fresh = 1;
			r->pfx = 0;
			st->len += STATE_TAG_LEN + n;
			st->finished = 0;
			return 0;
		}
	}
	if (norm_address(addr, alen, out, sizeof(out), &n, err) < 0)
		return -1;
	return state_add_recipient(st, out, n, tag, err);
}

/* state_tag - the tag of a fresh record, 0 for one already canonical */
static unsigned state_tag(const struct state *st, const struct state_rec *r)
{
	uint32_t t = 0;

	if (r->fresh & 1)
		memcpy(&t, st->arena + r->off - STATE_TAG_LEN, STATE_TAG_LEN);
	return t;
}

/* state_prefix - 8 key octets from depth, big-endian, zero-padded */
static inline uint64_t state_prefix(const char *k, size_t klen, size_t depth)
{
	uint64_t p = 0;
	size_t i;

	if (depth + 8 <= klen) {
		for (i = 0; i < 8; i++)
			p = (p << 8) | (unsigned char)k[depth + i];
		return p;
	}
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

	return state_keycmp(state_key(st, a) + (a->klen > depth ? depth : 0),
			    al, state_key(st, b) + (b->klen > depth ? depth : 0),
			    bl);
}

/* state_cmp_pfx - order by the prefix at depth, then by what follows */
static inline int state_cmp_pfx(const struct state *st,
				const struct state_rec *a,
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

			for (j = i; j > 0 && state_cmp_pfx(st, &r[j - 1], &x,
							   depth) > 0; j--)
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
				 ? tmp[j++] : tmp[i++];
	while (i < half)
		r[k++] = tmp[i++];
	while (j < n)
		r[k++] = tmp[j++];
}

/*
 * state_sort - stable sort by key.  Large runs: LSD radix sort on the 8-octet
 * prefix at depth, then the same at depth + 8 for each run of equal prefixes
 * whose keys go on.  Short runs: merge sort on the prefix, then the rest of
 * the key.  tmp has room for n records.
 */
static void state_sort(const struct state *st, struct state_rec *r,
		       struct state_rec *tmp, size_t n, size_t depth,
		       int have_pfx)
{
	size_t count[8][256], i, start;
	struct state_rec *src = r, *dst = tmp, *swap;
	int b, more;

	if (n < 2)
		return;
	if (n < STATE_SMALL_SORT) {
		for (i = 0; i < n && !have_pfx; i++) {
			state_prefetch(st, r, i, n);
			r[i].pfx = state_prefix(state_key(st, &r[i]), r[i].klen,
						depth);
		}
		state_msort(st, r, tmp, n, depth);
		return;
	}
	memset(count, 0, sizeof(count));
	for (i = 0; i < n; i++) {
		uint64_t p;

		if (have_pfx) {
			p = r[i].pfx;
		} else {
			state_prefetch(st, r, i, n);
			p = state_prefix(state_key(st, &r[i]), r[i].klen,
					 depth);
			r[i].pfx = p;
		}
		for (b = 0; b < 8; b++)
			count[b][(p >> (8 * b)) & 255]++;
	}
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
			state_sort(st, r + start, tmp + start, i - start,
				   depth + 8, 0);
	}
}

/* state_domain_of - the part of an address after its last "@" */
static void state_domain_of(const char *a, size_t alen, const char **d_r,
			    size_t *dlen_r)
{
	const char *at = memrchr(a, '@', alen);

	*d_r = at + 1;
	*dlen_r = alen - (size_t)(at + 1 - a);
}

long state_find_domain(const struct state *st, const char *domain, size_t len)
{
	size_t lo = 0, hi = st->dom.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct state_rec *r = &st->dom.rec[mid];
		int c = state_keycmp(state_key(st, r), r->klen, domain, len);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int state_has_recipient(const struct state *st, const char *addr, size_t len)
{
	size_t lo = 0, hi = st->rcpt.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct state_rec *r = &st->rcpt.rec[mid];
		int c = state_keycmp(state_key(st, r), r->klen, addr, len);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Domain hash table: a slot holds the key's offset in the text the table was
 * built on, and its length with 24 bits of its hash (0: empty), so that a
 * lookup touches the slot and the one key it matches, nothing else.
 */
struct state_dslot {
	uint32_t off;
	uint32_t meta;
};

struct state_dhash {
	struct state_dslot *slot;
	size_t mask;
};

/*
 * state_dhash_fn - hash of a domain, eight octets a step (domains come from
 * signed state or local sources; probing stays correct whatever collides)
 */
static inline uint64_t state_dhash_fn(const char *k, size_t len)
{
	uint64_t h = (uint64_t)len * 0x9e3779b97f4a7c15ull, w;

	for (; len >= 8; k += 8, len -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, k, len);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

/* state_dhash_meta - what a slot holds besides the offset */
static inline uint32_t state_dhash_meta(uint64_t h, size_t len)
{
	return (uint32_t)(h >> 40) << 8 | (uint32_t)len;
}

/* state_dhash_build - table of the n domains whose keys are at base + off */
static int state_dhash_build(struct state_dhash *dh, const char *base,
			     const struct state_rec *rec, size_t n,
			     struct err *err)
{
	size_t size = 16, i, h;
	uint64_t x;

	while (size < 2 * n)
		size *= 2;
	dh->slot = calloc(size, sizeof(*dh->slot));
	if (dh->slot == NULL)
		return err_set(err, "out of memory (domain table)");
	dh->mask = size - 1;
	for (i = 0; i < n; i++) {
		x = state_dhash_fn(base + rec[i].off, rec[i].klen);
		for (h = (size_t)x & dh->mask; dh->slot[h].meta != 0;)
			h = (h + 1) & dh->mask;
		dh->slot[h].off = rec[i].off;
		dh->slot[h].meta = state_dhash_meta(x, rec[i].klen);
	}
	return 0;
}

/* state_dhash_prefetch - start loading the slot of a coming lookup */
static inline void state_dhash_prefetch(const struct state_dhash *dh,
					uint64_t x)
{
	__builtin_prefetch(&dh->slot[(size_t)x & dh->mask]);
}

/* state_dhash_has_h - state_dhash_has() with the hash of d known */
static inline int state_dhash_has_h(const struct state_dhash *dh,
				    const char *base, const char *d,
				    size_t dlen, uint64_t x)
{
	uint32_t meta = state_dhash_meta(x, dlen);
	size_t h = (size_t)x & dh->mask;

	for (; dh->slot[h].meta != 0; h = (h + 1) & dh->mask)
		if (dh->slot[h].meta == meta &&
		    state_memcmp(base + dh->slot[h].off, d, dlen) == 0)
			return 1;
	return 0;
}

/* state_dhash_has - 1 if the domain is in the table */
static int state_dhash_has(const struct state_dhash *dh, const char *base,
			   const char *d, size_t dlen)
{
	return state_dhash_has_h(dh, base, d, dlen, state_dhash_fn(d, dlen));
}

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
		memmove(&ix->rec[j], &ix->rec[i], (ix->n - i) * sizeof(*ix->rec));
		ix->n -= i - j;
	}
}

/* state_par_job - one half of a job split between two threads */
struct state_par_job {
	void (*fn)(void *arg);
	void *arg;
};

static void *state_par_main(void *arg)
{
	struct state_par_job *job = arg;

	job->fn(job->arg);
	return NULL;
}

/*
 * state_par - fn(b) on a second thread while this one runs fn(a), then wait
 * for both; one after the other when no thread can be had.  The halves never
 * write the same memory.  The thread blocks every signal, so that signals
 * still reach the caller's thread only.
 */
static void state_par(void (*fn)(void *arg), void *a, void *b)
{
	struct state_par_job job = { fn, b };
	sigset_t all, old;
	pthread_t t;
	int started;

	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) {
		fn(a);
		fn(b);
		return;
	}
	started = pthread_create(&t, NULL, state_par_main, &job) == 0;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	fn(a);
	if (started)
		(void)pthread_join(t, NULL);
	else
		fn(b);
}

/* state_sort_job - a share of a sort split by state_sort_split() */
struct state_sort_job {
	const struct state *st;
	struct state_rec *r, *tmp;
	size_t n;
};

/* state_sort_pfx - the prefixes at depth 0 of a share */
static void state_sort_pfx(void *arg)
{
	struct state_sort_job *j = arg;
	size_t i;

	for (i = 0; i < j->n; i++) {
		state_prefetch(j->st, j->r, i, j->n);
		j->r[i].pfx = state_prefix(state_key(j->st, &j->r[i]),
					   j->r[i].klen, 0);
	}
}

/* state_sort_part - sort a share whose prefixes are set */
static void state_sort_part(void *arg)
{
	struct state_sort_job *j = arg;

	state_sort(j->st, j->r, j->tmp, j->n, 0, 1);
}

/*
 * state_sort_split - state_sort() of a large index on two threads: the
 * prefixes in two halves, then a stable partition into tmp at a sampled
 * median prefix (all keys of the first part sort before all of the
 * second), each part sorted on its own thread.  Returns 1 when the sorted
 * records are in tmp, 0 when they are in r (every prefix equal: one
 * thread).
 */
static int state_sort_split(const struct state *st, struct state_rec *r,
			    struct state_rec *tmp, size_t n)
{
	struct state_sort_job a = { st, r, tmp, n / 2 };
	struct state_sort_job b = { st, r + n / 2, tmp + n / 2, n - n / 2 };
	uint64_t sample[STATE_SAMPLES], piv, x;
	size_t i, k, left, lo, hi;
	int le = 0;

	state_par(state_sort_pfx, &a, &b);
	for (k = 0; k < STATE_SAMPLES; k++) {
		x = r[k * (n / STATE_SAMPLES)].pfx;
		for (i = k; i > 0 && sample[i - 1] > x; i--)
			sample[i] = sample[i - 1];
		sample[i] = x;
	}
	piv = sample[STATE_SAMPLES / 2];
	/* left: prefixes below the pivot, or up to it when none is below */
	for (;;) {
		for (i = left = 0; i < n; i++)
			left += le ? r[i].pfx <= piv : r[i].pfx < piv;
		if (left > 0 || le)
			break;
		le = 1;
	}
	if (left == n) {
		state_sort(st, r, tmp, n, 0, 1);
		return 0;
	}
	for (i = lo = 0, hi = left; i < n; i++) {
		if (le ? r[i].pfx <= piv : r[i].pfx < piv)
			tmp[lo++] = r[i];
		else
			tmp[hi++] = r[i];
	}
	a = (struct state_sort_job){ st, tmp, r, left };
	b = (struct state_sort_job){ st, tmp + left, r + left, n - left };
	state_par(state_sort_part, &a, &b);
	return 1;
}

/* state_rpass - a share of state_finish()'s pass over the recipients */
struct state_rpass {
	struct state *st;
	const struct state_dhash *dh;
	char *text;
	size_t from, to;	/* records [from, to) */
	size_t bytes;		/* text octets of the kept records */
	size_t pos;		/* where in text the share's lines start */
	size_t bad;		/* first record whose domain is absent, or to */
	size_t dups;
	const unsigned char *drop;	/* drop[tag]: drop, not fail (ndrop) */
	size_t ndrop;
	size_t unlisted;	/* records dropped that way */
};

/*
 * state_rpass_check - mark duplicates (equal to the record before, which
 * may be in the other share: only its key is read) and find the first
 * recipient whose domain is not among the domains
 */
static void state_rpass_check(void *arg)
{
	struct state_rpass *p = arg;
	struct state *st = p->st;
	struct state_rec *rec = st->rcpt.rec;
	size_t i, dlen;
	const char *d;

	uint64_t ring[STATE_RING], x;

	p->bytes = p->dups = p->unlisted = 0;
	p->bad = p->to;
	/*
	 * The table is small but the pass streams through the index and the
	 * keys, which evicts it: each domain is hashed STATE_RING records
	 * ahead and its slot fetched early.
	 */
	for (i = p->from; i < p->to && i < p->from + STATE_RING; i++) {
		state_domain_of(state_key(st, &rec[i]), rec[i].klen, &d, &dlen);
		ring[i % STATE_RING] = x = state_dhash_fn(d, dlen);
		state_dhash_prefetch(p->dh, x);
	}
	for (i = p->from; i < p->to; i++) {
		struct state_rec *r = &rec[i];
		const char *k = state_key(st, r);

		state_prefetch(st, rec, i, p->to);
		x = ring[i % STATE_RING];
		if (i + STATE_RING < p->to) {
			const struct state_rec *ahead = &rec[i + STATE_RING];
			const char *ad;
			size_t alen;

			state_domain_of(state_key(st, ahead), ahead->klen, &ad,
					&alen);
			ring[i % STATE_RING] = state_dhash_fn(ad, alen);
			state_dhash_prefetch(p->dh, ring[i % STATE_RING]);
		}
		if (i > 0 && rec[i - 1].klen == r->klen &&
		    state_memcmp(state_key(st, &rec[i - 1]), k, r->klen) == 0) {
			r->fresh |= STATE_DUP;
			p->dups++;
			continue;
		}
		state_domain_of(k, r->klen, &d, &dlen);
		if (!state_dhash_has_h(p->dh, p->text, d, dlen, x)) {
			unsigned tag = state_tag(st, r);

			if (r->fresh && tag < p->ndrop && p->drop[tag]) {
				r->fresh |= STATE_UNLISTED;
				p->unlisted++;
				continue;
			}
			p->bad = i;
			return;
		}
		p->bytes += (size_t)r->klen + 3;
	}
}

/* state_rpass_copy - the share's lines into text; records get new offsets */
static void state_rpass_copy(void *arg)
{
	struct state_rpass *p = arg;
	struct state *st = p->st;
	struct state_rec *rec = st->rcpt.rec;
	size_t i, pos = p->pos;
	char *text = p->text;

	for (i = p->from; i < p->to; i++) {
		struct state_rec *r = &rec[i];

		state_prefetch(st, rec, i, p->to);
		if (r->fresh & (STATE_DUP | STATE_UNLISTED))
			continue;
		text[pos] = 'R';
		text[pos + 1] = ' ';
		memcpy(text + pos + 2, state_key(st, r), r->klen);
		text[pos + 2 + r->klen] = '\n';
		r->off = (uint32_t)(pos + 2);
		r->fresh = 0;
		pos += (size_t)r->klen + 3;
	}
}

/*
 * state_finish - sort, then one pass per index that drops duplicates,
 * checks, and copies each record into the new canonical text.  During the
 * domain pass a kept record's new offset is in pfx; recipients are checked
 * (duplicates marked) before any is moved.  Either way off stays valid in
 * the old arena until nothing can fail, so that a failure leaves a usable
 * (unfinished) state.  A large recipient index is sorted, checked and
 * copied in two shares on two threads.
 */
int state_finish(struct state *st, unsigned *tag_r, struct err *err)
{
	return state_finish_unlisted(st, NULL, 0, NULL, NULL, tag_r, err);
}

int state_finish_unlisted(struct state *st, const unsigned char *drop,
			  size_t ndrop, state_unlisted_fn *dropped, void *arg,
			  unsigned *tag_r, struct err *err)
{
	struct state_dhash dh = { NULL, 0 };
	struct state_rec *tmp = NULL, *swap;
	struct state_rpass pa, pb;
	size_t i, j, max, total = 0, pos = 0;
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
	state_sort(st, st->dom.rec, tmp, st->dom.n, 0, 0);
	if (st->rcpt.n < STATE_PAR_MIN) {
		state_sort(st, st->rcpt.rec, tmp, st->rcpt.n, 0, 0);
	} else if (state_sort_split(st, st->rcpt.rec, tmp, st->rcpt.n)) {
		/* the sorted index is tmp: adopt it, drop the old one */
		swap = st->rcpt.rec;
		st->rcpt.rec = tmp;
		st->rcpt.cap = max;
		tmp = swap;
	}
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

	/* Same domain twice: fine with the same nexthop, an error otherwise. */
	for (i = j = 0; i < st->dom.n; i++) {
		struct state_rec *r = &st->dom.rec[i];
		const char *k = state_key(st, r);
		size_t n = (size_t)r->klen + 1 + r->vlen;

		state_prefetch(st, st->dom.rec, i, st->dom.n);
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
				err_set(err, "domain \"%.*s\" listed with two nexthops: \"%.*s\" and \"%.*s\"",
					(int)r->klen, k, (int)p->vlen,
					pk + p->klen + 1, (int)r->vlen,
					k + r->klen + 1);
				state_drop(&st->dom, j, i);
				goto out;
			}
		}
		text[pos] = 'D';
		text[pos + 1] = ' ';
		memcpy(text + pos + 2, k, n);
		text[pos + 2 + n] = '\n';
		st->dom.rec[j] = *r;
		st->dom.rec[j++].pfx = pos + 2;
		pos += n + 3;
	}
	state_drop(&st->dom, j, i);

	/* The domain table looks keys up in the new text. */
	state_swap_off(st->dom.rec, st->dom.n);
	dom_swapped = 1;
	if (state_dhash_build(&dh, text, st->dom.rec, st->dom.n, err) < 0)
		goto out;

	/*
	 * Recipients: duplicates and domains checked in two shares, on two
	 * threads when the index is large; then each share's lines copied
	 * where the first share's text ends.  The first missing domain in
	 * key order is reported, as one pass in order would.
	 */
	pa = (struct state_rpass){ st, &dh, text, 0, st->rcpt.n, 0, pos, 0, 0,
				   drop, ndrop, 0 };
	pb = pa;
	if (st->rcpt.n >= STATE_PAR_MIN) {
		pa.to = pb.from = st->rcpt.n / 2;
		state_par(state_rpass_check, &pa, &pb);
	} else {
		state_rpass_check(&pa);
		pb.from = pb.to = pb.bad = st->rcpt.n;
	}
	if (pa.bad < pa.to || pb.bad < pb.to) {
		struct state_rec *r = &st->rcpt.rec[pa.bad < pa.to ? pa.bad
								    : pb.bad];
		const char *k = state_key(st, r), *d;
		size_t dlen;

		state_domain_of(k, r->klen, &d, &dlen);
		if (tag_r != NULL)
			*tag_r = state_tag(st, r);
		err_set(err, "recipient \"%.*s\": domain \"%.*s\" is not among the domains",
			(int)r->klen, k, (int)dlen, d);
		for (i = 0; i < st->rcpt.n; i++)
			st->rcpt.rec[i].fresh &=
				(uint8_t) ~(STATE_DUP | STATE_UNLISTED);
		goto out;
	}
	/* Nothing can fail now: name the dropped ones, in key order. */
	if (pa.unlisted + pb.unlisted > 0 && dropped != NULL)
		for (i = 0; i < st->rcpt.n; i++) {
			struct state_rec *r = &st->rcpt.rec[i];

			if (r->fresh & STATE_UNLISTED)
				dropped(arg, state_tag(st, r), state_key(st, r),
					r->klen);
		}
	pb.pos = pa.pos + pa.bytes;
	if (st->rcpt.n >= STATE_PAR_MIN)
		state_par(state_rpass_copy, &pa, &pb);
	else
		state_rpass_copy(&pa);
	pos = pb.pos + pb.bytes;
	if (pa.dups + pb.dups + pa.unlisted + pb.unlisted > 0) {
		for (i = j = 0; i < st->rcpt.n; i++)
			if (!(st->rcpt.rec[i].fresh &
			      (STATE_DUP | STATE_UNLISTED)))
				st->rcpt.rec[j++] = st->rcpt.rec[i];
		st->rcpt.n = j;
	}
	for (i = 0; i < st->dom.n; i++)
		st->dom.rec[i].fresh = 0;
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
	free(dh.slot);
	free(text);
	free(tmp);
	return ret;
}

/* state_parse_line - one line of canonical text into the index */
static int state_parse_line(struct state *st, const char *line, size_t llen,
			    unsigned lineno, int *seen_r,
			    struct state_dhash *dh, struct err *err)
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
			return err_set(err, "state line %u: domain after recipients",
				       lineno);
		ix = &st->dom;
		sp = memchr(key, ' ', llen - 2);
		if (sp == NULL)
			return err_set(err, "state line %u: empty nexthop",
				       lineno);
		klen = (size_t)(sp - key);
		vlen = llen - 2 - klen - 1;
		if (state_check_domain(key, klen, err) < 0 ||
		    norm_nexthop(sp + 1, vlen, err) < 0)
			return err_prefix(err, "state line %u", lineno);
	} else {
		*seen_r = 1;
		ix = &st->rcpt;
		klen = llen - 2;
		if (state_check_address(key, klen, err) < 0)
			return err_prefix(err, "state line %u", lineno);
		if (dh->slot == NULL &&
		    state_dhash_build(dh, st->arena, st->dom.rec, st->dom.n,
				      err) < 0)
			return -1;
		state_domain_of(key, klen, &d, &dlen);
		if (!state_dhash_has(dh, st->arena, d, dlen))
			return err_set(err, "state line %u: recipient domain \"%.*s\" is not among the domains",
				       lineno, (int)dlen, d);
	}
	if (ix->n > 0) {
		prev = &ix->rec[ix->n - 1];
		c = state_keycmp(state_key(st, prev), prev->klen, key, klen);
		if (c == 0)
			return err_set(err, "state line %u: duplicate %s \"%.*s\"",
				       lineno, ix == &st->dom ? "domain" : "recipient",
				       (int)klen, key);
		if (c > 0)
			return err_set(err, "state line %u: not sorted (\"%.*s\" after \"%.*s\")",
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

/*
 * state_parse_in - parse buf, which the state owns on success; on failure
 * buf is freed, or left to the caller when keep is set
 */
static struct state *state_parse_in(char *buf, size_t len, int keep,
				    struct err *err)
{
	struct state_dhash dh = { NULL, 0 };
	struct state *st = NULL;
	size_t pos = 0;
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
	{
		const char *p = st->arena, *e = st->arena + len;
		size_t lines = 0;

		while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
			lines++;
			p++;
		}
		if (state_reserve_index(&st->rcpt, lines, err) < 0)
			goto fail;
	}
	while (pos < len) {
		const char *line = st->arena + pos;
		const char *nl = memchr(line, '\n', len - pos);

		lineno++;
		if (nl == NULL) {
			err_set(err, "state line %u: no final newline", lineno);
			goto fail;
		}
		if (state_parse_line(st, line, (size_t)(nl - line), lineno,
				     &seen_r, &dh, err) < 0)
			goto fail;
		pos += (size_t)(nl - line) + 1;
	}
	st->canon_len = len;
	st->finished = 1;
	free(dh.slot);
	return st;
fail:
	free(dh.slot);
	if (keep && st != NULL)
		st->arena = NULL;	/* the caller's again */
	else if (!keep)
		free(buf);
	state_free(st);
	return NULL;
}

struct state *state_parse_owned(char *buf, size_t len, struct err *err)
{
	return state_parse_in(buf, len, 0, err);
}

/* state_ph_job - state_parse_hashed's two halves: parse, or hash */
struct state_ph_job {
	int hash;
	char *buf;
	size_t len;
	unsigned char *out;
	struct state *st;
	struct err *err;
};

static void state_ph_run(void *arg)
{
	struct state_ph_job *j = arg;

	if (j->hash)
		crypto_generichash(j->out, STATE_HASH_LEN,
				   (const unsigned char *)j->buf, j->len,
				   NULL, 0);
	else
		j->st = state_parse_in(j->buf, j->len, 1, j->err);
}

struct state *state_parse_hashed(char *buf, size_t len,
				 unsigned char hash[STATE_HASH_LEN],
				 struct err *err)
{
	struct state_ph_job parse = { 0, buf, len, hash, NULL, err };
	struct state_ph_job h = { 1, buf, len, hash, NULL, NULL };

	if (sodium_init() < 0) {
		/* libsodium cannot fail here on Linux; keep the output defined */
		memset(hash, 0, STATE_HASH_LEN);
	}
	if (len >= STATE_PAR_HASH_MIN)
		state_par(state_ph_run, &parse, &h);
	else {
		state_ph_run(&h);
		state_ph_run(&parse);
	}
	/* both halves are done: the buffer may go now */
	if (parse.st == NULL)
		free(buf);
	return parse.st;
}

/* state_line_start - offset in a finished state's text of record r's line */
static inline size_t state_line_start(const struct state_rec *r)
{
	return (size_t)r->off - 2;
}

/* state_section_end - where a finished state's D (or R) lines end */
static size_t state_section_end(const struct state *st,
				const struct state_index *ix)
{
	const struct state_rec *r;

	if (ix->n == 0)
		return ix == &st->dom ? 0 : st->canon_len;
	r = &ix->rec[ix->n - 1];
	return (size_t)r->off + r->klen + (ix == &st->dom ? 1u + r->vlen : 0) +
	       1;
}

/*
 * state_splice_check - one edit of one section against the base and the
 * result so far (prev: the last key written, NULL before the first)
 */
static int state_splice_check(const struct state *base,
			      const struct state_index *bix,
			      const struct state_edit *e, size_t done,
			      const char *prev, size_t prevlen, size_t i,
			      struct err *err)
{
	const struct state_rec *b = e->at < bix->n ? &bix->rec[e->at] : NULL;

	if (e->at < done || e->at > bix->n || e->klen == 0 || e->klen > 255 ||
	    e->vlen > UINT16_MAX)
		return err_set(err, "edit %zu: out of order", i);
	if (!e->add) {
		if (b == NULL || b->klen != e->klen || b->vlen != e->vlen ||
		    memcmp(state_key(base, b), e->key, e->klen) != 0 ||
		    (e->type == 'D' &&
		     memcmp(state_key(base, b) + b->klen + 1, e->val,
			    e->vlen) != 0))
			return err_set(err, "edit %zu: removes a record the base "
				       "lacks", i);
		return 0;
	}
	if (e->type == 'D') {
		if (state_check_domain(e->key, e->klen, err) < 0 ||
		    norm_nexthop(e->val, e->vlen, err) < 0)
			return err_prefix(err, "edit %zu", i);
	} else if (state_check_address(e->key, e->klen, err) < 0) {
		return err_prefix(err, "edit %zu", i);
	}
	if ((prev != NULL &&
	     state_keycmp(prev, prevlen, e->key, e->klen) >= 0) ||
	    (b != NULL &&
	     state_keycmp(e->key, e->klen, state_key(base, b), b->klen) >= 0))
		return err_set(err, "edit %zu: adds \"%.*s\" out of order", i,
			       (int)e->klen, e->key);
	return 0;
}

/*
 * state_splice_section - write one section (D or R lines) of the result:
 * runs of base lines copied whole, their index entries moved by the run's
 * shift, edits checked and applied.  *pos and *ei advance.
 */
static int state_splice_section(const struct state *base, struct state *res,
				char type, const struct state_edit *ed,
				size_t n, size_t *ei, size_t *pos,
				struct err *err)
{
	const struct state_index *bix = type == 'D' ? &base->dom : &base->rcpt;
	struct state_index *rix = type == 'D' ? &res->dom : &res->rcpt;
	size_t done = 0, upto, from, to, k, len;
	const char *prev = NULL;
	size_t prevlen = 0;
	struct state_rec *r;

	for (;; (*ei)++) {
		const struct state_edit *e = *ei < n && ed[*ei].type == type ?
						     &ed[*ei] : NULL;

		if (e != NULL && state_splice_check(base, bix, e, done, prev,
						    prevlen, *ei, err) < 0)
			return -1;
		/* copy base records [done, upto) as one run */
		upto = e != NULL ? e->at : bix->n;
		if (upto > done) {
			from = state_line_start(&bix->rec[done]);
			to = upto < bix->n ? state_line_start(&bix->rec[upto])
					   : state_section_end(base, bix);
			/* the sizes were counted from the edits: re-checked */
			if (to - from > res->cap - *pos ||
			    upto - done > rix->cap - rix->n)
				return err_set(err, "edit %zu: out of order", *ei);
			memcpy(res->arena + *pos, base->arena + from, to - from);
			r = &rix->rec[rix->n];
			memcpy(r, &bix->rec[done], (upto - done) * sizeof(*r));
			for (k = 0; k < upto - done; k++)
				r[k].off = (uint32_t)(r[k].off - from + *pos);
			rix->n += upto - done;
			*pos += to - from;
			prev = state_key(base, &bix->rec[upto - 1]);
			prevlen = bix->rec[upto - 1].klen;
			done = upto;
		}
		if (e == NULL)
			return 0;
		if (!e->add) {
			done = e->at + 1;
			continue;
		}
		len = 2 + e->klen + (type == 'D' ? 1 + e->vlen : 0) + 1;
		if (len > res->cap - *pos || rix->n == rix->cap)
			return err_set(err, "edit %zu: out of order", *ei);
		res->arena[*pos] = type;
		res->arena[*pos + 1] = ' ';
		memcpy(res->arena + *pos + 2, e->key, e->klen);
		if (type == 'D') {
			res->arena[*pos + 2 + e->klen] = ' ';
			memcpy(res->arena + *pos + 3 + e->klen, e->val, e->vlen);
		}
		res->arena[*pos + len - 1] = '\n';
		r = &rix->rec[rix->n++];
		r->pfx = 0;
		r->off = (uint32_t)(*pos + 2);
		r->klen = (uint8_t)e->klen;
		r->vlen = (uint16_t)e->vlen;
		r->fresh = 0;
		prev = e->key;
		prevlen = e->klen;
		*pos += len;
	}
}

/* state_rcpt_index - index of a recipient key, or the count if absent */
static size_t state_rcpt_index(const struct state *st, const char *addr,
			       size_t len)
{
	size_t lo = 0, hi = st->rcpt.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct state_rec *r = &st->rcpt.rec[mid];
		int c = state_keycmp(state_key(st, r), r->klen, addr, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return st->rcpt.n;
}

/* state_rcpt_domain_ok - recipient i's domain is in the table */
static int state_rcpt_domain_ok(const struct state *st,
				const struct state_dhash *dh, size_t i,
				struct err *err)
{
	const struct state_rec *r = &st->rcpt.rec[i];
	const char *d;
	size_t dlen;

	state_domain_of(state_key(st, r), r->klen, &d, &dlen);
	if (state_dhash_has(dh, st->arena, d, dlen))
		return 0;
	return err_set(err, "state line %zu: recipient domain \"%.*s\" is not "
		       "among the domains", st->dom.n + i + 1, (int)dlen, d);
}

/*
 * state_splice_domains_ok - every recipient of the result has its domain:
 * all of them when a domain went away, else only the added ones (in order,
 * so that the first bad line is named)
 */
static int state_splice_domains_ok(const struct state *res, int all,
				   const struct state_edit *ed, size_t n,
				   struct err *err)
{
	struct state_dhash dh = { NULL, 0 };
	size_t i, e;
	int ret = -1;

	if (state_dhash_build(&dh, res->arena, res->dom.rec, res->dom.n,
			      err) < 0)
		return -1;
	if (all) {
		for (i = 0; i < res->rcpt.n; i++)
			if (state_rcpt_domain_ok(res, &dh, i, err) < 0)
				goto out;
	} else {
		for (e = 0; e < n; e++) {
			if (ed[e].type != 'R' || !ed[e].add)
				continue;
			i = state_rcpt_index(res, ed[e].key, ed[e].klen);
			if (i == res->rcpt.n) {
				err_set(err, "edit %zu: lost", e);
				goto out;
			}
			if (state_rcpt_domain_ok(res, &dh, i, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	free(dh.slot);
	return ret;
}

struct state *state_splice(const struct state *base,
			   const struct state_edit *ed, size_t n,
			   struct err *err)
{
	struct state *res = NULL;
	size_t i, len = base->canon_len, nd = base->dom.n, nr = base->rcpt.n;
	size_t pos = 0, ei = 0;
	int gone = 0;

	if (!base->finished) {
		err_set(err, "state_splice: base not finished");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		size_t l = 2 + ed[i].klen + (ed[i].type == 'D' ? 1 + ed[i].vlen
							       : 0) + 1;

		if ((ed[i].type != 'D' && ed[i].type != 'R') ||
		    (i > 0 && ed[i].type == 'D' && ed[i - 1].type == 'R') ||
		    ed[i].klen > 255 || ed[i].vlen > UINT16_MAX) {
			err_set(err, "edit %zu: out of order", i);
			return NULL;
		}
		if (ed[i].add) {
			if (l > STATE_ARENA_MAX - len) {
				err_set(err, "state too large (over 4 GiB of text)");
				return NULL;
			}
			len += l;
			ed[i].type == 'D' ? nd++ : nr++;
		} else {
			/* removals are checked against the base before use */
			if (l > len || (ed[i].type == 'D' ? nd : nr) == 0) {
				err_set(err, "edit %zu: removes a record the "
					"base lacks", i);
				return NULL;
			}
			len -= l;
			ed[i].type == 'D' ? nd-- : nr--;
			/* a domain removed and not added back */
			if (ed[i].type == 'D' &&
			    !(i + 1 < n && ed[i + 1].type == 'D' &&
			      ed[i + 1].add && ed[i + 1].klen == ed[i].klen &&
			      memcmp(ed[i + 1].key, ed[i].key, ed[i].klen) == 0))
				gone = 1;
		}
	}
	if ((res = state_new()) == NULL ||
	    (res->arena = state_malloc(len)) == NULL ||
	    (res->dom.rec = state_malloc(nd * sizeof(struct state_rec))) == NULL ||
	    (res->rcpt.rec = state_malloc(nr * sizeof(struct state_rec))) == NULL) {
		err_set(err, "out of memory (state of %zu octets)", len);
		goto fail;
	}
	res->cap = len;
	res->dom.cap = nd;
	res->rcpt.cap = nr;
	if (state_splice_section(base, res, 'D', ed, n, &ei, &pos, err) < 0 ||
	    state_splice_section(base, res, 'R', ed, n, &ei, &pos, err) < 0)
		goto fail;
	if (ei != n || pos != len || res->dom.n != nd || res->rcpt.n != nr) {
		err_set(err, "edit %zu: out of order", ei);
		goto fail;
	}
	res->len = res->cap = res->canon_len = len;
	res->finished = 1;
	if (state_splice_domains_ok(res, gone, ed, n, err) < 0)
		goto fail;
	return res;
fail:
	state_free(res);
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

struct state *state_load(const char *path, struct err *err)
{
	struct state *st = NULL;
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_sys(err, "open(%s)", path);
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)sb.st_size > STATE_ARENA_MAX) {
		err_set(err, "%s: state too large (over 4 GiB)", path);
		goto out;
	}
	buf = state_malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		err_set(err, "%s: out of memory", path);
		goto out;
	}
	if (fileio_pread_exact(fd, path, buf, (size_t)sb.st_size, 0, err) < 0)
		goto out;
	len = (size_t)sb.st_size;
	st = state_parse_owned(buf, len, err);
	buf = NULL;
	if (st == NULL)
		err_prefix(err, "%s", path);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return st;
}

size_t state_domain_count(const struct state *st)
{
	return st->dom.n;
}

size_t state_recipient_count(const struct state *st)
{
	return st->rcpt.n;
}

void state_domain(const struct state *st, size_t i, const char **domain_r,
		  size_t *dlen_r, const char **nexthop_r, size_t *nlen_r)
{
	const struct state_rec *r = &st->dom.rec[i];

	*domain_r = state_key(st, r);
	*dlen_r = r->klen;
	if (nexthop_r != NULL)
		*nexthop_r = state_key(st, r) + r->klen + 1;
	if (nlen_r != NULL)
		*nlen_r = r->vlen;
}

void state_recipient(const struct state *st, size_t i, const char **addr_r,
		     size_t *alen_r)
{
	const struct state_rec *r = &st->rcpt.rec[i];

	*addr_r = state_key(st, r);
	*alen_r = r->klen;
}

size_t state_text_size(const struct state *st)
{
	return st->canon_len;
}

char *state_text(const struct state *st, size_t *len_r)
{
	char *p = state_malloc(st->canon_len + 1);

	if (p == NULL)
		return NULL;
	if (st->canon_len > 0)
		memcpy(p, st->arena, st->canon_len);
	p[st->canon_len] = '\0';
	if (len_r != NULL)
		*len_r = st->canon_len;
	return p;
}

int state_write_fd(const struct state *st, int fd, struct err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < st->canon_len) {
		n = write(fd, st->arena + done, st->canon_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "write(state)");
		if (n == 0)
			return err_set(err, "write(state): no progress");
		done += (size_t)n;
	}
	return 0;
}

void state_hash(const struct state *st, unsigned char out[STATE_HASH_LEN])
{
	crypto_generichash_state h;
	size_t done = 0, chunk;

	if (sodium_init() < 0) {
		/* libsodium cannot fail here on Linux; keep the output defined */
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	crypto_generichash_init(&h, NULL, 0, STATE_HASH_LEN);
	while (done < st->canon_len) {
		chunk = st->canon_len - done;
		if (chunk > (1u << 20))
			chunk = 1u << 20;
		crypto_generichash_update(&h, (const unsigned char *)st->arena + done,
					  chunk);
		done += chunk;
	}
	crypto_generichash_final(&h, out, STATE_HASH_LEN);
}
