/*
 * source_file - domains and recipients from Postfix text map files
 *
 *	[source NAME]
 *	type       = file
 *	domains    = FILE...	one domain per line, first word of each line
 *				(a plain list or a map such as
 *				"example.com OK"); every domain gets the
 *				[agent] nexthop
 *	recipients = FILE...	Postfix map source files (postmap syntax):
 *				virtual_mailbox_maps, virtual_alias_maps,
 *				relay_recipient_maps; the key column only
 *	lists      = FILE...	plain lists, one address per line
 *
 * Keys without "@" in a recipients map are skipped: virtual_alias_maps may
 * hold bare local names, which apply to local delivery only and can never
 * be a relay recipient of a backup MX.  "@domain" keys are catch-alls.
 *
 * A missing or unreadable file is SOURCE_DOWN; a malformed line is
 * SOURCE_BAD, reported as "file:line: message".  The directories holding the
 * files are watched, so edits that replace a file by rename are seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/textmap.h"
#include "source.h"

#define FILE_MAX_SIZE (4ULL << 30)

struct file_conf {
	char *type;
	char *domains;
	char *recipients;
	char *lists;
	/* parsed */
	char **dfiles, **rfiles, **lfiles;
	size_t nd, nr, nl;
};

static const struct conf_key file_keys[] = {
	{ "type", CONF_STRING, NULL, offsetof(struct file_conf, type), 0, 0 },
	{ "domains", CONF_STRING, "", offsetof(struct file_conf, domains), 0, 0 },
	{ "recipients", CONF_STRING, "",
	  offsetof(struct file_conf, recipients), 0, 0 },
	{ "lists", CONF_STRING, "", offsetof(struct file_conf, lists), 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
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
			err_set(err, "%s:%u: %s: '%.*s' is not an absolute path",
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
	    file_split(fc->recipients, &fc->rfiles, &fc->nr, cf->path,
		       conf_line(sec, "recipients"), "recipients", err) < 0 ||
	    file_split(fc->lists, &fc->lfiles, &fc->nl, cf->path,
		       conf_line(sec, "lists"), "lists", err) < 0)
		return -1;
	if (fc->nd + fc->nr + fc->nl == 0)
		return err_set(err, "%s:%u: [source %s]: set at least one of "
			       "domains, recipients, lists", cf->path,
			       sec->line, sec->name);
	return 0;
}

static void file_free(struct source *src)
{
	struct file_conf *fc = src->priv;

	if (fc == NULL)
		return;
	file_free_list(fc->dfiles, fc->nd);
	file_free_list(fc->rfiles, fc->nr);
	file_free_list(fc->lfiles, fc->nl);
	conf_free_target(file_keys, fc);
	free(fc);
	src->priv = NULL;
}

/* file_readable - SOURCE_DOWN with a message when path cannot be read */
static int file_readable(struct source *src, const char *path,
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

static int file_check(struct source *src, struct err *err)
{
	struct file_conf *fc = src->priv;
	size_t i;

	for (i = 0; i < fc->nd; i++)
		if (file_readable(src, fc->dfiles[i], err) < 0)
			return -1;
	for (i = 0; i < fc->nr; i++)
		if (file_readable(src, fc->rfiles[i], err) < 0)
			return -1;
	for (i = 0; i < fc->nl; i++)
		if (file_readable(src, fc->lfiles[i], err) < 0)
			return -1;
	return 0;
}

static void file_watch(struct source_export_ctx *ctx, const char *path)
{
	char *copy;

	if (ctx->inotify_fd < 0 || (copy = strdup(path)) == NULL)
		return;
	source_watch_dir(ctx, dirname(copy));
	free(copy);
}

/* file_read_all - the whole file into b; SOURCE_DOWN on I/O errors */
static int file_read_all(struct source *src, const char *path, struct buf *b,
			 struct err *err)
{
	int fd = -1, rc = SOURCE_DOWN;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s)", path);
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
	rc = SOURCE_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		err_prefix(err, "source %s", src->name);
	return rc;
}

/* file_domains - first word of every line that does not continue one */
static int file_domains(struct source *src, struct source_export_ctx *ctx,
			const char *path, struct err *err)
{
	struct buf b = BUF_INIT;
	const char *p, *end;
	unsigned line = 0;
	int rc;

	if ((rc = file_read_all(src, path, &b, err)) < 0)
		goto out;
	p = b.data != NULL ? b.data : "";
	end = p + b.len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t llen, wlen;
		char where[SOURCE_WHERE_MAX];

		if (eol == NULL)
			eol = end;
		llen = (size_t)(eol - p);
		line++;
		if (memchr(p, '\0', llen) != NULL) {
			rc = SOURCE_BAD;
			err_set(err, "source %s: %s:%u: NUL byte", src->name,
				path, line);
			goto out;
		}
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (llen == 0 || p[0] == '#' || p[0] == ' ' || p[0] == '\t') {
			p = eol + 1;
			continue;
		}
		wlen = strcspn(p, " \t\r\n");
		if (wlen > llen)
			wlen = llen;
		snprintf(where, sizeof(where), "%s:%u", path, line);
		if ((rc = source_add_domain(src, ctx, p, wlen, NULL, 0, where,
					    err)) < 0)
			goto out;
		p = eol + 1;
	}
	rc = SOURCE_OK;
out:
	buf_free(&b);
	return rc;
}

