/*
 * listener - the HTTPS side of mxsyncd (libmicrohttpd with GnuTLS)
 *
 * Fails at start with "what: reason" (unreadable certificate, address in
 * use); per request it answers JSON and logs one line.  Security: TLS 1.2
 * or 1.3 only; the body is never read before the signed manifest passed;
 * each connection holds at most CONN_MEMORY octets of memory, the body goes
 * to a file; log lines never hold recipients or header values.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../formats/atomic.h"
#include "../formats/buf.h"
#include "../formats/log.h"
#include "apply.h"
#include "listener.h"
#include "status.h"
#include "verify.h"

#define LISTENER_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define LISTENER_CONN_MEMORY (64 * 1024)
#define LISTENER_RETRY_AFTER "5"

struct listener {
	struct MHD_Daemon *d;
	struct syncd *sd;
	char *cert;
	char *key;
};

struct listener_conn {
	struct push p;
	int have_push;
	int refused;		/* v holds the answer to send at the end */
	struct verdict v;
	struct atomic_file af;
	int af_open;
	uint64_t received;
	char peer[INET6_ADDRSTRLEN];
};

/* listener_slurp - a small file into memory, NUL-terminated */
static char *listener_slurp(const char *path, struct err *err)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_sys(err, "open(%s)", path);
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (b.len > 1024 * 1024 || buf_append(&b, chunk, n) < 0) {
			err_set(err, "%s: too large", path);
			goto fail;
		}
	}
	if (n < 0) {
		err_sys(err, "read(%s)", path);
		goto fail;
	}
	close(fd);
	if (b.data == NULL && buf_append(&b, "", 0) < 0) {
		err_sys(err, "malloc");
		return NULL;
	}
	return buf_steal(&b, NULL);
fail:
	close(fd);
	buf_free(&b);
	return NULL;
}

/* listener_send - queue a response with a body of type ctype */
static enum MHD_Result listener_send(struct MHD_Connection *c, int status,
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

/* listener_json - send a jansson object (stolen) */
static enum MHD_Result listener_json(struct MHD_Connection *c, int status,
				     json_t *j, int retry)
{
	enum MHD_Result rc = MHD_NO;
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text != NULL) {
		rc = listener_send(c, status, "application/json", text, retry);
		free(text);
	}
	json_decref(j);
	return rc;
}

/*
 * listener_conflict - a 409 answer also carries the origin's stored signed
 * manifest ("manifest", "signature", base64): the agent believes the
 * serial only with its own signature on it
 */
static json_t *listener_conflict(struct listener *l, const struct manifest *m,
				 json_t *j, int status)
{
	char *m64 = NULL, *s64 = NULL;

	if (j == NULL || status != 409 || m->origin[0] == '\0' ||
	    verify_held(l->sd, m->origin, &m64, &s64) < 0)
		return j;
	json_object_set_new(j, "manifest", json_string(m64));
	json_object_set_new(j, "signature", json_string(s64));
	free(m64);
	free(s64);
	return j;
}

/* listener_refuse - count, log and answer a refusal */
static enum MHD_Result listener_refuse(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_conn *lc)
{
	const struct manifest *m = &lc->p.m;

	apply_count(l->sd, &lc->v);
	log_warning("push refused: %d %s: origin %s serial %" PRIu64
		    " key %s from %s: %s", lc->v.status, lc->v.reason,
		    m->origin[0] ? m->origin : "-", m->serial,
		    m->key_id[0] ? m->key_id : "-", lc->peer, lc->v.msg);
	return listener_json(c, lc->v.status,
			     listener_conflict(l, m,
					       json_pack("{s:s, s:I}", "error",
							 lc->v.msg, "serial",
							 (json_int_t)lc->v.serial),
					       lc->v.status),
			     lc->v.status == 503);
}

/* listener_peer - the client's address as text */
static void listener_peer(struct MHD_Connection *c, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, size, "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  size);
}

/* listener_begin - the header stage of a push */
static void listener_begin(struct listener *l, struct MHD_Connection *c,
			   struct listener_conn *lc)
{
	const char *mh, *sh, *cl;
	char path[4096], *end;
	unsigned long long n;
	struct err err;

