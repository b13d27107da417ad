/*
 * listener_push - the push route of the network process
 *
 * The installer has passed the signed headers (CHANNEL_CHECK) before a
 * single body octet is read: then the body is streamed into a memfd,
 * checked against the signed body_size, sealed, and passed with
 * CHANNEL_INSTALL; the installer verifies everything again and answers.
 * A refusal made here (size, memfd, sealing) is told to the installer
 * for its counters.  Refusals are logged rate-limited, accepted pushes in
 * one line: origin, serial, key id, peer and counts, never recipients.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../formats/fileio.h"
#include "../formats/log.h"
#include "listener_private.h"

/* listener_push_refuse - log (rate-limited) and answer a refused push */
enum MHD_Result listener_push_refuse(struct listener *l,
				     struct MHD_Connection *c,
				     struct listener_req *r)
{
	const struct channel_msg *a = &r->ans;
	json_t *j;

	if (r->local_refusal)
		listener_chan_tell(l, a->status, a->reason);
	listener_log_refusal(l, LISTENER_PUSH,
			     "push refused: %d %s: origin %s serial %" PRIu64
			     " key %s from %s: %s",
			     a->status, a->reason,
			     a->origin[0] ? a->origin : "-", a->serial,
			     a->key_id[0] ? a->key_id : "-",
			     r->lc != NULL ? r->lc->peer_text : "?", a->msg);
	r->st = LISTENER_DONE;
	j = json_pack("{s:s, s:I}", "error", a->msg, "serial",
		      (json_int_t)a->cur_serial);
	/* the refusal's token (verify.h), e.g. "too_large": permanent */
	if (j != NULL && a->reason[0] != '\0')
		json_object_set_new(j, "reason", json_string(a->reason));
	/*
	 * a 409 also carries the origin's stored signed manifest (from the
	 * installer): the agent believes the serial only with its own
	 * signature on it
	 */
	if (j != NULL && a->status == 409 && !r->local_refusal &&
	    r->ans_text != NULL && r->ans_text2 != NULL) {
		json_object_set_new(j, "manifest", json_string(r->ans_text));
		json_object_set_new(j, "signature", json_string(r->ans_text2));
	}
	return listener_http_json(c, a->status, j, a->status == 503);
}

/* listener_push_local - fill r->ans with a refusal made here */
static void listener_push_local(struct listener_req *r, int status,
				const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void listener_push_local(struct listener_req *r, int status,
				const char *reason, const char *fmt, ...)
{
	va_list ap;

	r->ans.status = status;
	snprintf(r->ans.reason, sizeof(r->ans.reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(r->ans.msg, sizeof(r->ans.msg), fmt, ap);
	va_end(ap);
	r->local_refusal = 1;
}

/* listener_push_accepted - log and answer an installed push */
enum MHD_Result listener_push_accepted(struct MHD_Connection *c,
				       struct listener_req *r)
{
	const struct channel_msg *a = &r->ans;

	log_info("push accepted: origin %s serial %" PRIu64 " %s key %s from "
		 "%s: %" PRIu64 " domains, %" PRIu64 " recipients, installed "
		 "in %" PRIu64 " ms (checks %" PRIu64 ", maps %" PRIu64
		 ", state %" PRIu64 ")",
		 a->origin, a->serial, a->delta ? "delta" : "full", a->key_id,
		 r->lc != NULL ? r->lc->peer_text : "?", a->domains,
		 a->recipients, a->install_ms, a->verify_ms, a->maps_ms,
		 a->store_ms);
	r->st = LISTENER_DONE;
	return listener_http_json(
	    c, 200,
	    json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "origin", a->origin,
		      "serial", (json_int_t)a->serial, "state_hash",
		      a->state_hash, "domains", (json_int_t)a->domains,
		      "recipients", (json_int_t)a->recipients, "install_ms",
		      (json_int_t)a->install_ms),
	    0);
}

/* listener_push_body_start - the header stage passed: a memfd for the body */
void listener_push_body_start(struct listener_req *r)
{
	r->st = LISTENER_BODY;
	r->memfd =
	    memfd_create("mxsyncd-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->memfd < 0)
		listener_push_local(r, 503, "internal", "memfd_create: %s",
				    strerror(errno));
}

/* listener_push_body - one piece of an accepted body */
void listener_push_body(struct listener_req *r, const char *data, size_t len)
{
	struct err err;

	if (r->local_refusal)
		return;
	if (r->received + len > r->ans.body_size) {
		listener_push_local(r, 400, "size",
				    "body longer than body_size %" PRIu64,
				    r->ans.body_size);
		return;
	}
	if (fileio_write_all(r->memfd, "body", data, len, &err) < 0) {
		listener_push_local(r, 503, "internal", "%s", err.msg);
		return;
	}
	r->received += len;
}

/* listener_push_body_end - seal the memfd and pass it to the installer */
enum MHD_Result listener_push_body_end(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_req *r)
{
	if (!r->local_refusal && r->received != r->ans.body_size)
		listener_push_local(r, 400, "size",
				    "body of %" PRIu64
				    " bytes, body_size %" PRIu64,
				    r->received, r->ans.body_size);
	if (!r->local_refusal &&
	    fcntl(r->memfd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		listener_push_local(r, 503, "internal", "F_ADD_SEALS: %s",
				    strerror(errno));
	if (r->local_refusal)
		return listener_push_refuse(l, c, r);
	if (listener_chan_ask(l, c, r, CHANNEL_INSTALL, -1) < 0) {
		listener_push_local(r, 503, "internal",
				    "installer unavailable");
		r->local_refusal = 0;
		return listener_push_refuse(l, c, r);
	}
	close(r->memfd);
	r->memfd = -1;
	return MHD_YES;
}