struct file_cb {
	struct source *src;
	struct source_export_ctx *ctx;
	int skip_local;
};

static int file_key(void *arg, const char *key, size_t klen,
		    const char *value, size_t vlen, const char *file,
		    unsigned line, struct err *err)
{
	struct file_cb *cb = arg;

	(void)value;
	(void)vlen;
	if (cb->skip_local && memchr(key, '@', klen) == NULL)
		return 0;
	return source_add_recipient_n(cb->src, cb->ctx, key, klen, file, ":",
				      line, err) < 0 ? -1 : 0;
}

static int file_recipients(struct source *src, struct source_export_ctx *ctx,
			   const char *path, enum textmap_kind kind,
			   struct err *err)
{
	struct file_cb cb = { src, ctx, kind == TEXTMAP_POSTMAP };
	int rc;

	if ((rc = file_readable(src, path, err)) < 0)
		return rc;
	if (textmap_parse_file(path, kind, file_key, &cb, err) != 0) {
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
		const char *path = i < fc->nr ? fc->rfiles[i]
					      : fc->lfiles[i - fc->nr];

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

static int file_export(struct source *src, struct source_export_ctx *ctx,
		       struct err *err)
{
	struct file_conf *fc = src->priv;
	size_t i;
	int rc;

	/* Watch first, so a file that appears after a failure is noticed. */
	for (i = 0; i < fc->nd; i++)
		file_watch(ctx, fc->dfiles[i]);
	for (i = 0; i < fc->nr; i++)
		file_watch(ctx, fc->rfiles[i]);
	for (i = 0; i < fc->nl; i++)
		file_watch(ctx, fc->lfiles[i]);
	for (i = 0; i < fc->nd; i++)
		if ((rc = file_domains(src, ctx, fc->dfiles[i], err)) < 0)
			return rc;
	if ((rc = file_reserve(src, ctx, err)) < 0)
		return rc;
	for (i = 0; i < fc->nr; i++)
		if ((rc = file_recipients(src, ctx, fc->rfiles[i],
					  TEXTMAP_POSTMAP, err)) < 0)
			return rc;
	for (i = 0; i < fc->nl; i++)
		if ((rc = file_recipients(src, ctx, fc->lfiles[i],
					  TEXTMAP_LIST, err)) < 0)
			return rc;
	return SOURCE_OK;
}

const struct source_ops source_file_ops = {
	.type = "file",
	.configure = file_configure,
	.check = file_check,
	.export = file_export,
	.poll = NULL,
	.free = file_free,
};
