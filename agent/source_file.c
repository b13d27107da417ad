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
 * are refused, naming file:line (source_file_route.c).  A domain in a
 * transport file and a domains file takes the transport file's next hop;
 * two different next hops for one domain are an error.
 *
 * A directory holding a file that was a mount point at the first export
 * and is not any more (its file system was unmounted) makes the source
 * SOURCE_DOWN: what shows below is not the data (source.h).
 *
 * A file is read only when it is settled (source_file_read.c): when the daemon
 *saw it modified and not yet closed by its writer, or when its size, mtime or
 *inode changed while it was read, the export is SOURCE_BUSY (the daemon waits
 *and retries).  A missing or unreadable file is SOURCE_DOWN; a malformed line
 * (a key without a value, which is what a cut line leaves) is SOURCE_BAD,
 * reported as "file:line: message".  The directories holding the files are
 * watched, so edits in place and by rename are seen.
 *
 * As the only source of the daemon's export (ctx->whole, source.h) the
 * source keeps each file's records between exports and reads again only
 * the files that changed: that cache, and the rules of what is trusted,
 * are in source_file_cache.c; of a changed recipients or lists file only
 * the lines that changed are parsed (source_file_span.c).  The settle
 * rules above hold for every file read.
 *
 * This file is longer than most because it is one noun with four parts
 * sharing struct source_file_conf: configuration, the settled read, the
 * three file syntaxes (list, transport, map) and the export; each part is
 * small, and splitting them would only scatter the settle rules.
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
#include "../formats/conf.h"
#include "../formats/norm.h"
#include "../formats/textmap.h"
#include "source.h"
#include "source_file_priv.h"

static const struct conf_key source_file_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct source_file_conf, type), 0, 0},
    {"domains", CONF_STRING, "", offsetof(struct source_file_conf, domains), 0,
     0},
    {"transport", CONF_STRING, "", offsetof(struct source_file_conf, transport),
     0, 0},
    {"recipients", CONF_STRING, "",
     offsetof(struct source_file_conf, recipients), 0, 0},
    {"lists", CONF_STRING, "", offsetof(struct source_file_conf, lists), 0, 0},
    {NULL, 0, NULL, 0, 0, 0},
};

/* source_file_split - split a white-space separated list of absolute paths */
static int source_file_split(const char *text, char ***out_r, size_t *n_r,
			     const char *file, unsigned line, const char *key,
			     struct err *err)
{
	char **v = NULL;
	size_t n = 0;
	const char *cur = text, *p;
	size_t len;

