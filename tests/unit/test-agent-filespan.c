/*
 * test-agent-filespan - the file source's cache parses only the changed span
 * of a changed file (agent/source_file_span.c), and what it keeps is what a
 * full parse gives
 *
 * One file source (a domains file, a Postfix map, a plain list, accept_all)
 * is exported again and again as the daemon does (ctx->whole) while the
 * files are edited at random: lines appended, inserted, deleted and
 * replaced, keys turned into continuation lines and back, comments and
 * blank lines, the same address on several lines and in other case,
 * unlisted domains, bare local names, the last newline taken away, large
 * truncations and whole new files, a cut line.  After each edit a new
 * source object, which has nothing cached, exports the same files: the two
 * must give the same state, the same counts, the same message.  The lines
 * the cached source parsed are counted: a small edit parses a few lines.
 * A map of 12 MB, which is compared with its previous bytes in pieces on
 * every core (source_file_read.c), is edited at and beside the pieces'
 * edges, at its start and end, cut short and grown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/source.h"
#include "../../formats/conf.h"
#include "../../formats/state.h"
#include "test.h"

#define FS_MAXL 20000

/* fs_file - a file as lines without their newlines */
struct fs_file {
	char *path;
	char *line[FS_MAXL];
	size_t n;
	int nonl; /* the last line has no newline */
	int list; /* a plain list, not a map */
};

static uint64_t fs_seed = 0x9e3779b97f4a7c15ull;

static unsigned fs_rand(unsigned n)
{
	fs_seed ^= fs_seed << 13;
	fs_seed ^= fs_seed >> 7;
	fs_seed ^= fs_seed << 17;
	return n ? (unsigned)(fs_seed % n) : 0;
}

static char *fs_fmt(const char *fmt, unsigned a)
{
	char b[256];

	snprintf(b, sizeof(b), fmt, a);
	return strdup(b);
}

/* fs_gen - a random line of a map or a list */
static char *fs_gen(const struct fs_file *f)
{
	unsigned r = fs_rand(100), id = fs_rand(f->list ? 500 : 4000);

	if (f->list) {
		if (r < 70)
			return fs_fmt("l%u@example.net", id);
		if (r < 78)
			return fs_fmt("  L%u@Example.NET  ", id);
		if (r < 84)
			return fs_fmt("l%u@off.test", id % 20);
		if (r < 90)
			return fs_fmt("# l%u@example.net", id);
		if (r < 95)
			return strdup("");
		return fs_fmt("u%u@example.com", id);
	}
	if (r < 60)
		return fs_fmt("u%u@example.com\tbox/", id);
	if (r < 66)
		return fs_fmt("U%u@EXAMPLE.com   other/", id);
	if (r < 71)
		return fs_fmt("x%u@off.test\tbox/", id % 50);
	if (r < 74)
		return strdup("@example.net\tcatch-all");
	if (r < 78)
		return fs_fmt("local%u\tsomeone@example.com", id);
	if (r < 84)
		return fs_fmt("\tu%u@example.com, continued", id);
	if (r < 88)
		return fs_fmt("  more%u", id);
	if (r < 92)
		return fs_fmt("# u%u@example.com box/", id);
	if (r < 94)
		return fs_fmt("   #u%u@example.com", id);
	if (r < 97)
		return strdup("");
	return strdup("   ");
}

static int fs_write(const struct fs_file *f, int rename_it)
{
	char tmp[4200];
	FILE *o;
	size_t i;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	if ((o = fopen(rename_it ? tmp : f->path, "w")) == NULL)
		return -1;
	for (i = 0; i < f->n; i++)
		fprintf(o, "%s%s", f->line[i],
			i + 1 < f->n || !f->nonl ? "\n" : "");
	if (fclose(o) != 0)
		return -1;
	return rename_it ? rename(tmp, f->path) : 0;
}

