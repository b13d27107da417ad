/*
 * source_file - domains, routes and recipients from Postfix text files
 *
 *	[source NAME]
 *	type       = file
 *	domains    = FILE...	Postfix list files, as relay_domains =
 *				/FILE reads them: domains separated by blanks
 *				or commas, several per line, "#" comment
 *				lines; every domain gets the [agent] nexthop.
 *				"example.com OK" (a hash: map's key and value)
 *				yields its key: a second word without a dot
 *				on a line of two words is a map's value.
 *	transport  = FILE...	Postfix transport(5) files: each line's
 *				domain is a domain of the export, its value
 *				(smtp:[host]:port, relay:[host]) that
 *				domain's nexthop
 *	recipients = FILE...	Postfix map source files (postmap syntax):
 *				virtual_mailbox_maps, virtual_alias_maps,
 *				relay_recipient_maps; the key column only
 *	lists      = FILE...	plain lists, one address per line
 *
 * Keys without "@" in a recipients map are skipped: virtual_alias_maps may
 * hold bare local names, which apply to local delivery only and can never
 * be a relay recipient of a backup MX.  "@domain" keys are catch-alls.
 *
 * A backup relays exactly the domains it is given, to their own next hop,
 * so a transport file's subdomain keys (".example.com"), "*", address keys
 * and values that are not a relay route (norm_route() with the transports
 * of SOURCE_RELAY_TRANSPORTS: "local:", "error:...", a malformed next hop)
 * are refused, naming file:line.  A domain in a
 * transport file and a domains file takes the transport file's next hop;
 * two different next hops for one domain are an error.
 *
 * A directory holding a file that was a mount point at the first export
 * and is not any more (its file system was unmounted) makes the source
 * SOURCE_DOWN: what shows below is not the data (source.h).
 *
 * A file is read only when it is settled: when the daemon saw it modified
 * and not yet closed by its writer, or when its size, mtime or inode changed
 * while it was read, the export is SOURCE_BUSY (the daemon waits and
 * retries).  A missing or unreadable file is SOURCE_DOWN; a malformed line
 * (a key without a value, which is what a cut line leaves) is SOURCE_BAD,
 * reported as "file:line: message".  The directories holding the files are
 * watched, so edits in place and by rename are seen.
 *
 * As the only source of the daemon's export (ctx->whole, source.h) the
 * source keeps each file's records between exports and reads again only
 * the files that changed; the rules of what is trusted are at struct
 * file_cache.  The settle rules above hold for every file read.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "../formats/norm.h"
#include "../formats/textmap.h"
#include "source.h"

#define FILE_MAX_SIZE (4ULL << 30)

/* file_route - one domain of a transport file, folded, with its value */
struct file_route {
	char *domain;
	char *nexthop;
	const char *file; /* borrowed from file_conf */
	unsigned line;
};

/*
 * The cache of a whole export (the export's only source, source.h): what
 * each file was when it was read, and what it yielded.  Every recipients or
 * lists file, and accept_all, is a unit: a finished state of all domains and
 * the unit's recipients (those of an unlisted domain dropped and counted).
 * The export is the union of the units (file_cache_merge).
 *
 * What is trusted: a file whose dev, inode, size, mtime and ctime are what
 * they were at its last read is not read again, but only when at that read
 * both times were FILE_TRUST_NS or more in the past.  A write stamps the
 * coarse clock of the kernel, so a file rewritten in place within the tick
 * of the read, with the same size, would look the same: a file read within
 * a second of its last change is read again at the next export, until it
 * has been read once when it was older.  ctime cannot be set by a writer
 * (utimensat sets it to now), so "touch -d" or "rsync -t" do not hide a
 * change; a clock stepped back by more than a second could, and so could
 * a network file system whose server's clock runs more than a second
 * behind ours (one ahead only makes files look recent: read again).  Any
 * failure drops the whole cache: the next export reads everything.
 */
#define FILE_TRUST_NS 1000000000LL

struct file_seen {
	struct stat sb;
	int have, trusted;
};

struct file_unit {
	struct state *set; /* finished, see above */
	size_t added;	   /* recipient records the unit yielded */
	size_t unlisted;   /* of them dropped: no such domain */
	char unlisted_example[SOURCE_EXAMPLE_MAX];
	struct buf gone; /* the dropped ones, in key order, "\n" after each */
	int gone_lost;	 /* out of memory while keeping them */
};

struct file_cache {
	int valid;
	struct file_seen *seen;	 /* dfiles, tfiles, rfiles, lfiles in order */
	struct file_unit *units; /* rfiles, lfiles, then accept_all */
	size_t nunits;
	struct state *dom; /* the domains alone, finished */
	size_t domains;	   /* domain records read */
};

