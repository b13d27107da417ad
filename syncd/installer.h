/*
 * installer - mxsyncd's writing process: answers the network process
 *
 * The installer is the process that holds the state directory lock and
 * the store and is the only one that writes state_dir and maps_dir.  It
 * reads requests from the channel (syncd/channel) and answers each:
 *
 *	CHECK	verify_headers() and the Content-Length against body_size,
 *		exactly the header stage of a push;
 *	INSTALL	verify_headers() again, then the passed memfd must be sealed
 *		against writes and hold body_size octets; they are copied
 *		out and go through apply_push() on a thread of their own
 *		(at most INSTALLER_MAX_INSTALLS at once), so header checks
 *		and status are answered while an install runs;
 *	STATUS, METRICS	the texts of syncd/status;
 *	COUNT	a refusal the network process made, for the counters (only
 *		known reason tokens; others count as "other").
 *
 * Nothing the network process sends is trusted: every check is made here
 * as if the headers came from the client.  Fails per request with a
 * refusal answered to the network process; installer_read() returns -1
 * only when the channel is gone.
 */
#ifndef MXSYNC_SYNCD_INSTALLER_H
#define MXSYNC_SYNCD_INSTALLER_H

#include "syncd.h"

#define INSTALLER_MAX_INSTALLS 8

struct installer;

/* installer_new - serve sd on the channel end sock (not owned) */
struct installer *installer_new(struct syncd *sd, int sock);

/* installer_go - tell the network process to start accepting */
int installer_go(struct installer *in);

/*
 * installer_read - answer one waiting request; 1 when one was handled,
 * 0 when the network process hung up, -1 on a channel error
 */
int installer_read(struct installer *in);

/* installer_free - wait for the installs in flight, then free in */
void installer_free(struct installer *in);

#endif
