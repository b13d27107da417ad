/*
 * cdbw_pack - the records of each relay_recipients shard gathered for its
 * build (cdbw_impl.h): a full install packs every shard in one pass over
 * the states, in ranges on every core; a delta walks only the shards it
 * touches (selwalk.h).  Only out of memory fails.
 */
#include <stdlib.h>
#include <string.h>

#include "cdbw_impl.h"
#include "selwalk.h"
#include "thread.h"

/* the packs of one plan, for selwalk() */
struct cdbw_pack_run {
	const struct state *const *states;
	size_t n;
	unsigned shards;
	struct cdbw_pack *pk; /* one per shard */
};

/* cdbw_pack_begin - pack h empty, with room for about a shard */
static void cdbw_pack_begin(void *arg, unsigned h)
{
	const struct cdbw_pack_run *run = arg;
	struct cdbw_pack *pk = &run->pk[h];
	size_t i, text = 0;

	for (i = 0; i < run->n; i++)
		text += state_text_size(run->states[i]);
	/* a record's line ("R ", key, newline) is longer than its pack */
	pk->cap = text / run->shards + text / run->shards / 4 + 4096;
	pk->buf = malloc(pk->cap);
	pk->failed = pk->buf == NULL;
	if (pk->failed)
		pk->cap = 0;
}

/* cdbw_pack_room - room for len more octets on pack pk; -1 (pk failed) */
static int cdbw_pack_room(struct cdbw_pack *pk, size_t len)
{
	unsigned char *nb;
	size_t cap;

	if (pk->failed)
		return -1;
	if (len <= pk->cap - pk->len)
		return 0;
	cap = 2 * pk->cap + len;
	if ((nb = realloc(pk->buf, cap)) == NULL) {
		pk->failed = 1;
		return -1;
	}
	pk->buf = nb;
	pk->cap = cap;
	return 0;
}

/* cdbw_pack_each - recipient i of state s onto pack h */
static void cdbw_pack_each(void *arg, unsigned h, size_t s, size_t i)
{
	const struct cdbw_pack_run *run = arg;
	struct cdbw_pack *pk = &run->pk[h];
	const char *k;
	size_t klen;

	state_recipient(run->states[s], i, &k, &klen);
	if (cdbw_pack_room(pk, 1 + klen) < 0)
		return;
	pk->buf[pk->len] = (unsigned char)klen;
	memcpy(pk->buf + pk->len + 1, k, klen);
	pk->len += 1 + klen;
	pk->nrec++;
}

/* cdbw_pack_prefetch - recipient i of state s will be packed soon */
static void cdbw_pack_prefetch(void *arg, size_t s, size_t i, int far)
{
	const struct cdbw_pack_run *run = arg;

	state_prefetch(run->states[s], i, far);
}

/*
 * Every shard packed at once (a full install, a check of the installed
 * maps) takes one pass over the records instead of a walk per group of
 * shards: the records are cut into ranges of at most CDBW_RANGE of one
 * state, each range counts its octets per shard, every shard gets one
 * buffer of exactly its size, and each range copies its records to their
 * place in those buffers; the ranges of both passes spread over the cores
 * (thread_for).  Each shard's records end up in state and index order, as
 * the walk packs them.
 */
#define CDBW_RANGE 65536

/* one range: records [from, to) of state s, and per shard its octets */
struct cdbw_range {
	size_t s, from, to;
	size_t *len;  /* [shards]; then the range's offset in each buffer */
	size_t *nrec; /* [shards] */
};

/* the ranges of one full pack, for thread_for() */
struct cdbw_range_run {
	const struct state *const *states;
	const uint8_t *const *sel;
	struct cdbw_range *r;
	struct cdbw_pack *pk;
};

/* cdbw_range_count - the octets range i packs into each shard */
static void cdbw_range_count(void *arg, size_t i)
{
	const struct cdbw_range_run *run = arg;
	const struct cdbw_range *r = &run->r[i];
	const uint8_t *sel = run->sel[r->s];
	const char *k;
	size_t j, klen;

	for (j = r->from; j < r->to; j++) {
		state_recipient(run->states[r->s], j, &k, &klen);
		r->len[sel[j]] += 1 + klen;
		r->nrec[sel[j]]++;
	}
}