struct file_conf {
	char *type;
	char *domains;
	char *transport;
	char *recipients;
	char *lists;
	/* parsed */
	char **dfiles, **tfiles, **rfiles, **lfiles;
	size_t nd, nt, nr, nl;
	/* the routes of the export in progress, sorted by domain */
	struct file_route *routes;
	size_t nroutes;
	/* the directories holding the files, as first seen */
	char **dirs;
	struct source_mount *mounts;
	size_t ndirs;
	/* the last read: its file's stat, whether it can be trusted later */
	struct stat read_sb;
	int read_trusted;
	size_t files_read; /* by the export in progress */
	struct file_cache cache;
};

static const struct conf_key file_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct file_conf, type), 0, 0},
    {"domains", CONF_STRING, "", offsetof(struct file_conf, domains), 0, 0},
    {"transport", CONF_STRING, "", offsetof(struct file_conf, transport), 0, 0},
    {"recipients", CONF_STRING, "", offsetof(struct file_conf, recipients), 0,
     0},
    {"lists", CONF_STRING, "", offsetof(struct file_conf, lists), 0, 0},
    {NULL, 0, NULL, 0, 0, 0},
};

/* file_split - split a white-space separated list of absolute paths */
static int file_split(const char *text, char ***out_r, size_t *n_r,
		      const char *file, unsigned line, const char *key,
		      struct err *err)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = text;

	while (*p != '\0') {
		size_t len;
		char **nv;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (*p != '/') {
			err_set(err,
				"%s:%u: %s: '%.*s' is not an absolute path",
				file, line, key, (int)len, p);
			goto fail;
		}
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			goto oom;
		v = nv;
		if ((v[n] = strndup(p, len)) == NULL)
			goto oom;
		n++;
		p += len;
	}
	*out_r = v;
	*n_r = n;
	return 0;
oom:
	err_set(err, "out of memory");
fail:
	while (n > 0)
		free(v[--n]);
	free(v);
	return -1;
}

