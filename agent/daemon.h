/*
 * daemon - "mxsync-agent run": watch the sources, push on change, answer
 * the control socket
 *
 * One thread, one loop around curl_multi_poll() with the signal, inotify,
 * control-socket and client descriptors as extra descriptors.  Changes are
 * debounced; an export that fails stops all pushing until a later export
 * works (the backups keep their last good maps); the latest state is the
 * only one ever sent.  SIGTERM/SIGINT stop, SIGHUP reloads the
 * configuration (swapped in only when valid).  Every verify_interval a
 * child process "mxsync-agent verify --json" compares the export with the
 * primary's Postfix; its report is kept for status, a change of it logged.
 */
#ifndef MXSYNC_AGENT_DAEMON_H
#define MXSYNC_AGENT_DAEMON_H

#include <jansson.h>

#include "config.h"
#include "ledger.h"
#include "sync.h"

/*
 * daemon_run - run until SIGTERM; returns the exit code (0, 2 or 75).
 * Takes ownership of cfg (a reload replaces it).
 */
int daemon_run(struct agent_config *cfg);

/*
 * daemon_status_json - the status document; s may be NULL (no daemon: the
 * ledger alone), sources then show no export data.
 */
json_t *daemon_status_json(const struct agent_config *cfg,
			   const struct ledger *l, const struct sync *s,
			   int running);

#endif
