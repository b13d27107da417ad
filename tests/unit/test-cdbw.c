/*
 * test-cdbw - the three CDB maps against the real postmap: byte-identical
 * files for a small mixed-case/UTF-8 map and for 1,000,000 recipients,
 * postmap -q lookups, the size limit, failures that leave the live maps
 * unchanged, and cdbw_verify.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../formats/cdbw.h"
#include "../../formats/norm.h"
#include "../../formats/state.h"
#include "test.h"

static char dir[] = "/tmp/mxsync-cdbw.XXXXXX";
static const char *maps[3] = {"relay_domains", "relay_recipients", "transport"};

static const char *path_of(const char *fmt, const char *a)
{
	static char p[8][1024];
	static int i;
	char name[512];

	i = (i + 1) % 8;
	snprintf(name, sizeof(name), fmt, a);
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* capture - first line of a command's stdout */
static const char *capture(const char *cmd)
{
	static char line[1024];
	FILE *p = popen(cmd, "r");

	line[0] = '\0';
	if (p == NULL)
		return line;
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	pclose(p);
	return line;
}

/* bq - postmap -q KEY on a map of the big test */
static const char *bq(const char *key, const char *map)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "postmap -c %s/pm -q '%s' cdb:%s/big/%s",
		 dir, key, dir, map);
	return capture(cmd);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_files(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	int n = 0;

	if (dd == NULL)
		return -1;
	while ((de = readdir(dd)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dd);
	return n;
}

/* input records: unfolded text as a source would give it */
struct rec {
	const char *raw;     /* domain or address */
	const char *nexthop; /* domains only */
};

static const struct rec small_a_domains[] = {
    {"Example.COM", "smtp:[mx1.example.com]:25"},
    {"Bücher.Example", "relay:[mx1.example.com]"},
    {"relay.test", "smtp:[192.0.2.1]:2525"},
    {"ÅNGSTRÖM.se", "smtp:[mx1.example.com]"},
};
static const struct rec small_a_rcpts[] = {
    {"User@Example.COM", NULL},	      {"info@example.com", NULL},
    {"Straße@Bücher.Example", NULL},  {"@relay.test", NULL},
    {"Ärger+list@ÅNGSTRÖM.se", NULL}, {"z.last@example.com", NULL},
};
static const struct rec small_b_domains[] = {
    {"other.test", "smtp:[mx.other.test]"},
};
static const struct rec small_b_rcpts[] = {
    {"Postmaster@OTHER.test", NULL},
    {"abuse@other.test", NULL},
};

static struct state *build(const struct rec *d, size_t nd, const struct rec *r,
			   size_t nr)
{
	struct state *st = state_new();
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t i, len;

	if (st == NULL)
		return NULL;
	for (i = 0; i < nd; i++)
		if (norm_domain(d[i].raw, strlen(d[i].raw), out, sizeof(out),
				&len, &err) < 0 ||
		    state_add_domain(st, out, len, d[i].nexthop,
				     strlen(d[i].nexthop), 0, &err) < 0)
			goto fail;
	for (i = 0; i < nr; i++)
		if (norm_address(r[i].raw, strlen(r[i].raw), out, sizeof(out),
				 &len, &err) < 0 ||
		    state_add_recipient(st, out, len, 0, &err) < 0)
			goto fail;
	if (state_finish(st, NULL, &err) < 0)
		goto fail;
	return st;
fail:
	printf("# build: %s\n", err.msg);
	state_free(st);
	return NULL;
}

/* raw_of - the unfolded input whose folded form is key */
static const char *raw_of(const struct rec *r, size_t n, const char *key,
			  size_t klen, int domain)
{
	char out[NORM_BUF_SIZE];
	struct err err;
	size_t i, len;

	for (i = 0; i < n; i++) {
		int rc = domain ? norm_domain(r[i].raw, strlen(r[i].raw), out,
					      sizeof(out), &len, &err)
				: norm_address(r[i].raw, strlen(r[i].raw), out,
					       sizeof(out), &len, &err);
		if (rc == 0 && len == klen && memcmp(out, key, len) == 0)
			return r[i].raw;
	}
	return NULL;
}

/*
 * write_text_maps - the postmap source files, unfolded keys, in the
 * canonical order of the folded keys (postmap sorts nothing)
 */
static int write_text_maps(struct state *const *sts, size_t n,
			   const struct rec *const *doms, const size_t *nd,
			   const struct rec *const *rcpts, const size_t *nr)
{
	FILE *f[3];
	const char *k, *v, *raw;
	size_t s, i, klen, vlen;
	int m, bad = 0;

	for (m = 0; m < 3; m++)
		if ((f[m] = fopen(path_of("pm/%s", maps[m]), "w")) == NULL)
			return -1;
	for (s = 0; s < n; s++) {
		for (i = 0; i < state_domain_count(sts[s]); i++) {
			state_domain(sts[s], i, &k, &klen, &v, &vlen);
			if ((raw = raw_of(doms[s], nd[s], k, klen, 1)) == NULL)
				bad = 1;
			fprintf(f[0], "%s OK\n", raw ? raw : "?");
			fprintf(f[2], "%s %.*s\n", raw ? raw : "?", (int)vlen,
				v);
		}
		for (i = 0; i < state_recipient_count(sts[s]); i++) {
			state_recipient(sts[s], i, &k, &klen);
			if ((raw = raw_of(rcpts[s], nr[s], k, klen, 0)) == NULL)
				bad = 1;
			fprintf(f[1], "%s OK\n", raw ? raw : "?");
		}
	}
	for (m = 0; m < 3; m++)
		if (fclose(f[m]) != 0)
			bad = 1;
	return bad ? -1 : 0;
}

static int postmap_all(void)
{
	int m;

	for (m = 0; m < 3; m++)
		if (sh("postmap -c %s/pm cdb:%s/pm/%s", dir, dir, maps[m]) != 0)
			return -1;
	return 0;
}

static int same_as_postmap(const char *live)
{
	int m;

	for (m = 0; m < 3; m++)
		if (sh("cmp -s %s/%s.cdb %s/pm/%s.cdb", live, maps[m], dir,
		       maps[m]) != 0)
			return 0;
	return 1;
}

/* save/unchanged - byte-compare the live maps with a saved copy */
static void save(const char *live)
{
	sh("rm -rf %s/saved && mkdir %s/saved && cp %s/*.cdb %s/saved/", dir,
	   dir, live, dir);
}
static int unchanged(const char *live)
{
	int m;

	for (m = 0; m < 3; m++)
		if (sh("cmp -s %s/%s.cdb %s/saved/%s.cdb", live, maps[m], dir,
		       maps[m]) != 0)
			return 0;
	return 1;
}

/* le32 - read or (when set) write a 32-bit field of a CDB file */
static uint32_t le32(const char *path, off_t off, const uint32_t *set)
{
	unsigned char b[4] = {0, 0, 0, 0};
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return 0;
	if (set != NULL) {
		b[0] = (unsigned char)*set;
		b[1] = (unsigned char)(*set >> 8);
		b[2] = (unsigned char)(*set >> 16);
		b[3] = (unsigned char)(*set >> 24);
		if (pwrite(fd, b, 4, off) != 4)
			ok(0, "pwrite");
	} else if (pread(fd, b, 4, off) != 4) {
		ok(0, "pread");
	}
	close(fd);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* slot_with - the first hash table of one entry in two slots, its offset */
static off_t slot_with(const char *path, uint32_t *tab_r)
{
	uint32_t t, pos, n;

	for (t = 0; t < 256; t++) {
		pos = le32(path, 8 * t, NULL);
		n = le32(path, 8 * t + 4, NULL);
		if (n == 2 && (le32(path, pos + 4, NULL) != 0) !=
				  (le32(path, pos + 12, NULL) != 0)) {
			*tab_r = t;
			return le32(path, pos + 4, NULL) != 0 ? pos : pos + 8;
		}
	}
	return -1;
}

/*
 * corrupt_tests - cdbw_verify (the same check every install runs) refuses
 * a relay_recipients.cdb with one record byte or one hash table entry
 * changed, though size and record count still match
 */
static void corrupt_tests(const struct state *const *sts, const char *live)
{
	const char *rr = path_of("live/%s.cdb", "relay_recipients");
	struct err err = {""};
	uint32_t v, t = 0, h;
	off_t slot;

	sh("cp %s/saved/*.cdb %s/", dir, live);
	ok(cdbw_verify(sts, 2, live, &err) == 0, "restored maps verify: %s",
	   err.msg);

	/* a key byte of the first record (the state's first recipient) */
	v = le32(rr, 2048 + 8, NULL);
	v ^= 0x20;
	le32(rr, 2048 + 8, &v);
	ok(cdbw_verify(sts, 2, live, &err) == -1, "a changed key byte is "
						  "refused");
	has_str(err.msg, "relay_recipients.cdb: record ", "message: %s",
		err.msg);

	/* the first record's value "OK" -> "OJ" */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	v = le32(rr, 2048 + 8 + le32(rr, 2048, NULL), NULL);
	v ^= 0x100;
	le32(rr, 2048 + 8 + le32(rr, 2048, NULL), &v);
	ok(cdbw_verify(sts, 2, live, &err) == -1,
	   "a changed value byte is "
	   "refused: %s",
	   err.msg);

	/* a hash table entry's hash */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	slot = slot_with(rr, &t);
	ok(slot > 0, "found a hash table with one entry in two slots");
	h = le32(rr, slot, NULL) ^ 0x100;
	le32(rr, slot, &h);
	ok(cdbw_verify(sts, 2, live, &err) == -1, "a changed slot hash is "
						  "refused");
	has_str(err.msg, "cannot be found through hash table", "message: %s",
		err.msg);

	/* the entry moved to the other slot: probing meets the empty one */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	{
		uint32_t base = le32(rr, 8 * t, NULL);
		off_t other = slot == base ? base + 8 : base;
		uint32_t eh = le32(rr, slot, NULL),
			 ep = le32(rr, slot + 4, NULL);
		uint32_t zero = 0;

		le32(rr, other, &eh);
		le32(rr, other + 4, &ep);
		le32(rr, slot, &zero);
		le32(rr, slot + 4, &zero);
	}
	ok(cdbw_verify(sts, 2, live, &err) == -1,
	   "an entry cdb_find cannot "
	   "reach (empty slot first) is refused: %s",
	   err.msg);

	/* the entry emptied: one record is in no table */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	v = 0;
	le32(rr, slot + 4, &v);
	ok(cdbw_verify(sts, 2, live, &err) == -1, "an emptied entry is "
						  "refused");
	has_str(err.msg, "entries for", "message: %s", err.msg);

	/* the entry points at another record */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	v = 2048;
	if (le32(rr, slot + 4, NULL) == 2048)
		v = 2048 + 8 + le32(rr, 2048, NULL) + 2;
	le32(rr, slot + 4, &v);
	ok(cdbw_verify(sts, 2, live, &err) == -1,
	   "an entry pointing at "
	   "another record is refused: %s",
	   err.msg);

	/* a table of contents entry moved */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	v = le32(rr, 8 * 200, NULL) + 8;
	le32(rr, 8 * 200, &v);
	ok(cdbw_verify(sts, 2, live, &err) == -1, "a moved hash table is "
						  "refused");
	has_str(err.msg, "hash table 200 at ", "message: %s", err.msg);
	sh("cp %s/saved/*.cdb %s/", dir, live);
}

static const char *pq(const char *key, const char *map)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "postmap -c %s/pm -q '%s' cdb:%s/live/%s "
		 "2>&1; echo \"rc=$?\"",
		 dir, key, dir, map);
	{
		static char out[1024];
		FILE *p = popen(cmd, "r");
		size_t n = 0;

		out[0] = '\0';
		if (p) {
			n = fread(out, 1, sizeof(out) - 1, p);
			pclose(p);
		}
		out[n] = '\0';
		for (char *c = out; *c; c++)
			if (*c == '\n')
				*c = ' ';
		return out;
	}
}