	while ((p = conf_words_next(&cur, &len)) != NULL) {
		char **nv;

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

static void source_file_free_list(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* source_file_dirs - the distinct directories of the files, for mount checks */
static int source_file_dirs(struct source_file_conf *fc)
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

static int source_file_configure(struct source *src, const struct conf_file *cf,
				 const struct conf_section *sec,
				 struct err *err)
{
	struct source_file_conf *fc;

	if ((fc = calloc(1, sizeof(*fc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = fc;
	if (conf_apply(cf, sec, source_file_keys, fc, err) < 0)
		return -1;
	if (source_file_split(fc->domains, &fc->dfiles, &fc->nd, cf->path,
			      conf_line(sec, "domains"), "domains", err) < 0 ||
	    source_file_split(fc->transport, &fc->tfiles, &fc->nt, cf->path,
			      conf_line(sec, "transport"), "transport",
			      err) < 0 ||
	    source_file_split(fc->recipients, &fc->rfiles, &fc->nr, cf->path,
			      conf_line(sec, "recipients"), "recipients",
			      err) < 0 ||
	    source_file_split(fc->lists, &fc->lfiles, &fc->nl, cf->path,
			      conf_line(sec, "lists"), "lists", err) < 0)
		return -1;
	if (fc->nd + fc->nt + fc->nr + fc->nl == 0)
		return err_set(err,
			       "%s:%u: [source %s]: set at least one of "
			       "domains, transport, recipients, lists",
			       cf->path, sec->line, sec->name);
	/* Domains and routes only: no recipients, by design. */
	src->no_recipients = fc->nr + fc->nl == 0;
	if (source_file_dirs(fc) < 0)
		return err_set(err, "out of memory");
	/* How often poll looks for a file system (un)mounted under them. */
	src->poll_interval_ms = 2000;
	return 0;
}

static void source_file_free(struct source *src)
{
	struct source_file_conf *fc = src->priv;

	if (fc == NULL)
		return;
	source_file_routes_clear(fc);
	source_file_cache_clear(fc);
	source_file_free_list(fc->dirs, fc->ndirs);
	free(fc->mounts);
	source_file_free_list(fc->dfiles, fc->nd);
	source_file_free_list(fc->tfiles, fc->nt);
	source_file_free_list(fc->rfiles, fc->nr);
	source_file_free_list(fc->lfiles, fc->nl);
	conf_free_target(source_file_keys, fc);
	free(fc);
	src->priv = NULL;
}

/* source_file_readable - SOURCE_DOWN with a message when path cannot be read */
static int source_file_readable(struct source *src, const char *path,
				struct err *err)
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

static int source_file_check(struct source *src, struct err *err)
{
	struct source_file_conf *fc = src->priv;
	char **lists[] = {fc->dfiles, fc->tfiles, fc->rfiles, fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, k;

	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++)
			if (source_file_readable(src, lists[k][i], err) < 0)
				return -1;
	return 0;
}

static void source_file_watch(struct source_export_ctx *ctx, const char *path)
{
	char *copy;

	if (ctx->watch == NULL || (copy = strdup(path)) == NULL)
		return;
	source_watch_dir(ctx, dirname(copy));
	free(copy);
}

/*
 * source_file_list_word - one word of a domains (list) file: Postfix features a
 * backup cannot mirror are refused, a map's value is skipped
 */
static int source_file_list_word(struct source *src,
				 struct source_export_ctx *ctx, const char *w,
				 size_t wlen, int pos, int words,
				 const char *where, struct err *err)
{
	struct source_file_conf *fc = src->priv;
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
	if (source_file_route_find(fc, d, len) != NULL)
		return SOURCE_OK;
	return source_add_domain(src, ctx, d, len, NULL, 0, where, err);
}

#define SOURCE_FILE_LIST_SEP " \t\r\v\f,"

/*
 * source_file_domains - a Postfix list file: "#" comment lines, words separated
 * by blanks and commas; a word starting with "#" ends its line (Postfix warns
 * and ignores the rest)
 */
int source_file_domains(struct source *src, struct source_export_ctx *ctx,
			const char *path, struct err *err)
{
	struct buf b = BUF_INIT;
	const char *p, *end;
	unsigned line = 0;
	int rc;

	if ((rc = source_file_read_settled(src, ctx, path, &b, err)) < 0)
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
			if (*q == '#' && (q == p || strchr(SOURCE_FILE_LIST_SEP,
							   q[-1]) != NULL))
				break;
		lend = q;
		for (q = p; q < lend;) {
			q += strspn(q, SOURCE_FILE_LIST_SEP);
			if (q >= lend)
				break;
			q += strcspn(q, SOURCE_FILE_LIST_SEP "\n");
			words++;
		}
		snprintf(where, sizeof(where), "%s:%u", path, line);
		for (q = p; q < lend; pos++) {
			size_t wlen;

			q += strspn(q, SOURCE_FILE_LIST_SEP);
			if (q >= lend)
				break;
			wlen = strcspn(q, SOURCE_FILE_LIST_SEP "\n");
			if (q + wlen > lend)
				wlen = (size_t)(lend - q);
			if ((rc = source_file_list_word(src, ctx, q, wlen, pos,
							words, where, err)) < 0)
				goto out;
			q += wlen;
		}
		p = eol + 1;
	}
	((struct source_file_conf *)src->priv)->lines_parsed += line;
	rc = SOURCE_OK;
out:
	buf_free(&b);
	return rc;
}

struct source_file_cb {
	struct source *src;
	struct source_export_ctx *ctx;
	int skip_local;
};

static int source_file_key(void *arg, const char *key, size_t klen,
			   const char *value, size_t vlen, const char *file,
			   unsigned line, struct err *err)
{
	struct source_file_cb *cb = arg;

	(void)value;
	(void)vlen;
	if (cb->skip_local && memchr(key, '@', klen) == NULL)
		return 0;
	return source_add_recipient_n(cb->src, cb->ctx, key, klen, file, ":",
				      line, err) < 0
		   ? -1
		   : 0;
}

/* source_file_lines - the lines of a text: a last one without "\n" counts */
size_t source_file_lines(const char *p, size_t len)
{
	const char *end = p != NULL ? p + len : NULL, *nl;
	size_t n = 0;

	while (p != NULL && p < end &&
	       (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p = nl + 1;
	}
	return n + (p != NULL && p < end);
}

/*
 * source_file_recipients_buf - the records of a recipients (kind
 * TEXTMAP_POSTMAP) or lists file read into data: SOURCE_OK or SOURCE_BAD
 */
int source_file_recipients_buf(struct source *src,
			       struct source_export_ctx *ctx, const char *path,
			       enum textmap_kind kind, const char *data,
			       size_t len, struct err *err)
{
	struct source_file_cb cb = {src, ctx, kind == TEXTMAP_POSTMAP};
	int rc;

	rc = textmap_parse_buf(path, data ? data : "", len, kind,
			       source_file_key, &cb, err);
	((struct source_file_conf *)src->priv)->lines_parsed +=
	    source_file_lines(data, len);
	if (rc != 0) {
		/* Our callback's messages already name the source. */
		if (strncmp(err->msg, "source ", 7) != 0)
			err_prefix(err, "source %s", src->name);
		return SOURCE_BAD;
	}
	return SOURCE_OK;
}

int source_file_recipients(struct source *src, struct source_export_ctx *ctx,
			   const char *path, enum textmap_kind kind,
			   struct err *err)
{
	struct buf b = BUF_INIT;
	int rc;

	if ((rc = source_file_read_settled(src, ctx, path, &b, err)) < 0)
		return rc;
	rc = source_file_recipients_buf(src, ctx, path, kind, b.data, b.len,
					err);
	buf_free(&b);
	return rc;
}

/*
 * source_file_reserve - pre-size the state from the files' sizes: a key is
 * never longer than its line, and a line rarely shorter than
 * SOURCE_FILE_LINE_MIN, so a million-record map grows the state once instead of
 * by doubling.  Only a hint: pages reserved and never touched cost no memory.
 */
static int source_file_reserve(struct source *src,
			       struct source_export_ctx *ctx, struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct stat sb;
	size_t i, total = 0;

	for (i = 0; i < fc->nr + fc->nl; i++) {
		const char *path =
		    i < fc->nr ? fc->rfiles[i] : fc->lfiles[i - fc->nr];

		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (unsigned long long)sb.st_size <= SOURCE_FILE_MAX_SIZE)
			total += (size_t)sb.st_size;
	}
	if (total == 0)
		return SOURCE_OK;
	if (state_reserve(ctx->st, total / SOURCE_FILE_LINE_MIN, total, err) <
	    0) {
		err_prefix(err, "source %s", src->name);
		return SOURCE_DOWN;
	}
	return SOURCE_OK;
}

static int source_file_export(struct source *src, struct source_export_ctx *ctx,
			      struct err *err)
{
	struct source_file_conf *fc = src->priv;
	char **lists[] = {fc->dfiles, fc->tfiles, fc->rfiles, fc->lfiles};
	size_t ns[] = {fc->nd, fc->nt, fc->nr, fc->nl}, i, k;
	int rc;

	/* Watch first, so a file that appears after a failure is noticed. */
	for (k = 0; k < 4; k++)
		for (i = 0; i < ns[k]; i++)
			source_file_watch(ctx, lists[k][i]);
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
	fc->lines_parsed = 0;
	if (ctx->whole) {
		rc = source_file_cache_export_whole(src, ctx, err);
		src->files_read = fc->files_read;
		src->lines_parsed = fc->lines_parsed;
		return rc;
	}
	/* Only a whole export keeps the files (source.h). */
	source_file_cache_clear(fc);
	source_file_routes_clear(fc);
	if ((rc = source_file_transports(src, ctx, err)) < 0)
		goto out;
	for (i = 0; i < fc->nd; i++)
		if ((rc = source_file_domains(src, ctx, fc->dfiles[i], err)) <
		    0)
			goto out;
	if ((rc = source_file_reserve(src, ctx, err)) < 0)
		goto out;
	for (i = 0; i < fc->nr; i++)
		if ((rc = source_file_recipients(src, ctx, fc->rfiles[i],
						 TEXTMAP_POSTMAP, err)) < 0)
			goto out;
	for (i = 0; i < fc->nl; i++)
		if ((rc = source_file_recipients(src, ctx, fc->lfiles[i],
						 TEXTMAP_LIST, err)) < 0)
			goto out;
	rc = SOURCE_OK;
out:
	source_file_routes_clear(fc);
	src->files_read = fc->files_read;
	src->lines_parsed = fc->lines_parsed;
	return rc;
}

/*
 * source_file_poll - 1 when a file system was mounted or unmounted under a
 * file
 */
static int source_file_poll(struct source *src, struct err *err)
{
	struct source_file_conf *fc = src->priv;
	size_t i;

	(void)err;
	for (i = 0; i < fc->ndirs; i++)
		if (source_mount_changed(&fc->mounts[i], fc->dirs[i]))
			return 1;
	return 0;
}

const struct source_ops source_file_ops = {
    .type = "file",
    .configure = source_file_configure,
    .check = source_file_check,
    .export = source_file_export,
    .poll = source_file_poll,
    .free = source_file_free,
};
