/*
 * test-syncd-shard - the relay_recipients shards: the shard of a key (a
 * fixed part of the on-disk layout), the shards a delta touches, the shard
 * selection carried through a delta (equal to one computed afresh), and an
 * install that rebuilds only the touched shards and leaves the others'
 * files (inodes) alone, verified against the states; the same from the
 * lines a delta's result kept of its shards (state_shard_lines), alone and
 * beside an origin that keeps none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../formats/buf.h"
#include "../../formats/cdbw.h"
#include "../../formats/delta.h"
#include "../../formats/manifest.h"
#include "../../syncd/shard.h"
#include "test.h"

/* mkstate - a finished state of nd domains and the recipients of i in
 * [0, n) with keep(i) true, local parts and domains spread by i */
static struct state *mkstate(unsigned nd, unsigned n, unsigned seed,
			     unsigned drop_mod)
{
	struct state *st = state_new();
	struct err err;
	char k[128], v[64];
	unsigned i;
	int m;

	for (i = 0; i < nd; i++) {
		m = snprintf(k, sizeof(k), "dom%04u.example", i);
		snprintf(v, sizeof(v), "smtp:[mx%u.example]:25", i);
		if (state_add_domain(st, k, (size_t)m, v, strlen(v), 0, &err) <
		    0)
			goto bad;
	}
	for (i = 0; i < n; i++) {
		if (drop_mod && (i * 7 + seed) % drop_mod == 0)
			continue;
		if (i % 97 == 0)
			m = snprintf(k, sizeof(k), "@dom%04u.example", i % nd);
		else
			m = snprintf(k, sizeof(k), "u%06u@dom%04u.example", i,
				     (i * 31) % nd);
		if (state_add_recipient(st, k, (size_t)m, 0, &err) < 0)
			goto bad;
	}
	for (i = 0; seed && i < seed * 3; i++) {
		m = snprintf(k, sizeof(k), "new%u.%u@dom%04u.example", seed, i,
			     (i * 13) % nd);
		if (state_add_recipient(st, k, (size_t)m, 0, &err) < 0)
			goto bad;
	}
	if (state_finish(st, NULL, &err) < 0)
		goto bad;
	return st;
bad:
	printf("# mkstate: %s\n", err.msg);
	state_free(st);
	return NULL;
}

/*
 * origin - a finished state of origin tag t: ODOM domains dom<t>NNN.example
 * and n recipients over them, its hash leaves kept (as mxsyncd's)
 */
#define ODOM 300
static struct state *origin(char t, unsigned n)
{
	struct state *st = state_new();
	struct err err;
	char k[128];
	unsigned i;
	int m, bad = 0;

	for (i = 0; i < ODOM; i++) {
		m = snprintf(k, sizeof(k), "dom%c%03u.example", t, i);
		bad |=
		    state_add_domain(st, k, (size_t)m, "smtp:[mx]", 9, 0, &err);
	}
	for (i = 0; i < n; i++) {
		m = snprintf(k, sizeof(k), "u%05u@dom%c%03u.example", i, t,
			     (i * 7) % ODOM);
		bad |= state_add_recipient(st, k, (size_t)m, 0, &err);
	}
	if (bad || state_finish(st, NULL, &err) < 0 ||
	    state_hash_prepare(st) < 0) {
		printf("# origin %c: %s\n", t, err.msg);
		state_free(st);
		return NULL;
	}
	return st;
}

/*
 * kept_tests - partial installs of 64 shards (the hash shards) from delta
 * results that keep their touched shards' lines: the maps hold the new
 * states, whether one origin or both keep them
 */