static int gate_calls;

/* gate_no - a cdbw_install_gated gate that always refuses */
static int gate_no(void *arg, struct err *err)
{
	(void)arg;
	gate_calls++;
	return err_set(err, "gate says no");
}

static void small_tests(void)
{
	struct state *a = build(small_a_domains, 4, small_a_rcpts, 6);
	struct state *b = build(small_b_domains, 1, small_b_rcpts, 2);
	struct state *sts[2] = {a, b};
	const struct rec *doms[2] = {small_a_domains, small_b_domains};
	const struct rec *rcpts[2] = {small_a_rcpts, small_b_rcpts};
	size_t nd[2] = {4, 1}, nr[2] = {6, 2};
	char *live = strdup(path_of("live", NULL));
	struct err err = {""};
	uint64_t sz[3];
	struct stat st;
	int m, rc;

	ok(a && b, "small states built");
	if (!a || !b)
		return;
	ok(write_text_maps(sts, 2, doms, nd, rcpts, nr) == 0,
	   "text maps for postmap written");
	ok(postmap_all() == 0, "postmap cdb: built the reference maps");
	mkdir(live, 0755);
	rc = cdbw_install((const struct state *const *)sts, 2, live, CDBW_LIMIT,
			  &err);
	ok(rc == 0, "cdbw_install: %s", rc ? err.msg : "ok");
	ok(same_as_postmap(live), "small maps byte-identical to postmap cdb: "
				  "(mixed case, UTF-8, two states)");
	ok(count_files(live) == 3, "no temporary files left");
	cdbw_sizes((const struct state *const *)sts, 2, &sz[0], &sz[1], &sz[2]);
	for (m = 0; m < 3; m++)
		ok(stat(path_of("live/%s.cdb", maps[m]), &st) == 0 &&
		       (uint64_t)st.st_size == sz[m] &&
		       (st.st_mode & 0777) == 0644,
		   "%s.cdb: size %llu as cdbw_sizes says, mode 0644", maps[m],
		   (unsigned long long)sz[m]);

	/* real lookups */
	has_str(pq("User@Example.COM", "relay_recipients"), "OK rc=0",
		"postmap -q finds User@Example.COM");
	has_str(pq("info@example.com", "relay_recipients"), "OK rc=0",
		"postmap -q finds info@example.com");
	has_str(pq("@relay.test", "relay_recipients"), "OK rc=0",
		"postmap -q finds the catch-all @relay.test");
	has_str(pq("STRASSE@bücher.example", "relay_recipients"), "OK rc=0",
		"postmap -q finds the UTF-8 key (folded query)");
	has_str(pq("Straße@Bücher.Example", "relay_recipients"), "OK rc=0",
		"postmap -q finds the UTF-8 key (as written)");
	has_str(pq("postmaster@other.test", "relay_recipients"), "OK rc=0",
		"postmap -q finds a key of the second state");
	is_str(pq("nobody@example.com", "relay_recipients"), "rc=1 ",
	       "postmap -q misses an unknown user");
	has_str(pq("bücher.example", "relay_domains"), "OK rc=0",
		"relay_domains has the UTF-8 domain");
	has_str(pq("example.com", "transport"),
		"smtp:[mx1.example.com]:25 rc=0",
		"transport gives the nexthop");
	has_str(pq("other.test", "transport"), "smtp:[mx.other.test] rc=0",
		"transport of the second state");

	/* verify */
	ok(cdbw_verify((const struct state *const *)sts, 2, live, &err) == 0,
	   "cdbw_verify accepts the installed maps: %s", err.msg);
	ok(cdbw_verify((const struct state *const *)sts, 1, live, &err) == -1,
	   "cdbw_verify refuses maps of other states");
	has_str(err.msg, "relay_domains.cdb: ", "message names the map");

	/* over the limit: refused before writing, maps unchanged */
	save(live);
	{
		char want[256];
		uint64_t s1;

		cdbw_sizes((const struct state *const *)sts, 1, NULL, &s1,
			   NULL);
		rc = cdbw_install((const struct state *const *)sts, 1, live,
				  s1 - 1, &err);
		ok(rc == -1, "over-limit install refused");
		snprintf(want, sizeof(want),
			 "relay_recipients.cdb would be "
			 "%llu bytes, over the CDB format's limit of %llu",
			 (unsigned long long)s1, (unsigned long long)(s1 - 1));
		is_str(err.msg, want, "over-limit message");
	}
	ok(unchanged(live) && count_files(live) == 3,
	   "maps unchanged after the over-limit refusal");

	/* failure mid-install (write error on the second map) */
	{
		struct rlimit old, lim;
		void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);

		getrlimit(RLIMIT_FSIZE, &old);
		lim = old;
		lim.rlim_cur = 2260; /* relay_domains fits, recipients not */
		setrlimit(RLIMIT_FSIZE, &lim);
		rc = cdbw_install((const struct state *const *)sts, 1, live,
				  CDBW_LIMIT, &err);
		setrlimit(RLIMIT_FSIZE, &old);
		signal(SIGXFSZ, oldsig);
		ok(rc == -1, "install with a write error fails");
		has_str(err.msg, "relay_recipients.cdb.tmp.",
			"message names the temp file: %s", err.msg);
		ok(unchanged(live) && count_files(live) == 3,
		   "maps unchanged and no temp left after a write error");
	}

	/* a gate that refuses at the last step: nothing replaced */
	gate_calls = 0;
	rc = cdbw_install_gated((const struct state *const *)sts, 1, live,
				CDBW_LIMIT, gate_no, NULL, &err);
	ok(rc == -1 && gate_calls == 1, "a refusing gate fails the install "
					"(called once)");
	is_str(err.msg, "gate says no", "the gate's message is returned");
	ok(unchanged(live) && count_files(live) == 3,
	   "maps unchanged and no temp left after the gate refused");

	/* failure: directory missing */
	rc = cdbw_install((const struct state *const *)sts, 1,
			  path_of("nodir", NULL), CDBW_LIMIT, &err);
	ok(rc == -1 && strstr(err.msg, "No such file or directory"),
	   "missing directory: %s", err.msg);

	/* failure: unwritable directory (only meaningful without root) */
	if (geteuid() != 0) {
		chmod(live, 0555);
		rc = cdbw_install((const struct state *const *)sts, 1, live,
				  CDBW_LIMIT, &err);
		chmod(live, 0755);
		ok(rc == -1 && strstr(err.msg, "Permission denied"),
		   "unwritable directory: %s", err.msg);
		ok(unchanged(live), "maps unchanged");
	}

	/*
	 * failure at a rename: the target is a directory.  The renames go
	 * transport, relay_recipients, relay_domains: failing at the first
	 * replaces nothing, failing at the last has replaced the other two.
	 */
	{
		const char *d2 = path_of("live2", NULL);

		mkdir(d2, 0755);
		mkdir(path_of("live2/%s.cdb", "transport"), 0755);
		rc = cdbw_install((const struct state *const *)sts, 2, d2,
				  CDBW_LIMIT, &err);
		ok(rc == -1 && strstr(err.msg, "rename("),
		   "rename failure reported: %s", err.msg);
		ok(count_files(d2) == 1, "no temp files left after a failed "
					 "first rename, nothing replaced");
		rmdir(path_of("live2/%s.cdb", "transport"));
		mkdir(path_of("live2/%s.cdb", "relay_domains"), 0755);
		rc = cdbw_install((const struct state *const *)sts, 2, d2,
				  CDBW_LIMIT, &err);
		ok(rc == -1 && strstr(err.msg, "relay_domains"),
		   "a failed last rename is relay_domains: %s", err.msg);
		ok(count_files(d2) == 3,
		   "transport and relay_recipients were "
		   "renamed before relay_domains, no temp file left");
		sh("rm -rf %s", d2);
	}

	/* verify refuses corrupt and missing maps */
	sh("cp %s/saved/*.cdb %s/", dir, live);
	if (truncate(path_of("live/%s.cdb", "transport"), 100) < 0)
		ok(0, "truncate");
	ok(cdbw_verify((const struct state *const *)sts, 2, live, &err) == -1,
	   "verify refuses a truncated map: %s", err.msg);
	unlink(path_of("live/%s.cdb", "transport"));
	ok(cdbw_verify((const struct state *const *)sts, 2, live, &err) == -1 &&
	       strstr(err.msg, "No such file"),
	   "verify refuses a missing map");
	corrupt_tests((const struct state *const *)sts, live);

	/* empty: no states gives valid empty maps, equal to postmap's */
	rc = cdbw_install(NULL, 0, live, CDBW_LIMIT, &err);
	ok(rc == 0 && cdbw_verify(NULL, 0, live, &err) == 0,
	   "empty maps installed and verified");
	for (m = 0; m < 3; m++)
		sh(": > %s/pm/%s", dir, maps[m]);
	ok(postmap_all() == 0 && same_as_postmap(live),
	   "empty maps byte-identical to postmap's");

	state_free(a);
	state_free(b);
	free(live);
}

