/*
 * test-state-hash - the state hash tree (formats/state.h): the golden
 * values, a computation from the definition in this file, a change of any
 * one record changes the root, and after chains of random deltas the
 * hash carried from the base's leaves equals a computation from scratch.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/cdbw.h"
#include "../../formats/delta.h"
#include "test.h"

#define NDOM 40

static uint64_t rnd_x = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rnd_x ^= rnd_x << 13;
	rnd_x ^= rnd_x >> 7;
	rnd_x ^= rnd_x << 17;
	return rnd_x;
}

/*
 * reference - the hash as state.h defines it, from the canonical text
 * alone: every R line into the leaf of its domain's FNV-1a modulo 64
 */
static void reference(const char *text, size_t len, unsigned char *out)
{
	struct buf leaf[65];
	unsigned char h[65][STATE_HASH_LEN];
	crypto_generichash_state st;
	const char *p = text, *end = text + len, *nl, *at, *k;
	uint32_t f;
	int i;

	for (i = 0; i < 65; i++)
		leaf[i] = (struct buf)BUF_INIT;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (p[0] == 'D') {
			buf_append(&leaf[0], p, (size_t)(nl - p) + 1);
			continue;
		}
		k = p + 2;
		at = memrchr(k, '@', (size_t)(nl - k));
		f = 2166136261u;
		for (k = at + 1; k < nl; k++)
			f = (f ^ (unsigned char)*k) * 16777619u;
		buf_append(&leaf[1 + f % 64], p, (size_t)(nl - p) + 1);
	}
	for (i = 0; i < 65; i++) {
		crypto_generichash(h[i], STATE_HASH_LEN,
				   (const unsigned char *)leaf[i].data,
				   leaf[i].len, NULL, 0);
		buf_free(&leaf[i]);
	}
	crypto_generichash_init(&st, NULL, 0, STATE_HASH_LEN);
	crypto_generichash_update(
	    &st, (const unsigned char *)"mxsync state v2\n", 16);
	crypto_generichash_update(&st, h[0], sizeof(h));
	crypto_generichash_final(&st, out, STATE_HASH_LEN);
}

/* ref_of - reference() of a state's text */
static void ref_of(const struct state *st, unsigned char *out)
{
	size_t len;
	char *t = state_text(st, &len);

	reference(t, len, out);
	free(t);
}

/* random_state - NDOM domains (some absent), recipients of them */
static struct state *random_state(unsigned nrcpt, unsigned salt)
{
	struct state *st = state_new();
	struct err err;
	char a[128], d[64], nh[64];
	unsigned i, present[NDOM];
	int n, m;

	for (i = 0; i < NDOM; i++) {
		present[i] = rnd() % 8 != 0;
		if (!present[i])
			continue;
		n = snprintf(d, sizeof(d), "d%u.example", i);
		m = snprintf(nh, sizeof(nh), "smtp:[mx%u.example.net]:25",
			     (unsigned)(rnd() % 3) + salt % 2);
		state_add_domain(st, d, (size_t)n, nh, (size_t)m, 0, &err);
	}
	for (i = 0; i < nrcpt; i++) {
		unsigned dom = (unsigned)(rnd() % NDOM);

		if (!present[dom])
			continue;
		if (rnd() % 50 == 0)
			n = snprintf(a, sizeof(a), "@d%u.example", dom);
		else
			n = snprintf(a, sizeof(a), "u%u@d%u.example",
				     (unsigned)(rnd() % 3000), dom);
		state_add_recipient(st, a, (size_t)n, 0, &err);
	}
	if (state_finish(st, NULL, &err) < 0) {
		printf("# finish: %s\n", err.msg);
		exit(1);
	}
	return st;
}

/* edited - st with k random recipients added or removed (a new state) */
static struct state *edited(const struct state *st, unsigned k)
{
	struct state *n = state_new();
	struct err err;
	const char *key, *val;
	size_t kl, vl, i, cnt = state_recipient_count(st);
	char a[128];
	unsigned j;
	int len;