static void kept_tests(const char *dir)
{
	struct state *x = origin('x', 4000), *y = origin('y', 3000);
	struct state *x2 = NULL, *y2 = NULL;
	const struct state *sts[2];
	const uint8_t *sel[2];
	struct cdbw_plan plan = {64, sel, 0, NULL, 1};
	unsigned char touched[CDBW_SHARDS_MAX];
	struct err err = {""};
	const char *text;
	size_t len, n;
	unsigned h, i;
	int domains, kept = 0, m;
	/* one added recipient each, both in x's first domain's shard */
	char dx[64], dy[64];

	m = snprintf(dx, sizeof(dx), "+R new@domx000.example\n");
	h = cdbw_shard_of(dx + 3, (size_t)m - 4, 64);
	for (i = 0; i < ODOM; i++) {
		m = snprintf(dy, sizeof(dy), "+R new@domy%03u.example\n", i);
		if (cdbw_shard_of(dy + 3, (size_t)m - 4, 64) == h)
			break;
	}
	ok(i < ODOM, "kept lines: a domain of y in x's shard %u (%u)", h, i);
	if (x == NULL || y == NULL)
		goto out;
	sts[0] = x;
	sts[1] = y;
	sel[0] = state_shards(x);
	sel[1] = state_shards(y);
	ok(cdbw_install_plan(sts, 2, dir, CDBW_LIMIT, &plan, NULL, NULL,
			     &err) == 0,
	   "kept lines: a full install of two origins: %s", err.msg);
	x2 = delta_apply_version(x, NULL, dx, strlen(dx), NULL,
				 MANIFEST_VERSION, DELTA_LINES, &err);
	y2 = delta_apply_version(y, NULL, dy, strlen(dy), NULL,
				 MANIFEST_VERSION, 0, &err);
	if (x2 == NULL || y2 == NULL) {
		ok(0, "kept lines: the deltas: %s", err.msg);
		goto out;
	}
	for (i = 0; i < 64; i++)
		kept += state_shard_lines(x2, i, &text, &len, &n) == 0;
	ok(kept == 1 && state_shard_lines(x2, h, &text, &len, &n) == 0 &&
	       state_shard_lines(y2, h, &text, &len, &n) < 0,
	   "the result of a delta with DELTA_LINES keeps the lines of its one "
	   "shard (%u), one without keeps none",
	   h);
	memset(touched, 0, sizeof(touched));
	shard_touched(dx, strlen(dx), 64, touched, &domains);
	plan.touched = touched;
	plan.domains = 0;
	/* x2 from its kept lines, y (records in shard h too) walked */
	sts[0] = x2;
	sel[0] = state_shards(x2);
	ok(cdbw_install_plan(sts, 2, dir, CDBW_LIMIT, &plan, NULL, NULL,
			     &err) == 0,
	   "a partial install from one origin's kept lines beside another's "
	   "walked records: %s",
	   err.msg);
	plan.touched = NULL;
	ok(cdbw_verify_plan(sts, 2, dir, &plan, &err) == 0,
	   "every map holds both origins' states: %s", err.msg);
	/* now the other origin changes too, without kept lines */
	sts[1] = y2;
	sel[1] = state_shards(y2);
	plan.touched = touched;
	ok(cdbw_install_plan(sts, 2, dir, CDBW_LIMIT, &plan, NULL, NULL,
			     &err) == 0,
	   "and with the other origin's change in the same shard: %s", err.msg);
	plan.touched = NULL;
	ok(cdbw_verify_plan(sts, 2, dir, &plan, &err) == 0,
	   "every map holds the new states: %s", err.msg);
	sts[1] = y;
	sel[1] = state_shards(y);
	ok(cdbw_verify_plan(sts, 2, dir, &plan, &err) < 0,
	   "and not the old one of the second origin: %s", err.msg);
out:
	state_free(x);
	state_free(y);
	state_free(x2);
	state_free(y2);
}

static ino_t ino(const char *dir, const char *name)
{
	char p[4096];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s.cdb", dir, name);
	return stat(p, &sb) == 0 ? sb.st_ino : 0;
}

