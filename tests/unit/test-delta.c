/*
 * test-delta - delta between canonical states: golden compute and apply,
 * every refusal of delta_apply, and a 1M-record round trip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../formats/delta.h"
#include "test.h"

static void unhex(const char *hex, unsigned char *out)
{
	for (int i = 0; i < STATE_HASH_LEN; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

static struct state *load(const char *name)
{
	struct err err = {""};
	size_t len;
	char *t = test_read_golden(name, &len);
	struct state *st;

	if (t == NULL)
		exit(1);
	st = state_parse_owned(t, len, &err);
	if (st == NULL) {
		printf("# %s: %s\n", name, err.msg);
		exit(1);
	}
	return st;
}

static struct state *base, *next;
static unsigned char base_h[STATE_HASH_LEN], next_h[STATE_HASH_LEN];

/* apply_fails - delta_apply refuses the delta with exactly this message */
static void apply_fails(const char *delta, const char *want, const char *name)
{
	struct err err = {""};
	struct state *r =
	    delta_apply(base, base_h, delta, strlen(delta), NULL, &err);

	ok(r == NULL, "apply refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
	state_free(r);
}

static void test_golden(void)
{
	struct err err = {""};
	struct buf out = BUF_INIT;
	size_t glen, adds = 0, removes = 0, tlen, nlen;
	char *gold = test_read_golden("delta-small.txt", &glen), *text, *ntext,
	     *hex;
	struct state *r;

	ok(delta_compute(base, next, &out, &adds, &removes, &err) == 0,
	   "compute");
	ok(out.len == glen && memcmp(out.data, gold, glen) == 0,
	   "delta equals tests/golden/delta-small.txt byte for byte");
	if (out.len != glen || memcmp(out.data, gold, glen) != 0)
		printf("# got:\n%s", out.data ? out.data : "");
	ok(adds == 4 && removes == 4, "4 additions, 4 removals (%zu, %zu)",
	   adds, removes);

	r = delta_apply(base, base_h, gold, glen, next_h, &err);
	ok(r != NULL, "golden delta applies: %s", err.msg);
	text = r ? state_text(r, &tlen) : NULL;
	ntext = test_read_golden("state-small2.txt", &nlen);
	ok(text != NULL && tlen == nlen && memcmp(text, ntext, nlen) == 0,
	   "result equals tests/golden/state-small2.txt");
	free(text);
	free(ntext);
	state_free(r);

	buf_reset(&out);
	ok(delta_compute(base, base, &out, &adds, &removes, &err) == 0 &&
	       out.len == 0 && adds == 0 && removes == 0,
	   "no change, empty delta");
	r = delta_apply(base, base_h, "", 0, base_h, &err);
	ok(r != NULL, "empty delta applies");
	state_free(r);

	buf_reset(&out);
	ok(delta_compute(next, base, &out, &adds, &removes, &err) == 0,
	   "reverse compute");
	r = delta_apply(next, next_h, out.data, out.len, base_h, &err);
	ok(r != NULL, "reverse delta applies back to the base: %s", err.msg);
	state_free(r);

	/* The hash check in the golden file. */
	hex = test_read_golden("state-small2.hash", &tlen);
	unhex(hex, base_h);
	ok(memcmp(base_h, next_h, STATE_HASH_LEN) == 0,
	   "state-small2.hash matches the parsed state");
	state_hash(base, base_h);
	free(hex);
	free(gold);
	buf_free(&out);
}

static void test_refusals(void)
{
	struct err err = {""};
	unsigned char bad[STATE_HASH_LEN];
	struct state *r;
	size_t glen;
	char *gold = test_read_golden("delta-small.txt", &glen);

	memset(bad, 0xab, sizeof(bad));
	r = delta_apply(base, bad, gold, glen, next_h, &err);
	ok(r == NULL, "wrong base hash refused");
	has_str(err.msg, "delta base hash mismatch: expected abababab",
		"message");
	r = delta_apply(base, base_h, gold, glen, bad, &err);
	ok(r == NULL, "wrong result hash refused");
	has_str(err.msg, "delta result hash mismatch: expected abababab",
		"message");
	r = delta_apply(next, base_h, gold, glen, next_h, &err);
	ok(r == NULL, "delta against the wrong base refused");
	has_str(err.msg, "delta base hash mismatch", "message");
	r = delta_apply(next, NULL, gold, glen, NULL, &err);
	ok(r == NULL, "wrong base refused even without hashes");
	is_str(err.msg, "delta line 1: adds present domain \"example.net\"",
	       "message");
	free(gold);

	apply_fails(
	    "-R nobody@example.com\n",
	    "delta line 1: removes absent recipient \"nobody@example.com\"",
	    "removal of an absent recipient");
	apply_fails("-D example.net smtp:x\n",
		    "delta line 1: removes absent domain \"example.net\"",
		    "removal of an absent domain");
	apply_fails("-D example.org smtp:x\n",
		    "delta line 1: removes domain \"example.org\" with nexthop "
		    "\"smtp:x\", but the base has \"relay:[10.0.0.1]\"",
		    "removal with the wrong nexthop");
	apply_fails(
	    "+R alice@example.com\n",
	    "delta line 1: adds present recipient \"alice@example.com\"",
	    "addition of a present recipient");
	apply_fails("+D example.com smtp:y\n",
		    "delta line 1: adds present domain \"example.com\"",
		    "addition of a present domain");
	apply_fails("+R zed@example.com\n+R carol@example.com\n",
		    "delta line 2: not sorted (\"carol@example.com\" after "
		    "\"zed@example.com\")",
		    "unsorted recipients");
	apply_fails(
	    "+R zed@example.com\n+D example.net smtp:x\n",
	    "delta line 2: not sorted (domain change after recipient changes)",
	    "domain after recipient");
	apply_fails("+R carol@example.com\n+R carol@example.com\n",
		    "delta line 2: not sorted (\"carol@example.com\" after "
		    "\"carol@example.com\")",
		    "duplicate line");
	apply_fails("+R carol@example.com\n-R carol@example.com\n",
		    "delta line 2: not sorted (\"carol@example.com\" after "
		    "\"carol@example.com\")",
		    "addition before removal");
	apply_fails("+R carol@example.com", "delta line 1: no final newline",
		    "missing final newline");
	apply_fails("*R carol@example.com\n", "delta line 1: unknown line type",
		    "unknown line type");
	apply_fails("+D example.net\n", "delta line 1: empty nexthop",
		    "empty nexthop");
	apply_fails("+R Carol@example.com\n",
		    "delta line 1: address \"Carol@example.com\" is not folded "
		    "(\"carol@example.com\")",
		    "unfolded addition");
	apply_fails("+R carol\n", "delta line 1: no \"@\" in address \"carol\"",
		    "malformed addition");
	apply_fails("+R carol@example.net\n",
		    "delta result: state line 7: recipient domain "
		    "\"example.net\" is not among the domains",
		    "recipient without its domain");
	apply_fails("-D example.org relay:[10.0.0.1]\n",
		    "delta result: state line 3: recipient domain "
		    "\"example.org\" is not among the domains",
		    "domain removed under its recipients");
}

/* apply_gives - delta_apply (no hashes) gives exactly this canonical text */
static void apply_gives(const char *delta, const char *want, const char *name)
{
	struct err err = {""};
	struct state *r =
	    delta_apply(base, base_h, delta, strlen(delta), NULL, &err);
	char *text = r ? state_text(r, NULL) : NULL;

	ok(r != NULL, "applies: %s: %s", name, err.msg);
	is_str(text ? text : "", want, "result of %s", name);
	free(text);
	state_free(r);
}

/* test_splice - edge positions of the merge, and state_splice's own checks */
static void test_splice(void)
{
	struct err err = {""};
	struct delta_edit e;
	struct state *r;
	static const char *rest =
	    "R @example.org\nR alice@example.com\nR bob+tag@example.com\n"
	    "R strasse@example.com\nR \xc3\xa4rger@xn--bcher-kva.example\n";
	char want[1024];

	snprintf(want, sizeof(want),
		 "D a.example smtp:a\n"
		 "D example.com smtp:[mx1.example.com]:25\n"
		 "D example.org relay:[10.0.0.1]\n"
		 "D xn--bcher-kva.example smtp:[mx2.example.net]\n"
		 "D zz.example smtp:z\n%s",
		 rest);
	apply_gives("+D a.example smtp:a\n+D zz.example smtp:z\n", want,
		    "additions before the first and after the last domain");
	apply_gives("-D example.com smtp:[mx1.example.com]:25\n"
		    "-D xn--bcher-kva.example smtp:[mx2.example.net]\n"
		    "-R alice@example.com\n-R bob+tag@example.com\n"
		    "-R strasse@example.com\n"
		    "-R \xc3\xa4rger@xn--bcher-kva.example\n",
		    "D example.org relay:[10.0.0.1]\nR @example.org\n",
		    "domains removed with all their recipients");
	apply_gives("-D example.org relay:[10.0.0.1]\n"
		    "+D example.org smtp:new\n+R 0@example.org\n"
		    "+R zzz@xn--bcher-kva.example\n",
		    "D example.com smtp:[mx1.example.com]:25\n"
		    "D example.org smtp:new\n"
		    "D xn--bcher-kva.example smtp:[mx2.example.net]\n"
		    "R 0@example.org\nR @example.org\nR alice@example.com\n"
		    "R bob+tag@example.com\nR strasse@example.com\n"
		    "R zzz@xn--bcher-kva.example\n"
		    "R \xc3\xa4rger@xn--bcher-kva.example\n",
		    "nexthop change, a recipient first, one before the last");
	apply_gives("+R \xc3\xbf@example.com\n",
		    "D example.com smtp:[mx1.example.com]:25\n"
		    "D example.org relay:[10.0.0.1]\n"
		    "D xn--bcher-kva.example smtp:[mx2.example.net]\n"
		    "R @example.org\nR alice@example.com\n"
		    "R bob+tag@example.com\nR strasse@example.com\n"
		    "R \xc3\xa4rger@xn--bcher-kva.example\n"
		    "R \xc3\xbf@example.com\n",
		    "a recipient after the last");
	apply_fails("-D example.com smtp:[mx1.example.com]:25\n"
		    "-D xn--bcher-kva.example smtp:[mx2.example.net]\n"
		    "-R alice@example.com\n-R strasse@example.com\n"
		    "-R \xc3\xa4rger@xn--bcher-kva.example\n",
		    "delta result: state line 3: recipient domain "
		    "\"example.com\" is not among the domains",
		    "one recipient left under two removed domains");

	/* delta_splice checks edits itself, whatever its caller did */
	e = (struct delta_edit){"nobody@example.com", NULL, 18, 0, 1, 'R', 0};
	r = delta_splice(base, &e, 1, &err);
	ok(r == NULL,
	   "delta_splice refuses removing a record not at its "
	   "index: %s",
	   err.msg);
	state_free(r);
	e = (struct delta_edit){"zed@example.com", NULL, 15, 0, 0, 'R', 1};
	r = delta_splice(base, &e, 1, &err);
	ok(r == NULL && strstr(err.msg, "out of order"),
	   "delta_splice "
	   "refuses an addition at the wrong index: %s",
	   err.msg);
	state_free(r);
	e = (struct delta_edit){"Zed@example.com", NULL, 15, 0, 5, 'R', 1};
	r = delta_splice(base, &e, 1, &err);
	ok(r == NULL && strstr(err.msg, "not folded"),
	   "delta_splice refuses "
	   "an unfolded addition: %s",
	   err.msg);
	state_free(r);
	e = (struct delta_edit){"example.com", "smtp:x", 11, 6, 0, 'D', 1};
	r = delta_splice(base, &e, 1, &err);
	ok(r == NULL, "delta_splice refuses adding a present domain: %s",
	   err.msg);
	state_free(r);
	e = (struct delta_edit){"alice@example.com", NULL, 17, 0, 1, 'R', 0};
	r = delta_splice(base, &e, 1, &err);
	ok(r != NULL && state_recipient_count(r) == 4 &&
	       !state_has_recipient(r, "alice@example.com", 17),
	   "delta_splice removes a recipient: %s", err.msg);
	state_free(r);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* test_million - a 1M state, 1% changed, round trip through the delta */
static void test_million(void)
{
	struct err err = {""};
	struct state *a = state_new(), *b = state_new(), *r;
	unsigned char ha[STATE_HASH_LEN], hb[STATE_HASH_LEN];
	struct buf out = BUF_INIT;
	size_t i, adds, removes;
	char s[128];
	double t0, t1, t2;
	int bad = 0, n;

	for (i = 0; i < 1000; i++) {
		n = snprintf(s, sizeof(s), "d%04zu.example", i);
		bad |= state_add_domain(a, s, (size_t)n, "smtp:x", 6, 0, &err);
		bad |= state_add_domain(b, s, (size_t)n, "smtp:x", 6, 0, &err);
	}
	for (i = 0; i < 1000000; i++) {
		n = snprintf(s, sizeof(s), "u%zu@d%04zu.example", i, i % 1000);
		if (i % 200 != 0)
			bad |= state_add_recipient(a, s, (size_t)n, 0, &err);
		if (i % 200 != 1)
			bad |= state_add_recipient(b, s, (size_t)n, 0, &err);
	}
	ok(bad == 0 && state_finish(a, NULL, &err) == 0 &&
	       state_finish(b, NULL, &err) == 0,
	   "1M states built");
	state_hash(a, ha);
	state_hash(b, hb);
	t0 = now();
	ok(delta_compute(a, b, &out, &adds, &removes, &err) == 0 &&
	       adds == 5000 && removes == 5000,
	   "1M delta computed");
	t1 = now();
	r = delta_apply(a, ha, out.data, out.len, hb, &err);
	t2 = now();
	ok(r != NULL, "1M delta applies with both hashes: %s", err.msg);
	printf("# 1M delta compute: %.2f s, apply: %.2f s\n", t1 - t0, t2 - t1);
	state_free(r);
	state_free(a);
	state_free(b);
	buf_free(&out);
}

int main(void)
{
	base = load("state-small.txt");
	next = load("state-small2.txt");
	state_hash(base, base_h);
	state_hash(next, next_h);
	test_golden();
	test_refusals();
	test_splice();
	test_million();
	state_free(base);
	state_free(next);
	return test_done();
}
