/*
 * test-state-runs - delta results that share their base's recipients
 * (formats/state_runs.c, delta_splice_shared): a long chain of deltas,
 * each base freed as soon as its result exists, checked against states
 * built from scratch; their common ends and leaves prepared from the
 * base; the flat copy once the runs grow too many; changing a shared
 * state; refusals on a state in runs; the lines a result keeps of the
 * shards it rehashed (DELTA_LINES).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/delta.h"
#include "../../formats/manifest.h"
#include "../../formats/state_impl.h"
#include "test.h"

#define NDOM 40
#define NCAND 6000
#define STEPS 3000

static char cand[NCAND][40];
static size_t cand_len[NCAND];
static unsigned char present[NCAND];
static unsigned long seed = 12345;
static int bulk; /* recipients b00000@d00.example onwards in the model */

static unsigned rnd(void)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)(seed >> 33);
}

static int cand_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* model - the state the model says: every domain, the present candidates */
static struct state *model(void)
{
	struct state *st = state_new();
	struct err err;
	char d[32];
	int i, n, bad = 0;

	for (i = 0; i < NDOM; i++) {
		n = snprintf(d, sizeof(d), "d%02d.example", i);
		bad |=
		    state_add_domain(st, d, (size_t)n, "smtp:[mx]", 9, 0, &err);
	}
	for (i = 0; i < NCAND; i++)
		if (present[i])
			bad |= state_add_recipient(st, cand[i], cand_len[i], 0,
						   &err);
	/* test_lines: a big shard */
	for (i = 0; i < bulk; i++) {
		n = snprintf(d, sizeof(d), "b%05d@d00.example", i);
		bad |= state_add_recipient(st, d, (size_t)n, 0, &err);
	}
	if (bad || state_finish(st, NULL, &err) < 0) {
		printf("# model: %s\n", err.msg);
		exit(1);
	}
	return st;
}

/* same_text - st's text, and what state_write_fd writes, are want's */
static int same_text(const struct state *st, const struct state *want)
{
	size_t la, lb;
	char *a = state_text(st, &la), *b = state_text(want, &lb), *w;
	struct err err;
	FILE *f = tmpfile();
	int same = a != NULL && b != NULL && la == lb && memcmp(a, b, la) == 0;

	if (same && f != NULL && state_write_fd(st, fileno(f), &err) == 0) {
		w = malloc(la + 1);
		rewind(f);
		same = w != NULL && fread(w, 1, la + 1, f) == la &&
		       memcmp(w, b, la) == 0;
		free(w);
	} else {
		same = 0;
	}
	if (f != NULL)
		fclose(f);
	free(a);
	free(b);
	return same;
}

/* same_records - every recipient of st by index and by key is want's */
static int same_records(const struct state *st, const struct state *want)
{
	size_t i, n = state_recipient_count(want), al, bl;
	const char *a, *b;

	if (state_recipient_count(st) != n)
		return 0;
	for (i = 0; i < n; i++) {
		state_recipient(st, i, &a, &al);
		state_recipient(want, i, &b, &bl);
		if (al != bl || memcmp(a, b, al) != 0 ||
		    !state_has_recipient(st, b, bl))
			return 0;
	}
	return 1;
}

static int ends_bad, ends_checked, prep_bad;

/*
 * ends_true - the first h and the last t recipients of a and b are the
 * same keys, and the two ranges do not overlap
 */
static int ends_true(const struct state *a, const struct state *b, size_t h,
		     size_t t)
{
	size_t na = state_recipient_count(a), nb = state_recipient_count(b), i,
	       al, bl;
	const char *ak, *bk;

	if (h + t > na || h + t > nb)
		return 0;
	for (i = 0; i < h + t; i++) {
		state_recipient(a, i < h ? i : na - 1 - (i - h), &ak, &al);
		state_recipient(b, i < h ? i : nb - 1 - (i - h), &bk, &bl);
		if (al != bl || memcmp(ak, bk, al) != 0)
			return 0;
	}
	return 1;
}

