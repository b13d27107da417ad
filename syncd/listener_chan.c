/*
 * listener_chan - the network process's side of the channel to the
 * installer (syncd/channel)
 *
 * A request that needs the installer sends its question, is suspended
 * and waits on a list until the answer with its id arrives; an answer
 * that does not come within LISTENER_ANSWER_MS is taken as a 503, so a
 * lost answer cannot hold a connection for good.  Failures to send are
 * logged; the caller answers 503.  An end of file from the installer
 * ends the network process (listener_chan_answers returns -1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/log.h"
#include "listener_private.h"

/* an answer lost by the installer must not hold a connection for good */
#define LISTENER_ANSWER_MS (5 * 60 * 1000)

/* listener_chan_tell - a refusal the listener made itself, for the counters */
void listener_chan_tell(struct listener *l, int status, const char *reason)
{
	struct channel_msg m;
	struct err err;

	memset(&m, 0, sizeof(m));
	m.type = CHANNEL_COUNT;
	m.status = status;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	(void)channel_send(l->chan, &m, NULL, NULL, -1, 1, &err);
}

/* listener_chan_ask - send r's question and suspend its connection */
int listener_chan_ask(struct listener *l, struct MHD_Connection *c,
		      struct listener_req *r, uint32_t type,
		      int64_t content_length)
{
	struct channel_msg m;
	struct err err;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = r->id = ++l->next_id;
	m.content_length = content_length;
	m.len1 = r->mb64 != NULL ? (uint32_t)strlen(r->mb64) : 0;
	m.len2 = r->sb64 != NULL ? (uint32_t)strlen(r->sb64) : 0;
	if (channel_send(l->chan, &m, r->mb64, r->sb64,
			 type == CHANNEL_INSTALL ? r->memfd : -1, 1,
			 &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	r->asked = type;
	r->asked_ms = listener_now_ms();
	r->st = LISTENER_WAIT;
	r->wprev = NULL;
	r->wnext = l->waiting;
	if (l->waiting != NULL)
		l->waiting->wprev = r;
	l->waiting = r;
	MHD_suspend_connection(c);
	return 0;
}

/* listener_chan_unwait - r no longer waits for an answer */
void listener_chan_unwait(struct listener *l, struct listener_req *r)
{
	if (r->wprev != NULL)
		r->wprev->wnext = r->wnext;
	else if (l->waiting == r)
		l->waiting = r->wnext;
	if (r->wnext != NULL)
		r->wnext->wprev = r->wprev;
	r->wnext = r->wprev = NULL;
}

/* listener_chan_answers - read the installer's answers; -1 when it hung up */
int listener_chan_answers(struct listener *l)
{
	struct channel_msg m;
	struct listener_req *r;
	char *t1, *t2;
	struct err err;
	int fd, rc;

	for (;;) {
		rc = channel_recv(l->chan, &m, &t1, &t2, &fd, 1, &err);
		if (rc < 0 && errno == EAGAIN)
			return 0;
		if (rc <= 0) {
			if (rc < 0)
				log_error("%s", err.msg);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		for (r = l->waiting; r != NULL && r->id != m.id; r = r->wnext)
			;
		if (m.type != CHANNEL_ANSWER || r == NULL) {
			free(t1);
			free(t2);
			continue;
		}
		listener_chan_unwait(l, r);
		r->ans = m;
		free(r->ans_text);
		free(r->ans_text2);
		r->ans_text = t1;
		r->ans_text2 = t2;
		r->st = LISTENER_ANSWERED;
		MHD_resume_connection(r->lc->mc);
	}
}

/* listener_chan_overdue - answer 503 to questions the installer left open */
void listener_chan_overdue(struct listener *l, uint64_t now)
{
	struct listener_req *r, *next;

	for (r = l->waiting; r != NULL; r = next) {
		next = r->wnext;
		if (now - r->asked_ms < LISTENER_ANSWER_MS)
			continue;
		listener_chan_unwait(l, r);
		memset(&r->ans, 0, sizeof(r->ans));
		r->ans.status = 503;
		snprintf(r->ans.reason, sizeof(r->ans.reason), "internal");
		snprintf(r->ans.msg, sizeof(r->ans.msg),
			 "the installer did not answer");
		r->st = LISTENER_ANSWERED;
		MHD_resume_connection(r->lc->mc);
	}
}

/* listener_chan_wait_go - block until the installer says the maps are ready */
int listener_chan_wait_go(struct listener *l)
{
	struct channel_msg m;
	char *t1, *t2;
	struct err err;
	int fd, rc;

	rc = channel_recv(l->chan, &m, &t1, &t2, &fd, 0, &err);
	if (rc > 0) {
		free(t1);
		free(t2);
		if (fd >= 0)
			close(fd);
	}
	return rc > 0 && m.type == CHANNEL_GO ? 0 : -1;
}
