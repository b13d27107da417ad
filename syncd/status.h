/*
 * status - the facts about the installed states, as JSON, Prometheus text
 * and a table
 *
 * All three are built from one snapshot of the facts taken under facts_lock:
 * per origin serial, state hash, counts, creation, expiry, age, key id and
 * recipient_delimiter; pushes accepted and refused by reason; the last
 * install's duration.  The counters live in the daemon's memory; the
 * offline "mxsyncd status" shows them as zero.
 */
#ifndef MXSYNC_SYNCD_STATUS_H
#define MXSYNC_SYNCD_STATUS_H

#include <time.h>

#include "../formats/buf.h"
#include "syncd.h"

/* status_json - the JSON text of GET /v1/status (caller frees), or NULL */
char *status_json(struct syncd *sd, time_t now);
/* status_metrics - Prometheus text exposition format into out */
int status_metrics(struct syncd *sd, time_t now, struct buf *out);
/* status_table - a readable table, EXPIRED flagged, into out */
int status_table(struct syncd *sd, time_t now, struct buf *out);

#endif