/*
 * check_ends - what a and b (a delta's base and result) share at their
 * ends is true and no less than what their flat copies' texts show; b's
 * leaves prepared from a's are its leaves from scratch
 */
static void check_ends(const struct state *a, struct state *b)
{
	struct err err;
	struct state *fa = delta_splice(a, NULL, 0, &err),
		     *fb = delta_splice(b, NULL, 0, &err);
	unsigned char h1[STATE_HASH_LEN], h2[STATE_HASH_LEN];
	size_t h, t, fh, ft;

	state_common_ends(a, b, &h, &t);
	state_common_ends(fa, fb, &fh, &ft);
	ends_bad += fa == NULL || fb == NULL || fa->run != NULL ||
		    fb->run != NULL || h < fh || t < ft ||
		    !ends_true(a, b, h, t);
	ends_checked++;
	state_hash(b, h1);
	state_hash_forget(b);
	prep_bad += state_hash_prepare_from(b, a) != 0 || b->leaf == NULL;
	state_hash(b, h2);
	prep_bad += memcmp(h1, h2, STATE_HASH_LEN) != 0;
	state_free(fa);
	state_free(fb);
}

/* test_chain - STEPS deltas of one to six toggled candidates each */
static void test_chain(void)
{
	struct state *cur, *r, *want;
	struct buf d = BUF_INIT;
	struct err err = {""};
	unsigned char h[STATE_HASH_LEN], hw[STATE_HASH_LEN];
	int step, k, bad = 0, badtext = 0, badhash = 0, checked = 0;
	int shared = 0, flattened = 0, maxruns = 0, idx[6];

	for (k = 0; k < NCAND; k++)
		present[k] = rnd() % 2;
	cur = model();
	ok(state_hash_prepare(cur) == 0, "the first base keeps its leaves");
	for (step = 0; step < STEPS; step++) {
		int nt = 1 + (int)(rnd() % 6), j, i;

		/* distinct candidates, in key order: the delta's order */
		for (j = 0; j < nt; j++) {
			idx[j] = (int)(rnd() % NCAND);
			for (i = 0; i < j; i++)
				if (idx[i] == idx[j])
					idx[j] = -1;
		}
		for (j = 1; j < nt; j++)
			for (i = j; i > 0 && idx[i - 1] > idx[i]; i--) {
				int t = idx[i];

				idx[i] = idx[i - 1];
				idx[i - 1] = t;
			}
		buf_reset(&d);
		for (j = 0; j < nt; j++) {
			if (idx[j] < 0)
				continue;
			buf_append(&d, present[idx[j]] ? "-R " : "+R ", 3);
			buf_append(&d, cand[idx[j]], cand_len[idx[j]]);
			buf_putc(&d, '\n');
			present[idx[j]] ^= 1;
		}
		r = delta_apply(cur, NULL, d.data, d.len, NULL, &err);
		if (r == NULL) {
			printf("# step %d: %s\n", step, err.msg);
			bad++;
			break;
		}
		if (step % 50 == 49)
			check_ends(cur, r);
		/* the base goes first: what the result reads must stay */
		state_free(cur);
		cur = r;
		shared += cur->run != NULL;
		flattened += step > 0 && cur->run == NULL;
		if (cur->run != NULL && (int)cur->nrun > maxruns)
			maxruns = (int)cur->nrun;
		for (j = 0; j < nt; j++)
			if (idx[j] >= 0 &&
			    state_has_recipient(cur, cand[idx[j]],
						cand_len[idx[j]]) !=
				present[idx[j]])
				bad++;
		if (step % 50 != 49)
			continue;
		want = model();
		state_hash(cur, h);
		state_hash(want, hw);
		badtext += !same_text(cur, want) || !same_records(cur, want);
		badhash += memcmp(h, hw, STATE_HASH_LEN) != 0;
		checked++;
		state_free(want);
	}
	ok(bad == 0,
	   "%d deltas applied on the result before each, toggled "
	   "keys answer as the model",
	   STEPS);
	ok(checked == STEPS / 50 && badtext == 0,
	   "every 50th result: its text, what it writes and every record "
	   "by index and key are the model's (%d of %d differ)",
	   badtext, checked);
	ok(badhash == 0, "and its carried hash is the model's hash (%d differ)",
	   badhash);
	ok(ends_checked == STEPS / 50 && ends_bad == 0,
	   "what a base and its result share at their ends: true, and no "
	   "less than their flat copies find (%d of %d wrong)",
	   ends_bad, ends_checked);
	ok(prep_bad == 0,
	   "a result's leaves prepared from its base are its own (%d differ)",
	   prep_bad);
	ok(shared > STEPS / 2,
	   "results share their base's recipients as runs (%d of %d)", shared,
	   STEPS);
	ok(flattened > 0 && maxruns <= NCAND / 4 + 16,
	   "past a quarter as many runs as recipients a result is made flat "
	   "(%d times; at most %d runs)",
	   flattened, maxruns);

	/* a refusal on a state in runs names the line as on a flat one */
	if (cur->run == NULL) {
		for (k = 0; k < NCAND && present[k]; k++)
			;
		buf_reset(&d);
		buf_append(&d, "+R ", 3);
		buf_append(&d, cand[k], cand_len[k]);
		buf_putc(&d, '\n');
		present[k] = 1;
		r = delta_apply(cur, NULL, d.data, d.len, NULL, &err);
		state_free(cur);
		cur = r;
	}
	ok(cur != NULL && cur->run != NULL, "the last result is in runs");
	for (k = 0; k < NCAND && present[k]; k++)
		;
	buf_reset(&d);
	buf_append(&d, "-R ", 3);
	buf_append(&d, cand[k], cand_len[k]);
	buf_putc(&d, '\n');
	r = delta_apply(cur, NULL, d.data, d.len, NULL, &err);
	ok(r == NULL, "removing an absent recipient from it: refused");
	has_str(err.msg, "delta line 1: removes absent recipient",
		"message: %s", err.msg);
	for (k = 0; k < NCAND && !present[k]; k++)
		;
	buf_reset(&d);
	buf_append(&d, "+R ", 3);
	buf_append(&d, cand[k], cand_len[k]);
	buf_putc(&d, '\n');
	r = delta_apply(cur, NULL, d.data, d.len, NULL, &err);
	ok(r == NULL, "adding a present recipient to it: refused");
	has_str(err.msg, "delta line 1: adds present recipient", "message: %s",
		err.msg);

	/* the flat splice of the agent reads a state in runs too */
	r = delta_splice(cur, NULL, 0, &err);
	want = model();
	ok(r != NULL && r->run == NULL && same_text(r, want),
	   "delta_splice() of a state in runs: a flat copy of it");
	state_free(r);

	/* changing a state in runs makes it flat first */
	for (k = 0; k < NCAND && present[k]; k++)
		;
	ok(state_add_recipient(cur, cand[k], cand_len[k], 0, &err) == 0 &&
	       state_finish(cur, NULL, &err) == 0,
	   "a recipient added to a state in runs: %s", err.msg);
	present[k] = 1;
	state_free(want);
	want = model();
	ok(cur->run == NULL && same_text(cur, want) && same_records(cur, want),
	   "it is flat, with the recipient in place");
	state_free(want);
	state_free(cur);
	buf_free(&d);
}

