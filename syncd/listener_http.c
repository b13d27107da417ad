/*
 * listener_http - the requests of the network process (libmicrohttpd)
 *
 *	POST /v1/push	on the push port: syncd/listener_push
 *	GET /v1/status, GET /metrics	on the status port, and on the push
 *			port only behind "allow": syncd/listener_status
 *
 * When a request's headers are complete, its framing is checked (two
 * Content-Length headers, or Content-Length with Transfer-Encoding, are
 * answered 400), its route chosen (404, 405, 403 otherwise), and its
 * question sent to the installer.  Every answer is JSON or Prometheus
 * text; every failure is an HTTP status, never an exit.  Log lines never
 * hold header values.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../formats/log.h"
#include "../formats/snapshot.h"
#include "listener_private.h"

#define LISTENER_RETRY_AFTER "5"

/* listener_http_send - queue a response with a body of type ctype */
enum MHD_Result listener_http_send(struct MHD_Connection *c, int status,
				   const char *ctype, const char *text,
				   int retry)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (retry)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					LISTENER_RETRY_AFTER);
	rc = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

/* listener_http_json - send a jansson object (stolen) */
enum MHD_Result listener_http_json(struct MHD_Connection *c, int status,
				   json_t *j, int retry)
{
	enum MHD_Result rc = MHD_NO;
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text != NULL) {
		rc = listener_http_send(c, status, "application/json", text,
					retry);
		free(text);
	}
	json_decref(j);
	return rc;
}

/* listener_http_error - {"error": msg} */
enum MHD_Result listener_http_error(struct MHD_Connection *c, int status,
				    const char *msg)
{
	return listener_http_json(c, status, json_pack("{s:s}", "error", msg),
				  0);
}

struct listener_http_framing {
	unsigned content_length, transfer_encoding;
};

static enum MHD_Result listener_http_framing_count(void *cls,
						   enum MHD_ValueKind kind,
						   const char *key,
						   const char *value)
{
	struct listener_http_framing *f = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->transfer_encoding++;
	return MHD_YES;
}

/* listener_http_framing - RFC 9112 6.3: one way to find the body's end */
static const char *listener_http_framing(struct MHD_Connection *c)
{
	struct listener_http_framing f = {0, 0};

	MHD_get_connection_values(c, MHD_HEADER_KIND,
				  listener_http_framing_count, &f);
	if (f.content_length > 1)
		return "conflicting framing: more than one Content-Length";
	if (f.content_length > 0 && f.transfer_encoding > 0)
		return "conflicting framing: Content-Length with "
		       "Transfer-Encoding";
	return NULL;
}

/* listener_http_req_new - a request record holding copies of the push headers
 */
static struct listener_req *listener_http_req_new(struct MHD_Connection *c,
						  struct listener_conn *lc,
						  int push)
{
	struct listener_req *r;
	const char *mh, *sh;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->lc = lc;
	r->memfd = -1;
	if (!push)
		return r;
	mh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_MANIFEST);
	sh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_SIGNATURE);
	/* an absent header goes as absent: the installer names it */
	if ((mh != NULL && (r->mb64 = strdup(mh)) == NULL) ||
	    (sh != NULL && (r->sb64 = strdup(sh)) == NULL)) {
		free(r->mb64);
		free(r);
		return NULL;
	}
	if (r->mb64 != NULL && r->mb64[0] == '\0') {
		free(r->mb64);
		r->mb64 = strdup(" ");
	}
	return r;
}

/* listener_http_content_length - the header as a number, -1 when absent */
static int64_t listener_http_content_length(struct MHD_Connection *c)
{
	const char *cl;
	char *end;
	unsigned long long n;

	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL || *cl < '0' || *cl > '9')
		return -1;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (*end != '\0' || errno != 0 || n > INT64_MAX)
		return -1;
	return (int64_t)n;
}

