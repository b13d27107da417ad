/*
 * listener - the HTTPS side of mxsyncd (libmicrohttpd with GnuTLS)
 *
 *	POST /v1/push	headers X-Mxsync-Manifest, X-Mxsync-Signature; body
 *	GET /v1/status	JSON facts (syncd/status)
 *	GET /metrics	Prometheus text
 *
 * The manifest is verified on the first call of the access handler, when
 * only the headers have arrived; a refusal is answered before a byte of the
 * body is read.  An accepted header stage streams the body to a temporary
 * file in state_dir while hashing it, then hands it to apply_push().
 * Connections are bounded in number, time and memory, so a slow or idle
 * client ties up only its own slot.  Every push logs one line.
 */
#ifndef MXSYNC_SYNCD_LISTENER_H
#define MXSYNC_SYNCD_LISTENER_H

#include "../formats/err.h"
#include "syncd.h"

struct listener;

/* listener_start - bind cfg->listen and serve in internal threads */
struct listener *listener_start(struct syncd *sd, struct err *err);
void listener_stop(struct listener *l);

#endif