/* test_shared_base - a base outlived by two results of it */
static void test_shared_base(void)
{
	struct state *base, *a, *b, *wa, *wb;
	struct err err = {""};
	char line[64];
	int k, n;

	memset(present, 0, sizeof(present));
	for (k = 0; k < NCAND; k += 3)
		present[k] = 1;
	base = model();
	n = snprintf(line, sizeof(line), "-R %s\n", cand[0]);
	a = delta_apply(base, NULL, line, (size_t)n, NULL, &err);
	n = snprintf(line, sizeof(line), "+R %s\n", cand[1]);
	b = delta_apply(base, NULL, line, (size_t)n, NULL, &err);
	state_free(base);
	present[0] = 0;
	wa = model();
	present[0] = 1;
	present[1] = 1;
	wb = model();
	ok(a != NULL && b != NULL && a->run != NULL && b->run != NULL &&
	       same_text(a, wa) && same_text(b, wb),
	   "two results of one freed base: each its own records");
	state_free(a);
	ok(same_records(b, wb), "the second, once the first is freed too");
	state_free(b);
	state_free(wa);
	state_free(wb);
}

/*
 * shard_lines_bad - 0 when every shard whose lines st keeps has exactly
 * its R lines in order; *kept_r counts those shards, and mask (the shards
 * the delta touched) must be them when it has at most two; lines_max is
 * the longest kept
 */