	for (i = 0; i < state_domain_count(st); i++) {
		state_domain(st, i, &key, &kl, &val, &vl);
		state_add_domain(n, key, kl, val, vl, 0, &err);
	}
	for (i = 0; i < cnt; i++) {
		state_recipient(st, i, &key, &kl);
		if (rnd() % (cnt / (k + 1) + 1) == 0)
			continue; /* removed */
		state_add_recipient(n, key, kl, 0, &err);
	}
	for (j = 0; j < k && state_domain_count(st) > 0; j++) {
		state_domain(st, rnd() % state_domain_count(st), &key, &kl,
			     &val, &vl);
		len = snprintf(a, sizeof(a), "new%u@%.*s",
			       (unsigned)(rnd() % 100000), (int)kl, key);
		state_add_recipient(n, a, (size_t)len, 0, &err);
	}
	if (state_finish(n, NULL, &err) < 0) {
		printf("# finish: %s\n", err.msg);
		exit(1);
	}
	return n;
}

/* same - hash of a equals hash of b */
static int same(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, STATE_HASH_LEN) == 0;
}

static void test_golden(void)
{
	size_t len, hlen;
	char *text = test_read_golden("state-small.txt", &len);
	char *hex = test_read_golden("state-small.hash", &hlen);
	unsigned char h[STATE_HASH_LEN], r[STATE_HASH_LEN];
	char got[2 * STATE_HASH_LEN + 1];
	struct err err;
	struct state *st;
	int i;

	if (text == NULL || hex == NULL)
		exit(1);
	st = state_parse(text, len, &err);
	ok(st != NULL, "golden state parses");
	state_hash(st, h);
	for (i = 0; i < STATE_HASH_LEN; i++)
		snprintf(got + 2 * i, 3, "%02x", h[i]);
	ok(strncmp(got, hex, 64) == 0, "golden hash, computed from scratch");
	reference(text, len, r);
	ok(same(h, r), "the golden hash is the definition's");
	ok(state_shards(st) == NULL, "no kept shards before prepare");
	ok(state_hash_prepare(st) == 0, "prepare");
	ok(state_shards(st) != NULL, "kept shards after prepare");
	state_hash(st, r);
	ok(same(h, r), "the kept leaves give the same hash");
	state_hash_flat(st, r);
	crypto_generichash(h, sizeof(h), (const unsigned char *)text, len, NULL,
			   0);
	ok(same(h, r), "version 1: BLAKE2b-256 of the text");
	state_hash_version(st, STATE_HASH_V1, r);
	ok(same(h, r), "state_hash_version(1) is the flat hash");
	state_free(st);
	free(text);
	free(hex);
}

static void test_shard_of(void)
{
	char a[64];
	int i, n, bad = 0;

	for (i = 0; i < 2000; i++) {
		n = snprintf(a, sizeof(a), "u%d@d%u.example", i,
			     (unsigned)(rnd() % 100000));
		if (state_shard_of(a, (size_t)n) !=
		    cdbw_shard_of(a, (size_t)n, STATE_HASH_SHARDS))
			bad++;
	}
	ok(bad == 0, "state_shard_of is cdbw_shard_of with 64 shards");
}

/* every single-record change of a state changes its root */
static void test_one_record(void)
{
	struct state *st = random_state(400, 0), *n;
	struct err err;
	unsigned char h0[STATE_HASH_LEN], h1[STATE_HASH_LEN];
	const char *key;
	size_t kl, i, cnt = state_recipient_count(st);
	char *text;
	size_t len;
	int changed = 0, tried = 0;

	state_hash(st, h0);
	text = state_text(st, &len);
	/* change the first octet of every 7th recipient's local part */
	for (i = 0; i < cnt; i += 7) {
		state_recipient(st, i, &key, &kl);
		if (key[0] == '@')
			continue;
		n = state_new();
		{
			const char *k2, *v2;
			size_t k2l, v2l, j;
			char buf[128];

			for (j = 0; j < state_domain_count(st); j++) {
				state_domain(st, j, &k2, &k2l, &v2, &v2l);
				state_add_domain(n, k2, k2l, v2, v2l, 0, &err);
			}
			for (j = 0; j < cnt; j++) {
				state_recipient(st, j, &k2, &k2l);
				memcpy(buf, k2, k2l);
				if (j == i)
					buf[0] = buf[0] == 'x' ? 'y' : 'x';
				state_add_recipient(n, buf, k2l, 0, &err);
			}
		}
		if (state_finish(n, NULL, &err) == 0) {
			state_hash(n, h1);
			tried++;
			changed += !same(h0, h1);
		}
		state_free(n);
	}
	ok(tried > 10 && changed == tried,
	   "each of %d one-record changes changes the root (%d did)", tried,
	   changed);
	n = state_parse(text, len, &err);
	if (n != NULL)
		state_hash(n, h1);
	ok(n != NULL && same(h0, h1), "the same records give the same root");
	state_free(n);
	free(text);
	state_free(st);
}