static void file_free_list(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

static void file_routes_clear(struct file_conf *fc)
{
	while (fc->nroutes > 0) {
		fc->nroutes--;
		free(fc->routes[fc->nroutes].domain);
		free(fc->routes[fc->nroutes].nexthop);
	}
	free(fc->routes);
	fc->routes = NULL;
}

/* file_dirs - the distinct directories of the files, for mount checks */
static int file_dirs(struct file_conf *fc)
{
	char **lists[] = {fc->dfiles, fc->tfiles, fc->rfiles, fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, j, k, n;
	char *copy, *d;

	n = fc->nd + fc->nt + fc->nr + fc->nl;
	if ((fc->dirs = calloc(n, sizeof(*fc->dirs))) == NULL ||
	    (fc->mounts = calloc(n, sizeof(*fc->mounts))) == NULL)
		return -1;
	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++) {
			if ((copy = strdup(lists[k][i])) == NULL)
				return -1;
			d = dirname(copy);
			for (j = 0; j < fc->ndirs; j++)
				if (strcmp(fc->dirs[j], d) == 0)
					break;
			if (j == fc->ndirs &&
			    (fc->dirs[fc->ndirs++] = strdup(d)) == NULL) {
				free(copy);
				return -1;
			}
			free(copy);
		}
	return 0;
}

static int file_configure(struct source *src, const struct conf_file *cf,
			  const struct conf_section *sec, struct err *err)
{
	struct file_conf *fc;

	if ((fc = calloc(1, sizeof(*fc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = fc;
	if (conf_apply(cf, sec, file_keys, fc, err) < 0)
		return -1;
	if (file_split(fc->domains, &fc->dfiles, &fc->nd, cf->path,
		       conf_line(sec, "domains"), "domains", err) < 0 ||
	    file_split(fc->transport, &fc->tfiles, &fc->nt, cf->path,
		       conf_line(sec, "transport"), "transport", err) < 0 ||
	    file_split(fc->recipients, &fc->rfiles, &fc->nr, cf->path,
		       conf_line(sec, "recipients"), "recipients", err) < 0 ||
	    file_split(fc->lists, &fc->lfiles, &fc->nl, cf->path,
		       conf_line(sec, "lists"), "lists", err) < 0)
		return -1;
	if (fc->nd + fc->nt + fc->nr + fc->nl == 0)
		return err_set(err,
			       "%s:%u: [source %s]: set at least one of "
			       "domains, transport, recipients, lists",
			       cf->path, sec->line, sec->name);
	/* Domains and routes only: no recipients, by design. */
	src->no_recipients = fc->nr + fc->nl == 0;
	if (file_dirs(fc) < 0)
		return err_set(err, "out of memory");
	/* How often poll looks for a file system (un)mounted under them. */
	src->poll_interval_ms = 2000;
	return 0;
}

static void file_unit_clear(struct file_unit *u)
{
	state_free(u->set);
	buf_free(&u->gone);
	memset(u, 0, sizeof(*u));
}

/* file_cache_clear - forget every file: the next export reads them all */
static void file_cache_clear(struct file_conf *fc)
{
	struct file_cache *c = &fc->cache;
	size_t i;

	for (i = 0; c->units != NULL && i < c->nunits; i++)
		file_unit_clear(&c->units[i]);
	free(c->units);
	free(c->seen);
	state_free(c->dom);
	memset(c, 0, sizeof(*c));
}

static void file_free(struct source *src)
{
	struct file_conf *fc = src->priv;

	if (fc == NULL)
		return;
	file_routes_clear(fc);
	file_cache_clear(fc);
	file_free_list(fc->dirs, fc->ndirs);
	free(fc->mounts);
	file_free_list(fc->dfiles, fc->nd);
	file_free_list(fc->tfiles, fc->nt);
	file_free_list(fc->rfiles, fc->nr);
	file_free_list(fc->lfiles, fc->nl);
	conf_free_target(file_keys, fc);
	free(fc);
	src->priv = NULL;
}

/* file_readable - SOURCE_DOWN with a message when path cannot be read */
static int file_readable(struct source *src, const char *path, struct err *err)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s)", path);
		err_prefix(err, "source %s", src->name);
		return SOURCE_DOWN;
	}
	close(fd);
	return SOURCE_OK;
}

static int file_check(struct source *src, struct err *err)
{
	struct file_conf *fc = src->priv;
	char **lists[] = {fc->dfiles, fc->tfiles, fc->rfiles, fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, k;

	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++)
			if (file_readable(src, lists[k][i], err) < 0)
				return -1;
	return 0;
}

static void file_watch(struct source_export_ctx *ctx, const char *path)
{
	char *copy;

	if (ctx->watch == NULL || (copy = strdup(path)) == NULL)
		return;
	source_watch_dir(ctx, dirname(copy));
	free(copy);
}

/* file_same - 1 when two stats describe the same unchanged file */
static int file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* file_ns - a time stamp in nanoseconds */
static long long file_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* file_old_enough - 1 when sb's mtime and ctime are FILE_TRUST_NS old */
static int file_old_enough(const struct stat *sb)
{
	struct timespec now;
	long long t = file_ns(&sb->st_mtim), c = file_ns(&sb->st_ctim);

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return 0;
	return file_ns(&now) - (t > c ? t : c) >= FILE_TRUST_NS;
}

static void file_saw(struct file_conf *fc, const char *path);

/*
 * file_read_settled - the whole file into b, only when it is settled: not
 * being written as far as the daemon saw, and the same size, mtime and
 * inode (also under its name) before and after the read.  SOURCE_BUSY
 * when not, SOURCE_DOWN on I/O errors.
 */
static int file_read_settled(struct source *src,
			     const struct source_export_ctx *ctx,
			     const char *path, struct buf *b, struct err *err)
{
	struct file_conf *fc = src->priv;
	struct stat before, after, named;
	int fd = -1, rc = SOURCE_DOWN;
	ssize_t n;

	if (source_busy(ctx, path)) {
		err_set(err,
			"%s is being written (modified, not closed by "
			"its writer yet)",
			path);
		rc = SOURCE_BUSY;
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s)", path);
		goto out;
	}
	if (fstat(fd, &before) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(before.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		rc = SOURCE_BAD;
		goto out;
	}
	for (;;) {
		if (buf_reserve(b, 65536) < 0) {
			err_set(err, "read(%s): out of memory", path);
			goto out;
		}
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_sys(err, "read(%s)", path);
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len > FILE_MAX_SIZE) {
			err_set(err, "read(%s): file too large", path);
			rc = SOURCE_BAD;
			goto out;
		}
	}
	if (fstat(fd, &after) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	/* Renamed over or removed meanwhile: the name has another file. */
	if (stat(path, &named) < 0) {
		if (errno != ENOENT) {
			err_sys(err, "stat(%s)", path);
			goto out;
		}
		named.st_ino = 0;
		named.st_dev = 0;
	}
	if (!file_same(&before, &after) || (off_t)b->len != after.st_size ||
	    named.st_ino != before.st_ino || named.st_dev != before.st_dev) {
		err_set(err, "%s changed while it was read", path);
		rc = SOURCE_BUSY;
		goto out;
	}
	fc->read_sb = after;
	fc->read_trusted = file_old_enough(&after);
	fc->files_read++;
	if (fc->cache.seen != NULL)
		file_saw(fc, path);
	rc = SOURCE_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		err_prefix(err, "source %s", src->name);
	return rc;
}

/* file_route_find - the route of a folded domain, or NULL */
static const struct file_route *file_route_find(const struct file_conf *fc,
						const char *d, size_t len)
{
	size_t lo = 0, hi = fc->nroutes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = fc->routes[mid].domain;
		int c = strncmp(k, d, len);

		if (c == 0 && k[len] != '\0')
			c = 1;
		if (c == 0)
			return &fc->routes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * file_list_word - one word of a domains (list) file: Postfix features a
 * backup cannot mirror are refused, a map's value is skipped
 */
static int file_list_word(struct source *src, struct source_export_ctx *ctx,
			  const char *w, size_t wlen, int pos, int words,
			  const char *where, struct err *err)
{
	struct file_conf *fc = src->priv;
	char d[NORM_BUF_SIZE];
	size_t len;

	if (w[0] == '!' || w[0] == '/' || memchr(w, ':', wlen) != NULL) {
		err_set(err,
			"source %s: %s: \"%.*s\": negations, nested files "
			"and lookup tables are not read here; list the domains",
			src->name, where, (int)(wlen > 200 ? 200 : wlen), w);
		return SOURCE_BAD;
	}
	if (w[0] == '.' || (wlen == 1 && w[0] == '*')) {
		err_set(err,
			"source %s: %s: \"%.*s\" would match subdomains or "
			"every domain; the backup relays exactly the listed "
			"domains: list each one",
			src->name, where, (int)(wlen > 200 ? 200 : wlen), w);
		return SOURCE_BAD;
	}
	if (memchr(w, '.', wlen) == NULL && pos > 0) {
		if (pos == 1 && words == 2)
			return SOURCE_OK; /* "example.com OK" */
		err_set(err, "source %s: %s: \"%.*s\" is not a domain name",
			src->name, where, (int)(wlen > 200 ? 200 : wlen), w);
		return SOURCE_BAD;
	}
	if (norm_domain(w, wlen, d, sizeof(d), &len, err) < 0) {
		err_prefix(err, "source %s: %s", src->name, where);
		return SOURCE_BAD;
	}
	/* A domain with a route gets it from the transport file. */
	if (file_route_find(fc, d, len) != NULL)
		return SOURCE_OK;
	return source_add_domain(src, ctx, d, len, NULL, 0, where, err);
}

#define FILE_LIST_SEP " \t\r\v\f,"

/*
 * file_domains - a Postfix list file: "#" comment lines, words separated by
 * blanks and commas; a word starting with "#" ends its line (Postfix warns
 * and ignores the rest)
 */
static int file_domains(struct source *src, struct source_export_ctx *ctx,
			const char *path, struct err *err)
{
	struct buf b = BUF_INIT;
	const char *p, *end;
	unsigned line = 0;
	int rc;

	if ((rc = file_read_settled(src, ctx, path, &b, err)) < 0)
		goto out;
	p = b.data != NULL ? b.data : "";
	end = p + b.len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q, *lend;
		char where[SOURCE_WHERE_MAX];
		int words = 0, pos = 0;

		if (eol == NULL)
			eol = end;
		line++;
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			rc = SOURCE_BAD;
			err_set(err, "source %s: %s:%u: NUL byte", src->name,
				path, line);
			goto out;
		}
		/* The line ends at a word that starts with "#". */
		for (q = p; q < eol; q++)
			if (*q == '#' &&
			    (q == p || strchr(FILE_LIST_SEP, q[-1]) != NULL))
				break;
		lend = q;
		for (q = p; q < lend;) {
			q += strspn(q, FILE_LIST_SEP);
			if (q >= lend)
				break;
			q += strcspn(q, FILE_LIST_SEP "\n");
			words++;
		}
		snprintf(where, sizeof(where), "%s:%u", path, line);
		for (q = p; q < lend; pos++) {
			size_t wlen;

			q += strspn(q, FILE_LIST_SEP);
			if (q >= lend)
				break;
			wlen = strcspn(q, FILE_LIST_SEP "\n");
			if (q + wlen > lend)
				wlen = (size_t)(lend - q);
			if ((rc = file_list_word(src, ctx, q, wlen, pos, words,
						 where, err)) < 0)
				goto out;
			q += wlen;
		}
		p = eol + 1;
	}
	rc = SOURCE_OK;
out:
	buf_free(&b);
	return rc;
}

struct file_tcb {
	struct source *src;
	const char *file;
};

/* file_transport_key - check and keep one line of a transport file */
static int file_transport_key(void *arg, const char *key, size_t klen,
			      const char *value, size_t vlen, const char *file,
			      unsigned line, struct err *err)
{
	struct file_tcb *cb = arg;
	struct source *src = cb->src;
	struct file_conf *fc = src->priv;
	struct file_route *nr;
	char d[NORM_BUF_SIZE];
	size_t len;
	int k = klen > 200 ? 200 : (int)klen;

	if (key[0] == '.' || (klen == 1 && key[0] == '*'))
		return err_set(err,
			       "source %s: %s:%u: \"%.*s\" would route %s; "
			       "the backup relays exactly the listed domains: "
			       "list each one",
			       src->name, file, line, k, key,
			       key[0] == '.' ? "subdomains" : "every domain");
	if (memchr(key, '@', klen) != NULL)
		return err_set(err,
			       "source %s: %s:%u: \"%.*s\": address keys "
			       "are not read; the backup routes whole domains",
			       src->name, file, line, k, key);
	/* The route check of source_add_domain, but a refusal, not a fallback.
	 */
	if (norm_route(value, vlen, SOURCE_RELAY_TRANSPORTS, err) < 0)
		return err_prefix(err,
				  "source %s: %s:%u: domain %.*s: not a "
				  "relay route (a backup only relays to the "
				  "next hop)",
				  src->name, file, line, k, key);
	if (norm_domain(key, klen, d, sizeof(d), &len, err) < 0)
		return err_prefix(err, "source %s: %s:%u", src->name, file,
				  line);
	nr = realloc(fc->routes, (fc->nroutes + 1) * sizeof(*nr));
	if (nr == NULL)
		return err_set(err, "out of memory");
	fc->routes = nr;
	nr += fc->nroutes;
	nr->domain = strndup(d, len);
	nr->nexthop = strndup(value, vlen);
	nr->file = cb->file;
	nr->line = line;
	fc->nroutes++;
	if (nr->domain == NULL || nr->nexthop == NULL)
		return err_set(err, "out of memory");
	return 0;
}

static int file_route_cmp(const void *a, const void *b)
{
	const struct file_route *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	if (c != 0)
		return c;
	/* Same domain: keep file order, so the first line is named first. */
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* file_transports - read every transport file into fc->routes, sorted */
static int file_transports(struct source *src, struct source_export_ctx *ctx,
			   struct err *err)
{
	struct file_conf *fc = src->priv;
	size_t i, j;
	int rc;

	for (i = 0; i < fc->nt; i++) {
		struct buf b = BUF_INIT;
		struct file_tcb cb = {src, fc->tfiles[i]};

		if ((rc = file_read_settled(src, ctx, fc->tfiles[i], &b, err)) <
		    0)
			return rc;
		rc = textmap_parse_buf(fc->tfiles[i], b.data ? b.data : "",
				       b.len, TEXTMAP_POSTMAP,
				       file_transport_key, &cb, err);
		buf_free(&b);
		if (rc != 0) {
			if (strncmp(err->msg, "source ", 7) != 0)
				err_prefix(err, "source %s", src->name);
			return SOURCE_BAD;
		}
	}
	if (fc->nroutes > 1)
		qsort(fc->routes, fc->nroutes, sizeof(*fc->routes),
		      file_route_cmp);
	/* One domain, one next hop; the same line twice is harmless. */
	for (i = 0, j = 0; i < fc->nroutes; i++) {
		struct file_route *r = &fc->routes[i];

		if (j > 0 && strcmp(fc->routes[j - 1].domain, r->domain) == 0) {
			struct file_route *f = &fc->routes[j - 1];

			if (strcmp(f->nexthop, r->nexthop) != 0) {
				err_set(err,
					"source %s: %s:%u: domain %s: next "
					"hop \"%s\", but \"%s\" at %s:%u",
					src->name, r->file, r->line, r->domain,
					r->nexthop, f->nexthop, f->file,
					f->line);
				return SOURCE_BAD;
			}
			free(r->domain);
			free(r->nexthop);
			continue;
		}
		fc->routes[j++] = *r;
	}
	fc->nroutes = j;
	for (i = 0; i < fc->nroutes; i++) {
		struct file_route *r = &fc->routes[i];
		char where[SOURCE_WHERE_MAX];

		snprintf(where, sizeof(where), "%s:%u", r->file, r->line);
		if ((rc = source_add_domain(
			 src, ctx, r->domain, strlen(r->domain), r->nexthop,
			 strlen(r->nexthop), where, err)) < 0)
			return rc;
	}
	return SOURCE_OK;
}

struct file_cb {
	struct source *src;
	struct source_export_ctx *ctx;
	int skip_local;
};

static int file_key(void *arg, const char *key, size_t klen, const char *value,
		    size_t vlen, const char *file, unsigned line,
		    struct err *err)
{
	struct file_cb *cb = arg;

	(void)value;
	(void)vlen;
	if (cb->skip_local && memchr(key, '@', klen) == NULL)
		return 0;
	return source_add_recipient_n(cb->src, cb->ctx, key, klen, file, ":",
				      line, err) < 0
		   ? -1
		   : 0;
}

static int file_recipients(struct source *src, struct source_export_ctx *ctx,
			   const char *path, enum textmap_kind kind,
			   struct err *err)
{
	struct file_cb cb = {src, ctx, kind == TEXTMAP_POSTMAP};
	struct buf b = BUF_INIT;
	int rc;

	if ((rc = file_read_settled(src, ctx, path, &b, err)) < 0)
		return rc;
	rc = textmap_parse_buf(path, b.data ? b.data : "", b.len, kind,
			       file_key, &cb, err);
	buf_free(&b);
	if (rc != 0) {
		/* Our callback's messages already name the source. */
		if (strncmp(err->msg, "source ", 7) != 0)
			err_prefix(err, "source %s", src->name);
		return SOURCE_BAD;
	}
	return SOURCE_OK;
}

/*
 * file_reserve - pre-size the state from the files' sizes: a key is never
 * longer than its line, and a line rarely shorter than FILE_LINE_MIN, so
 * a million-record map grows the state once instead of by doubling.  Only
 * a hint: pages reserved and never touched cost no memory.
 */
#define FILE_LINE_MIN 24

static int file_reserve(struct source *src, struct source_export_ctx *ctx,
			struct err *err)
{
	struct file_conf *fc = src->priv;
	struct stat sb;
	size_t i, total = 0;

	for (i = 0; i < fc->nr + fc->nl; i++) {
		const char *path =
		    i < fc->nr ? fc->rfiles[i] : fc->lfiles[i - fc->nr];

		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (unsigned long long)sb.st_size <= FILE_MAX_SIZE)
			total += (size_t)sb.st_size;
	}
	if (total == 0)
		return SOURCE_OK;
	if (state_reserve(ctx->st, total / FILE_LINE_MIN, total, err) < 0) {
		err_prefix(err, "source %s", src->name);
		return SOURCE_DOWN;
	}
	return SOURCE_OK;
}

/* file_index - the position of path (a pointer of the lists) in seen */
static size_t file_index(const struct file_conf *fc, const char *path)
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

/* file_path - the path of seen[at] */
static const char *file_path(const struct file_conf *fc, size_t at)
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

/* file_saw - keep the stat of the read just done of path */
static void file_saw(struct file_conf *fc, const char *path)
{
	size_t at = file_index(fc, path);

	if (at >= fc->nd + fc->nt + fc->nr + fc->nl)
		return;
	fc->cache.seen[at].sb = fc->read_sb;
	fc->cache.seen[at].have = 1;
	fc->cache.seen[at].trusted = fc->read_trusted;
}

/* file_unchanged - 1 when seen[at] is trusted and the file still is so */
static int file_unchanged(const struct file_conf *fc, size_t at)
{
	const struct file_seen *s = &fc->cache.seen[at];
	struct stat sb;

	if (!s->have || !s->trusted || stat(file_path(fc, at), &sb) < 0)
		return 0;
	return file_same(&s->sb, &sb) &&
	       s->sb.st_ctim.tv_sec == sb.st_ctim.tv_sec &&
	       s->sb.st_ctim.tv_nsec == sb.st_ctim.tv_nsec;
}

/* file_dropped - count a recipient of a unit dropped for its domain */
static void file_dropped(void *arg, unsigned tag, const char *addr, size_t alen)
{
	struct file_unit *u = arg;

	(void)tag;
	if (u->unlisted++ == 0)
		snprintf(u->unlisted_example, sizeof(u->unlisted_example),
			 "%.*s", (int)alen, addr);
	if (buf_append(&u->gone, addr, alen) < 0 ||
	    buf_putc(&u->gone, '\n') < 0)
		u->gone_lost = 1;
}

struct file_key {
	const char *k;
	size_t len;
};

/* file_keycmp - the order of keys in a state: bytewise, shorter first */
static int file_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int file_key_cmp(const void *a, const void *b)
{
	const struct file_key *x = a, *y = b;

	return file_keycmp(x->k, x->len, y->k, y->len);
}

/*
 * file_unlisted - the recipients the units dropped into src, each address
 * once (as one state would count them) with the first in key order as the
 * example; a plain sum when the dropped ones could not be kept
 */
static void file_unlisted(struct source *src, const struct file_cache *c)
{
	struct file_key *v = NULL;
	size_t i, n = 0, total = 0, with = 0;
	const char *p, *end, *nl;

	src->unlisted = 0;
	src->unlisted_example[0] = '\0';
	for (i = 0; i < c->nunits; i++) {
		const struct file_unit *u = &c->units[i];

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
	qsort(v, n, sizeof(*v), file_key_cmp);
	for (i = 0, total = 0; i < n; i++)
		if (i == 0 || file_key_cmp(&v[i - 1], &v[i]) != 0)
			total++;
	src->unlisted = total;
	free(v);
}

/*
 * file_unit_build - unit j (a recipients or lists file, or accept_all for
 * the last): read it into a state holding the cached domains, finish it
 */
static int file_unit_build(struct source *src, struct source_export_ctx *ctx,
			   size_t j, struct file_unit *u, struct err *err)
{
	struct file_conf *fc = src->priv;
	struct file_cache *c = &fc->cache;
	struct source_export_ctx sub = *ctx;
	unsigned char *drop = NULL;
	size_t i;
	struct stat sb;
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
		const char *path = file_path(fc, fc->nd + fc->nt + j);

		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (unsigned long long)sb.st_size <= FILE_MAX_SIZE &&
		    state_reserve(u->set, (size_t)sb.st_size / FILE_LINE_MIN,
				  (size_t)sb.st_size, err) < 0) {
			err_prefix(err, "source %s", src->name);
			goto out;
		}
		if ((rc = file_recipients(
			 src, &sub, path,
			 j < fc->nr ? TEXTMAP_POSTMAP : TEXTMAP_LIST, err)) < 0)
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
	if (state_finish_unlisted(u->set, drop, src->index + 1, file_dropped, u,
				  NULL, err) < 0) {
		err_prefix(err, "source %s", src->name);
		rc = SOURCE_BAD;
		goto out;
	}
	u->added = sub.recipients;
	rc = SOURCE_OK;
out:
	free(drop);
	if (rc < 0)
		file_unit_clear(u);
	return rc;
}

/* file_lower - the index of the first recipient of st not below k */
static size_t file_lower(const struct state *st, const char *k, size_t len,
			 int *found_r)
{
	size_t lo = 0, hi = state_recipient_count(st);
	const char *a;
	size_t al;
	int c;

	*found_r = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		state_recipient(st, mid, &a, &al);
		c = file_keycmp(a, al, k, len);
		if (c == 0)
			*found_r = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int file_edit_cmp(const void *a, const void *b)
{
	const struct delta_edit *x = a, *y = b;

	return file_keycmp(x->key, x->klen, y->key, y->klen);
}

struct file_edits {
	struct delta_edit *v;
	size_t n, cap;
};

static int file_edit_push(struct file_edits *e, const char *k, size_t len)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct delta_edit *nv;

		if (cap > SIZE_MAX / sizeof(*nv) ||
		    (nv = realloc(e->v, cap * sizeof(*nv))) == NULL)
			return -1;
		e->v = nv;
		e->cap = cap;
	}
	memset(&e->v[e->n], 0, sizeof(e->v[e->n]));
	e->v[e->n].key = k;
	e->v[e->n].klen = len;
	e->v[e->n].val = "";
	e->v[e->n].type = 'R';
	e->v[e->n].add = 1;
	e->n++;
	return 0;
}