static void fs_insert(struct fs_file *f, size_t at, char *l)
{
	if (f->n >= FS_MAXL) {
		free(l);
		return;
	}
	memmove(&f->line[at + 1], &f->line[at], (f->n - at) * sizeof(char *));
	f->line[at] = l;
	f->n++;
}

static void fs_delete(struct fs_file *f, size_t at)
{
	free(f->line[at]);
	memmove(&f->line[at], &f->line[at + 1],
		(f->n - at - 1) * sizeof(char *));
	f->n--;
}

/* fs_toggle - add or take away a leading c of line at */
static void fs_toggle(struct fs_file *f, size_t at, char c)
{
	char *l = f->line[at], *n;

	if (l[0] == c) {
		memmove(l, l + 1, strlen(l));
		return;
	}
	if ((n = malloc(strlen(l) + 2)) == NULL)
		return;
	n[0] = c;
	strcpy(n + 1, l);
	free(l);
	f->line[at] = n;
}

static void fs_fill(struct fs_file *f, size_t n)
{
	while (f->n > 0)
		fs_delete(f, f->n - 1);
	f->nonl = 0;
	while (f->n < n)
		fs_insert(f, f->n, fs_gen(f));
}

/*
 * fs_wait_old - wait until path's last change is over a second old: a
 * domains file changed within the second is read again at each export,
 * and all the units with it (source_file_cache.c)
 */
static int fs_wait_old(const char *path)
{
	struct timespec now, nap = {0, 50000000};
	struct stat sb;
	int i;

	for (i = 0; i < 100; i++) {
		if (stat(path, &sb) < 0 ||
		    clock_gettime(CLOCK_REALTIME, &now) < 0)
			return -1;
		if ((now.tv_sec - sb.st_ctim.tv_sec) * 1000000000LL +
			(now.tv_nsec - sb.st_ctim.tv_nsec) >
		    1100000000LL)
			return 0;
		nanosleep(&nap, NULL);
	}
	return -1;
}

/* the outcome of one export */
struct fs_out {
	int rc;
	char msg[ERR_LEN];
	char *text;
	size_t len, recipients, unlisted, lines;
	char example[SOURCE_EXAMPLE_MAX];
};

static struct source *fs_source(const char *conf)
{
	struct err err;
	struct conf_file *cf =
	    conf_read_buf("test.conf", conf, strlen(conf), &err);
	struct source *src;

	if (cf == NULL) {
		printf("# conf: %s\n", err.msg);
		return NULL;
	}
	src = source_new(cf, &cf->sections[0], 0, &err);
	if (src == NULL)
		printf("# source_new: %s\n", err.msg);
	conf_free(cf);
	return src;
}

/* fs_export - an export of src as the daemon's only source */
static void fs_export(struct source *src, struct fs_out *o)
{
	struct source_export_ctx ctx;
	struct err err;

	memset(o, 0, sizeof(*o));
	memset(&ctx, 0, sizeof(ctx));
	ctx.nexthop = "smtp:[mx1.example.com]:25";
	ctx.inotify_fd = -1;
	ctx.whole = 1;
	ctx.st = state_new();
	src->lines_parsed = 0;
	o->rc = source_export(src, &ctx, &err);
	o->lines = src->lines_parsed;
	if (o->rc < 0) {
		snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
	} else if (ctx.finished == NULL) {
		o->rc = 99;
	} else {
		o->text = state_text(ctx.finished, &o->len);
		o->recipients = ctx.recipients;
		o->unlisted = src->unlisted;
		snprintf(o->example, sizeof(o->example), "%s",
			 src->unlisted_example);
	}
	state_free(ctx.finished);
	state_free(ctx.st);
}

/* fs_same - the cached source's export is the fresh one's; 1 when so */
static int fs_same(const struct fs_out *a, const struct fs_out *b)
{
	if (a->rc != b->rc)
		return 0;
	if (a->rc < 0)
		return strcmp(a->msg, b->msg) == 0;
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0 &&
	       a->recipients == b->recipients && a->unlisted == b->unlisted &&
	       strcmp(a->example, b->example) == 0;
}

