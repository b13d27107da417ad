/*
 * status - the agent's status document (JSON), for "mxsync-agent status"
 * and the control socket's "status" request
 *
 * Built from the configuration, the ledger (what each backup acknowledged)
 * and, in the running daemon, the sync state and the facts only the daemon
 * knows (the guard's last refusal, bare domains, the periodic verify).
 * Without a daemon the ledger alone speaks: "running" is false and the
 * sources show no export data.  The document never holds a recipient
 * beyond the few examples the guard and the sources name.  Fails only by
 * running out of memory (jansson then drops members).
 */
#ifndef MXSYNC_AGENT_STATUS_H
#define MXSYNC_AGENT_STATUS_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "ledger.h"
#include "sync.h"

/* status_daemon - what only the running daemon knows; all borrowed */
struct status_daemon {
	const char *guard_refused; /* the guard's refusal, NULL if none */
	const char *guard_examples;
	size_t bare; /* domains without any recipient */
	const char *bare_names;
	json_t *verify; /* the last periodic verify's report, or NULL */
	int verify_running;
};

/*
 * status_json - the status document (caller decrefs); s and d are NULL
 * when no daemon runs
 */
json_t *status_json(const struct agent_config *cfg, const struct ledger *l,
		    const struct sync *s, const struct status_daemon *d);

#endif