	mh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_MANIFEST);
	sh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_SIGNATURE);
	if (verify_headers(l->sd, mh, sh, &lc->p, &lc->v) < 0) {
		lc->refused = 1;
		return;
	}
	lc->have_push = 1;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL) {
		lc->refused = verify_refuse(&lc->v, 400, "size",
					    "Content-Length required");
		return;
	}
	n = strtoull(cl, &end, 10);
	if (*cl == '\0' || *end != '\0' || n != lc->p.m.body_size) {
		lc->refused = verify_refuse(&lc->v, 400, "size",
					    "Content-Length %s is not the "
					    "manifest's body_size %" PRIu64,
					    cl, lc->p.m.body_size);
		return;
	}
	pthread_mutex_lock(&l->sd->facts_lock);
	snprintf(path, sizeof(path), "%s/incoming", l->sd->cfg->state_dir);
	pthread_mutex_unlock(&l->sd->facts_lock);
	if (atomic_open(&lc->af, path, 0600, &err) < 0) {
		lc->refused = verify_refuse(&lc->v, 503, "internal", "%s",
					    err.msg);
		return;
	}
	lc->af_open = 1;
}

/* listener_finish - the whole body arrived: check it and install */
static enum MHD_Result listener_finish(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_conn *lc)
{
	struct apply_result res;
	char hex[2 * STATE_HASH_LEN + 1], *body = NULL;
	size_t len = lc->received, done = 0;
	ssize_t n;

	if (len > 0 && (body = malloc(len)) == NULL) {
		verify_refuse(&lc->v, 503, "internal", "out of memory");
		return listener_refuse(l, c, lc);
	}
	while (done < len) {
		n = pread(lc->af.fd, body + done, len - done, (off_t)done);
		if (n <= 0) {
			free(body);
			verify_refuse(&lc->v, 503, "internal",
				      "read(%s): short read", lc->af.tmp);
			return listener_refuse(l, c, lc);
		}
		done += (size_t)n;
	}
	atomic_abort(&lc->af);
	lc->af_open = 0;
	/*
	 * The body hash is computed by verify_body() from these octets in
	 * memory, the ones that are parsed; for a full state it is then the
	 * state hash too, so the state is hashed once.
	 */
	if (apply_push(l->sd, &lc->p, body, len, NULL, &res, &lc->v) < 0)
		return listener_refuse(l, c, lc);
	apply_count(l->sd, &lc->v);
	manifest_hex(res.state_hash, STATE_HASH_LEN, hex);
	log_info("push accepted: origin %s serial %" PRIu64 " %s key %s from "
		 "%s: %zu domains, %zu recipients, installed in %" PRIu64
		 " ms (checks %" PRIu64 ", maps %" PRIu64 ", state %" PRIu64
		 ")", lc->p.m.origin, res.serial,
		 lc->p.m.kind == MANIFEST_DELTA ? "delta" : "full",
		 lc->p.m.key_id, lc->peer, res.domains, res.recipients,
		 res.install_ms, res.verify_ms, res.maps_ms, res.store_ms);
	return listener_json(c, 200,
			     json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}",
				       "origin", lc->p.m.origin,
				       "serial", (json_int_t)res.serial,
				       "state_hash", hex,
				       "domains", (json_int_t)res.domains,
				       "recipients", (json_int_t)res.recipients,
				       "install_ms", (json_int_t)res.install_ms),
			     0);
}

/* listener_get - GET /v1/status and /metrics */
static enum MHD_Result listener_get(struct listener *l,
				    struct MHD_Connection *c, const char *url)
{
	struct buf b = BUF_INIT;
	enum MHD_Result rc;
	char *text;

	if (strcmp(url, "/v1/status") == 0) {
		text = status_json(l->sd, time(NULL));
		if (text == NULL)
			return MHD_NO;
		rc = listener_send(c, 200, "application/json", text, 0);
		free(text);
		return rc;
	}
	if (strcmp(url, "/metrics") == 0) {
		if (status_metrics(l->sd, time(NULL), &b) < 0) {
			buf_free(&b);
			return MHD_NO;
		}
		rc = listener_send(c, 200, "text/plain; version=0.0.4",
				   b.data, 0);
		buf_free(&b);
		return rc;
	}
	return listener_json(c, 404, json_pack("{s:s}", "error", "not found"),
			     0);
}