/*
 * file_splice - a new state: base with the added records of e (sorted and
 * made unique here, those base has left out, their places found here)
 */
static struct state *file_splice(struct source *src, const struct state *base,
				 struct file_edits *e, struct err *err)
{
	struct state *res;
	size_t i, j;
	int found;

	if (e->n > 1)
		qsort(e->v, e->n, sizeof(*e->v), file_edit_cmp);
	for (i = j = 0; i < e->n; i++) {
		if (j > 0 && file_edit_cmp(&e->v[j - 1], &e->v[i]) == 0)
			continue;
		e->v[j] = e->v[i];
		e->v[j].at =
		    file_lower(base, e->v[j].key, e->v[j].klen, &found);
		if (!found)
			j++;
	}
	e->n = j;
	if ((res = delta_splice(base, e->v, e->n, err)) == NULL)
		err_prefix(err, "source %s", src->name);
	return res;
}

/*
 * file_cache_merge - the export into *st_r: a copy of the largest unit
 * with what the others add, so that an export costs one copy of the
 * largest file's records and a search for each record of the others
 */
static int file_cache_merge(struct source *src, struct state **st_r,
			    struct err *err)
{
	struct file_cache *c = &((struct file_conf *)src->priv)->cache;
	struct file_edits e = {NULL, 0, 0};
	size_t j, big = 0, i;
	const char *k;
	size_t kl;
	int rc = -1;