/* cdbw_range_copy - range i's records to their places (len: offsets) */
static void cdbw_range_copy(void *arg, size_t i)
{
	const struct cdbw_range_run *run = arg;
	const struct cdbw_range *r = &run->r[i];
	const uint8_t *sel = run->sel[r->s];
	const char *k;
	size_t j, klen;
	unsigned char *d;

	for (j = r->from; j < r->to; j++) {
		state_recipient(run->states[r->s], j, &k, &klen);
		d = run->pk[sel[j]].buf + r->len[sel[j]];
		d[0] = (unsigned char)klen;
		memcpy(d + 1, k, klen);
		r->len[sel[j]] += 1 + klen;
	}
}

/* cdbw_packs_all - every shard packed into pk[shard]; -1 out of memory */
static int cdbw_packs_all(const struct state *const *states, size_t n,
			  const uint8_t *const *sel, unsigned shards,
			  struct cdbw_pack *pk, struct err *err)
{
	struct cdbw_range_run run = {states, sel, NULL, pk};
	struct cdbw_range *r = NULL;
	size_t *len = NULL, nr = 0, s, i, from, cnt, pos;
	unsigned h;
	int rc = -1;

	for (s = 0; s < n; s++)
		nr += (state_recipient_count(states[s]) + CDBW_RANGE - 1) /
		      CDBW_RANGE;
	if ((r = calloc(nr > 0 ? nr : 1, sizeof(*r))) == NULL ||
	    (len = calloc((nr > 0 ? nr : 1) * shards * 2, sizeof(*len))) ==
		NULL) {
		err_set(err, "out of memory");
		goto out;
	}
	for (s = 0, i = 0; s < n; s++) {
		cnt = state_recipient_count(states[s]);
		for (from = 0; from < cnt; from += CDBW_RANGE, i++) {
			r[i].s = s;
			r[i].from = from;
			r[i].to =
			    cnt - from > CDBW_RANGE ? from + CDBW_RANGE : cnt;
			r[i].len = len + i * shards * 2;
			r[i].nrec = r[i].len + shards;
		}
	}
	run.r = r;
	thread_for(nr, cdbw_range_count, &run);
	/* each range's octets become its offset in the shard's buffer */
	for (h = 0; h < shards; h++) {
		for (i = 0, pos = 0; i < nr; i++) {
			size_t l = r[i].len[h];

			r[i].len[h] = pos;
			pos += l;
			pk[h].nrec += r[i].nrec[h];
		}
		pk[h].buf = malloc(pos > 0 ? pos : 1);
		if (pk[h].buf == NULL) {
			err_set(err, "out of memory (packing shard %u)", h);
			goto out;
		}
		pk[h].len = pk[h].cap = pos;
	}
	thread_for(nr, cdbw_range_copy, &run);
	rc = 0;
out:
	free(len);
	free(r);
	return rc;
}

/*
 * cdbw_pack_kept - the R lines of shard h of states[s] as the state keeps
 * them (state_shard_lines), when the map shards are its hash shards
 * (sel[s] is state_shards()): 0 with *text, *len and *nrec set, else -1
 */
static int cdbw_pack_kept(const struct state *const *states,
			  const uint8_t *const *sel, unsigned shards, size_t s,
			  unsigned h, const char **text, size_t *len,
			  size_t *nrec)
{
	if (shards != STATE_HASH_SHARDS || sel[s] != state_shards(states[s]))
		return -1;
	return state_shard_lines(states[s], h, text, len, nrec);
}

/*
 * cdbw_pack_lines - nrec kept R lines ("R ", key, newline: len octets in
 * all) onto pack pk, in one sequential pass
 */