/*
 * unfold - what a source might hold for a generated folded key:
 * "user..." -> "User...", "@dom" -> "@Dom", "jürgen" -> "JÜRGEN",
 * ".example" -> ".EXAMPLE"
 */
static const char *unfold(const char *k, size_t klen, char *out)
{
	size_t i = 0, o = 0;

	while (i < klen) {
		if (klen - i >= 4 && memcmp(k + i, "user", 4) == 0) {
			memcpy(out + o, "User", 4);
			i += 4, o += 4;
		} else if (klen - i >= 4 && memcmp(k + i, "@dom", 4) == 0) {
			memcpy(out + o, "@Dom", 4);
			i += 4, o += 4;
		} else if (klen - i >= 7 &&
			   memcmp(k + i, "j\xc3\xbcrgen", 7) == 0) {
			memcpy(out + o, "J\xc3\x9cRGEN", 7);
			i += 7, o += 7;
		} else if (klen - i == 8 && memcmp(k + i, ".example", 8) == 0) {
			memcpy(out + o, ".EXAMPLE", 8);
			i += 8, o += 8;
		} else {
			out[o++] = k[i++];
		}
	}
	out[o] = '\0';
	return out;
}

/* one million recipients in 10,000 domains, against postmap */
static void big_tests(void)
{
	struct state *st = state_new();
	struct err err = {""};
	char live[1024], key[128], nh[64];
	FILE *f[3];
	double t0, t;
	int m, n, rc, bad = 0;
	long i;

	/* path_of's buffers are reused: keep a copy */
	snprintf(live, sizeof(live), "%s", path_of("big", NULL));
	for (m = 0; m < 3; m++)
		f[m] = fopen(path_of("pm/%s", maps[m]), "w");
	if (!st || !f[0] || !f[1] || !f[2]) {
		ok(0, "big: setup");
		return;
	}
	for (i = 0; i < 10000; i++) {
		n = snprintf(key, sizeof(key), "dom%05ld.example", i);
		snprintf(nh, sizeof(nh), "smtp:[mx%ld.example.net]:25", i % 7);
		bad |= state_add_domain(st, key, (size_t)n, nh, strlen(nh), 0,
					&err);
		fprintf(f[0], "Dom%05ld.Example OK\n", i);
		fprintf(f[2], "DOM%05ld.example %s\n", i, nh);
	}
	for (i = 0; i < 1000000; i++) {
		/* every 1000th is a catch-all, some keys are UTF-8 */
		if (i % 1000 == 999)
			n = snprintf(key, sizeof(key), "@dom%05ld.example",
				     i / 1000);
		else if (i % 97 == 0)
			n = snprintf(key, sizeof(key),
				     "user%07ld.jürgen@dom%05ld.example", i,
				     i % 10000);
		else
			n = snprintf(key, sizeof(key),
				     "user%07ld@dom%05ld."
				     "example",
				     i, i % 10000);
		bad |= state_add_recipient(st, key, (size_t)n, 0, &err);
	}
	for (m = 0; m < 3; m++)
		bad |= fclose(f[m]) != 0;
	bad |= state_finish(st, NULL, &err);
	ok(!bad, "big state built: %s", bad ? err.msg : "ok");
	if (bad)
		goto out;
	/* the recipients' source: unfolded keys in the state's order */
	{
		FILE *r = fopen(path_of("pm/%s", maps[1]), "w");
		char raw[256];
		const char *k;
		size_t klen, j;

		for (j = 0; r && j < state_recipient_count(st); j++) {
			state_recipient(st, j, &k, &klen);
			fprintf(r, "%s OK\n", unfold(k, klen, raw));
		}
		bad = r == NULL || fclose(r) != 0;
	}
	printf("# %zu recipients, %zu domains\n", state_recipient_count(st),
	       state_domain_count(st));
	ok(!bad && state_recipient_count(st) == 1000000 &&
	       state_domain_count(st) == 10000,
	   "1,000,000 recipients, 10,000 "
	   "domains");
	mkdir(live, 0755);
	t0 = now();
	rc = cdbw_install((const struct state *const *)&st, 1, live, CDBW_LIMIT,
			  &err);
	t = now() - t0;
	ok(rc == 0, "big install: %s", rc ? err.msg : "ok");
	printf("# built, validated and installed 3 maps in %.3f s\n", t);
	t0 = now();
	ok(postmap_all() == 0, "postmap cdb: of 1,000,000 recipients");
	printf("# postmap took %.3f s\n", now() - t0);
	ok(same_as_postmap(live), "1,000,000-recipient maps byte-identical to "
				  "postmap cdb:");
	t0 = now();
	ok(cdbw_verify((const struct state *const *)&st, 1, live, &err) == 0,
	   "cdbw_verify of the big maps: %s", err.msg);
	printf("# verify took %.3f s\n", now() - t0);
	/*
	 * A large map is checked in two halves on two threads: a fault in
	 * the second half of the records, or in a hash table of the second
	 * half, is found and named as well.
	 */
	{
		char rr[1100];
		const char *k;
		size_t klen;
		uint32_t dend, v, tpos, nslots, j, tb;
		char want[64];
		off_t at;

		snprintf(rr, sizeof(rr), "%s/relay_recipients.cdb", live);
		dend = le32(rr, 0, NULL);

		state_recipient(st, state_recipient_count(st) - 1, &k, &klen);
		at = (off_t)dend - 2 - (off_t)klen; /* its first key octet */
		v = le32(rr, at, NULL) ^ 0x01;
		le32(rr, at, &v);
		ok(cdbw_verify((const struct state *const *)&st, 1, live,
			       &err) == -1,
		   "a changed key octet of the last "
		   "record is refused");
		has_str(err.msg, "record user0999998",
			"the message names that "
			"record: %s",
			err.msg);
		v ^= 0x01;
		le32(rr, at, &v);
		/* the last non-empty table (these keys leave some empty) */
		for (tb = 255; tb > 128 && le32(rr, 8 * tb + 4, NULL) == 0;
		     tb--)
			;
		tpos = le32(rr, 8 * tb, NULL);
		nslots = le32(rr, 8 * tb + 4, NULL);
		for (j = 0; j < nslots && le32(rr, tpos + 8 * j + 4, NULL) == 0;
		     j++)
			;
		v = le32(rr, tpos + 8 * j, NULL) ^ 0x100;
		le32(rr, tpos + 8 * j, &v);
		snprintf(want, sizeof(want),
			 "cannot be found through hash "
			 "table %u",
			 tb);
		ok(tb > 128 && cdbw_verify((const struct state *const *)&st, 1,
					   live, &err) == -1,
		   "a changed slot hash in table %u is refused", tb);
		has_str(err.msg, want, "message: %s", err.msg);
		v ^= 0x100;
		le32(rr, tpos + 8 * j, &v);
		ok(cdbw_verify((const struct state *const *)&st, 1, live,
			       &err) == 0,
		   "restored, the big maps verify: %s", err.msg);
	}
	is_str(bq("User0000001@DOM00001.example", "relay_recipients"), "OK",
	       "postmap -q finds a sampled recipient");
	is_str(bq("user0000097.JÜRGEN@dom00097.example", "relay_recipients"),
	       "OK", "postmap -q finds a sampled UTF-8 recipient");
	is_str(bq("@dom00999.example", "relay_recipients"), "OK",
	       "postmap -q finds a sampled catch-all");
	is_str(bq("User0999998@Dom09998.example", "relay_recipients"), "OK",
	       "postmap -q finds the last user");
	is_str(bq("user0000999@dom00999.example", "relay_recipients"), "",
	       "postmap -q misses a key that is not there");
	is_str(bq("dom09999.example", "transport"), "smtp:[mx3.example.net]:25",
	       "postmap -q transport sample");
	is_str(bq("DOM05000.EXAMPLE", "relay_domains"), "OK",
	       "postmap -q relay_domains sample");
out:
	state_free(st);
}

int main(void)
{
	int m;

	if (mkdtemp(dir) == NULL || chdir(dir) < 0) {
		ok(0, "mkdtemp");
		return test_done();
	}
	mkdir(path_of("pm", NULL), 0755);
	if (sh("cp /usr/share/postfix/main.cf.debian %s/pm/main.cf", dir)) {
		ok(0, "postfix main.cf template");
		return test_done();
	}
	small_tests();
	big_tests();
	if (test_failed == 0)
		sh("rm -rf %s", dir);
	else
		printf("# left %s for inspection\n", dir);
	(void)m;
	return test_done();
}
