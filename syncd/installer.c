/*
 * installer - mxsyncd's writing process: answers the network process
 *
 * Owns the server side of the channel protocol.  Fails per request with a
 * struct verdict that goes back as the answer; a channel that cannot be
 * read ends the loop.  Security: the headers are verified again for every
 * install, the body is copied out of a memfd the network process can no
 * longer change (its seals are checked), and is hashed from that copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/thread.h"
#include "apply.h"
#include "channel.h"
#include "installer.h"
#include "status.h"
#include "verify.h"

#define INSTALLER_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)
#define INSTALLER_SEND_TIMEOUT 10 /* seconds */

struct installer {
	struct syncd *sd;
	int sock;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned running; /* install threads (lock) */
};

struct installer_job {
	struct installer *in;
	uint64_t id;
	char *mb64, *sb64;
	int fd;
};

/* reason tokens the network process may count (static strings) */
static const char *const installer_reasons[] = {"size", "framing", "internal",
						NULL};

struct installer *installer_new(struct syncd *sd, int sock)
{
	struct installer *in = calloc(1, sizeof(*in));
	struct timeval tv = {INSTALLER_SEND_TIMEOUT, 0};

	if (in == NULL)
		return NULL;
	in->sd = sd;
	in->sock = sock;
	if (pthread_mutex_init(&in->lock, NULL) != 0 ||
	    pthread_cond_init(&in->idle, NULL) != 0) {
		free(in);
		return NULL;
	}
	/* a network process that stops reading must not stall us for good */
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return in;
}

