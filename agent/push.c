/*
 * push - HTTPS pushes to the backups with libcurl multi (see push.h)
 *
 * Failures are classified, never hidden: a transport failure or a 5xx is
 * PUSH_UNREACHABLE (retry later), a 409 is PUSH_CONFLICT (send a full
 * snapshot or a higher serial), any other refusal is PUSH_REFUSED with the
 * backup's message.  Response bodies are bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../formats/buf.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "push.h"

#define PUSH_RESPONSE_MAX 65536
#define PUSH_POLL_MS 10 /* poll interval while transfers run */

struct push_body {
	char *data;
	size_t len;
	unsigned long refs;
};

struct push_req {
	struct push_req *next;
	CURL *easy;
	struct curl_slist *hdrs;
	struct push_body *body; /* a reference */
	size_t conn;		/* its index in pusher.conns */
	struct buf resp;
	long retry_after;
	void *user;
	char errbuf[CURL_ERROR_SIZE];
	char name[128];
};

/*
 * push_conn - one easy handle per backup, kept between pushes: with the
 * multi handle's connection pool it keeps the connection and the TLS
 * session, so a push after the first costs no new handshake.
 */
struct push_conn {
	char name[128];
	CURL *easy;
	int busy;
};

struct pusher {
	CURLM *multi;
	struct push_req *reqs;
	int running;
	struct push_conn *conns;
	size_t nconns;
};

const char *push_kind_name(enum push_kind k)
{
	switch (k) {
	case PUSH_OK:
		return "ok";
	case PUSH_CONFLICT:
		return "conflict";
	case PUSH_REFUSED:
		return "refused";
	default:
		return "unreachable";
	}
}

struct push_body *push_body_new(char *data, size_t len)
{
	struct push_body *b = malloc(sizeof(*b));

	if (b == NULL) {
		free(data);
		return NULL;
	}
	b->data = data;
	b->len = len;
	b->refs = 1;
	return b;
}

struct push_body *push_body_ref(struct push_body *b)
{
	if (b != NULL)
		b->refs++;
	return b;
}

void push_body_unref(struct push_body *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	free(b->data);
	free(b);
}

size_t push_body_len(const struct push_body *b)
{
	return b != NULL ? b->len : 0;
}

const char *push_body_data(const struct push_body *b)
{
	return b != NULL ? b->data : NULL;
}

struct pusher *push_new(struct err *err)
{
	struct pusher *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_set(err, "out of memory");
		return NULL;
	}
	if ((p->multi = curl_multi_init()) == NULL) {
		free(p);
		err_set(err, "curl_multi_init failed");
		return NULL;
	}
	return p;
}

static void push_req_free(struct pusher *p, struct push_req *r)
{
	struct push_req **pp;

	for (pp = &p->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->easy != NULL) {
		curl_multi_remove_handle(p->multi, r->easy);
		p->conns[r->conn].busy = 0; /* kept for reuse */
	}
	curl_slist_free_all(r->hdrs);
	push_body_unref(r->body);
	buf_free(&r->resp);
	free(r);
}

void push_free(struct pusher *p)
{
	if (p == NULL)
		return;
	while (p->reqs != NULL)
		push_req_free(p, p->reqs);
	while (p->nconns > 0)
		curl_easy_cleanup(p->conns[--p->nconns].easy);
	free(p->conns);
	curl_multi_cleanup(p->multi);
	free(p);
}

static size_t push_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct push_req *r = arg;
	size_t len = size * n;

	if (r->resp.len + len > PUSH_RESPONSE_MAX)
		return 0; /* an oversize answer aborts the transfer */
	if (buf_append(&r->resp, data, len) < 0)
		return 0;
	return len;
}

static size_t push_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct push_req *r = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
		r->retry_after = strtol(data + 12, NULL, 10);
	return len;
}

static int push_header(struct push_req *r, const char *name, const char *val)
{
	char *h;
	struct curl_slist *l;

	if (asprintf(&h, "%s: %s", name, val) < 0)
		return -1;
	l = curl_slist_append(r->hdrs, h);
	free(h);
	if (l == NULL)
		return -1;
	r->hdrs = l;
	return 0;
}

/*
 * push_easy - the backup's idle easy handle, reset, or a new one; its
 * index in *conn_r
 */