/* fs_both - an export of the cached source into a, of a new one into b */
static void fs_both(struct source *inc, const char *conf, struct fs_out *a,
		    struct fs_out *b)
{
	struct source *fresh = fs_source(conf);

	fs_export(inc, a);
	memset(b, 0, sizeof(*b));
	b->rc = 98; /* no source: never the same as a */
	if (fresh != NULL)
		fs_export(fresh, b);
	source_free(fresh);
}

static void fs_show(const char *what, const struct fs_out *o)
{
	printf("#   %s: rc %d, %zu octets, %zu recipients, %zu unlisted (%s), "
	       "%zu lines parsed%s%s\n",
	       what, o->rc, o->len, o->recipients, o->unlisted, o->example,
	       o->lines, o->rc < 0 ? ": " : "", o->msg);
}

static void fs_free_out(struct fs_out *o)
{
	free(o->text);
	o->text = NULL;
}

/* the large map of big_tests: its text */
static char *bm;
static size_t bm_len;

/* bm_write - the large map to path, whole (in place) */
static int bm_write(const char *path)
{
	FILE *o = fopen(path, "w");

	if (o == NULL)
		return -1;
	if (fwrite(bm, 1, bm_len, o) != bm_len) {
		fclose(o);
		return -1;
	}
	return fclose(o) == 0 ? 0 : -1;
}

/* bm_digit - the first digit at or after at turned into another */
static size_t bm_digit(size_t at)
{
	while (at < bm_len && (bm[at] < '0' || bm[at] > '9'))
		at++;
	if (at < bm_len)
		bm[at] = bm[at] == '9' ? '0' : (char)(bm[at] + 1);
	return at;
}

/* bm_line - where the line holding at begins (at itself after a '\n') */
static size_t bm_line(size_t at)
{
	while (at > 0 && bm[at - 1] != '\n')
		at--;
	return at;
}

/*
 * big_tests - edits of a 12 MB map, each exported by the cached source
 * and by a new one: the same state each time, and a change of one line
 * parses a few lines
 */
