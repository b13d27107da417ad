/*
 * state_hash - the state hash of a finished state (state.h): a BLAKE2b-256
 * tree that a delta updates in O(change)
 *
 * Leaves: the hash of the D lines, and one hash per shard of the R lines
 * whose domain falls in that shard (state_shard_of), each leaf over the
 * canonical lines in canonical order.  Root: the hash of the tag
 * "mxsync state v2\n", the D leaf and the STATE_HASH_SHARDS shard leaves.
 * A state keeps its leaves and the shard of each recipient once
 * state_hash_prepare() computed them; delta_splice() carries them to the
 * result and rehashes only the leaves the delta touched.
 *
 * Security: the root commits to every record.  A record's leaf is a
 * function of the record alone, each leaf is a collision-resistant hash of
 * its lines in order, and the root of the leaves in order: two states with
 * one root differ in no leaf, hence in no line, unless BLAKE2b collides.
 * Only out of memory fails (state_hash_prepare); state_hash() itself
 * always computes the hash, without the kept leaves if it must.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "state_impl.h"

#define STATE_HASH_TAG "mxsync state v2\n"
/* octets of lines gathered per leaf before they are hashed */
#define STATE_HASH_STAGE 4096
/* up to this many shards are rehashed by a memchr scan each */
#define STATE_HASH_FEW 8
/* records found per memchr batch, and how far ahead they are prefetched */
#define STATE_HASH_BATCH 256
#define STATE_HASH_AHEAD 16

struct state_hash_leaf {
	crypto_generichash_state h;
	size_t len;
	unsigned char buf[STATE_HASH_STAGE];
};

