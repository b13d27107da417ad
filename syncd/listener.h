/*
 * listener - mxsyncd's network process: TLS, HTTP and the connection limits
 *
 *	POST /v1/push	headers X-Mxsync-Manifest, X-Mxsync-Signature; body
 *	GET /v1/status	JSON facts (syncd/status)
 *	GET /metrics	Prometheus text
 *
 * listener_open() runs in the starting process, before privileges are
 * dropped: it binds the push port ("listen") and the status port
 * ("status_listen"), reads the certificate and key, and raises the open
 * file limit (lowering max_connections to what the hard limit allows).
 * listener_serve() runs in the forked network process: it sandboxes itself
 * (syncd/sandbox), then serves in one thread with one event loop.  A new
 * connection waits in that loop's epoll set until its first TLS record has
 * arrived whole, and only then goes to libmicrohttpd: an idle or stalled
 * client costs a descriptor and a record of a few hundred octets, never a
 * thread or a TLS session.
 *
 * Unauthenticated work is bounded: at most max_per_address connections per
 * client address, max_connections in all (when full, a connection that has
 * not sent its request headers makes room: from the address holding the
 * most connections, the oldest of those), and header_timeout from accept
 * (or from the end of the previous request) to the end of the request
 * headers, TLS handshake included, whatever the client trickles.
 * "allow" limits the push port to listed prefixes; status and metrics are
 * served on the status port, and on the push port only behind "allow".
 * Two Content-Length headers, or Content-Length with Transfer-Encoding,
 * are answered 400.  Refusal lines are rate-limited (LISTENER_LOG_BURST a
 * LISTENER_LOG_WINDOW) with one summary line for what was not logged.
 *
 * Every check of a push, and every write, is the installer's (syncd/
 * installer): the listener hands it the headers over the channel (syncd/
 * channel) and suspends the connection until the answer arrives.  Only
 * then is the body read: written into a memfd as it arrives (nothing is
 * parsed on the way), sealed once exactly body_size octets came, and that
 * descriptor passed on; the installer copies it out and runs the body
 * checks (syncd/verify) on that copy before anything is written.
 *
 * The code is in syncd/listener.c (sockets, TLS files, the loop) and the
 * syncd/listener_*.c files named in syncd/listener_private.h.
 */
#ifndef MXSYNC_SYNCD_LISTENER_H
#define MXSYNC_SYNCD_LISTENER_H

#include "../formats/err.h"
#include "config.h"

#define LISTENER_LOG_BURST 10
#define LISTENER_LOG_WINDOW 10 /* seconds */

struct listener;

/* listener_open - bind, read the TLS files, check the descriptor limit */
struct listener *listener_open(const struct syncd_config *cfg, struct err *err);

/*
 * listener_serve - the network process: sandbox (cfg->sandbox), wait for
 * CHANNEL_GO, serve until SIGTERM or SIGINT (blocked by the caller) or
 * until the installer hangs up.  Returns the exit code.
 */
int listener_serve(struct listener *l, int chan);

/* listener_close - close the sockets and wipe the key */
void listener_close(struct listener *l);

#endif
