/*
 * control - the agent's control socket: a unix stream socket, one request
 * line per connection, one reply, then close
 *
 *	sync-now\n	-> "ok SERIAL HASH\n": the daemon exported, and
 *			   every backup that lacks the state is being sent
 *			   SERIAL (whose state hash is HASH);
 *			   "error 75 MESSAGE\n" (a source is down) or
 *			   "error 1 MESSAGE\n" (bad data in a source)
 *	wait SERIAL HASH MS\n
 *			-> "ok\n" as soon as every backup holds SERIAL (or
 *			   later) or the state HASH; "lag\n" after MS
 *			   milliseconds (at most a day) if one does not;
 *			   what "sync-now --wait" uses instead of polling
 *	status\n	-> the status JSON, then close
 *
 * The socket is mode 0660, group control_group when that group exists (else
 * a warning and root's group), so only root and that group may ask for a
 * sync.  Replies never hold recipients.
 */
#ifndef MXSYNC_AGENT_CONTROL_H
#define MXSYNC_AGENT_CONTROL_H

#include "../formats/err.h"

#define CONTROL_LINE_MAX 256

/*
 * control_listen - bind and listen on path (a stale socket is replaced);
 * *warning_r is set (static text) when the group does not exist.
 */
int control_listen(const char *path, const char *group, const char **warning_r,
		   struct err *err);

/*
 * control_request - send one line, read the whole reply (caller frees);
 * -1 with "connect(PATH): ..." when the daemon is not there.
 */
int control_request(const char *path, const char *line, int timeout_ms,
		    char **reply_r, struct err *err);

#endif