unsigned state_shard_of(const char *key, size_t len)
{
	const unsigned char *p = (const unsigned char *)key, *at;
	uint32_t h = 2166136261u;
	size_t i;

	at = memrchr(p, '@', len);
	if (at != NULL) {
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % STATE_HASH_SHARDS;
}

/* state_hash_domains - the D leaf: BLAKE2b-256 of the D lines */
static void state_hash_domains(const struct state *st,
			       unsigned char out[STATE_HASH_LEN])
{
	size_t end =
	    st->rcpt.n > 0 ? (size_t)st->rcpt.rec[0].off - 2 : st->canon_len;

	crypto_generichash(out, STATE_HASH_LEN,
			   (const unsigned char *)st->arena, end, NULL, 0);
}

/* state_hash_put - one line into a leaf, through its stage */
static void state_hash_put(struct state_hash_leaf *l, const char *line,
			   size_t len)
{
	if (len > STATE_HASH_STAGE - l->len) {
		crypto_generichash_update(&l->h, l->buf, l->len);
		l->len = 0;
	}
	memcpy(l->buf + l->len, line, len);
	l->len += len;
}

/*
 * state_hash_one - the lines of shard s into its leaf.  A shard's records
 * are spread over the whole arena (one in STATE_HASH_SHARDS), so memchr
 * finds them in sel, a batch at a time, and their index entries and lines
 * are prefetched ahead of use: the cost is the shard's cache misses
 * overlapped, not one after the other.
 */
static void state_hash_one(const struct state *st, const uint8_t *sel,
			   uint8_t s, struct state_hash_leaf *l)
{
	const uint8_t *p = sel, *end = sel + st->rcpt.n;
	const struct state_rec *r;
	size_t at[STATE_HASH_BATCH], n, j;

	while (p < end) {
		for (n = 0; n < STATE_HASH_BATCH && p < end &&
			    (p = memchr(p, s, (size_t)(end - p))) != NULL;
		     p++)
			at[n++] = (size_t)(p - sel);
		for (j = 0; j < n && j < STATE_HASH_AHEAD; j++)
			__builtin_prefetch(&st->rcpt.rec[at[j]]);
		for (j = 0; j < n; j++) {
			if (j + STATE_HASH_AHEAD < n)
				__builtin_prefetch(
				    &st->rcpt.rec[at[j + STATE_HASH_AHEAD]]);
			if (j + STATE_HASH_AHEAD / 2 < n)
				__builtin_prefetch(
				    st->arena +
				    st->rcpt.rec[at[j + STATE_HASH_AHEAD / 2]]
					.off);
			r = &st->rcpt.rec[at[j]];
			/* "R " key "\n" */
			state_hash_put(l, st->arena + r->off - 2,
				       (size_t)r->klen + 3);
		}
		if (p == NULL)
			break;
	}
}

/*
 * state_hash_shards - the leaves of the shards in mask, into leaf[s + 1]:
 * one pass over the recipients, in order, with sel[i] their shards (or
 * computed when sel is NULL); -1 only when out of memory
 */
static int state_hash_shards(const struct state *st, const uint8_t *sel,
			     uint64_t mask,
			     unsigned char (*leaf)[STATE_HASH_LEN])
{
	struct state_hash_leaf *l;
	const struct state_rec *r;
	size_t i;
	unsigned s;

	if (mask == 0)
		return 0;
	l = malloc(STATE_HASH_SHARDS * sizeof(*l));
	if (l == NULL)
		return -1;
	for (s = 0; s < STATE_HASH_SHARDS; s++) {
		l[s].len = 0;
		if (mask >> s & 1)
			crypto_generichash_init(&l[s].h, NULL, 0,
						STATE_HASH_LEN);
	}
	if (sel != NULL && __builtin_popcountll(mask) <= STATE_HASH_FEW) {
		for (s = 0; s < STATE_HASH_SHARDS; s++)
			if (mask >> s & 1)
				state_hash_one(st, sel, (uint8_t)s, &l[s]);
	} else {
		for (i = 0; i < st->rcpt.n; i++) {
			r = &st->rcpt.rec[i];
			s = sel != NULL
				? sel[i]
				: state_shard_of(state_key(st, r), r->klen);
			if (mask >> s & 1)
				/* "R " key "\n" */
				state_hash_put(&l[s], st->arena + r->off - 2,
					       (size_t)r->klen + 3);
		}
	}
	for (s = 0; s < STATE_HASH_SHARDS; s++) {
		if (!(mask >> s & 1))
			continue;
		crypto_generichash_update(&l[s].h, l[s].buf, l[s].len);
		crypto_generichash_final(&l[s].h, leaf[s + 1], STATE_HASH_LEN);
	}
	free(l);
	return 0;
}

/* state_hash_root - the root over the D leaf and the shard leaves */
static void state_hash_root(unsigned char (*leaf)[STATE_HASH_LEN],
			    unsigned char out[STATE_HASH_LEN])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, NULL, 0, STATE_HASH_LEN);
	crypto_generichash_update(&h, (const unsigned char *)STATE_HASH_TAG,
				  sizeof(STATE_HASH_TAG) - 1);
	crypto_generichash_update(&h, leaf[0],
				  (1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	crypto_generichash_final(&h, out, STATE_HASH_LEN);
}

void state_hash_forget(struct state *st)
{
	state_pool_free(st, st->hsel);
	free(st->leaf);
	st->hsel = NULL;
	st->leaf = NULL;
}

int state_hash_prepare(struct state *st)
{
	uint8_t *sel = NULL;
	unsigned char(*leaf)[STATE_HASH_LEN] = NULL;
	size_t i;

	if (st->leaf != NULL)
		return 0;
	if (sodium_init() < 0 || (sel = state_malloc(st->rcpt.n)) == NULL ||
	    (leaf = malloc((1 + STATE_HASH_SHARDS) * STATE_HASH_LEN)) == NULL)
		goto fail;
	for (i = 0; i < st->rcpt.n; i++)
		sel[i] = (uint8_t)state_shard_of(
		    state_key(st, &st->rcpt.rec[i]), st->rcpt.rec[i].klen);
	state_hash_domains(st, leaf[0]);
	if (state_hash_shards(st, sel, UINT64_MAX, leaf) < 0)
		goto fail;
	free(st->hsel);
	st->hsel = sel;
	st->leaf = leaf;
	return 0;
fail:
	free(sel);
	free(leaf);
	return -1;
}

int state_hash_update(struct state *st,
		      const unsigned char (*base_leaf)[STATE_HASH_LEN],
		      int domains, uint64_t mask)
{
	unsigned char(*leaf)[STATE_HASH_LEN];

	leaf = malloc((1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	if (leaf == NULL || st->hsel == NULL)
		goto fail;
	memcpy(leaf, base_leaf, (1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	if (domains)
		state_hash_domains(st, leaf[0]);
	if (state_hash_shards(st, st->hsel, mask, leaf) < 0)
		goto fail;
	free(st->leaf);
	st->leaf = leaf;
	return 0;
fail:
	free(leaf);
	state_hash_forget(st);
	return -1;
}

const uint8_t *state_shards(const struct state *st)
{
	return st->leaf != NULL ? st->hsel : NULL;
}

void state_hash(const struct state *st, unsigned char out[STATE_HASH_LEN])
{
	unsigned char leaf[1 + STATE_HASH_SHARDS][STATE_HASH_LEN];

	if (sodium_init() < 0) {
		/* libsodium cannot fail here on Linux; keep the output defined
		 */
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	if (st->leaf != NULL) {
		state_hash_root(st->leaf, out);
		return;
	}
	state_hash_domains(st, leaf[0]);
	if (state_hash_shards(st, NULL, UINT64_MAX, leaf) < 0) {
		/* out of memory: a hash nothing signed, so every check fails */
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	state_hash_root(leaf, out);
}

void state_hash_flat(const struct state *st, unsigned char out[STATE_HASH_LEN])
{
	crypto_generichash_state h;
	size_t done = 0, chunk;

	if (sodium_init() < 0) {
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	crypto_generichash_init(&h, NULL, 0, STATE_HASH_LEN);
	while (done < st->canon_len) {
		chunk = st->canon_len - done;
		if (chunk > (1u << 20))
			chunk = 1u << 20;
		crypto_generichash_update(
		    &h, (const unsigned char *)st->arena + done, chunk);
		done += chunk;
	}
	crypto_generichash_final(&h, out, STATE_HASH_LEN);
}

void state_hash_version(const struct state *st, int version,
			unsigned char out[STATE_HASH_LEN])
{
	if (version == STATE_HASH_V1)
		state_hash_flat(st, out);
	else
		state_hash(st, out);
}
