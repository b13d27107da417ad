/*
 * daemon - "mxsync-agent run": watch the sources, push on change, answer
 * the control socket
 *
 * One thread, one loop around curl_multi_poll() with the signal, inotify,
 * control-socket and client descriptors as extra descriptors.  Changes are
 * debounced; an export that fails stops all pushing until a later export
 * works (the backups keep their last good maps); the latest state is the
 * only one ever sent.  SIGTERM/SIGINT stop, SIGHUP reloads the
 * configuration (swapped in only when valid).  Every verify_interval the
 * periodic verify runs (audit.h).  The control socket's protocol is
 * control.h's, the status document status.h's; the daemon does what a
 * request asks.
 */
#ifndef MXSYNC_AGENT_DAEMON_H
#define MXSYNC_AGENT_DAEMON_H

#include "config.h"

/*
 * daemon_run - run until SIGTERM; returns the exit code (0, 2 or 75).
 * Takes ownership of cfg (a reload replaces it).
 */
int daemon_run(struct agent_config *cfg);

#endif
