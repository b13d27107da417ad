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
 * (with the [agent] nexthop), even one without mailboxes yet.  Symbolic
 * links to directories are followed when their target stays under root
 * (the usual alias domain, "alias.example -> example.com", or a mailbox
 * linked from elsewhere in the tree); one that leads out of root is not.
 * Entries whose names start with "." are skipped; so are %d entries that
 * are no valid domain name ("lost+found") and links out of root: they are
 * counted (struct source's skipped), never exported.
 *
 * This source knows mailboxes only: no aliases, catch-alls or active flags.
 * It is a supplement to a source that knows those.
 *
 * A missing or unreadable root is SOURCE_DOWN, and so is a root that was a
 * mount point at the first export and is not any more (its file system was
 * unmounted: the empty directory below must not be exported); a root that
 * becomes a mount point later is taken as it is from then on.  A local part
 * that is not valid is SOURCE_BAD naming the path.  Every directory walked
 * (not the inside of cur/new/tmp) is watched with inotify, so new domains
 * and mailboxes are seen as they appear.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/norm.h"
#include "source.h"

#define MAILDIR_SEGS 16

struct maildir_conf {
	char *type;
	char *root;
	char *layout;
	char *segs[MAILDIR_SEGS];
	size_t nsegs;
	struct source_mount root_mount; /* the root as first seen */
	char real_root[PATH_MAX];	/* root with symlinks resolved */
};

static const struct conf_key source_maildir_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct maildir_conf, type), 0, 0},
    {"root", CONF_STRING, NULL, offsetof(struct maildir_conf, root), 0, 0},
    {"layout", CONF_STRING, "%d/%n", offsetof(struct maildir_conf, layout), 0,
     0},
    {NULL, 0, NULL, 0, 0, 0},
};

static int source_maildir_configure(struct source *src,
				    const struct conf_file *cf,
				    const struct conf_section *sec,
				    struct err *err)
{
	struct maildir_conf *mc;
	const char *p;
	int nd = 0, nn = 0;
	unsigned line;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = mc;
	if (conf_apply(cf, sec, source_maildir_keys, mc, err) < 0)
		return -1;
	/* A mailbox tree always yields recipients, unless it is broken. */
	src->no_recipients = 0;
	src->poll_interval_ms = 2000;
	if (mc->root[0] != '/')
		return err_set(err,
			       "%s:%u: [source %s]: root must be an "
			       "absolute path",
			       cf->path, conf_line(sec, "root"), sec->name);
	line = conf_line(sec, "layout");
	for (p = mc->layout; *p != '\0';) {
		size_t len = strcspn(p, "/");
		const char *seg;

		if (len == 0) {
			p++;
			continue;
		}
		if (mc->nsegs == MAILDIR_SEGS)
			return err_set(err,
				       "%s:%u: [source %s]: layout has too "
				       "many segments",
				       cf->path, line, sec->name);
		if ((mc->segs[mc->nsegs] = strndup(p, len)) == NULL)
			return err_set(err, "out of memory");
		/* counted at once, so that a refusal below frees it too */
		seg = mc->segs[mc->nsegs++];
		if (strcmp(seg, "%d") == 0)
			nd++;
		else if (strcmp(seg, "%n") == 0) {
			if (nd == 0)
				return err_set(err,
					       "%s:%u: [source %s]: layout: "
					       "%%n must come after %%d",
					       cf->path, line, sec->name);
			nn++;
		} else if (strchr(seg, '%') != NULL || strcmp(seg, "..") == 0 ||
			   strcmp(seg, ".") == 0)
			return err_set(err,
				       "%s:%u: [source %s]: layout: segment "
				       "'%s' (use %%d, %%n or a plain name)",
				       cf->path, line, sec->name, seg);
		p += len;
	}
	if (nd != 1 || nn != 1)
		return err_set(err,
			       "%s:%u: [source %s]: layout must hold %%d "
			       "and %%n once each, e.g. %%d/%%n",
			       cf->path, line, sec->name);
	return 0;
}

static void source_maildir_free(struct source *src)
{
	struct maildir_conf *mc = src->priv;

	if (mc == NULL)
		return;
	while (mc->nsegs > 0)
		free(mc->segs[--mc->nsegs]);
	conf_free_target(source_maildir_keys, mc);
	free(mc);
	src->priv = NULL;
}

static int source_maildir_check(struct source *src, struct err *err)
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

/* source_maildir_is_dir - 1 when path is a directory (not via a symlink) */
static int source_maildir_is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * source_maildir_dir_under - 1 when path is a directory, or a symlink to one
 * whose target stays under the real root; 0 otherwise, *escapes_r = 1 for a
 * link that leads out of root
 */
static int source_maildir_dir_under(const struct maildir_conf *mc,
				    const char *path, int *escapes_r)
{
	char real[PATH_MAX];
	struct stat st;
	size_t rl = strlen(mc->real_root);

	*escapes_r = 0;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode))
		return 1;
	if (!S_ISLNK(st.st_mode) || realpath(path, real) == NULL ||
	    stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (strncmp(real, mc->real_root, rl) != 0 ||
	    (real[rl] != '/' && !(rl == 1 && real[0] == '/'))) {
		*escapes_r = 1;
		return 0;
	}
	return 1;
}