void installer_free(struct installer *in)
{
	if (in == NULL)
		return;
	pthread_mutex_lock(&in->lock);
	while (in->running > 0)
		pthread_cond_wait(&in->idle, &in->lock);
	pthread_mutex_unlock(&in->lock);
	pthread_cond_destroy(&in->idle);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

int installer_go(struct installer *in)
{
	struct channel_msg m;
	struct err err;

	memset(&m, 0, sizeof(m));
	m.type = CHANNEL_GO;
	if (channel_send(in->sock, &m, NULL, NULL, -1, 0, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* installer_answer - the answer to id: verdict, manifest facts, result */
static void installer_answer(struct installer *in, uint64_t id,
			     const struct verdict *v, const struct push *p,
			     const struct apply_result *res, const char *text)
{
	struct channel_msg a;
	struct err err;
	char *m64 = NULL, *s64 = NULL;

	memset(&a, 0, sizeof(a));
	a.type = CHANNEL_ANSWER;
	a.id = id;
	a.status = v->status;
	snprintf(a.reason, sizeof(a.reason), "%s",
		 v->reason != NULL ? v->reason : "");
	snprintf(a.msg, sizeof(a.msg), "%s", v->msg);
	a.cur_serial = v->serial;
	if (p != NULL) {
		snprintf(a.origin, sizeof(a.origin), "%s", p->m.origin);
		snprintf(a.key_id, sizeof(a.key_id), "%s", p->m.key_id);
		a.serial = p->m.serial;
		a.body_size = p->m.body_size;
		a.delta = p->m.kind == MANIFEST_DELTA;
	}
	if (res != NULL) {
		a.serial = res->serial;
		manifest_hex(res->state_hash, STATE_HASH_LEN, a.state_hash);
		a.domains = res->domains;
		a.recipients = res->recipients;
		a.install_ms = res->install_ms;
		a.verify_ms = res->verify_ms;
		a.maps_ms = res->maps_ms;
		a.store_ms = res->store_ms;
	}
	/* a 409 carries the origin's stored signed manifest, for the agent */
	if (text == NULL && v->status == 409 && p != NULL &&
	    p->m.origin[0] != '\0' &&
	    verify_held(in->sd, p->m.origin, &m64, &s64) == 0) {
		text = m64;
		a.len2 = (uint32_t)strlen(s64);
	}
	if (text != NULL)
		a.len1 = (uint32_t)strlen(text);
	if (channel_send(in->sock, &a, text, s64, -1, 0, &err) < 0)
		log_error("%s", err.msg);
	free(m64);
	free(s64);
}

/* installer_check - the header stage */
static void installer_check(struct installer *in, const struct channel_msg *m,
			    const char *mb64, const char *sb64)
{
	struct push p;
	struct verdict v;

	memset(&v, 0, sizeof(v));
	memset(&p, 0, sizeof(p));
	if (verify_headers(in->sd, mb64, sb64, &p, &v) == 0) {
		if (m->content_length < 0)
			verify_refuse(&v, 400, "size",
				      "Content-Length required");
		else if ((uint64_t)m->content_length != p.m.body_size)
			verify_refuse(&v, 400, "size",
				      "Content-Length %" PRId64 " is not the "
				      "manifest's body_size %" PRIu64,
				      m->content_length, p.m.body_size);
		else {
			v.status = 200;
			v.reason = "checked";
		}
	}
	if (v.status != 200)
		apply_count(in->sd, &v);
	installer_answer(in, m->id, &v, &p, NULL, NULL);
	verify_push_clear(&p);
}

/*
 * installer_body - the sealed body of a verified push into memory:
 * *body_r is malloc'd (NULL for an empty body); -1 with v filled
 */
static int installer_body(int fd, uint64_t size, char **body_r,
			  struct verdict *v)
{
	struct stat st;
	struct err err;
	char *body = NULL;
	int seals;

	*body_r = NULL;
	memset(&st, 0, sizeof(st));
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & INSTALLER_SEALS) != INSTALLER_SEALS)
		return verify_refuse(v, 503, "internal",
				     "body descriptor not sealed");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != size)
		return verify_refuse(v, 400, "size",
				     "body of %lld bytes, body_size %" PRIu64,
				     (long long)st.st_size, size);
	if (size > 0 && (body = malloc(size)) == NULL)
		return verify_refuse(v, 503, "internal", "out of memory");
	if (size > 0 &&
	    fileio_pread_exact(fd, "body", body, size, 0, &err) < 0) {
		free(body);
		return verify_refuse(v, 503, "internal", "%s", err.msg);
	}
	*body_r = body;
	return 0;
}

/* installer_install_run - one install on its own thread */
static void installer_install_run(void *arg)
{
	struct installer_job *job = arg;
	struct installer *in = job->in;
	struct apply_result res;
	struct push p;
	struct verdict v;
	char *body = NULL;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	memset(&p, 0, sizeof(p));
	memset(&res, 0, sizeof(res));
	if (verify_headers(in->sd, job->mb64, job->sb64, &p, &v) == 0 &&
	    installer_body(job->fd, p.m.body_size, &body, &v) == 0 &&
	    apply_push(in->sd, &p, body, p.m.body_size, &res, &v) == 0)
		ok = 1;
	apply_count(in->sd, &v);
	installer_answer(in, job->id, &v, &p, ok ? &res : NULL, NULL);
	verify_push_clear(&p);
	close(job->fd);
	free(job->mb64);
	free(job->sb64);
	free(job);
	pthread_mutex_lock(&in->lock);
	if (--in->running == 0)
		pthread_cond_broadcast(&in->idle);
	pthread_mutex_unlock(&in->lock);
}

/* installer_install - start an install thread (mb64, sb64, fd taken) */
static void installer_install(struct installer *in, uint64_t id, char *mb64,
			      char *sb64, int fd)
{
	struct installer_job *job = NULL;
	struct verdict v;
	int started = 0;

	memset(&v, 0, sizeof(v));
	pthread_mutex_lock(&in->lock);
	if (in->running >= INSTALLER_MAX_INSTALLS)
		verify_refuse(&v, 503, "busy",
			      "another install is in progress");
	else if (fd < 0)
		verify_refuse(&v, 503, "internal", "no body descriptor");
	else if ((job = calloc(1, sizeof(*job))) == NULL)
		verify_refuse(&v, 503, "internal", "out of memory");
	else {
		job->in = in;
		job->id = id;
		job->mb64 = mb64;
		job->sb64 = sb64;
		job->fd = fd;
		/* the thread takes no signals: they are the main loop's */
		started = thread_detach(installer_install_run, job) == 0;
		if (started)
			in->running++;
		else
			verify_refuse(&v, 503, "internal",
				      "cannot start an install thread");
	}
	pthread_mutex_unlock(&in->lock);
	if (started)
		return;
	free(job);
	free(mb64);
	free(sb64);
	if (fd >= 0)
		close(fd);
	apply_count(in->sd, &v);
	installer_answer(in, id, &v, NULL, NULL, NULL);
}

/* installer_text - GET /v1/status or /metrics */
static void installer_text(struct installer *in, const struct channel_msg *m)
{
	struct buf b = BUF_INIT;
	struct verdict v;
	char *text = NULL;

	memset(&v, 0, sizeof(v));
	if (m->type == CHANNEL_STATUS)
		text = status_json(in->sd, time(NULL));
	else if (status_metrics(in->sd, time(NULL), &b) == 0 &&
		 buf_append(&b, "", 1) == 0)
		text = buf_steal(&b, NULL);
	buf_free(&b);
	if (text == NULL)
		verify_refuse(&v, 503, "internal", "cannot build the status");
	else if (strlen(text) > CHANNEL_MAX - sizeof(struct channel_msg)) {
		verify_refuse(&v, 503, "internal", "status too large");
		free(text);
		text = NULL;
	} else
		v.status = 200;
	installer_answer(in, m->id, &v, NULL, NULL, text);
	free(text);
}

/* installer_count - a refusal counted on the network process's word */
static void installer_count(struct installer *in, const struct channel_msg *m)
{
	struct verdict v;
	size_t i;

	memset(&v, 0, sizeof(v));
	v.status = m->status >= 400 && m->status <= 599 ? m->status : 400;
	v.reason = "other";
	for (i = 0; installer_reasons[i] != NULL; i++)
		if (strcmp(m->reason, installer_reasons[i]) == 0)
			v.reason = installer_reasons[i];
	apply_count(in->sd, &v);
}

int installer_read(struct installer *in)
{
	struct channel_msg m;
	char *t1 = NULL, *t2 = NULL;
	struct err err;
	int fd = -1, rc;

	rc = channel_recv(in->sock, &m, &t1, &t2, &fd, 1, &err);
	if (rc < 0 && errno == EAGAIN)
		return 1;
	if (rc <= 0) {
		if (rc < 0)
			log_error("%s", err.msg);
		return rc;
	}
	switch (m.type) {
	case CHANNEL_CHECK:
		installer_check(in, &m, t1, t2);
		break;
	case CHANNEL_INSTALL:
		installer_install(in, m.id, t1, t2, fd);
		t1 = t2 = NULL;
		fd = -1;
		break;
	case CHANNEL_STATUS:
	case CHANNEL_METRICS:
		installer_text(in, &m);
		break;
	case CHANNEL_COUNT:
		installer_count(in, &m);
		break;
	default:
		log_warning("installer: unexpected message type %u", m.type);
		break;
	}
	free(t1);
	free(t2);
	if (fd >= 0)
		close(fd);
	return 1;
}
