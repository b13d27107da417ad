/*
 * source_file_cache - the records of a file source kept between exports
 *
 * Used by source_file.c for a whole export; the structs are in
 * source_file_priv.h, the pending edits and the merge in
 * source_file_pend.c.  It never prints; a failure leaves the message in the
 * caller's struct err and drops the whole cache (below).
 *
 * The cache of a whole export (the export's only source, source.h): what
 * each file was when it was read, and what it yielded.  Every recipients or
 * lists file, and accept_all, is a unit: a finished state of all domains and
 * the unit's recipients (those of an unlisted domain dropped and counted),
 * with the changes made since it was copied as pending edits of it.  The
 * export is the union of the units (source_file_cache_merge): the largest
 * unit's state with its pending edits and the others' records, sharing
 * that state's records instead of copying them; the pending edits are
 * copied into their unit only when they are many
 * (source_file_cache_settle).  A changed file is read whole and
 * compared with the bytes its unit was parsed from; what changed is parsed
 * alone where that is safe (source_file_span.c), else the file is parsed
 * whole into a new unit.
 *
 * What is trusted: a file whose dev, inode, size, mtime and ctime are what
 * they were at its last read is not read again, but only when at that read
 * both times were SOURCE_FILE_CACHE_TRUST_NS or more in the past.  A write
 * stamps the coarse clock of the kernel, so a file rewritten in place
 * within the tick of the read, with the same size, would look the same: a
 * file read within a second of its last change is read again at the next
 * export, until it has been read once when it was older.  ctime cannot be set
 * by a writer (utimensat sets it to now), so "touch -d" or "rsync -t" do not
 * hide a change; a clock stepped back by more than a second could, and so could
 * a network file system whose server's clock runs more than a second
 * behind ours (one ahead only makes files look recent: read again).  Any
 * failure drops the whole cache: the next export reads everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "../formats/norm.h"
#include "../formats/textmap.h"
#include "source.h"
#include "source_file_priv.h"

#define SOURCE_FILE_CACHE_TRUST_NS 1000000000LL

static void source_file_cache_unit_clear(struct source_file_cache_unit *u)
{
	source_file_cache_pend_clear(u);
	state_free(u->set);
	buf_free(&u->gone);
	source_file_span_clear(u);
	memset(u, 0, sizeof(*u));
}

/*
 * source_file_cache_clear - forget every file: the next export reads them
 * all
 */
void source_file_cache_clear(struct source_file_conf *fc)
{
	struct source_file_cache *c = &fc->cache;
	size_t i;

	for (i = 0; c->units != NULL && i < c->nunits; i++)
		source_file_cache_unit_clear(&c->units[i]);
	free(c->units);
	free(c->seen);
	state_free(c->dom);
	memset(c, 0, sizeof(*c));
}

/* source_file_cache_same - 1 when two stats describe the same unchanged file */
int source_file_cache_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* source_file_cache_ns - a time stamp in nanoseconds */
static long long source_file_cache_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* source_file_cache_old_enough - 1 when sb's mtime and ctime are
 * SOURCE_FILE_CACHE_TRUST_NS old */
int source_file_cache_old_enough(const struct stat *sb)
{
	struct timespec now;
	long long t = source_file_cache_ns(&sb->st_mtim),
		  c = source_file_cache_ns(&sb->st_ctim);

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return 0;
	return source_file_cache_ns(&now) - (t > c ? t : c) >=
	       SOURCE_FILE_CACHE_TRUST_NS;
}

/* source_file_cache_index - the position of path (a pointer of the lists) in
 * seen */
static size_t source_file_cache_index(const struct source_file_conf *fc,
				      const char *path)
{
	const char *const *lists[] = {
	    (const char *const *)fc->dfiles, (const char *const *)fc->tfiles,
	    (const char *const *)fc->rfiles, (const char *const *)fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, k, at = 0;

	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++, at++)
			if (lists[k][i] == path)
				return at;
	return at;
}

/* source_file_cache_path - the path of seen[at] */
static const char *source_file_cache_path(const struct source_file_conf *fc,
					  size_t at)
{
	if (at < fc->nd)
		return fc->dfiles[at];
	at -= fc->nd;
	if (at < fc->nt)
		return fc->tfiles[at];
	at -= fc->nt;
	if (at < fc->nr)
		return fc->rfiles[at];
	return fc->lfiles[at - fc->nr];
}