static size_t lines_max;

static int shard_lines_bad(const struct state *st, uint64_t mask, int *kept_r)
{
	struct buf want = BUF_INIT;
	const char *text, *k;
	size_t len, n, i, klen, cnt;
	unsigned h;
	int bad = 0, kept = 0;

	for (h = 0; h < STATE_HASH_SHARDS; h++) {
		if (state_shard_lines(st, h, &text, &len, &n) < 0) {
			bad += __builtin_popcountll(mask) <= STATE_LINES_MAX &&
			       (mask >> h & 1);
			continue;
		}
		kept++;
		bad += !(mask >> h & 1);
		if (len > lines_max)
			lines_max = len;
		buf_reset(&want);
		for (i = 0, cnt = 0; i < state_recipient_count(st); i++) {
			state_recipient(st, i, &k, &klen);
			if (state_shard_of(k, klen) != h)
				continue;
			buf_append(&want, "R ", 2);
			buf_append(&want, k, klen);
			buf_putc(&want, '\n');
			cnt++;
		}
		bad += n != cnt || len != want.len ||
		       (len > 0 && memcmp(text, want.data, len) != 0);
	}
	buf_free(&want);
	*kept_r = kept;
	return bad;
}

/*
 * test_lines - a chain of deltas applied with DELTA_LINES: each result
 * keeps the lines of the one or two shards it touched, and they are those
 * shards' lines; more shards, or no DELTA_LINES, keep none; a change of
 * the state drops them
 */
