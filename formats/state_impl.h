/*
 * state_impl - how a state is held, for the files of the state module
 * (state.c, state_sort.c, state_finish.c, state_parse.c), the domain set
 * (domset.c) and the delta splice (delta.c); nothing else includes it.
 *
 * Records live in one arena.  While records are being added the arena holds,
 * per record, a 4-octet tag and the key (and " nexthop" for a domain);
 * state_finish() sorts a compact index (16 octets per record, with an 8-octet
 * big-endian key prefix so that a radix sort rarely touches the arena),
 * drops duplicates, checks that every recipient's domain is present, and
 * rebuilds the arena as exactly the canonical text.  A finished state is
 * therefore its own canonical text: hashing, writing and copying are single
 * passes, and a parsed state uses the parsed buffer as its arena.
 */
#ifndef MXSYNC_STATE_IMPL_H
#define MXSYNC_STATE_IMPL_H

#include <stdint.h>
#include <string.h>

#include "state.h"

/*
 * STATE_SANITIZED: a sanitizer build (SAN=1, what CI runs the tests with,
 * and the fuzzing build).  There the state module checks its shortcuts
 * against the long way (state_hash.c) and cuts its parallel work into
 * tiny pieces (state_parse.c), so that every test exercises their seams.
 */
#if defined(__SANITIZE_ADDRESS__)
#define STATE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STATE_SANITIZED 1
#endif
#endif

#define STATE_ARENA_MAX ((size_t)STATE_TEXT_MAX)
#define STATE_TAG_LEN 4

struct state_rec {
	uint64_t pfx;  /* sort key: 8 key octets from the current depth */
	uint32_t off;  /* offset of the key in the arena */
	uint16_t vlen; /* nexthop length (domains only) */
	uint8_t klen;  /* key length (norm.h bounds keys below 255) */
	uint8_t fresh; /* 1: added since the last finish, tag at off - 4 */
};

struct state_index {
	struct state_rec *rec;
	size_t n, cap;
};

struct state {
	char *arena; /* canonical text once finished */
	size_t len, cap;
	size_t canon_len; /* arena[0, canon_len) is canonical text */
	struct state_index dom, rcpt;
	int finished;
	/*
	 * Kept by state_hash_prepare() (state_hash.c), both or neither: the
	 * hash shard of each recipient and the 1 + STATE_HASH_SHARDS leaf
	 * hashes.  Any change to the records drops them (state_hash_forget).
	 */
	uint8_t *hsel;
	unsigned char (*leaf)[STATE_HASH_LEN];
	/* 1: a delta's result, whose large buffers go back to state_pool */
	int pooled;
};

/* state_key - the key of a record */
static inline const char *state_key(const struct state *st,
				    const struct state_rec *r)
{
	return st->arena + r->off;
}

/* state_keycmp - bytewise order of two keys, shorter first on a tie */
static inline int state_keycmp(const char *a, size_t alen, const char *b,
			       size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* state_domain_of - the part of an address after its last "@" */
static inline void state_domain_of(const char *a, size_t alen, const char **d_r,
				   size_t *dlen_r)
{
	const char *at = memrchr(a, '@', alen);

	*d_r = at + 1;
	*dlen_r = alen - (size_t)(at + 1 - a);
}

/* state_hash_forget - drop the kept leaves and shards (state_hash.c) */
void state_hash_forget(struct state *st);

/*
 * state_hash_update - st (whose hsel is already set) gets the leaves
 * base_leaf, with the D leaf (domains) and the shard leaves of mask
 * rehashed; -1 (and no kept leaves) when out of memory (state_hash.c)
 */
int state_hash_update(struct state *st,
		      const unsigned char (*base_leaf)[STATE_HASH_LEN],
		      int domains, uint64_t mask);

/*
 * state_same_ends - two finished states compared as texts, from both ends:
 * their first *head_r recipients are the same records, and so are their
 * last *tail_r (the two ranges never overlap); *domains_r is 1 when their
 * D lines differ.  One memcmp pass, no per-record work (state_hash.c).
 */
void state_same_ends(const struct state *a, const struct state *b,
		     size_t *head_r, size_t *tail_r, int *domains_r);

/*
 * state_pool_get - a buffer of at least len octets, kept from a freed
 * state when one fits (state_pool.c); state_pool_put - free a state's
 * buffer, or keep it for the next state.  Both are malloc'd buffers.
 * state_pool_free - state_pool_put() for a pooled state, else free().
 */
void *state_pool_get(size_t len);
void state_pool_put(void *p);
void state_pool_free(const struct state *st, void *p);

/* state_malloc - malloc that gives a pointer for 0 octets too (state.c) */
void *state_malloc(size_t len);

/* state_reserve_index - room for records more entries (state.c) */
int state_reserve_index(struct state_index *ix, size_t records,
			struct err *err);

/* state_grow_index - room for one more record (state.c) */
int state_grow_index(struct state_index *ix, struct err *err);

/*
 * state_lower - the one binary search over a state: the index in ix (the
 * state's dom or rcpt) of the first record whose key is not below key;
 * *found_r says whether that record's key is key (state.c)
 */
size_t state_lower(const struct state *st, const struct state_index *ix,
		   const char *key, size_t len, int *found_r);

/* state_tag - the tag of a fresh record, 0 for one already canonical */
unsigned state_tag(const struct state *st, const struct state_rec *r);

/*
 * state_sort - stable sort of n records by key (state_sort.c); tmp has room
 * for n records
 */
void state_sort(const struct state *st, struct state_rec *r,
		struct state_rec *tmp, size_t n);

#endif
