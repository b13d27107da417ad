/*
 * selwalk - the records of some shards, shard by shard, on every core (see
 * selwalk.h)
 */
#include <string.h>

#include "selwalk.h"
#include "thread.h"

#ifndef MXSYNC_PREFETCH
#define MXSYNC_PREFETCH 1
#endif
/* records found per memchr batch */
#define SELWALK_BATCH 256

/* one walk and its wanted shards, for thread_for() */
struct selwalk_run {
	const struct selwalk *w;
	unsigned few[SELWALK_FEW];
};

/* selwalk_wanted - is shard h walked? */
static int selwalk_wanted(const struct selwalk *w, unsigned h)
{
	return w->want == NULL || w->want[h];
}

/*
 * selwalk_batch - the calls for a batch of n records of shard h in array
 * s, each one's prefetches made ahead of it
 */
static void selwalk_batch(const struct selwalk *w, unsigned h, size_t s,
			  const size_t *idx, size_t n)
{
	int pf = MXSYNC_PREFETCH && w->prefetch != NULL;
	size_t j;

	for (j = 0; pf && j < n && j < SELWALK_AHEAD; j++)
		w->prefetch(w->arg, s, idx[j], 1);
	for (j = 0; pf && j < n && j < SELWALK_AHEAD / 2; j++)
		w->prefetch(w->arg, s, idx[j], 0);
	for (j = 0; j < n; j++) {
		if (pf && j + SELWALK_AHEAD < n)
			w->prefetch(w->arg, s, idx[j + SELWALK_AHEAD], 1);
		if (pf && j + SELWALK_AHEAD / 2 < n)
			w->prefetch(w->arg, s, idx[j + SELWALK_AHEAD / 2], 0);
		w->each(w->arg, h, s, idx[j]);
	}
}

/* selwalk_few - the k-th of a few wanted shards, found with memchr */
static void selwalk_few(void *arg, size_t k)
{
	const struct selwalk_run *run = arg;
	const struct selwalk *w = run->w;
	unsigned h = run->few[k];
	size_t idx[SELWALK_BATCH], n, s;

	if (w->begin != NULL)
		w->begin(w->arg, h);
	for (s = 0; s < w->n; s++) {
		const uint8_t *sel = w->sel[s], *p = sel,
			      *end = sel + w->cnt[s];

		while (p != NULL && p < end) {
			for (n = 0;
			     n < SELWALK_BATCH && p < end &&
			     (p = memchr(p, (int)h, (size_t)(end - p))) != NULL;
			     p++)
				idx[n++] = (size_t)(p - sel);
			selwalk_batch(w, h, s, idx, n);
		}
	}
	if (w->end != NULL)
		w->end(w->arg, h);
}

/* selwalk_group - the wanted shards of group g, in one pass */
static void selwalk_group(void *arg, size_t g)
{
	const struct selwalk_run *run = arg;
	const struct selwalk *w = run->w;
	unsigned char mine[SELWALK_SHARDS_MAX];
	size_t s, i;
	unsigned h;

	memset(mine, 0, sizeof(mine));
	for (h = (unsigned)g; h < w->shards; h += SELWALK_GROUPS)
		if (selwalk_wanted(w, h)) {
			mine[h] = 1;
			if (w->begin != NULL)
				w->begin(w->arg, h);
		}
	for (s = 0; s < w->n; s++)
		for (i = 0; i < w->cnt[s]; i++)
			if (mine[w->sel[s][i]])
				w->each(w->arg, w->sel[s][i], s, i);
	for (h = (unsigned)g; h < w->shards; h += SELWALK_GROUPS)
		if (mine[h] && w->end != NULL)
			w->end(w->arg, h);
}

void selwalk(const struct selwalk *w)
{
	struct selwalk_run run;
	unsigned h, nwant = 0;

	run.w = w;
	for (h = 0; h < w->shards && h < SELWALK_SHARDS_MAX; h++)
		if (selwalk_wanted(w, h) && nwant++ < SELWALK_FEW)
			run.few[nwant - 1] = h;
	if (nwant <= SELWALK_FEW)
		thread_for(nwant, selwalk_few, &run);
	else
		thread_for(SELWALK_GROUPS, selwalk_group, &run);
}