static void big_tests(const char *dir)
{
	char conf[10000], path[1024], dpath[1024];
	const size_t piece = (size_t)4 << 20; /* SOURCE_FILE_PIECE */
	struct source *inc;
	struct fs_out a, b;
	size_t i, at, cap = (size_t)14 << 20;
	unsigned k, bad = 0, many = 0;
	FILE *d;
	/* where each edit is made: edges of the pieces, the ends */
	const char *what[] = {"a digit at a piece's first octet",
			      "a digit in a piece's last octets",
			      "a digit in the first line",
			      "a digit in the last line",
			      "a line appended",
			      "a line inserted at a piece's edge",
			      "cut short to 9 MB",
			      "cut short to 5 MB (below two pieces)",
			      "grown back to 12 MB"};

	snprintf(path, sizeof(path), "%s/bigmap", dir);
	snprintf(dpath, sizeof(dpath), "%s/bigdomains", dir);
	if ((d = fopen(dpath, "w")) == NULL || (bm = malloc(cap)) == NULL)
		return;
	fprintf(d, "example.com\n");
	fclose(d);
	for (i = 0; bm_len < (size_t)12 << 20; i++)
		bm_len +=
		    (size_t)snprintf(bm + bm_len, cap - bm_len,
				     "u%07zu@example.com\tbox%zu/\n", i, i);
	snprintf(conf, sizeof(conf),
		 "[source big]\ntype = file\ndomains = %s\n"
		 "recipients = %s\n",
		 dpath, path);
	ok(fs_wait_old(dpath) == 0 && bm_write(path) == 0,
	   "a map of %zu octets", bm_len);
	inc = fs_source(conf);
	if (inc == NULL)
		goto out;
	fs_export(inc, &a);
	ok(a.rc == 0, "it exports (%zu recipients)", a.recipients);
	fs_free_out(&a);
	for (k = 0; k < sizeof(what) / sizeof(what[0]); k++) {
		switch (k) {
		case 0:
			bm_digit(piece);
			break;
		case 1:
			/* the digit nearest before the edge */
			for (at = piece - 1; bm[at] < '0' || bm[at] > '9';)
				at--;
			bm_digit(at);
			break;
		case 2:
			bm_digit(0);
			break;
		case 3:
			bm_digit(bm_line(bm_len - 1));
			break;
		case 4:
			bm_len += (size_t)snprintf(bm + bm_len, cap - bm_len,
						   "added@example.com\tbox/\n");
			break;
		case 5:
			at = bm_line(2 * piece);
			i = strlen("edge@example.com\tbox/\n");
			memmove(bm + at + i, bm + at, bm_len - at);
			memcpy(bm + at, "edge@example.com\tbox/\n", i);
			bm_len += i;
			break;
		case 6:
			bm_len = bm_line((size_t)9 << 20);
			break;
		case 7:
			bm_len = bm_line((size_t)5 << 20);
			break;
		default:
			for (i = 0; bm_len < (size_t)12 << 20; i++)
				bm_len += (size_t)snprintf(
				    bm + bm_len, cap - bm_len,
				    "v%07zu@example.com\tbox/\n", i);
			break;
		}
		if (bm_write(path) < 0) {
			ok(0, "%s: write", what[k]);
			break;
		}
		fs_both(inc, conf, &a, &b);
		if (!fs_same(&a, &b) || a.rc != 0) {
			if (bad++ < 3) {
				printf("# %s differs:\n", what[k]);
				fs_show("cached", &a);
				fs_show("fresh", &b);
			}
		}
		/* one line changed: a few parsed */
		if (k < 6 && a.lines > 40 && many++ < 3)
			printf("# %s: %zu lines parsed\n", what[k], a.lines);
		fs_free_out(&a);
		fs_free_out(&b);
	}
	ok(bad == 0,
	   "%zu edits of the large map at the edges of its pieces, its ends, "
	   "cut short and grown: the cached export is the fresh one each "
	   "time",
	   sizeof(what) / sizeof(what[0]));
	ok(many == 0, "... a change of one line of it parses a few lines");
	source_free(inc);
out:
	unlink(path);
	unlink(dpath);
	free(bm);
	bm = NULL;
}