	for (j = 1; j < c->nunits; j++)
		if (state_recipient_count(c->units[j].set) >
		    state_recipient_count(c->units[big].set))
			big = j;
	for (j = 0; j < c->nunits; j++) {
		if (j == big)
			continue;
		for (i = 0; i < state_recipient_count(c->units[j].set); i++) {
			state_recipient(c->units[j].set, i, &k, &kl);
			if (file_edit_push(&e, k, kl) < 0) {
				err_set(err, "source %s: out of memory",
					src->name);
				goto out;
			}
		}
	}
	if ((*st_r = file_splice(src, c->units[big].set, &e, err)) == NULL)
		goto out;
	rc = 0;
out:
	free(e.v);
	return rc;
}

/*
 * file_cache_build - read every file: the domains first, then each unit,
 * then merge
 */
static int file_cache_build(struct source *src, struct source_export_ctx *ctx,
			    struct err *err)
{
	struct file_conf *fc = src->priv;
	struct file_cache *c = &fc->cache;
	struct source_export_ctx sub = *ctx;
	size_t nfiles = fc->nd + fc->nt + fc->nr + fc->nl, i;
	int rc = SOURCE_DOWN;

	file_cache_clear(fc);
	c->nunits = fc->nr + fc->nl + 1;
	if ((c->seen = calloc(nfiles + 1, sizeof(*c->seen))) == NULL ||
	    (c->units = calloc(c->nunits, sizeof(*c->units))) == NULL ||
	    (c->dom = state_new()) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		goto out;
	}
	sub.st = c->dom;
	sub.domains = 0;
	file_routes_clear(fc);
	if ((rc = file_transports(src, &sub, err)) < 0)
		goto out;
	for (i = 0; i < fc->nd; i++)
		if ((rc = file_domains(src, &sub, fc->dfiles[i], err)) < 0)
			goto out;
	file_routes_clear(fc);
	if (state_finish(c->dom, NULL, err) < 0) {
		err_prefix(err, "source %s", src->name);
		rc = SOURCE_BAD;
		goto out;
	}
	c->domains = sub.domains;
	for (i = 0; i < c->nunits; i++)
		if ((rc = file_unit_build(src, ctx, i, &c->units[i], err)) < 0)
			goto out;
	c->valid = 1;
	rc = SOURCE_OK;
out:
	file_routes_clear(fc);
	return rc;
}