static CURL *push_easy(struct pusher *p, const char *name, size_t *conn_r)
{
	struct push_conn *nc;
	size_t i;

	for (i = 0; i < p->nconns; i++)
		if (!p->conns[i].busy && strcmp(p->conns[i].name, name) == 0) {
			/* Keeps live connections and the TLS session cache. */
			curl_easy_reset(p->conns[i].easy);
			p->conns[i].busy = 1;
			*conn_r = i;
			return p->conns[i].easy;
		}
	if ((nc = realloc(p->conns, (p->nconns + 1) * sizeof(*nc))) == NULL)
		return NULL;
	p->conns = nc;
	nc = &p->conns[p->nconns];
	if ((nc->easy = curl_easy_init()) == NULL)
		return NULL;
	snprintf(nc->name, sizeof(nc->name), "%s", name);
	nc->busy = 1;
	*conn_r = p->nconns++;
	/*
	 * libcurl's connection cache holds by default four times the easy
	 * handles added at the moment: as the transfers of a round finish and
	 * are removed, it shrinks and closes live connections, so the next
	 * round would pay new TLS handshakes (and CA file parsing) for many
	 * backups.  One kept connection per backup, and some room.
	 */
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS,
			  (long)(p->nconns + 8));
	return nc->easy;
}

struct push_req *push_start(struct pusher *p, const struct agent_backup *b,
			    const struct export_snap *snap,
			    struct push_body *body, void *user, struct err *err)
{
	struct push_req *r;
	char *url = NULL, *m64 = NULL, *s64 = NULL;
	CURL *e;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		err_set(err, "out of memory");
		return NULL;
	}
	r->user = user;
	snprintf(r->name, sizeof(r->name), "%s", b->name);
	r->next = p->reqs;
	p->reqs = r;
	/* shared with every other request for this snapshot, not copied */
	r->body = push_body_ref(body);
	if ((url = agent_config_backup_url(b, "v1/push")) == NULL ||
	    (m64 = snapshot_b64(snap->manifest, snap->mlen)) == NULL ||
	    (s64 = snapshot_b64(snap->sig, SNAPSHOT_SIG_LEN)) == NULL)
		goto oom;
	if (push_header(r, SNAPSHOT_HDR_MANIFEST, m64) < 0 ||
	    push_header(r, SNAPSHOT_HDR_SIGNATURE, s64) < 0 ||
	    push_header(r, "Content-Type", "application/octet-stream") < 0)
		goto oom;
	if ((e = r->easy = push_easy(p, b->name, &r->conn)) == NULL)
		goto oom;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS,
			 r->body->len > 0 ? r->body->data : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)r->body->len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "mxsync-agent/1");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, push_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, push_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)b->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)b->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	/*
	 * Verification is never off.  A CA file verifies the chain and the
	 * host name; a pin alone replaces both (the operator pinned exactly
	 * this key, typically of a self-signed certificate); with both, both
	 * apply; with neither, the system CA store verifies.
	 */
	/*
	 * With a CA file (or a pin) that is what verifies: the system CA
	 * directory libcurl would load besides it is not trusted, nor parsed
	 * again for every connection (some 150 certificates, a few MB and
	 * milliseconds per backup).
	 */
	if (*b->ca_file != '\0' || *b->pinned_pubkey != '\0')
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (*b->ca_file != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, b->ca_file);
	if (*b->pinned_pubkey != '\0') {
		curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, b->pinned_pubkey);
		if (*b->ca_file == '\0') {
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
	if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
		err_set(err, "backup %s: curl_multi_add_handle failed",
			b->name);
		goto fail;
	}
	p->running++;
	free(url);
	free(m64);
	free(s64);
	return r;
oom:
	err_set(err, "backup %s: out of memory", b->name);
fail:
	free(url);
	free(m64);
	free(s64);
	push_req_free(p, r);
	return NULL;
}

int push_running(const struct pusher *p)
{
	return p->running;
}

