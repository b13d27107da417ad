/*
 * daemon_priv - what the daemon's files share: the daemon's state, the
 * export step (daemon_export.c), the control requests (daemon_request.c)
 * and the push scheduling of the loop (daemon.c).  Private to those files.
 */
#ifndef MXSYNC_AGENT_DAEMON_PRIV_H
#define MXSYNC_AGENT_DAEMON_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../keys/key.h"
#include "audit.h"
#include "config.h"
#include "control.h"
#include "ledger.h"
#include "push.h"
#include "sync.h"
#include "watch.h"

/* daemon - the running daemon; one, on daemon_run's stack */
struct daemon {
	struct agent_config *cfg;
	struct key_secret *sk;
	struct ledger *ledger;
	struct pusher *pusher;
	struct sync sync;
	int sigfd, ctlfd;
	struct watch *watch;
	int lockfd; /* state_dir/lock, held while running */
	struct control_client clients[CONTROL_CLIENTS];
	int dirty;
	int64_t dirty_first, dirty_at;
	int export_failed;
	char export_error[ERR_LEN];
	int export_error_kind;
	char export_examples[ERR_LEN]; /* guard: a few addresses, status only */
	int64_t busy_since;	       /* a source file is being written */
	int pending_shrink;	       /* a waiting sync-now --allow-shrink */
	size_t bare;		       /* domains without any recipient */
	char bare_names[512];
	int64_t *next_poll; /* per source, for poll sources */
	int stop, reload;
	struct audit audit; /* the periodic verify */
};

/*
 * daemon_export_run - export all sources, check the result with the guard
 * (unless allow_shrink, or it is the state already adopted) and adopt it;
 * SOURCE_BUSY while a source file is being written (d->dirty set to look
 * again), another SOURCE_* failure logged and kept for status
 */
int daemon_export_run(struct daemon *d, int allow_shrink);

/* daemon_schedule - start pushes to the backups that need one */
void daemon_schedule(struct daemon *d, int64_t now);

/* daemon_request_read - read a client; do what a whole request asks */
void daemon_request_read(struct daemon *d, struct control_client *c);
/* daemon_request_waiters - answer the "wait" clients whose serial is acked */
void daemon_request_waiters(struct daemon *d, int64_t now);
/* daemon_request_pending - answer the sync-now clients that waited for rc */
void daemon_request_pending(struct daemon *d, int rc);

#endif
