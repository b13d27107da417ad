/*
 * channel - the socketpair between mxsyncd's network process and its
 * installer
 *
 * Owns the datagram layout and descriptor passing.  Fails with
 * "channel: reason"; a malformed datagram is an error, never trusted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"

int channel_pair(int fds[2], struct err *err)
{
	int size = CHANNEL_MAX * 8;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
		return err_sys(err, "socketpair");
	/* Room for several requests in flight; the kernel caps this. */
	(void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return 0;
}

int channel_send(int sock, const struct channel_msg *m, const void *text1,
		 const void *text2, int fd, int nonblock, struct err *err)
{
	struct channel_msg h = *m;
	struct iovec iov[3];
	struct msghdr mh;
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct cmsghdr *c;
	ssize_t n;

	if (text1 == NULL)
		h.len1 = 0;
	if (text2 == NULL)
		h.len2 = 0;
	if ((size_t)h.len1 + h.len2 > CHANNEL_MAX - sizeof(h))
		return err_set(err, "channel: message of %zu octets too large",
			       (size_t)h.len1 + h.len2);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)text1;
	iov[1].iov_len = h.len1;
	iov[2].iov_base = (void *)text2;
	iov[2].iov_len = h.len2;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh,
			    MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, "channel: sendmsg");
	if ((size_t)n != sizeof(h) + h.len1 + h.len2)
		return err_set(err, "channel: short send");
	return 0;
}

/* channel_text - a malloc'd NUL-terminated copy of len octets at p */
static char *channel_text(const char *p, size_t len)
{
	char *s;

	if (len == 0)
		return NULL;
	s = malloc(len + 1);
	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

int channel_recv(int sock, struct channel_msg *m, char **text1_r,
		 char **text2_r, int *fd_r, int nonblock, struct err *err)
{
	char *buf = NULL;
	struct iovec iov;
	struct msghdr mh;
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct cmsghdr *c;
	int fds[4], nfd = 0, i, rc = -1;
	ssize_t n;

	*text1_r = *text2_r = NULL;
	*fd_r = -1;
	buf = malloc(CHANNEL_MAX);
	if (buf == NULL)
		return err_sys(err, "malloc");
	iov.iov_base = buf;
	iov.iov_len = CHANNEL_MAX;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(sock, &mh,
			    MSG_CMSG_CLOEXEC | (nonblock ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_sys(err, "channel: recvmsg");
		goto out;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0;
		     (size_t)i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
		     nfd < 4;
		     i++)
			memcpy(&fds[nfd++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	}
	if (n == 0 && nfd == 0) {
		rc = 0;
		goto out;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    (size_t)n < sizeof(*m)) {
		err_set(err, "channel: malformed message of %zd octets", n);
		goto out;
	}
	memcpy(m, buf, sizeof(*m));
	if ((size_t)n != sizeof(*m) + (size_t)m->len1 + m->len2 || nfd > 1 ||
	    (nfd == 1 && m->type != CHANNEL_INSTALL)) {
		err_set(err, "channel: malformed message of %zd octets", n);
		goto out;
	}
	m->reason[sizeof(m->reason) - 1] = '\0';
	m->msg[sizeof(m->msg) - 1] = '\0';
	m->origin[sizeof(m->origin) - 1] = '\0';
	m->key_id[sizeof(m->key_id) - 1] = '\0';
	m->state_hash[sizeof(m->state_hash) - 1] = '\0';
	*text1_r = channel_text(buf + sizeof(*m), m->len1);
	*text2_r = channel_text(buf + sizeof(*m) + m->len1, m->len2);
	if ((m->len1 > 0 && *text1_r == NULL) ||
	    (m->len2 > 0 && *text2_r == NULL)) {
		free(*text1_r);
		free(*text2_r);
		*text1_r = *text2_r = NULL;
		err_sys(err, "malloc");
		goto out;
	}
	if (nfd == 1) {
		*fd_r = fds[0];
		nfd = 0;
	}
	rc = 1;
out:
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	free(buf);
	return rc;
}