int main(void)
{
	char dir[] = "/tmp/test-filespan.XXXXXX", conf[8192], path[4200];
	struct fs_file map, list;
	struct source *inc = NULL;
	struct fs_out a, b;
	unsigned i, bad = 0, big = 0, small = 0, errors = 0, steps = 600;
	size_t lines_inc = 0, lines_full = 0;
	FILE *d;
	int prev_failed = 1;

	memset(&map, 0, sizeof(map));
	memset(&list, 0, sizeof(list));
	/* another sequence of edits: FILESPAN_SEED=N */
	if (getenv("FILESPAN_SEED") != NULL)
		fs_seed += strtoull(getenv("FILESPAN_SEED"), NULL, 10) *
			   0x2545f4914f6cdd1dull;
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/domains", dir);
	if ((d = fopen(path, "w")) == NULL)
		return 1;
	fprintf(d, "example.com\nexample.net\nexample.org\n");
	fclose(d);
	ok(fs_wait_old(path) == 0, "the domains file is over a second old");
	snprintf(path, sizeof(path), "%s/virtual", dir);
	map.path = strdup(path);
	snprintf(path, sizeof(path), "%s/list", dir);
	list.path = strdup(path);
	list.list = 1;
	snprintf(conf, sizeof(conf),
		 "[source files]\ntype = file\ndomains = %s/domains\n"
		 "recipients = %s\nlists = %s\naccept_all = example.org\n",
		 dir, map.path, list.path);
	fs_fill(&map, 3000);
	fs_fill(&list, 300);
	ok(fs_write(&map, 0) == 0 && fs_write(&list, 0) == 0,
	   "the files are written");
	inc = fs_source(conf);
	ok(inc != NULL, "the cached source is configured");
	if (inc == NULL)
		return test_done();

	for (i = 0; i < steps; i++) {
		struct fs_file *f = fs_rand(5) == 0 ? &list : &map;
		unsigned op = fs_rand(100);
		size_t at = f->n ? fs_rand((unsigned)f->n) : 0;
		int cut = 0, large = 0;

		if (op < 15 || f->n == 0) {
			fs_insert(f, f->n, fs_gen(f));
		} else if (op < 30) {
			fs_insert(f, at, fs_gen(f));
		} else if (op < 45) {
			fs_delete(f, at);
		} else if (op < 57) {
			free(f->line[at]);
			f->line[at] = fs_gen(f);
		} else if (op < 67) {
			fs_toggle(f, at, '\t');
		} else if (op < 74) {
			fs_toggle(f, at, '#');
		} else if (op < 84) {
			/* the same lines again elsewhere: duplicates */
			char *copy[5];
			size_t k, len = 1 + fs_rand(4),
				  to = fs_rand((unsigned)f->n + 1);

			for (k = 0; k < len && at + k < f->n; k++)
				copy[k] = strdup(f->line[at + k]);
			len = k;
			for (k = 0; k < len; k++)
				fs_insert(f, to + k, copy[k]);
		} else if (op < 90) {
			f->nonl = !f->nonl;
		} else if (op < 93) {
			/* a large truncation */
			while (f->n > 1 && fs_rand(3) != 0)
				fs_delete(f, f->n - 1 -
						 fs_rand((unsigned)f->n / 2));
			large = 1;
		} else if (op < 95) {
			fs_fill(f, f == &map ? 3000 : 300);
			large = 1;
		} else if (op < 97 && !f->list) {
			/* a key without a value: both refuse the file */
			fs_insert(f, at, fs_fmt("cut%u@example.com", at));
			cut = 1;
		} else {
			char *l = f->line[at];
			size_t k;

			/* the same size, another text */
			for (k = 0; l[k] != '\0'; k++)
				if (l[k] >= '0' && l[k] <= '8') {
					l[k]++;
					break;
				}
		}
		if (fs_write(f, fs_rand(3) == 0) < 0) {
			ok(0, "step %u: write", i);
			break;
		}
		fs_both(inc, conf, &a, &b);
		lines_inc += a.lines;
		lines_full += b.lines;
		if (!fs_same(&a, &b)) {
			if (bad++ < 3) {
				printf("# step %u (op %u on %s, line %zu) "
				       "differs:\n",
				       i, op, f->list ? "list" : "map", at);
				fs_show("cached", &a);
				fs_show("fresh", &b);
			}
		}
		if (a.rc < 0)
			errors++;
		/* a small edit after a good export: a few lines */
		if (!large && !cut && !prev_failed && a.rc == 0) {
			if (a.lines > 40) {
				if (big++ < 3)
					printf("# step %u (op %u): %zu lines "
					       "parsed of %zu\n",
					       i, op, a.lines, b.lines);
			} else {
				small++;
			}
		}
		/* after a cut line is taken out, two edits are pending */
		prev_failed = a.rc < 0 || cut;
		fs_free_out(&a);
		fs_free_out(&b);
		if (cut) {
			size_t k;

			for (k = 0; k < map.n; k++)
				if (strncmp(map.line[k], "cut", 3) == 0)
					fs_delete(&map, k--);
			fs_write(&map, 0);
		}
	}
	ok(bad == 0,
	   "%u random edits: the cached export is the fresh one each time "
	   "(%u differ)",
	   steps, bad);
	ok(errors > 0, "... cut lines were refused by both (%u)", errors);
	ok(big == 0 && small > steps / 2,
	   "... a small edit parses at most 40 lines (%u did, %u more)", small,
	   big);
	ok(lines_inc * 10 < lines_full,
	   "... the cached source parsed %zu lines, the fresh ones %zu",
	   lines_inc, lines_full);

	/* an append to the map: its one line */
	map.nonl = 0;
	fs_write(&map, 0);
	fs_export(inc, &a);
	fs_free_out(&a);
	fs_insert(&map, map.n, strdup("appended@example.com\tbox/"));
	fs_write(&map, 0);
	fs_export(inc, &a);
	ok(a.rc == 0 && a.lines <= 2, "an append parses %zu lines", a.lines);
	fs_free_out(&a);

	/*
	 * an address of both files taken from the larger one stays (read
	 * whole by a new source, so that it is in the map's copied records,
	 * and its removal a pending change)
	 */
	fs_insert(&map, 0, strdup("shared@example.net\tbox/"));
	fs_insert(&list, 0, strdup("shared@example.net"));
	fs_write(&map, 0);
	fs_write(&list, 0);
	source_free(inc);
	inc = fs_source(conf);
	fs_export(inc, &a);
	fs_free_out(&a);
	fs_delete(&map, 0);
	fs_write(&map, 0);
	fs_both(inc, conf, &a, &b);
	ok(a.rc == 0 && fs_same(&a, &b) &&
	       strstr(a.text, "R shared@example.net\n") != NULL,
	   "an address the list still has stays when the map loses it");
	fs_free_out(&a);
	fs_free_out(&b);

	/*
	 * A continuation line is part of the logical line before it: taken
	 * away, it leaves a key without a value there, which both refuse
	 */
	fs_insert(&map, map.n, strdup("valued@example.com"));
	fs_insert(&map, map.n, strdup("\tits value"));
	map.nonl = 0;
	fs_write(&map, 0);
	fs_export(inc, &a);
	ok(a.rc == 0, "a key whose value is on a continuation line");
	fs_free_out(&a);
	fs_delete(&map, map.n - 1);
	fs_write(&map, 0);
	fs_both(inc, conf, &a, &b);
	ok(a.rc == SOURCE_BAD && fs_same(&a, &b),
	   "... the continuation taken away: refused as a full parse "
	   "refuses it");
	has_str(a.msg, "key without a value", "... %s", a.msg);
	fs_free_out(&a);
	fs_free_out(&b);
	fs_delete(&map, map.n - 1);
	fs_write(&map, 0);
	fs_export(inc, &a);
	ok(a.rc == 0, "... the key taken away too: the files export again");
	fs_free_out(&a);

	/* unlisted_domains = refuse: the full parse words the refusal */
	source_free(inc);
	snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf),
		 "unlisted_domains = refuse\n");
	while (map.n > 0)
		fs_delete(&map, map.n - 1);
	while (map.n < 2000)
		fs_insert(&map, map.n, fs_fmt("u%u@example.com\tbox/", map.n));
	while (list.n > 1)
		fs_delete(&list, list.n - 1);
	free(list.line[0]);
	list.line[0] = strdup("l@example.net");
	fs_write(&map, 0);
	fs_write(&list, 0);
	inc = fs_source(conf);
	fs_export(inc, &a);
	ok(inc != NULL && a.rc == 0, "refuse: the files export");
	fs_free_out(&a);
	fs_insert(&map, map.n / 2, strdup("y@off.test\tbox/"));
	fs_write(&map, 0);
	fs_both(inc, conf, &a, &b);
	ok(a.rc == SOURCE_BAD && fs_same(&a, &b),
	   "refuse: an unlisted line added is refused as a full parse "
	   "refuses it");
	has_str(a.msg, "off.test", "... naming the domain");
	fs_free_out(&a);
	fs_free_out(&b);

	source_free(inc);
	big_tests(dir);
	while (map.n > 0)
		fs_delete(&map, map.n - 1);
	while (list.n > 0)
		fs_delete(&list, list.n - 1);
	unlink(map.path);
	unlink(list.path);
	snprintf(path, sizeof(path), "%s/domains", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/virtual.tmp", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/list.tmp", dir);
	unlink(path);
	rmdir(dir);
	free(map.path);
	free(list.path);
	return test_done();
}
