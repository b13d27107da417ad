/*
 * source_maildir - domains and recipients from a tree of Maildirs
 *
 *	[source NAME]
 *	type   = maildir
 *	root   = /var/vmail
 *	layout = %d/%n		path below root; %d is the domain directory,
 *				%n the local part; literal segments may follow
 *				or precede, e.g. %d/%n/Maildir
 *
 * A mailbox is a directory with cur/, new/ and tmp/ at the end of the
 * layout; it yields the recipient "%n@%d".  Every %d directory is a domain
 * (with the [agent] nexthop), even one without mailboxes yet.  Entries whose
 * names start with "." are skipped.  A missing or unreadable root is
 * SOURCE_DOWN; a name that is not a valid domain or local part is
 * SOURCE_BAD naming the path.  Every directory walked (not the inside of
 * cur/new/tmp) is watched with inotify, so new domains and mailboxes are
 * seen as they appear.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

#define MAILDIR_SEGS 16

struct maildir_conf {
	char *type;
	char *root;
	char *layout;
	char *segs[MAILDIR_SEGS];
	size_t nsegs;
};

static const struct conf_key maildir_keys[] = {
	{ "type", CONF_STRING, NULL, offsetof(struct maildir_conf, type), 0, 0 },
	{ "root", CONF_STRING, NULL, offsetof(struct maildir_conf, root), 0, 0 },
	{ "layout", CONF_STRING, "%d/%n",
	  offsetof(struct maildir_conf, layout), 0, 0 },
	{ NULL, 0, NULL, 0, 0, 0 },
};

static int maildir_configure(struct source *src, const struct conf_file *cf,
			     const struct conf_section *sec, struct err *err)
{
	struct maildir_conf *mc;
	const char *p;
	int nd = 0, nn = 0;
	unsigned line;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = mc;
	if (conf_apply(cf, sec, maildir_keys, mc, err) < 0)
		return -1;
	if (mc->root[0] != '/')
		return err_set(err, "%s:%u: [source %s]: root must be an "
			       "absolute path", cf->path,
			       conf_line(sec, "root"), sec->name);
	line = conf_line(sec, "layout");
	for (p = mc->layout; *p != '\0';) {
		size_t len = strcspn(p, "/");
		const char *seg;

		if (len == 0) {
			p++;
			continue;
		}
		if (mc->nsegs == MAILDIR_SEGS)
			return err_set(err, "%s:%u: [source %s]: layout has too "
				       "many segments", cf->path, line,
				       sec->name);
		if ((mc->segs[mc->nsegs] = strndup(p, len)) == NULL)
			return err_set(err, "out of memory");
		/* counted at once, so that a refusal below frees it too */
		seg = mc->segs[mc->nsegs++];
		if (strcmp(seg, "%d") == 0)
			nd++;
		else if (strcmp(seg, "%n") == 0) {
			if (nd == 0)
				return err_set(err, "%s:%u: [source %s]: layout: "
					       "%%n must come after %%d",
					       cf->path, line, sec->name);
			nn++;
		} else if (strchr(seg, '%') != NULL ||
			   strcmp(seg, "..") == 0 || strcmp(seg, ".") == 0)
			return err_set(err, "%s:%u: [source %s]: layout: segment "
				       "'%s' (use %%d, %%n or a plain name)",
				       cf->path, line, sec->name, seg);
		p += len;
	}
	if (nd != 1 || nn != 1)
		return err_set(err, "%s:%u: [source %s]: layout must hold %%d "
			       "and %%n once each, e.g. %%d/%%n", cf->path,
			       line, sec->name);
	return 0;
}

static void maildir_free(struct source *src)
{
	struct maildir_conf *mc = src->priv;

	if (mc == NULL)
		return;
	while (mc->nsegs > 0)
		free(mc->segs[--mc->nsegs]);
	conf_free_target(maildir_keys, mc);
	free(mc);
	src->priv = NULL;
}