static void test_lines(void)
{
	struct state *cur, *r;
	struct buf d = BUF_INIT;
	struct err err = {""};
	int step, j, k, bad = 0, kept, kept1 = 0, kept0 = 0, none = 0;
	uint64_t mask;
	unsigned char want[STATE_HASH_LEN], got[STATE_HASH_LEN];

	memset(present, 0, sizeof(present));
	for (k = 0; k < NCAND; k++)
		present[k] = k % 5 != 0;
	bulk = 3000;
	cur = model();
	state_hash_prepare(cur);
	for (step = 0; step < 300; step++) {
		/* one to four candidates in key order, toggled */
		int nt = 1 + (int)(rnd() % 4), at = (int)(rnd() % NCAND);

		buf_reset(&d);
		mask = 0;
		for (j = 0; j < nt && at + j * 7 < NCAND; j++) {
			k = at + j * 7;
			buf_append(&d, present[k] ? "-R " : "+R ", 3);
			buf_append(&d, cand[k], cand_len[k]);
			buf_putc(&d, '\n');
			present[k] ^= 1;
			mask |= (uint64_t)1
				<< state_shard_of(cand[k], cand_len[k]);
		}
		r = delta_apply_version(cur, NULL, d.data, d.len, NULL,
					MANIFEST_VERSION,
					step % 10 == 9 ? 0 : DELTA_LINES, &err);
		if (r == NULL) {
			printf("# step %d: %s\n", step, err.msg);
			bad++;
			break;
		}
		bad += shard_lines_bad(r, step % 10 == 9 ? 0 : mask, &kept);
		if (step % 10 == 9)
			none += kept == 0;
		else if (__builtin_popcountll(mask) <= STATE_LINES_MAX)
			kept1 += kept == __builtin_popcountll(mask);
		else
			kept0 += kept == 0;
		/* the leaves hashed from the kept lines are the leaves */
		state_hash(r, got);
		state_free(cur);
		cur = r;
		if (step % 30 == 29) {
			struct state *m = model();

			state_hash(m, want);
			bad += memcmp(got, want, STATE_HASH_LEN) != 0;
			state_free(m);
		}
	}
	ok(bad == 0,
	   "300 deltas with DELTA_LINES: the lines each result keeps are its "
	   "shards' R lines, of exactly the touched shards, and its hash is "
	   "the model's");
	/* 4096: the stage of state_hash.c, which kept lines are hashed by */
	ok(lines_max > 3 * 4096,
	   "kept lines of up to %zu octets: hashed in several pieces",
	   lines_max);
	ok(kept1 > 100 && kept0 > 5 && none == 30,
	   "kept for one or two touched shards (%d), not for more (%d), nor "
	   "without DELTA_LINES (%d of 30)",
	   kept1, kept0, none);
	for (k = 0; k < NCAND && present[k]; k++)
		;
	ok(state_add_recipient(cur, cand[k], cand_len[k], 0, &err) == 0 &&
	       state_finish(cur, NULL, &err) == 0 && cur->lines == NULL,
	   "a recipient added to the result drops its kept lines");
	state_free(cur);

	/*
	 * a shard far above its share (one big domain) is hashed but its
	 * lines are not kept: past four shares and 1 MiB
	 */
	bulk = 80000;
	cur = model();
	state_hash_prepare(cur);
	buf_reset(&d);
	buf_append(&d, "+R b80000@d00.example\n", 22);
	r = delta_apply_version(cur, NULL, d.data, d.len, NULL,
				MANIFEST_VERSION, DELTA_LINES, &err);
	state_free(cur);
	cur = r;
	{
		const char *text;
		size_t len, n;
		unsigned char hw[STATE_HASH_LEN];
		struct state *m;

		bulk = 80001; /* with b80000, the delta's */
		m = model();
		ok(cur != NULL && state_shard_lines(
				      cur, state_shard_of("x@d00.example", 13),
				      &text, &len, &n) < 0,
		   "the lines of a shard of %d recipients are not kept", bulk);
		if (m != NULL && cur != NULL) {
			state_hash(cur, got);
			state_hash(m, hw);
		}
		ok(m != NULL && cur != NULL &&
		       memcmp(got, hw, STATE_HASH_LEN) == 0,
		   "... and its leaf is still the model's");
		state_free(m);
	}
	bulk = 0;
	state_free(cur);
	buf_free(&d);
}

int main(void)
{
	int i;

	for (i = 0; i < NCAND; i++)
		cand_len[i] = (size_t)snprintf(cand[i], sizeof(cand[i]),
					       "u%05u@d%02u.example",
					       rnd() % 90000, rnd() % NDOM);
	qsort(cand, NCAND, sizeof(cand[0]), cand_cmp);
	/* distinct keys */
	for (i = 1; i < NCAND; i++)
		if (strcmp(cand[i], cand[i - 1]) == 0)
			cand_len[i] = (size_t)snprintf(cand[i], sizeof(cand[i]),
						       "v%05d@d00.example", i);
	qsort(cand, NCAND, sizeof(cand[0]), cand_cmp);
	for (i = 0; i < NCAND; i++)
		cand_len[i] = strlen(cand[i]);
	test_chain();
	test_shared_base();
	test_lines();
	return test_done();
}
