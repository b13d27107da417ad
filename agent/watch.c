/*
 * watch - inotify plumbing for the daemon (see watch.h)
 *
 * Events carry little meaning beyond "something changed": the daemon
 * re-exports every source and pushes only if the canonical state changed,
 * so a spurious event costs one export and nothing else.  The one fact kept
 * per file is whether a writer still holds it modified and open; the
 * tables are small (one entry per watched directory, one per file being
 * written) and searched linearly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "watch.h"

#define WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |                 \
	 IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |             \
	 IN_MOVE_SELF | IN_ONLYDIR)

struct watch_dir {
	int wd;
	char *path;
};

struct watch_file {
	int wd;
	char *name;
};

struct watch {
	int fd;
	struct watch_dir *dirs;
	size_t ndirs;
	struct watch_file *busy;
	size_t nbusy;
	unsigned unmounts;
};

struct watch *watch_new(struct err *err)
{
	struct watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(err, "out of memory");
		return NULL;
	}
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		err_sys(err, "inotify_init1");
		free(w);
		return NULL;
	}
	return w;
}

/* watch_busy_del - forget busy entry i */
static void watch_busy_del(struct watch *w, size_t i)
{
	free(w->busy[i].name);
	w->busy[i] = w->busy[--w->nbusy];
}

void watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	while (w->ndirs > 0)
		free(w->dirs[--w->ndirs].path);
	while (w->nbusy > 0)
		watch_busy_del(w, w->nbusy - 1);
	free(w->dirs);
	free(w->busy);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

int watch_add_dir(struct watch *w, const char *dir)
{
	struct watch_dir *nd;
	size_t i;
	int wd;

	/*
	 * Directory events cover files replaced by rename (editors,
	 * postmap-style tools), files written in place, and mailboxes
	 * created or removed.  A failure (watch limit) only costs
	 * promptness: the daemon also re-exports on a timer while failing.
	 */
	if ((wd = inotify_add_watch(w->fd, dir, WATCH_MASK)) < 0)
		return -1;
	for (i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd && strcmp(w->dirs[i].path, dir) == 0)
			return 0;
	if ((nd = realloc(w->dirs, (w->ndirs + 1) * sizeof(*nd))) == NULL)
		return -1;
	w->dirs = nd;
	if ((nd[w->ndirs].path = strdup(dir)) == NULL)
		return -1;
	nd[w->ndirs++].wd = wd;
	return 0;
}

/* watch_find - index of the busy entry (wd, name), or -1 */
static long watch_find(const struct watch *w, int wd, const char *name)
{
	size_t i;

	for (i = 0; i < w->nbusy; i++)
		if (w->busy[i].wd == wd && strcmp(w->busy[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* watch_event - keep the facts one event carries */
static void watch_event(struct watch *w, const struct inotify_event *ev)
{
	struct watch_file *nb;
	size_t i;
	long k;

	if (ev->mask & IN_Q_OVERFLOW) {
		while (w->nbusy > 0)
			watch_busy_del(w, w->nbusy - 1);
		return;
	}
	if (ev->mask & IN_UNMOUNT)
		w->unmounts++;
	if (ev->mask & IN_IGNORED) {
		/* The kernel dropped this watch: forget all about it. */
		for (i = w->ndirs; i-- > 0;)
			if (w->dirs[i].wd == ev->wd) {
				free(w->dirs[i].path);
				w->dirs[i] = w->dirs[--w->ndirs];
			}
		for (i = w->nbusy; i-- > 0;)
			if (w->busy[i].wd == ev->wd)
				watch_busy_del(w, i);
		return;
	}
	if (ev->len == 0 || ev->name[0] == '\0')
		return;
	k = watch_find(w, ev->wd, ev->name);
	if (ev->mask & IN_MODIFY) {
		if (k >= 0)
			return;
		nb = realloc(w->busy, (w->nbusy + 1) * sizeof(*nb));
		if (nb == NULL)
			return; /* only the read-time checks remain */
		w->busy = nb;
		if ((nb[w->nbusy].name = strdup(ev->name)) == NULL)
			return;
		nb[w->nbusy++].wd = ev->wd;
	} else if (k >= 0 && (ev->mask & (IN_CLOSE_WRITE | IN_DELETE |
					  IN_MOVED_FROM | IN_MOVED_TO))) {
		/* Closed, gone, or a new file renamed into its place. */
		watch_busy_del(w, (size_t)k);
	}
}

int watch_drain(struct watch *w, struct err *err)
{
	char buf[16384]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	int events = 0;

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return events;
		if (n < 0)
			return err_sys(err, "read(inotify)");
		if (n == 0)
			return events;
		for (p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			watch_event(w, ev);
			events++;
			p += sizeof(*ev) + ev->len;
		}
	}
}

int watch_busy(const struct watch *w, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen, i;

	if (w == NULL || w->nbusy == 0 || slash == NULL)
		return 0;
	dlen = slash == path ? 1 : (size_t)(slash - path);
	for (i = 0; i < w->ndirs; i++)
		if (strlen(w->dirs[i].path) == dlen &&
		    memcmp(w->dirs[i].path, path, dlen) == 0 &&
		    watch_find(w, w->dirs[i].wd, slash + 1) >= 0)
			return 1;
	return 0;
}

unsigned watch_unmounts(struct watch *w)
{
	unsigned n = w->unmounts;

	w->unmounts = 0;
	return n;
}
