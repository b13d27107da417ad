/*
 * test-state - canonical state: building, golden text and hash, strict
 * parsing (every refusal), recipient probes, and a 1M-record measurement.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../../formats/state.h"
#include "test.h"

static void hexify(const unsigned char *h, char *out)
{
	for (int i = 0; i < STATE_HASH_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

#define ADD_D(st, d, n)                                                        \
	state_add_domain(st, d, strlen(d), n, strlen(n), 0, &err)
#define ADD_R(st, a, t) state_add_recipient(st, a, strlen(a), t, &err)

/* parse_fails - state_parse refuses text with a message containing want */
static void parse_fails(const char *text, const char *want, const char *name)
{
	struct err err = {""};
	struct state *st = state_parse(text, strlen(text), &err);

	ok(st == NULL, "parse refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
	state_free(st);
}

static void test_golden(void)
{
	struct err err = {""};
	struct state *st = state_new(), *p;
	unsigned char h[STATE_HASH_LEN];
	char hex[2 * STATE_HASH_LEN + 1], *text, *gold, *ghash;
	size_t len, glen, hlen;
	unsigned tag = 99;

	gold = test_read_golden("state-small.txt", &glen);
	ghash = test_read_golden("state-small.hash", &hlen);
	ok(gold != NULL && ghash != NULL, "golden state files readable");
	if (gold == NULL || ghash == NULL)
		exit(1);
	ghash[strcspn(ghash, "\n")] = '\0';

	/* Out of order, with repeats, in several batches. */
	ok(ADD_R(st, "strasse@example.com", 1) == 0, "add recipient");
	ok(ADD_D(st, "xn--bcher-kva.example", "smtp:[mx2.example.net]") == 0,
	   "add domain");
	ok(ADD_R(st, "ärger@xn--bcher-kva.example", 1) == 0,
	   "add utf-8 recipient");
	ok(ADD_R(st, "bob+tag@example.com", 1) == 0, "add");
	ok(ADD_D(st, "example.org", "relay:[10.0.0.1]") == 0, "add");
	ok(ADD_R(st, "alice@example.com", 2) == 0, "add");
	ok(ADD_D(st, "example.com", "smtp:[mx1.example.com]:25") == 0, "add");
	ok(ADD_R(st, "alice@example.com", 3) == 0, "add duplicate recipient");
	ok(state_finish(st, &tag, &err) == 0, "finish: %s", err.msg);
	ok(ADD_R(st, "@example.org", 2) == 0, "add after finish");
	ok(ADD_D(st, "example.com", "smtp:[mx1.example.com]:25") == 0,
	   "same domain, same nexthop again");
	ok(state_finish(st, &tag, &err) == 0, "finish again: %s", err.msg);
	ok(state_domain_count(st) == 3, "3 domains");
	ok(state_recipient_count(st) == 5, "5 recipients");
	text = state_text(st, &len);
	ok(len == glen && memcmp(text, gold, len) == 0,
	   "text equals tests/golden/state-small.txt byte for byte");
	ok(state_text_size(st) == glen, "text size");
	state_hash(st, h);
	hexify(h, hex);
	is_str(hex, ghash, "hash equals tests/golden/state-small.hash");
	free(text);

	p = state_parse(gold, glen, &err);
	ok(p != NULL, "golden parses: %s", err.msg);
	if (p != NULL) {
		const char *d, *n, *a;
		size_t dl, nl, al;

		state_hash(p, h);
		hexify(h, hex);
		is_str(hex, ghash, "parsed hash equals golden hash");
		state_domain(p, 0, &d, &dl, &n, &nl);
		ok(dl == 11 && memcmp(d, "example.com", 11) == 0 && nl == 25 &&
		       memcmp(n, "smtp:[mx1.example.com]:25", 25) == 0,
		   "state_domain accessor");
		state_recipient(p, 4, &a, &al);
		ok(al == strlen("ärger@xn--bcher-kva.example") &&
		       memcmp(a, "ärger@xn--bcher-kva.example", al) == 0,
		   "state_recipient accessor");
		ok(state_find_domain(p, "example.org", 11) == 1, "find domain");
		ok(state_find_domain(p, "example.net", 11) == -1,
		   "find absent domain");
		ok(state_has_recipient(p, "alice@example.com", 17) == 1,
		   "has recipient");
		ok(state_has_recipient(p, "alice@example.co", 16) == 0,
		   "has no prefix recipient");
	}
	state_free(p);

	{
		char path[] = "/tmp/test-state-XXXXXX";
		int fd = mkstemp(path);
		struct state *l;

		ok(fd >= 0 && state_write_fd(st, fd, &err) == 0, "write_fd");
		close(fd);
		l = state_load(path, &err);
		ok(l != NULL && state_recipient_count(l) == 5,
		   "load written file");
		state_free(l);
		unlink(path);
		l = state_load(path, &err);
		ok(l == NULL, "load missing file fails");
		has_str(err.msg, "open(/tmp/test-state-",
			"message names the file");
		has_str(err.msg, "No such file", "message gives the reason");
		l = state_load("/tmp", &err);
		ok(l == NULL, "load of a directory fails");
		is_str(err.msg, "/tmp: not a regular file",
		       "message for a directory");
	}
	state_free(st);
	free(gold);
	free(ghash);
}

static void test_empty(void)
{
	struct err err = {""};
	struct state *st = state_new(), *p;
	unsigned char h[STATE_HASH_LEN];
	char hex[2 * STATE_HASH_LEN + 1], *t;
	size_t len = 9;

	ok(state_finish(st, NULL, &err) == 0, "empty finishes");
	t = state_text(st, &len);
	ok(t != NULL && len == 0 && t[0] == '\0', "empty text is empty");
	free(t);
	state_hash(st, h);
	hexify(h, hex);
	/* the tree's root over 65 hashes of nothing (state.h) */
	is_str(
	    hex,
	    "da81b053cd5e45433a181bf5d3ea99add4f93894f9d882d3cdba1cde8b8ac47b",
	    "empty hash");
	p = state_parse("", 0, &err);
	ok(p != NULL && state_domain_count(p) == 0, "empty text parses");
	state_free(p);
	state_free(st);
}

static void test_refusals(void)
{
	struct err err = {""};
	struct state *st;
	unsigned tag = 0;

	parse_fails("D example.com smtp:x\nR a@example.com",
		    "state line 2: no final newline", "missing final newline");
	parse_fails(
	    "D b.example smtp:x\nD a.example smtp:x\n",
	    "state line 2: not sorted (\"a.example\" after \"b.example\")",
	    "unsorted domains");
	parse_fails(
	    "D a.example smtp:x\nR b@a.example\nR a@a.example\n",
	    "state line 3: not sorted (\"a@a.example\" after \"b@a.example\")",
	    "unsorted recipients");
	/* octets over 0x7f sort after ASCII, in and past the first 8 */
	parse_fails("D a.example smtp:x\nR \xc3\xa9@a.example\nR z@a.example\n",
		    "state line 3: not sorted (\"z@a.example\" after "
		    "\"\xc3\xa9@a.example\")",
		    "unsorted recipients, non-ASCII octet first");
	parse_fails("D a.example smtp:x\nR abcdefghi\xc3\xa9@a.example\n"
		    "R abcdefghiz@a.example\n",
		    "state line 3: not sorted (\"abcdefghiz@a.example\" after "
		    "\"abcdefghi\xc3\xa9@a.example\")",
		    "unsorted recipients, non-ASCII octet past 8");
	{
		static const char t[] =
		    "D a.example smtp:x\nR abcdefghiz@a.example\n"
		    "R abcdefghi\xc3\xa9@a.example\n";

		st = state_parse(t, sizeof(t) - 1, &err);
		ok(st != NULL && state_recipient_count(st) == 2,
		   "octet order past 8 accepted: %s", err.msg);
		state_free(st);
	}
	parse_fails("D a.example smtp:x\nD a.example smtp:x\n",
		    "state line 2: duplicate domain \"a.example\"",
		    "duplicate domain");
	parse_fails("D a.example smtp:x\nD a.example smtp:y\n",
		    "state line 2: duplicate domain \"a.example\"",
		    "same domain, two nexthops");
	parse_fails("D a.example smtp:x\nR u@a.example\nR u@a.example\n",
		    "state line 3: duplicate recipient \"u@a.example\"",
		    "duplicate recipient");
	parse_fails("D a.example smtp:x\nX foo\n",
		    "state line 2: unknown line type", "unknown line type");
	parse_fails("\n", "state line 1: unknown line type", "empty line");
	parse_fails("D a.example smtp:x\nR  u@a.example\n",
		    "state line 2: white space in address \" u@a.example\"",
		    "two spaces");
	parse_fails(
	    "D A.example smtp:x\n",
	    "state line 1: domain \"A.example\" is not folded (\"a.example\")",
	    "unfolded domain");
	parse_fails("D a.example smtp:x\nR Straße@a.example\n",
		    "state line 2: address \"Straße@a.example\" is not folded "
		    "(\"strasse@a.example\")",
		    "unfolded utf-8 address");
	parse_fails("D a.example smtp:x\nR u@b.example\n",
		    "state line 2: recipient domain \"b.example\" is not among "
		    "the domains",
		    "recipient of an absent domain");
	parse_fails("D a.example \n", "state line 1: empty nexthop",
		    "empty nexthop");
	parse_fails("D a.example\n", "state line 1: empty nexthop",
		    "missing nexthop");
	parse_fails("R u@a.example\nD a.example smtp:x\n",
		    "state line 1: recipient domain \"a.example\" is not among "
		    "the domains",
		    "recipient before its domain");
	parse_fails("D a.example smtp:x\nR u@a.example\nD b.example smtp:x\n",
		    "state line 3: domain after recipients",
		    "domain after recipients");
	parse_fails("D a.example smtp:x\nR nodomain\n",
		    "state line 2: no \"@\" in address \"nodomain\"",
		    "address without @");
	parse_fails(
	    "D a.example smtp:x\t\n",
	    "state line 1: control character in nexthop \"smtp:x\\x09\"",
	    "tab in nexthop");
	{
		static const char z[] = "D a.example smtp:x\n\0";
		struct state *p = state_parse(z, sizeof(z) - 1, &err);

		ok(p == NULL, "parse refuses a trailing NUL");
		is_str(err.msg, "state line 2: no final newline",
		       "message for trailing NUL");
		p = state_parse(z, sizeof(z) - 2, &err);
		ok(p != NULL, "the same without it parses");
		state_free(p);
	}
	{
		static const char t[] =
		    "D a.example smtp:x\nR u\0v@a.example\n";
		struct state *p = state_parse(t, sizeof(t) - 1, &err);

		ok(p == NULL, "parse refuses NUL in a key");
		has_str(err.msg, "state line 2: control character in address",
			"message for NUL in a key");
	}

	st = state_new();
	ok(ADD_D(st, "Example.com", "smtp:x") == -1,
	   "add refuses unfolded domain");
	is_str(err.msg,
	       "domain \"Example.com\" is not folded (\"example.com\")",
	       "message for unfolded domain");
	ok(ADD_D(st, "example.com", "") == -1, "add refuses empty nexthop");
	is_str(err.msg, "domain \"example.com\": empty nexthop",
	       "message for empty nexthop");
	ok(ADD_R(st, "Bob@example.com", 0) == -1,
	   "add refuses unfolded address");
	is_str(
	    err.msg,
	    "address \"Bob@example.com\" is not folded (\"bob@example.com\")",
	    "message for unfolded address");
	ok(ADD_D(st, "example.com", "smtp:x") == 0, "add domain");
	ok(ADD_R(st, "u@example.com", 4) == 0, "add");
	ok(ADD_R(st, "v@example.net", 7) == 0,
	   "add recipient of absent domain");
	ok(state_finish(st, &tag, &err) == -1, "finish refuses absent domain");
	is_str(err.msg,
	       "recipient \"v@example.net\": domain \"example.net\" is not "
	       "among the domains",
	       "message for absent domain");
	ok(tag == 7, "tag names the source (%u)", tag);
	state_free(st);

	st = state_new();
	ok(state_add_domain(st, "example.com", 11, "smtp:a", 6, 1, &err) == 0,
	   "add");
	ok(state_add_domain(st, "example.com", 11, "smtp:b", 6, 5, &err) == 0,
	   "add");
	ok(state_finish(st, &tag, &err) == -1, "finish refuses two nexthops");
	is_str(err.msg,
	       "domain \"example.com\" listed with two nexthops: \"smtp:a\" "
	       "and \"smtp:b\"",
	       "message for two nexthops");
	ok(tag == 5, "tag of the second record (%u)", tag);
	state_free(st);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * test_sort - keys that share long prefixes and end at or near 8-octet
 * boundaries, in runs small and large: the result must parse back (strictly
 * sorted, unique) and hold exactly the distinct keys.
 */
static void test_sort(void)
{
	static const size_t sizes[] = {3, 40, 300, 20000, 100000};
	struct err err = {""};
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z], i, distinct = 0, len;
		char **keys = calloc(n, sizeof(char *)), *text;
		struct state *st = state_new(), *p;
		int bad = 0;

		bad |= ADD_D(st, "d.example", "smtp:x");
		for (i = 0; i < n; i++) {
			size_t kl, k;
			char a[64];

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			kl = 1 + x % 24;
			for (k = 0; k < kl; k++)
				a[k] = "ab."[(x >> (k + 5)) % 3 ? 0 : 1] +
				       (char)((x >> (2 * k)) & (k % 7 == 6));
			strcpy(a + kl, "@d.example");
			keys[i] = strdup(a);
			bad |= ADD_R(st, a, 0);
		}
		qsort(keys, n, sizeof(char *), cmpstr);
		for (i = 0; i < n; i++)
			distinct += i == 0 || strcmp(keys[i], keys[i - 1]) != 0;
		ok(!bad && state_finish(st, NULL, &err) == 0,
		   "sort %zu: finish", n);
		ok(state_recipient_count(st) == distinct,
		   "sort %zu: %zu distinct keys (%zu)", n, distinct,
		   state_recipient_count(st));
		text = state_text(st, &len);
		p = state_parse_owned(text, len, &err);
		ok(p != NULL, "sort %zu: result is canonical: %s", n, err.msg);
		state_free(p);
		state_free(st);
		for (i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* test_million - 10,000 domains and 1,000,000 recipients in random order */
static void test_million(void)
{
	struct err err = {""};
	struct state *st = state_new(), *p;
	unsigned char h[STATE_HASH_LEN], h2[STATE_HASH_LEN];
	char a[128], d[64], *text;
	uint64_t x = 88172645463325252ull;
	double t0, t1, t2;
	size_t i, len;
	int bad = 0;

	for (i = 0; i < 10000; i++) {
		int n = snprintf(d, sizeof(d), "dom%05zu.example",
				 (i * 7919) % 10000);

		bad |= state_add_domain(
		    st, d, (size_t)n, "smtp:[mx.example.net]:25", 24, 0, &err);
	}
	t0 = now();
	for (i = 0; i < 1000000; i++) {
		int n;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		n = snprintf(a, sizeof(a), "user%llu.%zu@dom%05u.example",
			     (unsigned long long)(x % 100000000), i % 97,
			     (unsigned)(x % 10000));
		bad |= state_add_recipient(st, a, (size_t)n, 0, &err);
	}
	t1 = now();
	ok(bad == 0, "1M records added: %s", err.msg);
	ok(state_finish(st, NULL, &err) == 0, "1M finish: %s", err.msg);
	state_hash(st, h);
	t2 = now();
	printf("# 1M add: %.2f s, finish+hash: %.2f s\n", t1 - t0, t2 - t1);
	text = state_text(st, &len);
	t0 = now();
	p = state_parse_owned(text, len, &err);
	t1 = now();
	printf("# 1M parse: %.2f s\n", t1 - t0);
	ok(p != NULL, "1M text parses back: %s", err.msg);
	if (p != NULL) {
		state_hash(p, h2);
		ok(memcmp(h, h2, sizeof(h)) == 0, "same hash after parse");
		ok(state_recipient_count(p) == state_recipient_count(st),
		   "same count after parse (%zu)", state_recipient_count(p));
	}
	state_free(p);
	/* a refused large text: the first error, as for a small one */
	text = state_text(st, &len);
	if (text != NULL) {
		/* the last line loses its newline */
		text[len - 1] = 'x';
		p = state_parse_owned(text, len, &err);
		ok(p == NULL, "a 1M text with a bad last line is refused");
		has_str(err.msg, "no final newline", "the error: %s", err.msg);
		state_free(p);
	}
	state_free(st);
}

/*
 * test_large_errors - a large state reports the recipient whose domain is
 * missing that comes first in key order, with its tag, and stays usable after
 * the refusal
 */
static void test_large_errors(void)
{
	struct err err = {""};
	struct state *st = state_new();
	unsigned tag = 99;
	char k[64];
	int bad = 0, i, n;

	bad |= ADD_D(st, "example.com", "smtp:x");
	bad |= ADD_R(st, "zz@missing.example", 7);
	for (i = 0; i < 150000; i++) {
		n = snprintf(k, sizeof(k), "u%d@example.com",
			     (i * 7919) % 100000);
		bad |= state_add_recipient(st, k, (size_t)n, 1, &err);
	}
	bad |= ADD_R(st, "v@missing.example", 5);
	bad |= ADD_R(st, "aa@other.example", 3);
	ok(bad == 0, "large: added");
	ok(state_finish(st, &tag, &err) < 0 && tag == 3,
	   "large: refused, "
	   "tag %u",
	   tag);
	is_str(err.msg,
	       "recipient \"aa@other.example\": domain "
	       "\"other.example\" is not among the domains",
	       "large: first "
	       "missing domain in key order");
	bad |= ADD_D(st, "other.example", "smtp:x");
	ok(bad == 0 && state_finish(st, &tag, &err) < 0 && tag == 5,
	   "large: the next one (tag %u)", tag);
	is_str(err.msg,
	       "recipient \"v@missing.example\": domain "
	       "\"missing.example\" is not among the domains",
	       "large: "
	       "first missing domain in the second half");
	bad |= ADD_D(st, "missing.example", "smtp:y");
	ok(bad == 0 && state_finish(st, NULL, &err) == 0 &&
	       state_recipient_count(st) == 100003,
	   "large: finished after the "
	   "domains came (%zu): %s",
	   state_recipient_count(st), err.msg);
	state_free(st);
}

/*
 * The recipients of a large text are checked in chunks (state_parse.c,
 * on several cores): whatever the chunk boundaries, a refusal names the
 * line and the reason a check line by line would.  BIG_N fixed-width
 * lines of BIG_W octets, after BIG_D domain lines.
 */
#define BIG_N 100000
#define BIG_W 21 /* "R u0000000@a.example\n" */
#define BIG_D 2

/* big_text - the valid text; line k (0-based, recipients) at big_at(k) */
static char *big_text(size_t *len_r)
{
	static const char head[] = "D a.example smtp:x\nD b.example smtp:x\n";
	size_t hl = sizeof(head) - 1, k;
	char *t = malloc(hl + (size_t)BIG_N * BIG_W + 1);

	if (t == NULL)
		abort();
	memcpy(t, head, hl);
	for (k = 0; k < BIG_N; k++)
		snprintf(t + hl + k * BIG_W, BIG_W + 1, "R u%07zu@a.example\n",
			 k);
	*len_r = hl + (size_t)BIG_N * BIG_W;
	return t;
}

static size_t big_at(size_t k)
{
	return sizeof("D a.example smtp:x\nD b.example smtp:x\n") - 1 +
	       k * BIG_W;
}

/* big_refused - the changed text t is refused with want; t is freed */
static void big_refused(char *t, size_t len, const char *want, const char *name)
{
	struct err err = {""};
	struct state *st = state_parse_owned(t, len, &err);

	ok(st == NULL, "chunks: %s refused", name);
	is_str(err.msg, want, "chunks: %s: message", name);
	state_free(st);
}

static void test_parse_chunks(void)
{
	struct err err = {""};
	struct state *st;
	char want[160], *t;
	size_t len, k, i, fails = 0;
	/* the lines about each chunk boundary, and the first and last */
	size_t at[64], nat = 0;

	t = big_text(&len);
	st = state_parse_owned(t, len, &err);
	ok(st != NULL && state_recipient_count(st) == BIG_N &&
	       state_domain_count(st) == BIG_D,
	   "chunks: a %zu-octet text parses: %s", len, err.msg);
	state_free(st);
	/*
	 * A chunk ends with the line holding its 512 KiB-th octet of R lines,
	 * so boundary k lies within k lines after k * 512 KiB.
	 */
	at[nat++] = 1;
	for (k = 1; (k + 1) * 512 * 1024 < len; k++)
		for (i = 0; i < k + 4 && nat < 60; i++)
			at[nat++] = k * 512 * 1024 / BIG_W + i - 1;
	at[nat++] = BIG_N - 1;
	for (i = 0; i < nat; i++) {
		struct state *p;
		char w[80];

		k = at[i];
		/* line k repeats line k - 1 */
		t = big_text(&len);
		memcpy(t + big_at(k), t + big_at(k - 1), BIG_W);
		p = state_parse_owned(t, len, &err);
		snprintf(w, sizeof(w),
			 "state line %zu: duplicate recipient \"u%07zu@a."
			 "example\"",
			 BIG_D + k + 1, k - 1);
		fails += p != NULL || strcmp(err.msg, w) != 0;
		if (p != NULL || strcmp(err.msg, w) != 0)
			printf("# line %zu: got '%s', want '%s'\n", k, err.msg,
			       w);
		state_free(p);
		/* lines k - 1 and k swapped */
		t = big_text(&len);
		memcpy(t + big_at(k), t + big_at(k - 1), BIG_W);
		snprintf(w, sizeof(w), "R u%07zu@a.example\n", k);
		memcpy(t + big_at(k - 1), w, BIG_W);
		p = state_parse_owned(t, len, &err);
		snprintf(w, sizeof(w),
			 "state line %zu: not sorted (\"u%07zu@a.example\" "
			 "after \"u%07zu@a.example\")",
			 BIG_D + k + 1, k - 1, k);
		fails += p != NULL || strcmp(err.msg, w) != 0;
		if (p != NULL || strcmp(err.msg, w) != 0)
			printf("# line %zu: got '%s', want '%s'\n", k, err.msg,
			       w);
		state_free(p);
	}
	ok(fails == 0,
	   "chunks: a duplicate and a swap at %zu places (the chunk "
	   "boundaries among them) are named at their line",
	   nat);
	/* a line both unfolded and out of order: its own check first */
	k = at[3];
	t = big_text(&len);
	memcpy(t + big_at(k), t + big_at(k - 1), BIG_W);
	t[big_at(k) + 2] = 'U';
	snprintf(want, sizeof(want),
		 "state line %zu: address \"U%07zu@a.example\" is not folded "
		 "(\"u%07zu@a.example\")",
		 BIG_D + k + 1, k - 1, k - 1);
	big_refused(t, len, want, "an unfolded line that is also a duplicate");
	/* two errors, in different chunks: the first is named */
	t = big_text(&len);
	memcpy(t + big_at(BIG_N - 10) + 11, "c.example", 9);
	memcpy(t + big_at(1000) + 11, "c.example", 9);
	snprintf(want, sizeof(want),
		 "state line %d: recipient domain \"c.example\" is not among "
		 "the domains",
		 BIG_D + 1000 + 1);
	big_refused(t, len, want, "two bad lines far apart");
	/* a domain line among the recipients, in a later chunk */
	t = big_text(&len);
	memcpy(t + big_at(BIG_N / 2), "D u0000000.example x\n", BIG_W);
	snprintf(want, sizeof(want), "state line %d: domain after recipients",
		 BIG_D + BIG_N / 2 + 1);
	big_refused(t, len, want, "a domain line after recipients");
}

/* test_unlisted_cb - what state_finish_unlisted() reported dropped */
struct test_unlisted {
	size_t n[8];
	char first[8][64];
};

static void test_unlisted_cb(void *arg, unsigned tag, const char *addr,
			     size_t alen)
{
	struct test_unlisted *u = arg;

	if (tag >= 8)
		return;
	if (u->n[tag]++ == 0)
		snprintf(u->first[tag], sizeof(u->first[tag]), "%.*s",
			 (int)alen, addr);
}

/*
 * test_unlisted - recipients of absent domains dropped for the tags that
 * say so, counted once each, the rest kept; a refusing tag still fails;
 * small (one thread) and large (two threads) indexes alike
 */
static void test_unlisted(void)
{
	const unsigned char drop[3] = {1, 0, 1};
	struct test_unlisted u;
	struct err err = {""};
	struct state *st;
	unsigned tag = 99;
	char k[64], *text;
	size_t len;
	int bad = 0, i, n, big;

	for (big = 0; big < 2; big++) {
		memset(&u, 0, sizeof(u));
		st = state_new();
		bad |= ADD_D(st, "example.com", "smtp:x");
		bad |= ADD_R(st, "a@example.com", 0);
		bad |= ADD_R(st, "x@off.example", 0);
		bad |= ADD_R(st, "x@off.example", 0);
		bad |= ADD_R(st, "y@off.example", 2);
		bad |= ADD_R(st, "b@example.com", 2);
		for (i = 0; big && i < 100000; i++) {
			n = snprintf(k, sizeof(k), "u%d@%s.example", i,
				     i % 2 ? "example" : "gone");
			bad |= state_add_recipient(st, k, (size_t)n, 0, &err);
		}
		bad |= ADD_R(st, "z@refuse.example", 1);
		ok(bad == 0, "unlisted %s: added", big ? "large" : "small");
		ok(state_finish_unlisted(st, drop, 3, test_unlisted_cb, &u,
					 &tag, &err) < 0 &&
		       tag == 1,
		   "unlisted %s: a refusing tag fails (tag %u)",
		   big ? "large" : "small", tag);
		is_str(err.msg,
		       "recipient \"z@refuse.example\": domain "
		       "\"refuse.example\" is not among the domains",
		       "unlisted %s: its message", big ? "large" : "small");
		ok(u.n[0] == 0 && u.n[2] == 0,
		   "unlisted %s: nothing reported "
		   "dropped by a failed finish",
		   big ? "large" : "small");
		bad |= ADD_D(st, "refuse.example", "smtp:x");
		ok(bad == 0 &&
		       state_finish_unlisted(st, drop, 3, test_unlisted_cb, &u,
					     NULL, &err) == 0,
		   "unlisted %s: finished: %s", big ? "large" : "small",
		   err.msg);
		ok(u.n[0] == (big ? 100001u : 1u) && u.n[2] == 1 && u.n[1] == 0,
		   "unlisted %s: dropped counted once each per tag (%zu, %zu)",
		   big ? "large" : "small", u.n[0], u.n[2]);
		is_str(u.first[2], "y@off.example", "unlisted %s: example",
		       big ? "large" : "small");
		text = state_text(st, &len);
		is_str(text,
		       "D example.com smtp:x\nD refuse.example smtp:x\n"
		       "R a@example.com\nR b@example.com\n"
		       "R z@refuse.example\n",
		       "unlisted %s: the rest kept", big ? "large" : "small");
		free(text);
		state_free(st);
	}
}

/* test_add_address - folding on the way in, as norm_address would */
static void test_add_address(void)
{
	struct err err = {""};
	struct state *st = state_new();
	const char *a;
	size_t len;
	int bad = 0;

	bad |= ADD_D(st, "example.com", "smtp:x");
	bad |= state_add_address(st, "User@Example.COM", 16, 0, &err);
	bad |= state_add_address(st,
				 "Stra\xc3\x9f"
				 "e@Example.com",
				 19, 0, &err);
	bad |= state_add_address(st, "@EXAMPLE.com", 12, 0, &err);
	ok(bad == 0 && state_finish(st, NULL, &err) == 0 &&
	       state_recipient_count(st) == 3,
	   "add_address: three added");
	state_recipient(st, 0, &a, &len);
	ok(len == 12 && memcmp(a, "@example.com", 12) == 0, "catch-all folded");
	state_recipient(st, 1, &a, &len);
	ok(len == 19 && memcmp(a, "strasse@example.com", 19) == 0,
	   "non-ASCII folded by ICU");
	state_recipient(st, 2, &a, &len);
	ok(len == 16 && memcmp(a, "user@example.com", 16) == 0, "ASCII folded");
	ok(state_add_address(st, "no-at-sign", 10, 0, &err) < 0,
	   "add_address refuses what norm_address refuses");
	is_str(err.msg, "no \"@\" in address \"no-at-sign\"",
	       "add_address: norm_address's message");
	state_free(st);
}

/* test_reserve - a reserved state ends up the same as one grown on demand */
static void test_reserve(void)
{
	struct err err = {""};
	struct state *a = state_new(), *b = state_new();
	unsigned char ha[STATE_HASH_LEN], hb[STATE_HASH_LEN];
	char k[64];
	int bad = 0, i, n;

	ok(state_reserve(b, 5000, 100000, &err) == 0, "state_reserve: %s",
	   err.msg);
	ok(state_reserve(b, 10, 10, &err) == 0, "a smaller second reserve");
	bad |= state_add_domain(a, "example.com", 11, "smtp:x", 6, 0, &err);
	bad |= state_add_domain(b, "example.com", 11, "smtp:x", 6, 0, &err);
	for (i = 0; i < 20000; i++) {
		n = snprintf(k, sizeof(k), "u%d@example.com",
			     (i * 7919) % 20000);
		bad |= state_add_recipient(a, k, (size_t)n, 0, &err);
		bad |= state_add_recipient(b, k, (size_t)n, 0, &err);
	}
	ok(bad == 0 && state_finish(a, NULL, &err) == 0 &&
	       state_finish(b, NULL, &err) == 0,
	   "both finished (past the "
	   "reserved size): %s",
	   err.msg);
	state_hash(a, ha);
	state_hash(b, hb);
	ok(memcmp(ha, hb, sizeof(ha)) == 0 && state_recipient_count(b) == 20000,
	   "same state with and without state_reserve");
	state_free(a);
	state_free(b);
}

int main(void)
{
	test_golden();
	test_empty();
	test_refusals();
	test_sort();
	test_reserve();
	test_large_errors();
	test_unlisted();
	test_add_address();
	test_parse_chunks();
	test_million();
	return test_done();
}