int main(void)
{
	struct state *a = NULL, *b = NULL;
	struct buf d = {0};
	struct err err = {""};
	uint8_t *sa = NULL, *sb = NULL, *carried = NULL;
	unsigned char touched[CDBW_SHARDS_MAX], want[CDBW_SHARDS_MAX];
	char name[64], dir[] = "/tmp/mxsync-shard.XXXXXX";
	ino_t before[8], after[8];
	size_t adds, removes, i, klen;
	const char *k;
	int domains, s, same, round;

	/* the layout: FNV-1a of the domain, modulo the shards */
	ok(cdbw_shard_of("user@example.com", 16, 64) == 38 &&
	       cdbw_shard_of("example.com", 11, 256) == 38,
	   "example.com is shard 38 of 64 and of 256");
	ok(cdbw_shard_of("x@d00000.example", 16, 64) == 33 &&
	       cdbw_shard_of("x@d00000.example", 16, 256) == 97,
	   "d00000.example is shard 33 of 64, 97 of 256");
	ok(cdbw_shard_of("b@bücher.example", strlen("b@bücher.example"), 64) ==
	       10,
	   "a UTF-8 domain is hashed as its octets");
	ok(cdbw_shard_of("user+ext@example.com", 20, 64) ==
		   cdbw_shard_of("@example.com", 12, 64) &&
	       cdbw_shard_of("a@b@example.com", 15, 64) == 38,
	   "every key form of an address (and the part after the last @) "
	   "names the same shard");
	ok(cdbw_shard_of("user@example.com", 16, 1) == 0, "one shard: 0");
	cdbw_shard_name(name, sizeof(name), 10, 64);
	is_str(name, "relay_recipients-0a", "shard names are two hex digits");
	cdbw_shard_name(name, sizeof(name), 0, 1);
	is_str(name, "relay_recipients", "one shard is the single map");

	/* carried selections equal computed ones, over several deltas */
	for (round = 1; round <= 4; round++) {
		a = mkstate(50, 20000, round - 1, round == 1 ? 0 : 5);
		b = mkstate(50, 20000, round, 3 + round);
		if (a == NULL || b == NULL)
			break;
		d.len = 0;
		if (delta_compute(a, b, &d, &adds, &removes, &err) < 0) {
			ok(0, "delta_compute: %s", err.msg);
			break;
		}
		sa = cdbw_shard_sel(a, 64);
		sb = cdbw_shard_sel(b, 64);
		carried = shard_sel_after(a, sa, b, d.data, d.len, 64);
		ok(carried != NULL &&
		       memcmp(carried, sb, state_recipient_count(b)) == 0,
		   "round %d: the selection carried through a delta of %zu "
		   "additions and %zu removals is the computed one",
		   round, adds, removes);
		memset(touched, 0, sizeof(touched));
		memset(want, 0, sizeof(want));
		shard_touched(d.data, d.len, 64, touched, &domains);
		/* every changed key's shard, and nothing else */
		for (i = 0; i < state_recipient_count(a); i++) {
			state_recipient(a, i, &k, &klen);
			if (!state_has_recipient(b, k, klen))
				want[cdbw_shard_of(k, klen, 64)] = 1;
		}
		for (i = 0; i < state_recipient_count(b); i++) {
			state_recipient(b, i, &k, &klen);
			if (!state_has_recipient(a, k, klen))
				want[cdbw_shard_of(k, klen, 64)] = 1;
		}
		ok(memcmp(touched, want, sizeof(want)) == 0 && !domains,
		   "round %d: the touched shards are those of the changed keys",
		   round);
		free(sa);
		free(sb);
		free(carried);
		sa = sb = carried = NULL;
		state_free(a);
		state_free(b);
		a = b = NULL;
	}
	ok(shard_sel_after(NULL, NULL, NULL, "", 0, 64) == NULL,
	   "no base selection: NULL (computed whole instead)");

	/* a partial install touches only its shards */
	if (mkdtemp(dir) == NULL)
		return 1;
	a = mkstate(40, 3000, 0, 0);
	b = mkstate(40, 3000, 1, 0); /* a + a few new recipients */
	if (a != NULL && b != NULL) {
		const struct state *sts[1] = {a};
		struct cdbw_plan full = {8, NULL, 0, NULL, 1}, part;

		ok(cdbw_install_plan(sts, 1, dir, CDBW_LIMIT, &full, NULL, NULL,
				     &err) == 0,
		   "a full install of 8 shards: %s", err.msg);
		ok(ino(dir, "relay_recipients") == 0,
		   "no single map without the migration flag");
		for (s = 0; s < 8; s++) {
			cdbw_shard_name(name, sizeof(name), (unsigned)s, 8);
			before[s] = ino(dir, name);
		}
		d.len = 0;
		delta_compute(a, b, &d, &adds, &removes, &err);
		memset(touched, 0, sizeof(touched));
		shard_touched(d.data, d.len, 8, touched, &domains);
		part = full;
		part.touched = touched;
		part.domains = domains;
		sts[0] = b;
		ok(cdbw_install_plan(sts, 1, dir, CDBW_LIMIT, &part, NULL, NULL,
				     &err) == 0,
		   "the partial install: %s", err.msg);
		same = 1;
		for (s = 0; s < 8; s++) {
			cdbw_shard_name(name, sizeof(name), (unsigned)s, 8);
			after[s] = ino(dir, name);
			if ((after[s] != before[s]) != (touched[s] != 0))
				same = 0;
		}
		ok(same, "exactly the touched shards were replaced");
		ok(cdbw_verify_plan(sts, 1, dir, &full, &err) == 0,
		   "every map holds the new state: %s", err.msg);
		sts[0] = a;
		ok(cdbw_verify_plan(sts, 1, dir, &full, &err) < 0,
		   "and not the old one: %s", err.msg);
		full.legacy = 1;
		sts[0] = b;
		ok(cdbw_install_plan(sts, 1, dir, CDBW_LIMIT, &full, NULL, NULL,
				     &err) == 0 &&
		       ino(dir, "relay_recipients") != 0 &&
		       cdbw_verify_plan(sts, 1, dir, &full, &err) == 0,
		   "with the migration flag the single map is built too");
		/* a shard over the limit is refused before anything is written
		 */
		for (s = 0; s < 8; s++) {
			cdbw_shard_name(name, sizeof(name), (unsigned)s, 8);
			before[s] = ino(dir, name);
		}
		ok(cdbw_install_plan(sts, 1, dir, 3000, &full, NULL, NULL,
				     &err) < 0,
		   "over the limit: refused");
		has_str(err.msg, "over the CDB format's limit",
			"the message names the limit: %s", err.msg);
		same = 1;
		for (s = 0; s < 8; s++) {
			cdbw_shard_name(name, sizeof(name), (unsigned)s, 8);
			same &= ino(dir, name) == before[s];
		}
		ok(same, "no shard replaced");
	}
	state_free(a);
	state_free(b);
	kept_tests(dir);
	free(d.data);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return test_done();
}