/* chains of random deltas: the carried hash is the hash from scratch */
static void test_random_deltas(void)
{
	struct state *cur = random_state(3000, 1), *next, *r;
	struct buf d = BUF_INIT;
	struct err err = {""};
	unsigned char want[STATE_HASH_LEN], got[STATE_HASH_LEN],
	    ref[STATE_HASH_LEN];
	int i, bad = 0, carried = 0, refbad = 0;

	ok(state_hash_prepare(cur) == 0, "prepare the first base");
	for (i = 0; i < 150; i++) {
		/* now and then a domain changes too: a state built anew */
		next = i % 10 == 9 ? random_state(3000, (unsigned)i)
				   : edited(cur, (unsigned)(rnd() % 6));
		buf_reset(&d);
		state_hash(next, want);
		if (delta_compute(cur, next, &d, NULL, NULL, &err) < 0)
			break;
		r = delta_apply(cur, NULL, d.data, d.len, want, &err);
		if (r == NULL) {
			printf("# delta %d: %s\n", i, err.msg);
			bad++;
			state_free(next);
			continue;
		}
		carried += state_shards(r) != NULL;
		state_hash(r, got);
		bad += !same(got, want);
		if (i % 15 == 0) {
			ref_of(r, ref);
			refbad += !same(ref, got);
		}
		state_free(next);
		state_free(cur);
		cur = r;
	}
	ok(i == 150 && bad == 0,
	   "150 random deltas: the hash updated from the base's leaves equals "
	   "the hash from scratch (%d differ)",
	   bad);
	ok(carried == 150, "each result kept its leaves (%d of 150)", carried);
	ok(refbad == 0, "and the definition's (every 15th)");
	/* a wrong signed hash is still refused */
	next = edited(cur, 1);
	buf_reset(&d);
	delta_compute(cur, next, &d, NULL, NULL, &err);
	state_hash(cur, want);
	r = delta_apply(cur, NULL, d.data, d.len, want, &err);
	ok(r == NULL, "a delta whose result is not the signed hash: refused");
	has_str(err.msg, "delta result hash mismatch", "message: %s", err.msg);
	state_free(r);
	state_free(next);
	buf_free(&d);
	state_free(cur);
}

/*
 * a chain of deltas on a state whose buffers are over a megabyte, so that
 * each result is built in the buffers of the state freed before it
 */
static void test_large_chain(void)
{
	struct state *cur = random_state(120000, 3), *next, *r;
	struct buf d = BUF_INIT;
	struct err err = {""};
	unsigned char want[STATE_HASH_LEN], got[STATE_HASH_LEN];
	char *t1, *t2;
	size_t l1, l2;
	int i, bad = 0;

	ok(state_text_size(cur) > (1u << 20), "a state of %zu octets",
	   state_text_size(cur));
	state_hash_prepare(cur);
	for (i = 0; i < 6; i++) {
		next = edited(cur, 3);
		buf_reset(&d);
		state_hash(next, want);
		delta_compute(cur, next, &d, NULL, NULL, &err);
		r = delta_apply(cur, NULL, d.data, d.len, want, &err);
		if (r == NULL) {
			bad++;
			state_free(next);
			break;
		}
		state_hash(r, got);
		t1 = state_text(r, &l1);
		t2 = state_text(next, &l2);
		bad += !same(got, want) || l1 != l2 || memcmp(t1, t2, l1) != 0;
		free(t1);
		free(t2);
		state_free(next);
		state_free(cur);
		cur = r;
	}
	ok(i == 6 && bad == 0,
	   "6 deltas in reused buffers: each result's text and hash as built "
	   "from scratch");
	buf_free(&d);
	state_free(cur);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_golden();
	test_shard_of();
	test_one_record();
	test_random_deltas();
	test_large_chain();
	return test_done();
}