int push_wait(struct pusher *p, struct curl_waitfd *extra, unsigned nextra,
	      int timeout_ms, struct err *err)
{
	int still = 0;
	CURLMcode mc;

	if ((mc = curl_multi_perform(p->multi, &still)) != CURLM_OK)
		return err_set(err, "curl_multi_perform: %s",
			       curl_multi_strerror(mc));
	if (timeout_ms < 0)
		timeout_ms = 0;
	/*
	 * libcurl (7.88, GnuTLS) can read a transfer's last octets in one
	 * perform call and finish it only in a later one, without asking for
	 * an early wake-up: with several transfers answered at once, one of
	 * them would wait for the caller's whole timeout.  While transfers
	 * run, wake up often instead.
	 */
	if (p->reqs != NULL && timeout_ms > PUSH_POLL_MS)
		timeout_ms = PUSH_POLL_MS;
	if ((mc = curl_multi_poll(p->multi, extra, nextra, timeout_ms, NULL)) !=
	    CURLM_OK)
		return err_set(err, "curl_multi_poll: %s",
			       curl_multi_strerror(mc));
	if ((mc = curl_multi_perform(p->multi, &still)) != CURLM_OK)
		return err_set(err, "curl_multi_perform: %s",
			       curl_multi_strerror(mc));
	return 0;
}

/* push_parse_held - a 409's "manifest" and "signature" (base64), if sane */
static void push_parse_held(json_t *root, struct push_result *res)
{
	json_t *m = json_object_get(root, "manifest");
	json_t *sg = json_object_get(root, "signature");
	unsigned char *mj = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	struct err err;

	if (!json_is_string(m) || !json_is_string(sg) ||
	    json_string_length(m) > 2 * MANIFEST_MAX)
		return;
	mj = snapshot_unb64(json_string_value(m), json_string_length(m), &mlen,
			    &err);
	sig = snapshot_unb64(json_string_value(sg), json_string_length(sg),
			     &slen, &err);
	if (mj != NULL && sig != NULL && mlen > 0 && mlen <= MANIFEST_MAX &&
	    slen == SNAPSHOT_SIG_LEN) {
		memcpy(res->held, mj, mlen);
		res->held[mlen] = '\0';
		res->held_len = mlen;
		memcpy(res->held_sig, sig, SNAPSHOT_SIG_LEN);
		res->have_held = 1;
	}
	free(mj);
	free(sig);
}

/* push_json - the response's "error", "reason" and "serial"/"state_hash" */
static void push_parse(struct push_req *r, struct push_result *res)
{
	json_t *root, *v;
	json_error_t je;

	if (r->resp.len == 0 ||
	    (root = json_loadb(r->resp.data, r->resp.len, 0, &je)) == NULL)
		return;
	v = json_object_get(root, "serial");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		res->serial = (uint64_t)json_integer_value(v);
	v = json_object_get(root, "state_hash");
	if (json_is_string(v) &&
	    manifest_unhex(json_string_value(v), json_string_length(v),
			   res->hash, STATE_HASH_LEN) == 0)
		res->have_hash = 1;
	push_parse_held(root, res);
	v = json_object_get(root, "error");
	if (json_is_string(v))
		snprintf(res->msg, sizeof(res->msg), "%s",
			 json_string_value(v));
	v = json_object_get(root, "reason");
	if (json_is_string(v))
		snprintf(res->reason, sizeof(res->reason), "%s",
			 json_string_value(v));
	json_decref(root);
}

void *push_done(struct pusher *p, struct push_result *res)
{
	CURLMsg *msg;
	int left;
	struct push_req *r = NULL;
	void *user;
	curl_off_t up = 0;

	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		break;
	}
	if (r == NULL)
		return NULL;
	memset(res, 0, sizeof(*res));
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->status);
	curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &res->seconds);
	res->bytes = up > 0 ? (uint64_t)up : 0;
	res->retry_after = r->retry_after;
	if (msg->data.result != CURLE_OK) {
		res->kind = PUSH_UNREACHABLE;
		snprintf(res->msg, sizeof(res->msg), "%s",
			 r->errbuf[0] != '\0'
			     ? r->errbuf
			     : curl_easy_strerror(msg->data.result));
		res->status = 0;
	} else {
		push_parse(r, res);
		if (res->status == 200) {
			res->kind = PUSH_OK;
			res->msg[0] = '\0';
		} else if (res->status == 409)
			res->kind = PUSH_CONFLICT;
		else if (res->status >= 500 || res->status < 100)
			res->kind = PUSH_UNREACHABLE;
		else
			res->kind = PUSH_REFUSED;
		if (res->kind != PUSH_OK && res->msg[0] == '\0')
			snprintf(res->msg, sizeof(res->msg), "HTTP status %ld",
				 res->status);
	}
	user = r->user;
	push_req_free(p, r);
	p->running--;
	return user;
}

void push_cancel(struct pusher *p, void *user)
{
	struct push_req *r, *next;

	for (r = p->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->user == user) {
			push_req_free(p, r);
			p->running--;
		}
	}
}