/*
 * file_cache_update - read again only the units whose files changed (or
 * could not be trusted); a unit that fails leaves the others as they were
 */
static int file_cache_update(struct source *src, struct source_export_ctx *ctx,
			     struct err *err)
{
	struct file_conf *fc = src->priv;
	struct file_cache *c = &fc->cache;
	struct file_unit u;
	size_t j;
	int rc;

	for (j = 0; j + 1 < c->nunits; j++) {
		if (file_unchanged(fc, fc->nd + fc->nt + j))
			continue;
		if ((rc = file_unit_build(src, ctx, j, &u, err)) < 0)
			return rc;
		file_unit_clear(&c->units[j]);
		c->units[j] = u;
	}
	return SOURCE_OK;
}

/*
 * file_export_whole - the export as the only source (source.h): from the
 * cache when only recipients or lists files changed, else everything read
 */
static int file_export_whole(struct source *src, struct source_export_ctx *ctx,
			     struct err *err)
{
	struct file_conf *fc = src->priv;
	struct file_cache *c = &fc->cache;
	size_t i;
	int rc, all = !c->valid;

	for (i = 0; !all && i < fc->nd + fc->nt; i++)
		all = !file_unchanged(fc, i);
	rc = all ? file_cache_build(src, ctx, err)
		 : file_cache_update(src, ctx, err);
	if (rc < 0)
		goto fail;
	if (file_cache_merge(src, &ctx->finished, err) < 0) {
		rc = SOURCE_DOWN;
		goto fail;
	}
	ctx->domains = c->domains;
	ctx->recipients = 0;
	for (i = 0; i < c->nunits; i++)
		ctx->recipients += c->units[i].added;
	file_unlisted(src, c);
	return SOURCE_OK;
fail:
	file_cache_clear(fc);
	return rc;
}