/* source_file_cache_saw - keep the stat of the read just done of path */
void source_file_cache_saw(struct source_file_conf *fc, const char *path)
{
	size_t at = source_file_cache_index(fc, path);

	if (at >= fc->nd + fc->nt + fc->nr + fc->nl)
		return;
	fc->cache.seen[at].sb = fc->read_sb;
	fc->cache.seen[at].have = 1;
	fc->cache.seen[at].trusted = fc->read_trusted;
}

/* source_file_cache_unchanged - 1 when seen[at] is trusted and the file still
 * is so */
static int source_file_cache_unchanged(const struct source_file_conf *fc,
				       size_t at)
{
	const struct source_file_cache_seen *s = &fc->cache.seen[at];
	struct stat sb;

	if (!s->have || !s->trusted ||
	    stat(source_file_cache_path(fc, at), &sb) < 0)
		return 0;
	return source_file_cache_same(&s->sb, &sb) &&
	       s->sb.st_ctim.tv_sec == sb.st_ctim.tv_sec &&
	       s->sb.st_ctim.tv_nsec == sb.st_ctim.tv_nsec;
}

/* source_file_cache_dropped - count a recipient of a unit dropped for its
 * domain */
static void source_file_cache_dropped(void *arg, unsigned tag, const char *addr,
				      size_t alen)
{
	struct source_file_cache_unit *u = arg;

	(void)tag;
	if (u->unlisted++ == 0)
		snprintf(u->unlisted_example, sizeof(u->unlisted_example),
			 "%.*s", (int)alen, addr);
	if (buf_append(&u->gone, addr, alen) < 0 ||
	    buf_putc(&u->gone, '\n') < 0)
		u->gone_lost = 1;
}

struct source_file_cache_key {
	const char *k;
	size_t len;
};

/* source_file_cache_keycmp - the order of keys in a state: bytewise, shorter
 * first */
