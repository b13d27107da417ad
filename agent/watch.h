/*
 * watch - the inotify descriptor through which the daemon learns that file
 * and Maildir sources changed
 *
 * Sources add their watches themselves while they export (source.h); the
 * daemon only opens the descriptor, drains it when it becomes readable and
 * debounces.  A full queue (IN_Q_OVERFLOW) counts as a change.
 */
#ifndef MXSYNC_AGENT_WATCH_H
#define MXSYNC_AGENT_WATCH_H

#include "../formats/err.h"

/* watch_open - a non-blocking inotify descriptor */
int watch_open(struct err *err);
/* watch_drain - read every pending event; the number of events, -1 on error */
int watch_drain(int fd, struct err *err);

#endif
