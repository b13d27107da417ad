/*
 * daemon_request - what the control socket's requests do in the daemon
 * (the protocol itself is control.h's): "status" answers the status
 * document, "sync-now" exports now and starts the pushes that are needed,
 * "wait" answers once every backup acknowledged
 *
 * A sync-now whose export waits for a file being written is answered when
 * the sources settle or fail; a failed export answers "error 75" (down) or
 * "error 1" (bad data, the guard) with its message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/manifest.h"
#include "daemon_priv.h"
#include "source.h"
#include "status.h"

/*
 * daemon_request_acked - 1 when every backup holds serial (or a later one)
 * or the state with this hash, as "sync-now --wait" judges it
 */
static int daemon_request_acked(const struct daemon *d, uint64_t serial,
				const char *hash)
{
	char hex[2 * STATE_HASH_LEN + 1];
	size_t i;

	for (i = 0; i < d->sync.n; i++) {
		const struct ledger_backup *lb = d->sync.b[i].lb;

		if (serial != 0 && lb->serial >= serial)
			continue;
		manifest_hex(lb->hash, STATE_HASH_LEN, hex);
		if (lb->serial != 0 && strcmp(hex, hash) == 0)
			continue;
		return 0;
	}
	return 1;
}

void daemon_request_waiters(struct daemon *d, int64_t now)
{
	unsigned char h[STATE_HASH_LEN];
	char reply[2 * ERR_LEN + 64];
	size_t i;
	long k;

	for (i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *c = &d->clients[i];

		if (c->fd < 0 || !c->waiting)
			continue;
		if (daemon_request_acked(d, c->wserial, c->whash))
			control_reply(c, "ok\n");
		/* a backup that can never accept it: exit 1 now, no timeout */
		else if (manifest_unhex(c->whash, strlen(c->whash), h,
					STATE_HASH_LEN) == 0 &&
			 (k = sync_never_for(&d->sync, h)) >= 0) {
			snprintf(
			    reply, sizeof(reply), "error 1 backup %s: %s\n",
			    d->sync.b[k].conf->name, d->sync.b[k].lb->error);
			control_reply(c, reply);
		} else if (now > c->deadline)
			control_reply(c, "lag\n");
	}
}

/* daemon_request_sync_reply - answer a sync-now whose export ended with rc */
static void daemon_request_sync_reply(struct daemon *d,
				      struct control_client *c, int rc)
{
	char reply[2 * ERR_LEN + 128];
	char hex[2 * STATE_HASH_LEN + 1];
	struct err err;
	size_t i;

	if (rc < 0) {
		/* The operator asked: the guard's examples are theirs. */
		snprintf(reply, sizeof(reply), "error %d %s%s%s\n",
			 rc == SOURCE_DOWN ? EXITCODE_TEMP : EXITCODE_REFUSED,
			 d->export_error,
			 rc == SOURCE_GUARD && d->export_examples[0] ? ", e.g. "
								     : "",
			 rc == SOURCE_GUARD ? d->export_examples : "");
		control_reply(c, reply);
		return;
	}
	if (d->sync.cur == NULL) {
		control_reply(c, "error 75 no state\n");
		return;
	}
	/* "Now" means now: forget backoffs, start what is needed. */
	for (i = 0; i < d->sync.n; i++)
		d->sync.b[i].next_try_ms = 0;
	daemon_schedule(d, sync_now_ms());
	if (d->sync.cur_serial == 0) {
		int need = 0;

		for (i = 0; i < d->sync.n; i++)
			if (sync_needs(&d->sync, i) || d->sync.b[i].inflight)
				need = 1;
		if (need && ledger_next_serial(d->ledger, 0,
					       &d->sync.cur_serial, &err) < 0) {
			snprintf(reply, sizeof(reply), "error 75 %s\n",
				 err.msg);
			control_reply(c, reply);
			return;
		}
	}
	manifest_hex(d->sync.cur_hash, STATE_HASH_LEN, hex);
	snprintf(reply, sizeof(reply), "ok %llu %s\n",
		 (unsigned long long)d->sync.cur_serial, hex);
	control_reply(c, reply);
}

void daemon_request_pending(struct daemon *d, int rc)
{
	size_t i;

	d->pending_shrink = 0;
	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (d->clients[i].fd >= 0 && d->clients[i].pending)
			daemon_request_sync_reply(d, &d->clients[i], rc);
}

/* daemon_request_status - the status document of the running daemon */
static void daemon_request_status(struct daemon *d, struct control_client *c)
{
	struct status_daemon sd;
	json_t *j;
	char *text;

	memset(&sd, 0, sizeof(sd));
	if (d->export_failed && d->export_error_kind == SOURCE_GUARD) {
		sd.guard_refused = d->export_error;
		sd.guard_examples = d->export_examples;
	}
	sd.bare = d->bare;
	sd.bare_names = d->bare_names;
	sd.verify = d->audit.last;
	sd.verify_running = d->audit.pid > 0;
	j = status_json(d->cfg, d->ledger, &d->sync, &sd);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	control_reply(c, text != NULL ? text : "{}");
	free(text);
}

/* daemon_request_sync_now - a sync-now request: export, reply now or when
 * settled */
static void daemon_request_sync_now(struct daemon *d, struct control_client *c,
				    int shrink)
{
	int rc;

	log_info("sync-now%s requested", shrink ? " --allow-shrink" : "");
	rc = daemon_export_run(d, shrink || d->pending_shrink);
	if (rc == SOURCE_BUSY) {
		/* Answered when the sources settle, or fail. */
		control_hold(c, sync_now_ms() +
				    (int64_t)d->cfg->settle_timeout_ms + 10000);
		d->pending_shrink |= shrink;
		return;
	}
	/* Earlier callers that waited for this export too. */
	daemon_request_pending(d, rc);
	daemon_request_sync_reply(d, c, rc);
}

void daemon_request_read(struct daemon *d, struct control_client *c)
{
	switch (control_read(c, sync_now_ms())) {
	case CONTROL_STATUS:
		daemon_request_status(d, c);
		break;
	case CONTROL_WAIT:
		daemon_request_waiters(d, sync_now_ms());
		break;
	case CONTROL_SYNC_NOW:
	case CONTROL_SYNC_NOW_SHRINK:
		daemon_request_sync_now(d, c, c->line[8] != '\0');
		break;
	}
}