/*
 * source_maildir_skip - count an entry that is not exported, keep one
 * example
 */
static void source_maildir_skip(struct source *src, const char *path,
				const char *why)
{
	if (src->skipped++ == 0)
		snprintf(src->skipped_example, sizeof(src->skipped_example),
			 "%.200s (%s)", path, why);
}

static int source_maildir_is_mailbox(const char *path)
{
	char p[4200];
	const char *sub[] = {"cur", "new", "tmp"};
	size_t i;

	for (i = 0; i < 3; i++) {
		int n = snprintf(p, sizeof(p), "%s/%s", path, sub[i]);

		if (n < 0 || (size_t)n >= sizeof(p) ||
		    !source_maildir_is_dir(p))
			return 0;
	}
	return 1;
}

struct maildir_walk {
	struct source *src;
	struct source_export_ctx *ctx;
	struct maildir_conf *mc;
	const char *domain; /* the current %d name */
	const char *local;  /* the current %n name */
	char domain_buf[NORM_BUF_SIZE];
};

/* source_maildir_walk - walk segment i below dir */
static int source_maildir_walk(struct maildir_walk *w, const char *dir,
			       size_t i, struct err *err)
{
	const char *seg;
	DIR *d = NULL;
	struct dirent *de;
	char path[4200];
	int n, rc = SOURCE_OK, esc;

	if (i == w->mc->nsegs) {
		char addr[600];

		/* cur/, new/, tmp/ are real directories, also in a link. */
		if (!source_maildir_is_mailbox(dir))
			return SOURCE_OK;
		n = snprintf(addr, sizeof(addr), "%s@%s", w->local, w->domain);
		if (n < 0 || (size_t)n >= sizeof(addr)) {
			err_set(err, "source %s: %s: name too long",
				w->src->name, dir);
			return SOURCE_BAD;
		}
		return source_add_recipient(w->src, w->ctx, addr, (size_t)n,
					    dir, err);
	}
	seg = w->mc->segs[i];
	if (strcmp(seg, "%d") != 0 && strcmp(seg, "%n") != 0) {
		n = snprintf(path, sizeof(path), "%s/%s", dir, seg);
		if (n < 0 || (size_t)n >= sizeof(path))
			return SOURCE_OK;
		if (!source_maildir_dir_under(w->mc, path, &esc)) {
			if (esc)
				source_maildir_skip(w->src, path,
						    "link out of root");
			return SOURCE_OK;
		}
		source_watch_dir(w->ctx, path);
		return source_maildir_walk(w, path, i + 1, err);
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
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (!source_maildir_dir_under(w->mc, path, &esc)) {
			if (esc)
				source_maildir_skip(w->src, path,
						    "link out of root");
			continue;
		}
		if (strcmp(seg, "%d") == 0) {
			size_t dl;
			struct err derr;

			/* lost+found and the like: not a domain, not an error
			 */
			if (norm_domain(de->d_name, strlen(de->d_name),
					w->domain_buf, sizeof(w->domain_buf),
					&dl, &derr) < 0 ||
			    strchr(de->d_name, '.') == NULL) {
				source_maildir_skip(w->src, path,
						    "not a domain name");
				continue;
			}
			source_watch_dir(w->ctx, path);
			w->domain = de->d_name;
			if ((rc = source_add_domain(w->src, w->ctx, de->d_name,
						    strlen(de->d_name), NULL, 0,
						    path, err)) < 0)
				break;
		} else {
			source_watch_dir(w->ctx, path);
			w->local = de->d_name;
		}
		if ((rc = source_maildir_walk(w, path, i + 1, err)) < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int source_maildir_export(struct source *src,
				 struct source_export_ctx *ctx, struct err *err)
{
	struct maildir_conf *mc = src->priv;
	struct maildir_walk w = {src, ctx, mc, NULL, NULL, ""};
	struct stat st;
	int rc;

	if (stat(mc->root, &st) < 0) {
		err_sys(err, "source %s: stat(%s)", src->name, mc->root);
		return SOURCE_DOWN;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(err, "source %s: %s is not a directory", src->name,
			mc->root);
		return SOURCE_DOWN;
	}
	if ((rc = source_mount_check(src, &mc->root_mount, mc->root, err)) < 0)
		return rc;
	if (realpath(mc->root, mc->real_root) == NULL) {
		err_sys(err, "source %s: realpath(%s)", src->name, mc->root);
		return SOURCE_DOWN;
	}
	source_watch_dir(ctx, mc->root);
	return source_maildir_walk(&w, mc->root, 0, err);
}

/*
 * source_maildir_poll - 1 when root was mounted or unmounted since the last
 * export: inotify says nothing when a file system is mounted on a watched
 * directory, so the daemon asks every poll_interval (2 s)
 */
static int source_maildir_poll(struct source *src, struct err *err)
{
	struct maildir_conf *mc = src->priv;

	(void)err;
	return source_mount_changed(&mc->root_mount, mc->root);
}

const struct source_ops source_maildir_ops = {
    .type = "maildir",
    .configure = source_maildir_configure,
    .check = source_maildir_check,
    .export = source_maildir_export,
    .poll = source_maildir_poll,
    .free = source_maildir_free,
};
