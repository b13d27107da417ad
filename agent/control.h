/*
 * control - the agent's control socket: a unix stream socket, one request
 * line per connection, one reply, then close
 *
 *	sync-now\n	-> "ok SERIAL HASH\n": the daemon exported, and
 *			   every backup that lacks the state is being sent
 *			   SERIAL (whose state hash is HASH);
 *			   "error 75 MESSAGE\n" (a source is down) or
 *			   "error 1 MESSAGE\n" (bad data in a source, or
 *			   the guard refused, with a few examples)
 *	sync-now allow-shrink\n
 *			-> the same, past the agent's guard
 *	wait SERIAL HASH MS\n
 *			-> "ok\n" as soon as every backup holds SERIAL (or
 *			   later) or the state HASH; "lag\n" after MS
 *			   milliseconds (at most a day) if one does not;
 *			   what "sync-now --wait" uses instead of polling
 *	status\n	-> the status JSON (status.h), then close
 *
 * Anything else, a line longer than CONTROL_LINE_MAX or a line not sent
 * within CONTROL_CLIENT_MS is answered "error 2 MESSAGE\n" or closed.
 *
 * The socket is mode 0660, group control_group when that group exists (else
 * a warning, and the agent's own group), so only root and that group may
 * ask for a sync.  Replies hold no recipient but the few examples the
 * status document and a refused sync-now show the operator.
 */
#ifndef MXSYNC_AGENT_CONTROL_H
#define MXSYNC_AGENT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../formats/state.h"

#define CONTROL_LINE_MAX 256
#define CONTROL_HASH_HEX (2 * STATE_HASH_LEN)
#define CONTROL_CLIENTS 16	     /* at once; more are closed at once */
#define CONTROL_CLIENT_MS 5000	     /* to send a whole request line */
#define CONTROL_WAIT_MAX_MS 86400000 /* "wait" waits at most a day */

/* control_client - one connection of the daemon's; fd -1 when free */
struct control_client {
	int fd;
	char line[CONTROL_LINE_MAX];
	size_t len;
	int64_t deadline;
	int waiting; /* "wait": until every backup acks */
	int pending; /* "sync-now": until sources settle */
	uint64_t wserial;
	char whash[CONTROL_HASH_HEX + 1];
};

/* the requests control_read returns */
enum {
	CONTROL_NONE,	  /* nothing to do (yet, or answered, or closed) */
	CONTROL_STATUS,	  /* reply with the status document */
	CONTROL_WAIT,	  /* c->waiting set: reply when the backups ack */
	CONTROL_SYNC_NOW, /* export now, reply "ok SERIAL HASH" or error */
	CONTROL_SYNC_NOW_SHRINK
};

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

/* control_accept - take new connections of lfd into free client slots */
void control_accept(int lfd, struct control_client *clients, size_t n,
		    int64_t now);
/*
 * control_read - read what c sent; a request once its line is whole
 * (CONTROL_NONE until then, and after a reply to a bad line)
 */
int control_read(struct control_client *c, int64_t now);
/* control_reply - send text, then close c */
void control_reply(struct control_client *c, const char *text);
/* control_hold - a sync-now answered later (when sources settle) */
void control_hold(struct control_client *c, int64_t deadline);
/*
 * control_expire - past its deadline, c is answered ("lag", or "error 75"
 * to a held sync-now) or closed: 1; else 0
 */
int control_expire(struct control_client *c, int64_t now);
/* control_client_close - close c's connection; the slot is free again */
void control_client_close(struct control_client *c);

#endif
