/*
 * cmd - the commands of mxsync-agent other than "run" (daemon.h), a file
 * each: cmd_export.c (export), cmd_push.c (push), cmd_status.c (status),
 * cmd_sync_now.c (sync-now), cmd_verify.c (verify); cmd.c holds what they
 * share
 *
 * cmd_NAME(cfg, argc, argv) parses its options (argv[0] is the command
 * name), prints results on stdout and errors on stderr as "mxsync-agent:
 * message", and returns the exit code (formats/exitcode.h).  Program code:
 * only mxsync-agent links these files.
 */
#ifndef MXSYNC_AGENT_CMD_H
#define MXSYNC_AGENT_CMD_H

#include <jansson.h>

#include "../formats/err.h"
#include "../formats/state.h"
#include "config.h"
#include "ledger.h"

/* cmd_usage - the usage text on stderr */
void cmd_usage(void);
/* cmd_source_exit - the exit code for a failed export */
int cmd_source_exit(int rc);
/* cmd_warn_unlisted - one line per source that dropped recipients */
void cmd_warn_unlisted(const struct agent_config *cfg);

/*
 * cmd_export_settled - export_state, again every 200 ms while a file
 * changes under the read, up to settle_timeout; then SOURCE_DOWN
 */
int cmd_export_settled(struct agent_config *cfg, struct state **st_r,
		       struct err *err);
/*
 * cmd_export_guard - the agent's guard against the acknowledged base
 * (l's); 0 to go on, else prints the refusal with its examples and
 * returns 1
 */
int cmd_export_guard(struct agent_config *cfg, const struct ledger *l,
		     const struct state *st);
/* cmd_status_get - the status document from the daemon, else the ledger */
json_t *cmd_status_get(const struct agent_config *cfg, struct err *err);

int cmd_export(struct agent_config *cfg, int argc, char **argv);
int cmd_push(struct agent_config *cfg, int argc, char **argv);
int cmd_status(struct agent_config *cfg, int argc, char **argv);
int cmd_sync_now(struct agent_config *cfg, int argc, char **argv);
int cmd_verify(struct agent_config *cfg, int argc, char **argv);

#endif
