/*
 * control - the control socket (see control.h): setup, the daemon's side
 * of the protocol (accepting, reading and parsing requests, replying,
 * deadlines), and the client side the commands use
 *
 * Failures are returned as messages naming the socket path.  What a
 * request does (an export, the status document) is the daemon's; a client
 * that breaks the protocol gets "error 2 ..." and is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/fileio.h"
#include "control.h"

#define CONTROL_REPLY_MAX (1 << 22)

static int control_addr(const char *path, struct sockaddr_un *sa,
			struct err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return err_set(err, "control socket path too long: %s", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int control_listen(const char *path, const char *group, const char **warning_r,
		   struct err *err)
{
	struct sockaddr_un sa;
	struct group *gr;
	struct stat st;
	int fd = -1;
	mode_t old;

	*warning_r = NULL;
	if (control_addr(path, &sa, err) < 0)
		return -1;
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, "%s exists and is not a socket",
				       path);
		if (unlink(path) < 0)
			return err_sys(err, "unlink(%s)", path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0)) < 0)
		return err_sys(err, "socket(AF_UNIX)");
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		err_sys(err, "bind(%s)", path);
		goto fail;
	}
	umask(old);
	if ((gr = getgrnam(group)) != NULL) {
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			err_sys(err, "chown(%s)", path);
			goto fail;
		}
	} else
		*warning_r = "control_group does not exist; only the agent's "
			     "own group may use the control socket";
	if (chmod(path, 0660) < 0) {
		err_sys(err, "chmod(%s)", path);
		goto fail;
	}
	if (listen(fd, 16) < 0) {
		err_sys(err, "listen(%s)", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int control_request(const char *path, const char *line, int timeout_ms,
		    char **reply_r, struct err *err)
{
	struct sockaddr_un sa;
	struct buf b = BUF_INIT;
	struct pollfd pfd;
	struct timespec t0, t1;
	int fd = -1, rc = -1;
	size_t len = strlen(line);
	char tmp[4096];

	*reply_r = NULL;
	if (control_addr(path, &sa, err) < 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_sys(err, "socket(AF_UNIX)");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err_sys(err, "connect(%s)", path);
		goto out;
	}
	if (fileio_write_all(fd, path, line, len, err) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 +
				     (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			err_set(err, "%s: no reply from the agent", path);
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			err_sys(err, "poll(%s)", path);
			goto out;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_sys(err, "read(%s)", path);
			goto out;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > CONTROL_REPLY_MAX ||
		    buf_append(&b, tmp, (size_t)n) < 0) {
			err_set(err, "%s: reply too large", path);
			goto out;
		}
	}
	if (b.len == 0) {
		err_set(err, "%s: empty reply from the agent", path);
		goto out;
	}
	*reply_r = buf_steal(&b, NULL);
	rc = 0;
out:
	buf_free(&b);
	if (fd >= 0)
		close(fd);
	return rc;
}

void control_client_close(struct control_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->waiting = 0;
	c->pending = 0;
}

void control_reply(struct control_client *c, const char *text)
{
	size_t len = strlen(text), off = 0;

	/* The socket is blocking for replies: they are small, the peer local.
	 */
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	control_client_close(c);
}

void control_accept(int lfd, struct control_client *clients, size_t n,
		    int64_t now)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		size_t i;

		if (fd < 0)
			return;
		for (i = 0; i < n; i++)
			if (clients[i].fd < 0)
				break;
		if (i == n) {
			close(fd); /* too many at once: the client retries */
			continue;
		}
		clients[i].fd = fd;
		clients[i].len = 0;
		clients[i].deadline = now + CONTROL_CLIENT_MS;
	}
}

/* control_parse - the request in c's line; replies to what is not one */
static int control_parse(struct control_client *c, int64_t now)
{
	c->line[c->len] = '\0';
	c->line[strcspn(c->line, "\r\n")] = '\0';
	if (strcmp(c->line, "status") == 0)
		return CONTROL_STATUS;
	if (strncmp(c->line, "wait ", 5) == 0) {
		unsigned long long ws, ms;
		int used = 0;

		if (sscanf(c->line + 5, "%llu %64s %llu%n", &ws, c->whash, &ms,
			   &used) != 3 ||
		    c->line[5 + used] != '\0' ||
		    strlen(c->whash) != CONTROL_HASH_HEX) {
			control_reply(c,
				      "error 2 usage: wait SERIAL HASH MS\n");
			return CONTROL_NONE;
		}
		c->waiting = 1;
		c->wserial = ws;
		c->len = 0;
		c->deadline = now + (int64_t)(ms < CONTROL_WAIT_MAX_MS
						  ? ms
						  : CONTROL_WAIT_MAX_MS);
		return CONTROL_WAIT;
	}
	if (strcmp(c->line, "sync-now") == 0)
		return CONTROL_SYNC_NOW;
	if (strcmp(c->line, "sync-now allow-shrink") == 0)
		return CONTROL_SYNC_NOW_SHRINK;
	control_reply(c, "error 2 unknown command\n");
	return CONTROL_NONE;
}

int control_read(struct control_client *c, int64_t now)
{
	ssize_t n;

	if (c->waiting || c->pending) {
		char tmp[64];

		/* A waiting client only ever closes (or breaks protocol). */
		n = read(c->fd, tmp, sizeof(tmp));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return CONTROL_NONE;
		control_client_close(c);
		return CONTROL_NONE;
	}
	n = read(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return CONTROL_NONE;
	if (n <= 0) {
		control_client_close(c);
		return CONTROL_NONE;
	}
	c->len += (size_t)n;
	if (memchr(c->line, '\n', c->len) != NULL)
		return control_parse(c, now);
	if (c->len >= sizeof(c->line) - 1)
		control_reply(c, "error 2 line too long\n");
	return CONTROL_NONE;
}

void control_hold(struct control_client *c, int64_t deadline)
{
	c->pending = 1;
	c->len = 0;
	c->deadline = deadline;
}

int control_expire(struct control_client *c, int64_t now)
{
	if (now <= c->deadline)
		return 0;
	if (c->waiting)
		control_reply(c, "lag\n");
	else if (c->pending)
		control_reply(c, "error 75 sources did not settle in time\n");
	else
		control_client_close(c);
	return 1;
}