int source_file_cache_keycmp(const char *a, size_t alen, const char *b,
			     size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int source_file_cache_key_cmp(const void *a, const void *b)
{
	const struct source_file_cache_key *x = a, *y = b;

	return source_file_cache_keycmp(x->k, x->len, y->k, y->len);
}

/*
 * source_file_cache_unlisted - the recipients the units dropped into src, each
 * address once (as one state would count them) with the first in key order as
 * the example; a plain sum when the dropped ones could not be kept
 */
static void source_file_cache_unlisted(struct source *src,
				       const struct source_file_cache *c)
{
	struct source_file_cache_key *v = NULL;
	size_t i, n = 0, total = 0, with = 0;
	const char *p, *end, *nl;

	src->unlisted = 0;
	src->unlisted_example[0] = '\0';
	for (i = 0; i < c->nunits; i++) {
		const struct source_file_cache_unit *u = &c->units[i];

		if (u->unlisted == 0)
			continue;
		with++;
		total += u->unlisted;
		if (src->unlisted_example[0] == '\0' ||
		    strcmp(u->unlisted_example, src->unlisted_example) < 0)
			snprintf(src->unlisted_example,
				 sizeof(src->unlisted_example), "%s",
				 u->unlisted_example);
	}
	src->unlisted = total;
	if (with < 2)
		return;
	for (i = 0; i < c->nunits; i++)
		if (c->units[i].gone_lost)
			return;
	if ((v = calloc(total, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < c->nunits; i++) {
		p = c->units[i].gone.data;
		end = p != NULL ? p + c->units[i].gone.len : NULL;
		while (p != NULL && p < end && n < total &&
		       (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			v[n].k = p;
			v[n++].len = (size_t)(nl - p);
			p = nl + 1;
		}
	}
	qsort(v, n, sizeof(*v), source_file_cache_key_cmp);
	for (i = 0, total = 0; i < n; i++)
		if (i == 0 || source_file_cache_key_cmp(&v[i - 1], &v[i]) != 0)
			total++;
	src->unlisted = total;
	free(v);
}

/* source_file_cache_kind - the syntax of unit j's file */
static enum textmap_kind
source_file_cache_kind(const struct source_file_conf *fc, size_t j)
{
	return j < fc->nr ? TEXTMAP_POSTMAP : TEXTMAP_LIST;
}

/*
 * source_file_cache_unit_build - unit j (a recipients or lists file, whose
 * bytes b holds, or accept_all for the last): its records in a state
 * holding the cached domains, finished.  The unit keeps the file's bytes
 * (taken from b) and the keys they yield more than once, so that a change
 * can be parsed alone (source_file_span.c).
 */
static int source_file_cache_unit_build(struct source *src,
					struct source_export_ctx *ctx, size_t j,
					struct source_file_cache_unit *u,
					struct buf *b, struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct source_file_cache *c = &fc->cache;
	struct source_export_ctx sub = *ctx;
	unsigned char *drop = NULL;
	size_t i;
	int rc = SOURCE_DOWN;

	memset(u, 0, sizeof(*u));
	sub.recipients = sub.domains = 0;
	/* a copy of the domains, checked once when they were read */
	if ((sub.st = u->set = delta_splice(c->dom, NULL, 0, err)) == NULL ||
	    (drop = calloc(src->index + 1, 1)) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		goto out;
	}
	drop[src->index] = src->unlisted_domains == SOURCE_UNLISTED_DROP;
	if (j + 1 < c->nunits) {
		const char *path =
		    source_file_cache_path(fc, fc->nd + fc->nt + j);

		if (state_reserve(u->set, b->len / SOURCE_FILE_LINE_MIN, b->len,
				  err) < 0) {
			err_prefix(err, "source %s", src->name);
			goto out;
		}
		if ((rc = source_file_recipients_buf(
			 src, &sub, path, source_file_cache_kind(fc, j),
			 b->data, b->len, err)) < 0)
			goto out;
	} else {
		char addr[NORM_BUF_SIZE + 1];

		for (i = 0; i < src->naccept_all; i++) {
			size_t len = strlen(src->accept_all[i]);

			/* named as export.c names it for several sources */
			if (state_find_domain(c->dom, src->accept_all[i], len) <
			    0) {
				err_set(err,
					"source %s: accept_all: domain %s "
					"is listed by no source",
					src->name, src->accept_all[i]);
				rc = SOURCE_BAD;
				goto out;
			}
			addr[0] = '@';
			memcpy(addr + 1, src->accept_all[i], len);
			if ((rc = source_add_recipient(src, &sub, addr, len + 1,
						       "accept_all", err)) < 0)
				goto out;
		}
	}
	if (state_finish_unlisted(u->set, drop, src->index + 1,
				  source_file_cache_dropped, u, NULL,
				  err) < 0) {
		err_prefix(err, "source %s", src->name);
		rc = SOURCE_BAD;
		goto out;
	}
	u->added = sub.recipients;
	if (j + 1 < c->nunits && !u->gone_lost) {
		size_t cap = SOURCE_FILE_SPAN_ROOM(b->len);
		char *p;

		/* a large file's buffer was rounded up: kept with some room */
		if (b->data != NULL && b->cap > cap &&
		    (p = realloc(b->data, cap)) != NULL) {
			b->data = p;
			b->cap = cap;
		}
		u->bcap = b->cap;
		u->bytes = buf_steal(b, &u->blen);
		if (u->bytes == NULL && (u->bytes = strdup("")) != NULL)
			u->bcap = 1;
		/* a key on two lines: found by a second pass, counted */
		if (u->bytes != NULL &&
		    u->added > state_recipient_count(u->set) + u->unlisted &&
		    source_file_span_dups(src, source_file_cache_kind(fc, j),
					  u) < 0)
			source_file_span_clear(u);
	}
	rc = SOURCE_OK;
out:
	free(drop);
	if (rc < 0)
		source_file_cache_unit_clear(u);
	return rc;
}

/*
 * source_file_cache_build - read every file: the domains first, then each unit,
 * then merge
 */
static int source_file_cache_build(struct source *src,
				   struct source_export_ctx *ctx,
				   struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct source_file_cache *c = &fc->cache;
	struct source_export_ctx sub = *ctx;
	size_t nfiles = fc->nd + fc->nt + fc->nr + fc->nl, i;
	int rc = SOURCE_DOWN;

	source_file_cache_clear(fc);
	c->nunits = fc->nr + fc->nl + 1;
	if ((c->seen = calloc(nfiles + 1, sizeof(*c->seen))) == NULL ||
	    (c->units = calloc(c->nunits, sizeof(*c->units))) == NULL ||
	    (c->dom = state_new()) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		goto out;
	}
	sub.st = c->dom;
	sub.domains = 0;
	source_file_routes_clear(fc);
	if ((rc = source_file_transports(src, &sub, err)) < 0)
		goto out;
	for (i = 0; i < fc->nd; i++)
		if ((rc = source_file_domains(src, &sub, fc->dfiles[i], err)) <
		    0)
			goto out;
	source_file_routes_clear(fc);
	if (state_finish(c->dom, NULL, err) < 0) {
		err_prefix(err, "source %s", src->name);
		rc = SOURCE_BAD;
		goto out;
	}
	c->domains = sub.domains;
	for (i = 0; i < c->nunits; i++) {
		struct buf b = BUF_INIT;

		if (i + 1 < c->nunits &&
		    (rc = source_file_read_settled(
			 src, ctx,
			 source_file_cache_path(fc, fc->nd + fc->nt + i), &b,
			 err)) < 0)
			goto out;
		rc = source_file_cache_unit_build(src, ctx, i, &c->units[i], &b,
						  err);
		buf_free(&b);
		if (rc < 0)
			goto out;
	}
	c->valid = 1;
	rc = SOURCE_OK;
out:
	source_file_routes_clear(fc);
	return rc;
}

/*
 * source_file_cache_unit_read - read unit j's file again: only its changed
 * span parsed when source_file_span.c can, else the whole file; a failure
 * leaves the unit as it was
 */
static int source_file_cache_unit_read(struct source *src,
				       struct source_export_ctx *ctx, size_t j,
				       struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct source_file_cache *c = &fc->cache;
	struct source_file_cache_unit u, *old = &c->units[j];
	struct source_file_prev prev = {old->bytes, old->blen, 0};
	const char *path = source_file_cache_path(fc, fc->nd + fc->nt + j);
	struct buf b = BUF_INIT, whole = BUF_INIT;
	size_t lines;
	int rc;

	if (old->bytes == NULL) {
		if ((rc = source_file_read_settled(src, ctx, path, &whole,
						   err)) < 0)
			goto out;
	} else {
		/* b gets what follows the start the file kept */
		if ((rc = source_file_read_prev(src, ctx, path, &prev, &b,
						err)) < 0)
			goto out;
		if (source_file_span_update(src, source_file_cache_kind(fc, j),
					    old, prev.same, &b, &lines) == 0) {
			fc->lines_parsed += lines;
			goto out;
		}
		/* parsed whole: the file's bytes in one piece */
		if (buf_reserve(&whole, prev.same + b.len) < 0 ||
		    buf_append(&whole, old->bytes, prev.same) < 0 ||
		    buf_append(&whole, b.data != NULL ? b.data : "", b.len) <
			0) {
			err_set(err, "source %s: read(%s): out of memory",
				src->name, path);
			rc = SOURCE_DOWN;
			goto out;
		}
	}
	if ((rc = source_file_cache_unit_build(src, ctx, j, &u, &whole, err)) <
	    0)
		goto out;
	source_file_cache_unit_clear(&c->units[j]);
	c->units[j] = u;
out:
	buf_free(&b);
	buf_free(&whole);
	return rc;
}

/*
 * source_file_cache_update - read again only the units whose files changed (or
 * could not be trusted); a unit that fails leaves the others as they were
 */
static int source_file_cache_update(struct source *src,
				    struct source_export_ctx *ctx,
				    struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct source_file_cache *c = &fc->cache;
	size_t j;
	int rc;

	for (j = 0; j + 1 < c->nunits; j++) {
		if (source_file_cache_unchanged(fc, fc->nd + fc->nt + j))
			continue;
		if ((rc = source_file_cache_unit_read(src, ctx, j, err)) < 0)
			return rc;
	}
	return SOURCE_OK;
}

/*
 * source_file_cache_export_whole - the export as the only source (source.h):
 * from the cache when only recipients or lists files changed, else everything
 * read; unchanged when no file was read, so the state is the previous one
 */
int source_file_cache_export_whole(struct source *src,
				   struct source_export_ctx *ctx,
				   struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct source_file_cache *c = &fc->cache;
	size_t i;
	int rc, all = !c->valid;

	for (i = 0; !all && i < fc->nd + fc->nt; i++)
		all = !source_file_cache_unchanged(fc, i);
	rc = all ? source_file_cache_build(src, ctx, err)
		 : source_file_cache_update(src, ctx, err);
	if (rc < 0)
		goto fail;
	if (source_file_cache_merge(src, &ctx->finished, err) < 0) {
		rc = SOURCE_DOWN;
		goto fail;
	}
	ctx->domains = c->domains;
	ctx->recipients = 0;
	for (i = 0; i < c->nunits; i++)
		ctx->recipients += c->units[i].added;
	source_file_cache_unlisted(src, c);
	ctx->unchanged = !all && fc->files_read == 0;
	return SOURCE_OK;
fail:
	source_file_cache_clear(fc);
	return rc;
}