static int file_export(struct source *src, struct source_export_ctx *ctx,
		       struct err *err)
{
	struct file_conf *fc = src->priv;
	char **lists[] = {fc->dfiles, fc->tfiles, fc->rfiles, fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, k;
	int rc;

	/* Watch first, so a file that appears after a failure is noticed. */
	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++)
			file_watch(ctx, lists[k][i]);
	/* A directory whose file system went away holds stale copies. */
	for (i = 0; i < fc->ndirs; i++)
		if ((rc = source_mount_check(src, &fc->mounts[i], fc->dirs[i],
					     err)) < 0)
			return rc;
	/* A file being written: say so before reading the others. */
	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++)
			if (source_busy(ctx, lists[k][i])) {
				err_set(err,
					"source %s: %s is being written "
					"(modified, not closed by its writer "
					"yet)",
					src->name, lists[k][i]);
				return SOURCE_BUSY;
			}
	fc->files_read = 0;
	if (ctx->whole) {
		rc = file_export_whole(src, ctx, err);
		src->files_read = fc->files_read;
		return rc;
	}
	/* Only a whole export keeps the files (source.h). */
	file_cache_clear(fc);
	file_routes_clear(fc);
	if ((rc = file_transports(src, ctx, err)) < 0)
		goto out;
	for (i = 0; i < fc->nd; i++)
		if ((rc = file_domains(src, ctx, fc->dfiles[i], err)) < 0)
			goto out;
	if ((rc = file_reserve(src, ctx, err)) < 0)
		goto out;
	for (i = 0; i < fc->nr; i++)
		if ((rc = file_recipients(src, ctx, fc->rfiles[i],
					  TEXTMAP_POSTMAP, err)) < 0)
			goto out;
	for (i = 0; i < fc->nl; i++)
		if ((rc = file_recipients(src, ctx, fc->lfiles[i], TEXTMAP_LIST,
					  err)) < 0)
			goto out;
	rc = SOURCE_OK;
out:
	file_routes_clear(fc);
	src->files_read = fc->files_read;
	return rc;
}

/* file_poll - 1 when a file system was mounted or unmounted under a file */
static int file_poll(struct source *src, struct err *err)
{
	struct file_conf *fc = src->priv;
	size_t i;

	(void)err;
	for (i = 0; i < fc->ndirs; i++)
		if (source_mount_changed(&fc->mounts[i], fc->dirs[i]))
			return 1;
	return 0;
}

const struct source_ops source_file_ops = {
    .type = "file",
    .configure = file_configure,
    .check = file_check,
    .export = file_export,
    .poll = file_poll,
    .free = file_free,
};
