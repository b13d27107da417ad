/*
 * watch - the inotify descriptor through which the daemon learns that file
 * and Maildir sources changed, and which files are still being written
 *
 * Sources add their watches themselves while they export (source.h): one
 * per directory, recorded with the path it was added under.  The daemon
 * drains the descriptor when it becomes readable and debounces.  Draining
 * also keeps two facts for the next export:
 *
 *	busy		a file in a watched directory that was modified
 *			(IN_MODIFY) and not closed by its writer since
 *			(IN_CLOSE_WRITE), removed or renamed over: it is being
 *			written, however long its writer pauses
 *	unmounts	the file system under a watch went away (IN_UNMOUNT)
 *
 * A watch the kernel dropped (IN_IGNORED: the directory was removed or its
 * file system unmounted) is forgotten; the next export adds it again when
 * the directory is back.  A full queue (IN_Q_OVERFLOW) counts as a change
 * and forgets every busy file (the read-time checks of the sources remain).
 * Failures are returned with a message; nothing here logs.
 */
#ifndef MXSYNC_AGENT_WATCH_H
#define MXSYNC_AGENT_WATCH_H

#include "../formats/err.h"

struct watch;

/* watch_new - a non-blocking inotify descriptor with empty tables */
struct watch *watch_new(struct err *err);
void watch_free(struct watch *w);
/* watch_fd - the descriptor to poll for reading */
int watch_fd(const struct watch *w);
/*
 * watch_add_dir - watch a directory (again: a no-op for the same one);
 * -1 only when the kernel refuses (missing directory, watch limit).
 */
int watch_add_dir(struct watch *w, const char *dir);
/* watch_drain - read every pending event; the number of events, -1 on error */
int watch_drain(struct watch *w, struct err *err);
/* watch_busy - 1 when path (DIR/NAME, DIR watched) is being written */
int watch_busy(const struct watch *w, const char *path);
/* watch_unmounts - IN_UNMOUNT events seen since the last call */
unsigned watch_unmounts(struct watch *w);

#endif