/* listener_http_first - the headers of a request are complete */
static enum MHD_Result listener_http_first(struct listener *l,
					   struct MHD_Connection *c,
					   struct listener_conn *lc,
					   const char *url, const char *method,
					   void **con_cls)
{
	struct listener_req *r;
	const char *bad;
	int push = strcmp(url, "/v1/push") == 0, get;

	bad = listener_http_framing(c);
	if (bad != NULL) {
		listener_log_refusal(l, LISTENER_FRAMING,
				     "request refused: 400 framing from %s: %s",
				     lc != NULL ? lc->peer_text : "?", bad);
		if (push)
			listener_chan_tell(l, 400, "framing");
		return listener_http_error(c, 400, bad);
	}
	get = strcmp(method, "GET") == 0 &&
	      (strcmp(url, "/v1/status") == 0 || strcmp(url, "/metrics") == 0);
	if (get && !(lc != NULL && lc->status_port) && l->cfg->nallow == 0)
		return listener_http_error(c, 403,
					   "status and metrics are served on "
					   "status_listen");
	if (!get && strcmp(method, "GET") == 0)
		return listener_http_error(c, 404, "not found");
	if (!get && (strcmp(method, "POST") != 0 || !push ||
		     (lc != NULL && lc->status_port)))
		return listener_http_error(c, push ? 405 : 404, "not found");
	if (lc == NULL)
		return MHD_NO;
	r = listener_http_req_new(c, lc, push);
	if (r == NULL)
		return MHD_NO;
	*con_cls = r;
	if (listener_chan_ask(
		l, c, r,
		!push ? (strcmp(url, "/metrics") == 0 ? CHANNEL_METRICS
						      : CHANNEL_STATUS)
		      : CHANNEL_CHECK,
		push ? listener_http_content_length(c) : -1) < 0) {
		r->st = LISTENER_DONE;
		return listener_http_error(c, 503, "installer unavailable");
	}
	return MHD_YES;
}

enum MHD_Result listener_http_access(void *cls, struct MHD_Connection *c,
				     const char *url, const char *method,
				     const char *version,
				     const char *upload_data,
				     size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	struct listener_req *r = *con_cls;
	struct listener_conn *lc;

	(void)version;
	l->progress = 1;
	if (r == NULL) {
		lc = listener_conn_of(c);
		if (lc != NULL)
			lc->headers_done = 1;
		return listener_http_first(l, c, lc, url, method, con_cls);
	}
	switch (r->st) {
	case LISTENER_WAIT:
	case LISTENER_DONE:
		*upload_data_size = 0;
		return MHD_YES;
	case LISTENER_ANSWERED:
		if (r->asked == CHANNEL_STATUS || r->asked == CHANNEL_METRICS)
			return listener_status_answer(l, c, r);
		if (r->asked == CHANNEL_INSTALL)
			return r->ans.status == 200
				   ? listener_push_accepted(c, r)
				   : listener_push_refuse(l, c, r);
		if (r->ans.status != 200)
			return listener_push_refuse(l, c, r);
		listener_push_body_start(r);
		if (r->local_refusal)
			return listener_push_refuse(l, c, r);
		/* the call at the header stage: the body comes next */
		return MHD_YES;
	case LISTENER_BODY:
		if (*upload_data_size > 0) {
			listener_push_body(r, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return listener_push_body_end(l, c, r);
	}
	return MHD_NO;
}

/* listener_http_completed - a request ended: free it, restart the deadline */
void listener_http_completed(void *cls, struct MHD_Connection *c,
			     void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	struct listener_req *r = *con_cls;
	struct listener_conn *lc = listener_conn_of(c);

	if (lc != NULL) {
		/* the next request has header_timeout from now */
		listener_conn_rephase(l, lc);
	}
	if (r == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
	    r->st == LISTENER_BODY && !r->local_refusal)
		log_warning(
		    "push aborted: origin %s serial %" PRIu64
		    " from %s: connection ended (%s) after %" PRIu64
		    " of %" PRIu64 " body bytes",
		    r->ans.origin, r->ans.serial,
		    lc != NULL ? lc->peer_text : "?",
		    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
		    : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT  ? "client"
								  : "error",
		    r->received, r->ans.body_size);
	listener_chan_unwait(l, r);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r->mb64);
	free(r->sb64);
	free(r->ans_text);
	free(r->ans_text2);
	free(r);
	*con_cls = NULL;
}

/* listener_http_log - libmicrohttpd's own messages */
void listener_http_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("http: %s", line);
}