static void cdbw_pack_lines(struct cdbw_pack *pk, const char *text, size_t len,
			    size_t nrec)
{
	const char *p = text, *end = text + len, *nl;
	size_t klen;

	/* each line is two octets longer than its pack */
	if (cdbw_pack_room(pk, len - 2 * nrec) < 0)
		return;
	for (; p < end; p = nl + 1) {
		nl = memchr(p + 2, '\n', (size_t)(end - p - 2));
		klen = (size_t)(nl - p - 2);
		pk->buf[pk->len] = (unsigned char)klen;
		memcpy(pk->buf + pk->len + 1, p + 2, klen);
		pk->len += 1 + klen;
	}
	pk->nrec += nrec;
}

/*
 * cdbw_packs_walk - the touched shards packed by walks (selwalk.h): one
 * over all states when none keeps the lines of a touched shard; else state
 * by state, each shard whose lines the state keeps packed from them and
 * the others walked, so that every pack still holds its records in state
 * and index order
 */
static void cdbw_packs_walk(const struct state *const *states, size_t n,
			    const uint8_t *const *sel, unsigned shards,
			    const unsigned char *touched, struct cdbw_pack *pk,
			    const size_t *cnt)
{
	struct cdbw_pack_run run = {states, n, shards, pk};
	struct selwalk w = {.sel = sel,
			    .cnt = cnt,
			    .n = n,
			    .shards = shards,
			    .want = touched,
			    .each = cdbw_pack_each,
			    .prefetch = cdbw_pack_prefetch,
			    .arg = &run};
	unsigned char want[SELWALK_SHARDS_MAX];
	const char *text;
	size_t s, len, nrec;
	unsigned h;
	int kept = 0, walk;

	for (h = 0; h < shards; h++)
		for (s = 0; touched[h] && s < n && !kept; s++)
			kept = cdbw_pack_kept(states, sel, shards, s, h, &text,
					      &len, &nrec) == 0;
	for (h = 0; h < shards; h++)
		if (touched[h])
			cdbw_pack_begin(&run, h);
	if (!kept) {
		selwalk(&w);
		return;
	}
	run.n = w.n = 1;
	w.want = want;
	for (s = 0; s < n; s++) {
		run.states = states + s;
		w.sel = sel + s;
		w.cnt = cnt + s;
		/* a state adds to a pack from its lines or by the walk */
		for (h = 0, walk = 0; h < shards; h++) {
			want[h] = 0;
			if (!touched[h])
				continue;
			if (cdbw_pack_kept(states, sel, shards, s, h, &text,
					   &len, &nrec) == 0)
				cdbw_pack_lines(&pk[h], text, len, nrec);
			else
				walk = want[h] = 1;
		}
		if (walk)
			selwalk(&w);
	}
}

/*
 * cdbw_packs - the touched shards' records packed (all when touched is
 * NULL, cdbw_packs_all) into pk[shard], by a walk of those shards
 * (selwalk.h), or from the lines a delta's result kept of the shards it
 * rehashed (state_shard_lines): a delta of a few reads only their records.
 * -1 when out of memory.
 */
int cdbw_packs(const struct state *const *states, size_t n,
	       const uint8_t *const *sel, unsigned shards,
	       const unsigned char *touched, struct cdbw_pack *pk,
	       struct err *err)
{
	size_t *cnt, s;
	unsigned h;

	memset(pk, 0, shards * sizeof(*pk));
	if (touched == NULL)
		return cdbw_packs_all(states, n, sel, shards, pk, err);
	if ((cnt = malloc((n > 0 ? n : 1) * sizeof(*cnt))) == NULL)
		return err_set(err, "out of memory");
	for (s = 0; s < n; s++)
		cnt[s] = state_recipient_count(states[s]);
	cdbw_packs_walk(states, n, sel, shards, touched, pk, cnt);
	free(cnt);
	for (h = 0; h < shards; h++)
		if (pk[h].failed)
			return err_set(err, "out of memory (packing shard %u)",
				       h);
	return 0;
}

/* cdbw_packs_free - what cdbw_packs() made */
void cdbw_packs_free(struct cdbw_pack *pk, unsigned shards)
{
	unsigned h;

	for (h = 0; pk != NULL && h < shards; h++)
		free(pk[h].buf);
	free(pk);
}
