/*
 * listener_status - the status and metrics route of the network process
 *
 * GET /v1/status answers the installer's JSON (syncd/status) as it is;
 * GET /metrics the installer's Prometheus text followed by the
 * listener's own gauges and counters (open connections, refusals by
 * reason).  No answer from the installer is a 503.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "listener_private.h"

/* listener_status_metrics - the listener's own counters for /metrics */
static void listener_status_metrics(struct listener *l, struct buf *b)
{
	char line[256];
	size_t i;
	int n;

	n = snprintf(line, sizeof(line),
		     "# TYPE mxsyncd_connections gauge\n"
		     "mxsyncd_connections %zu\n"
		     "# TYPE mxsyncd_connections_refused_total counter\n",
		     l->nconn - l->ncut);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)buf_append(b, line, (size_t)n);
	for (i = 0; i < LISTENER_NWHY; i++) {
		if (i == LISTENER_PUSH)
			continue;
		n = snprintf(line, sizeof(line),
			     "mxsyncd_connections_refused_total{reason=\"%s\"} "
			     "%" PRIu64 "\n",
			     listener_log_why((enum listener_why)i),
			     l->refused[i]);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)buf_append(b, line, (size_t)n);
	}
}

/* listener_status_answer - the installer's status or metrics text */
enum MHD_Result listener_status_answer(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_req *r)
{
	struct buf b = BUF_INIT;
	enum MHD_Result rc;

	r->st = LISTENER_DONE;
	if (r->ans.status != 200 || r->ans_text == NULL)
		return listener_http_error(
		    c, 503, r->ans.msg[0] ? r->ans.msg : "no status");
	if (r->asked == CHANNEL_STATUS)
		return listener_http_send(c, 200, "application/json",
					  r->ans_text, 0);
	if (buf_append(&b, r->ans_text, strlen(r->ans_text)) < 0)
		return MHD_NO;
	listener_status_metrics(l, &b);
	if (buf_append(&b, "", 1) < 0) {
		buf_free(&b);
		return MHD_NO;
	}
	rc = listener_http_send(c, 200, "text/plain; version=0.0.4", b.data, 0);
	buf_free(&b);
	return rc;
}