static enum MHD_Result listener_access(void *cls, struct MHD_Connection *c,
				       const char *url, const char *method,
				       const char *version,
				       const char *upload_data,
				       size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	struct listener_conn *lc = *con_cls;
	struct err err;

	(void)version;
	if (lc == NULL) {
		if (strcmp(method, "GET") == 0)
			return listener_get(l, c, url);
		if (strcmp(method, "POST") != 0 ||
		    strcmp(url, "/v1/push") != 0)
			return listener_json(c, strcmp(url, "/v1/push") == 0
						    ? 405 : 404,
					     json_pack("{s:s}", "error",
						       "not found"), 0);
		lc = calloc(1, sizeof(*lc));
		if (lc == NULL)
			return MHD_NO;
		lc->af.fd = -1;
		listener_peer(c, lc->peer, sizeof(lc->peer));
		*con_cls = lc;
		listener_begin(l, c, lc);
		if (lc->refused)
			return listener_refuse(l, c, lc);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!lc->refused) {
			if (lc->received + *upload_data_size >
			    lc->p.m.body_size)
				verify_refuse(&lc->v, 400, "size",
					      "body longer than body_size %"
					      PRIu64, lc->p.m.body_size),
					lc->refused = 1;
			else if (atomic_write(&lc->af, upload_data,
					      *upload_data_size, &err) < 0)
				verify_refuse(&lc->v, 503, "internal", "%s",
					      err.msg),
					lc->refused = 1;
			else
				lc->received += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (lc->refused)
		return listener_refuse(l, c, lc);
	return listener_finish(l, c, lc);
}

/* listener_completed - release a connection's push state */
static void listener_completed(void *cls, struct MHD_Connection *c,
			       void **con_cls,
			       enum MHD_RequestTerminationCode toe)
{
	struct listener_conn *lc = *con_cls;

	(void)cls;
	(void)c;
	if (lc == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && lc->have_push &&
	    !lc->refused && lc->af_open)
		log_warning("push aborted: origin %s serial %" PRIu64
			    " from %s: connection ended after %" PRIu64
			    " of %" PRIu64 " body bytes",
			    lc->p.m.origin, lc->p.m.serial, lc->peer,
			    lc->received, lc->p.m.body_size);
	if (lc->af_open)
		atomic_abort(&lc->af);
	verify_push_clear(&lc->p);
	free(lc);
	*con_cls = NULL;
}

/* listener_log - libmicrohttpd's own messages */
static void listener_log(void *cls, const char *fmt, va_list ap)
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

struct listener *listener_start(struct syncd *sd, struct err *err)
{
	struct listener *l;
	const struct syncd_config *cfg = sd->cfg;
	/*
	 * A thread per connection: an idle or trickling client blocks only
	 * its own thread, and an install in progress blocks only its push.
	 */
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	l->sd = sd;
	if ((l->cert = listener_slurp(cfg->tls_cert, err)) == NULL ||
	    (l->key = listener_slurp(cfg->tls_key, err)) == NULL)
		goto fail;
	if (cfg->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	l->d = MHD_start_daemon(
		flags, 0, NULL, NULL, listener_access, l,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->addr,
		MHD_OPTION_HTTPS_MEM_CERT, l->cert,
		MHD_OPTION_HTTPS_MEM_KEY, l->key,
		MHD_OPTION_HTTPS_PRIORITIES, LISTENER_PRIORITIES,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)((cfg->timeout_ms + 999) / 1000),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)LISTENER_CONN_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, listener_completed, (void *)l,
		MHD_OPTION_EXTERNAL_LOGGER, listener_log, (void *)l,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_END);
	if (l->d == NULL) {
		err_set(err, "cannot listen on %s (address in use, or bad "
			"certificate or key)", cfg->listen);
		goto fail;
	}
	return l;
fail:
	listener_stop(l);
	return NULL;
}

void listener_stop(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->d != NULL)
		MHD_stop_daemon(l->d);
	if (l->key != NULL) {
		sodium_memzero(l->key, strlen(l->key));
		free(l->key);
	}
	free(l->cert);
	free(l);
}
