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

#include "selwalk.h"
#include "state_impl.h"
#include "thread.h"

#define STATE_HASH_TAG "mxsync state v2\n"
/* octets of lines gathered per leaf before they are hashed */
#define STATE_HASH_STAGE 4096

/*
 * In a sanitizer build (STATE_SANITIZED, state_impl.h) every hash prepared
 * from a predecessor is checked against a whole computation, and a
 * difference aborts, as a sanitizer report does.
 */
#ifdef STATE_SANITIZED
#define STATE_HASH_CHECK 1
#endif

struct state_hash_leaf {
	crypto_generichash_state h;
	size_t len;
	unsigned char buf[STATE_HASH_STAGE];
};

uint32_t state_domain_hash(const char *key, size_t len)
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
	return h;
}

unsigned state_shard_of(const char *key, size_t len)
{
	return state_domain_hash(key, len) % STATE_HASH_SHARDS;
}

/* state_hash_domains - the D leaf: BLAKE2b-256 of the D lines */
static void state_hash_domains(const struct state *st,
			       unsigned char out[STATE_HASH_LEN])
{
	crypto_generichash(out, STATE_HASH_LEN,
			   (const unsigned char *)st->arena, state_dom_end(st),
			   NULL, 0);
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
 * the leaves of one state_hash_shards() call; lines: where each shard's
 * lines are kept as well (state_shard_lines), or NULL
 */
struct state_hash_run {
	const struct state *st;
	struct state_hash_leaf *l;
	unsigned char (*leaf)[STATE_HASH_LEN];
	struct state_lines *lines;
};

/*
 * state_lines_drop - the lines k of leaf l not kept after all: what they
 * hold is hashed, and the leaf's next lines go through its stage
 */
static void state_lines_drop(struct state_hash_leaf *l, struct state_lines *k)
{
	crypto_generichash_update(&l->h,
				  (const unsigned char *)k->buf + k->hashed,
				  k->len - k->hashed);
	free(k->buf);
	k->buf = NULL;
}

/*
 * state_lines_put - a line onto leaf l through the lines k that keep it:
 * they are hashed from there, a stage's worth at a time, instead of
 * through l's stage.  Lines beyond k's max (a shard far larger than its
 * share: a state of one big domain), or that do not fit in memory, are
 * not kept (state_lines_drop).
 */
static void state_lines_put(struct state_hash_leaf *l, struct state_lines *k,
			    const char *line, size_t len)
{
	char *nb;
	size_t cap;

	if (len > k->max - k->len) {
		state_lines_drop(l, k);
		state_hash_put(l, line, len);
		return;
	}
	if (len > k->cap - k->len) {
		cap = 2 * k->cap + len < k->max ? 2 * k->cap + len : k->max;
		if ((nb = realloc(k->buf, cap)) == NULL) {
			state_lines_drop(l, k);
			state_hash_put(l, line, len);
			return;
		}
		k->buf = nb;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, line, len);
	k->len += len;
	k->n++;
	if (k->len - k->hashed >= STATE_HASH_STAGE) {
		crypto_generichash_update(
		    &l->h, (const unsigned char *)k->buf + k->hashed,
		    k->len - k->hashed);
		k->hashed = k->len;
	}
}

/* state_hash_begin - leaf h of the run begins */
static void state_hash_begin(void *arg, unsigned h)
{
	const struct state_hash_run *run = arg;
	struct state_lines *k;

	run->l[h].len = 0;
	crypto_generichash_init(&run->l[h].h, NULL, 0, STATE_HASH_LEN);
	if (run->lines != NULL) {
		/*
		 * room for about a shard's share of the text, kept up to
		 * four shares (and 1 MiB)
		 */
		k = &run->lines[h];
		k->cap =
		    state_text_size(run->st) / STATE_HASH_SHARDS * 9 / 8 + 4096;
		k->max = state_text_size(run->st) / STATE_HASH_SHARDS * 4 +
			 ((size_t)1 << 20);
		k->len = k->n = k->hashed = 0;
		k->buf =
		    run->st->pooled ? state_pool_get(k->cap) : malloc(k->cap);
	}
}

/* state_hash_each - recipient i into leaf h */
static void state_hash_each(void *arg, unsigned h, size_t s, size_t i)
{
	const struct state_hash_run *run = arg;
	const char *a;
	const struct state_rec *r = state_rcpt(run->st, i, &a);

	(void)s;
	/* "R " key "\n" */
	if (run->lines != NULL && run->lines[h].buf != NULL)
		state_lines_put(&run->l[h], &run->lines[h], a + r->off - 2,
				(size_t)r->klen + 3);
	else
		state_hash_put(&run->l[h], a + r->off - 2, (size_t)r->klen + 3);
}

/* state_hash_prefetch - recipient i will be hashed soon */
static void state_hash_prefetch(void *arg, size_t s, size_t i, int far)
{
	const struct state_hash_run *run = arg;

	(void)s;
	state_prefetch(run->st, i, far);
}

/* state_hash_end - leaf h of the run is done */
static void state_hash_end(void *arg, unsigned h)
{
	const struct state_hash_run *run = arg;
	struct state_hash_leaf *l = &run->l[h];
	struct state_lines *k = run->lines != NULL ? &run->lines[h] : NULL;

	/* the kept lines come before any that went through the stage */
	if (k != NULL && k->buf != NULL)
		crypto_generichash_update(
		    &l->h, (const unsigned char *)k->buf + k->hashed,
		    k->len - k->hashed);
	crypto_generichash_update(&l->h, l->buf, l->len);
	crypto_generichash_final(&l->h, run->leaf[h + 1], STATE_HASH_LEN);
}

/*
 * state_hash_shards - the leaves of the shards in mask, into leaf[s + 1]:
 * with sel[i] the shard of each recipient, a walk of those shards
 * (selwalk.h: a few one by one, many in groups, on every core); without,
 * one pass over the recipients that computes their shards; -1 only when
 * out of memory
 */
static int state_hash_shards(const struct state *st, const uint8_t *sel,
			     uint64_t mask,
			     unsigned char (*leaf)[STATE_HASH_LEN],
			     struct state_lines *lines)
{
	unsigned char want[STATE_HASH_SHARDS];
	struct state_hash_run run;
	const struct state_rec *r;
	size_t i, n = state_nr(st);
	const char *a;
	unsigned s;

	if (mask == 0)
		return 0;
	run.l = malloc(STATE_HASH_SHARDS * sizeof(*run.l));
	if (run.l == NULL)
		return -1;
	run.st = st;
	run.leaf = leaf;
	run.lines = lines;
	for (s = 0; s < STATE_HASH_SHARDS; s++)
		want[s] = (unsigned char)(mask >> s & 1);
	if (sel != NULL) {
		struct selwalk w = {.sel = &sel,
				    .cnt = &n,
				    .n = 1,
				    .shards = STATE_HASH_SHARDS,
				    .want = want,
				    .begin = state_hash_begin,
				    .each = state_hash_each,
				    .end = state_hash_end,
				    .prefetch = state_hash_prefetch,
				    .arg = &run};

		selwalk(&w);
		free(run.l);
		return 0;
	}
	for (s = 0; s < STATE_HASH_SHARDS; s++)
		if (want[s])
			state_hash_begin(&run, s);
	for (i = 0; i < n; i++) {
		r = state_rcpt(st, i, &a);
		s = state_shard_of(a + r->off, r->klen);
		if (want[s])
			state_hash_each(&run, s, 0, i);
	}
	for (s = 0; s < STATE_HASH_SHARDS; s++)
		if (want[s])
			state_hash_end(&run, s);
	free(run.l);
	return 0;
}

/* recipients whose shards one thread_for() job of state_hash_sel finds */
#define STATE_HASH_SEL_JOB 65536

/* the shard of each recipient, for thread_for() */
struct state_hash_sel_run {
	const struct state *st;
	uint8_t *sel;
};

/* state_hash_sel_one - the shards of the i-th job's recipients */
static void state_hash_sel_one(void *arg, size_t i)
{
	const struct state_hash_sel_run *run = arg;
	const struct state *st = run->st;
	size_t k = i * STATE_HASH_SEL_JOB, end = k + STATE_HASH_SEL_JOB;
	const struct state_rec *r;
	const char *a;

	if (end > state_nr(st))
		end = state_nr(st);
	for (; k < end; k++) {
		r = state_rcpt(st, k, &a);
		run->sel[k] = (uint8_t)state_shard_of(a + r->off, r->klen);
	}
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

/*
 * state_lines_free - the kept lines k of st (STATE_HASH_SHARDS of them, or
 * NULL); their buffers go back to the pool, for the next delta's
 */
static void state_lines_free(const struct state *st, struct state_lines *k)
{
	unsigned h;

	for (h = 0; k != NULL && h < STATE_HASH_SHARDS; h++)
		state_pool_free(st, k[h].buf);
	free(k);
}

void state_hash_forget(struct state *st)
{
	state_pool_free(st, st->hsel);
	free(st->leaf);
	state_lines_free(st, st->lines);
	st->hsel = NULL;
	st->leaf = NULL;
	st->lines = NULL;
}

int state_shard_lines(const struct state *st, unsigned h, const char **text_r,
		      size_t *len_r, size_t *n_r)
{
	if (st->lines == NULL || h >= STATE_HASH_SHARDS ||
	    st->lines[h].buf == NULL)
		return -1;
	*text_r = st->lines[h].buf;
	*len_r = st->lines[h].len;
	*n_r = st->lines[h].n;
	return 0;
}

int state_hash_prepare(struct state *st)
{
	struct state_hash_sel_run run;
	uint8_t *sel = NULL;
	unsigned char(*leaf)[STATE_HASH_LEN] = NULL;

	if (st->leaf != NULL)
		return 0;
	if (sodium_init() < 0 || (sel = state_malloc(state_nr(st))) == NULL ||
	    (leaf = malloc((1 + STATE_HASH_SHARDS) * STATE_HASH_LEN)) == NULL)
		goto fail;
	run.st = st;
	run.sel = sel;
	thread_for((state_nr(st) + STATE_HASH_SEL_JOB - 1) / STATE_HASH_SEL_JOB,
		   state_hash_sel_one, &run);
	state_hash_domains(st, leaf[0]);
	if (state_hash_shards(st, sel, UINT64_MAX, leaf, NULL) < 0)
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
		      int domains, uint64_t mask, int lines)
{
	unsigned char(*leaf)[STATE_HASH_LEN];
	struct state_lines *k = NULL;

	leaf = malloc((1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	if (leaf == NULL || st->hsel == NULL)
		goto fail;
	memcpy(leaf, base_leaf, (1 + STATE_HASH_SHARDS) * STATE_HASH_LEN);
	if (domains)
		state_hash_domains(st, leaf[0]);
	/* without memory for them the lines are only not kept */
	if (lines && mask != 0 && __builtin_popcountll(mask) <= STATE_LINES_MAX)
		k = calloc(STATE_HASH_SHARDS, sizeof(*k));
	if (state_hash_shards(st, st->hsel, mask, leaf, k) < 0)
		goto fail;
	free(st->leaf);
	st->leaf = leaf;
	state_lines_free(st, st->lines);
	st->lines = k;
	return 0;
fail:
	free(leaf);
	state_lines_free(st, k);
	state_hash_forget(st);
	return -1;
}

/*
 * state_hash_prepare_from - the leaves of prev, with the D leaf rehashed
 * when the D lines differ and the shards of the recipients between the
 * same ends (state_same_ends) in either state
 */
int state_hash_prepare_from(struct state *st, const struct state *prev)
{
	size_t p, sa, i, n = state_nr(st), pn;
	const struct state_rec *r;
	const char *a;
	uint64_t mask = 0;
	uint8_t *sel;
	int domains;

	if (st->leaf != NULL)
		return 0;
	if (prev == NULL || prev->leaf == NULL || !st->finished ||
	    !prev->finished)
		return state_hash_prepare(st);
	pn = state_nr(prev);
	state_same_ends(prev, st, &p, &sa, &domains);
	/* more than a quarter changed: one pass over everything is as cheap */
	if (n - p - sa > n / 4 + 64)
		return state_hash_prepare(st);
	if ((sel = state_malloc(n)) == NULL)
		return -1;
	memcpy(sel, prev->hsel, p);
	memcpy(sel + n - sa, prev->hsel + pn - sa, sa);
	for (i = p; i < pn - sa; i++)
		mask |= (uint64_t)1 << prev->hsel[i];
	for (i = p; i < n - sa; i++) {
		r = state_rcpt(st, i, &a);
		sel[i] = (uint8_t)state_shard_of(a + r->off, r->klen);
		mask |= (uint64_t)1 << sel[i];
	}
	free(st->hsel);
	st->hsel = sel;
	if (state_hash_update(
		st, (const unsigned char(*)[STATE_HASH_LEN])prev->leaf, domains,
		mask, 0) < 0)
		return -1;
#ifdef STATE_HASH_CHECK
	{
		unsigned char want[STATE_HASH_LEN], got[STATE_HASH_LEN];
		unsigned char(*keep)[STATE_HASH_LEN] = st->leaf;

		state_hash(st, got);
		st->leaf = NULL;
		state_hash(st, want);
		st->leaf = keep;
		if (memcmp(want, got, STATE_HASH_LEN) != 0)
			abort();
	}
#endif
	return 0;
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
	if (state_hash_shards(st, NULL, UINT64_MAX, leaf, NULL) < 0) {
		/* out of memory: a hash nothing signed, so every check fails */
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	state_hash_root(leaf, out);
}

/* state_hash_text - len octets of text into h, a megabyte at a time */
static void state_hash_text(crypto_generichash_state *h, const char *text,
			    size_t len)
{
	size_t done = 0, chunk;

	while (done < len) {
		chunk = len - done;
		if (chunk > (1u << 20))
			chunk = 1u << 20;
		crypto_generichash_update(h, (const unsigned char *)text + done,
					  chunk);
		done += chunk;
	}
}

void state_hash_flat(const struct state *st, unsigned char out[STATE_HASH_LEN])
{
	crypto_generichash_state h;
	size_t k, tl;
	const char *t;

	if (sodium_init() < 0) {
		memset(out, 0, STATE_HASH_LEN);
		return;
	}
	crypto_generichash_init(&h, NULL, 0, STATE_HASH_LEN);
	for (k = 0; k < state_text_parts(st); k++) {
		state_text_part(st, k, &t, &tl);
		state_hash_text(&h, t, tl);
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