static int maildir_check(struct source *src, struct err *err)
{
	struct maildir_conf *mc = src->priv;
	struct stat st;

	if (stat(mc->root, &st) < 0)
		return err_sys(err, "source %s: stat(%s)", src->name, mc->root);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, "source %s: %s is not a directory",
			       src->name, mc->root);
	return 0;
}

/* maildir_is_dir - 1 when path is a directory (not following a symlink) */
static int maildir_is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int maildir_is_mailbox(const char *path)
{
	char p[4200];
	const char *sub[] = { "cur", "new", "tmp" };
	size_t i;

	for (i = 0; i < 3; i++) {
		int n = snprintf(p, sizeof(p), "%s/%s", path, sub[i]);

		if (n < 0 || (size_t)n >= sizeof(p) || !maildir_is_dir(p))
			return 0;
	}
	return 1;
}

struct maildir_walk {
	struct source *src;
	struct source_export_ctx *ctx;
	struct maildir_conf *mc;
	const char *domain;	/* the current %d name */
	const char *local;	/* the current %n name */
};

/* maildir_walk - walk segment i below dir */
static int maildir_walk(struct maildir_walk *w, const char *dir, size_t i,
			struct err *err)
{
	const char *seg;
	DIR *d = NULL;
	struct dirent *de;
	char path[4200];
	int n, rc = SOURCE_OK;

	if (i == w->mc->nsegs) {
		char addr[600];

		if (!maildir_is_mailbox(dir))
			return SOURCE_OK;
		n = snprintf(addr, sizeof(addr), "%s@%s", w->local, w->domain);
		if (n < 0 || (size_t)n >= sizeof(addr)) {
			err_set(err, "source %s: %s: name too long",
				w->src->name, dir);
			return SOURCE_BAD;
		}
		return source_add_recipient(w->src, w->ctx, addr, (size_t)n, dir,
					    err);
	}
	seg = w->mc->segs[i];
	if (strcmp(seg, "%d") != 0 && strcmp(seg, "%n") != 0) {
		n = snprintf(path, sizeof(path), "%s/%s", dir, seg);
		if (n < 0 || (size_t)n >= sizeof(path))
			return SOURCE_OK;
		if (!maildir_is_dir(path))
			return SOURCE_OK;
		source_watch_dir(w->ctx, path);
		return maildir_walk(w, path, i + 1, err);
	}
	if ((d = opendir(dir)) == NULL) {
		err_sys(err, "source %s: opendir(%s)", w->src->name, dir);
		return SOURCE_DOWN;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				err_sys(err, "source %s: readdir(%s)",
					w->src->name, dir);
				rc = SOURCE_DOWN;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) || !maildir_is_dir(path))
			continue;
		source_watch_dir(w->ctx, path);
		if (strcmp(seg, "%d") == 0) {
			w->domain = de->d_name;
			if ((rc = source_add_domain(w->src, w->ctx, de->d_name,
						    strlen(de->d_name), NULL, 0,
						    path, err)) < 0)
				break;
		} else
			w->local = de->d_name;
		if ((rc = maildir_walk(w, path, i + 1, err)) < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int maildir_export(struct source *src, struct source_export_ctx *ctx,
			  struct err *err)
{
	struct maildir_conf *mc = src->priv;
	struct maildir_walk w = { src, ctx, mc, NULL, NULL };
	struct stat st;

	if (stat(mc->root, &st) < 0) {
		err_sys(err, "source %s: stat(%s)", src->name, mc->root);
		return SOURCE_DOWN;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(err, "source %s: %s is not a directory", src->name,
			mc->root);
		return SOURCE_DOWN;
	}
	source_watch_dir(ctx, mc->root);
	return maildir_walk(&w, mc->root, 0, err);
}

const struct source_ops source_maildir_ops = {
	.type = "maildir",
	.configure = maildir_configure,
	.check = maildir_check,
	.export = maildir_export,
	.poll = NULL,
	.free = maildir_free,
};
